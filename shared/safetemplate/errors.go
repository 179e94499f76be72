package safetemplate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// ExecError is a render that failed. It holds where the template failed,
// taken from the template's own text, and a reason from a fixed set, never
// a value of the data: text/template's messages print values ("error
// calling index: index out of range: 116" is a byte of a token), and these
// errors reach status, events and the Terraform data source.
type ExecError struct {
	// Line and Column (both from 1) of the failing node; 0 when unknown.
	Line, Column int
	// Action is the failing node as parsed, shortened.
	Action string
	// Reason says what kind of failure it was.
	Reason string
}

func (e *ExecError) Error() string {
	if e.Line == 0 {
		return e.Reason
	}
	return fmt.Sprintf("line %d, column %d, at %s: %s", e.Line, e.Column, e.Action, e.Reason)
}

// The reasons for failures of text/template's own making, which come with
// values in their messages.
const (
	reasonCall = "a function failed, for example on an index out of range or an argument of the wrong type (the values are not shown)"
	reasonEval = "the action cannot be evaluated, for example for a missing key or field, a nil value or a value of the wrong type (the values are not shown)"
)

// describe turns an error of text/template's Execute into an ExecError. Of
// the message it reads only the line and column at the start.
func describe(t *Template, err error) *ExecError {
	e := &ExecError{Reason: reasonEval}
	var exec template.ExecError
	switch {
	case errors.Is(err, errWork):
		e.Reason = errWork.Error()
	case errors.Is(err, errLong):
		e.Reason = errLong.Error()
	case errors.Is(err, errFormat):
		e.Reason = errFormat.Error()
	case errors.As(err, &exec) && errors.Unwrap(exec.Err) != nil:
		// Only "error calling %s: %w" wraps: a function returned an error.
		e.Reason = reasonCall
	}
	if !errors.As(err, &exec) {
		return e
	}
	// "template: NAME:LINE:COL: executing ..." when the node is known.
	rest, _ := strings.CutPrefix(exec.Err.Error(), "template: "+t.tmpl.Name()+":")
	lineText, rest, _ := strings.Cut(rest, ":")
	colText, _, _ := strings.Cut(rest, ":")
	line, err1 := strconv.Atoi(lineText)
	col, err2 := strconv.Atoi(colText)
	if err1 != nil || err2 != nil || line < 1 || col < 0 {
		return e
	}
	// text/template counts columns from 0, in bytes from the line's start.
	start := 0
	for range line - 1 {
		i := strings.IndexByte(t.text[start:], '\n')
		if i < 0 {
			return e
		}
		start += i + 1
	}
	if n := nodeAt(t.tmpl.Tree.Root, start+col); n != nil {
		e.Line, e.Column, e.Action = line, col+1, shorten(n.String())
	}
	return e
}

// nodeAt finds the outermost node that starts at pos.
func nodeAt(n parse.Node, pos int) parse.Node {
	if _, list := n.(*parse.ListNode); !list && int(n.Position()) == pos {
		return n
	}
	for _, k := range children(n) {
		if isNil(k) {
			continue
		}
		if found := nodeAt(k, pos); found != nil {
			return found
		}
	}
	return nil
}

// shorten keeps an action's text short enough for a condition message.
func shorten(s string) string {
	const most = 60
	if r := []rune(s); len(r) > most {
		return string(r[:most-3]) + "..."
	}
	return s
}
