// Package safetemplate runs Go text templates written by users (output
// Secret templates, the generic REST driver's request bodies) inside the
// operator without letting them burn it: a template may not loop over a
// number, and its output is bounded. Missing keys are errors, so a typo
// fails loudly instead of rendering "<no value>".
package safetemplate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// Parse parses a user template with funcs and checks its loops.
func Parse(name, text string, funcs template.FuncMap) (*template.Template, error) {
	// text/template puts the name, unescaped, into the format string of its
	// execution errors, so a "%v" in it would print a value of the data into
	// the error (found by FuzzRender in shared/tokensecret).
	if strings.Contains(name, "%") {
		return nil, fmt.Errorf("template name %q must not contain %%", name)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := boundedLoops(t); err != nil {
		return nil, err
	}
	return t, nil
}

// Execute renders t with data, failing once the output passes limit bytes.
// Its errors never print a value of the data (see withoutValues).
func Execute(t *template.Template, data any, limit int) ([]byte, error) {
	out := &limitedBuffer{limit: limit}
	if err := t.Execute(out, data); err != nil {
		return nil, withoutValues(err)
	}
	return out.Bytes(), nil
}

// valueErrors are the text/template execution errors that print a value of
// the data after these words (text/template/exec.go: "range can't iterate
// over %v", "if/with can't use %v", "range over send-only channel %v",
// "can't use %v to iterate over more than one variable"). A user can
// provoke them on purpose, {{ range .AccessToken }} or {{ range . }}, and
// the data holds tokens and credentials while the error ends up in status,
// events and logs.
var valueErrors = []string{"range can't iterate over ", "if/with can't use ", "range over send-only channel ", "can't use "}

// withoutValues cuts an execution error at the first of valueErrors, so
// that nothing after it (where the value is printed) is kept. Cutting at an
// earlier occurrence, in a template name say, only drops more.
func withoutValues(err error) error {
	msg := err.Error()
	cut := -1
	for _, words := range valueErrors {
		if i := strings.Index(msg, words); i >= 0 && (cut < 0 || i < cut) {
			cut = i + len(words)
		}
	}
	if cut < 0 {
		return err
	}
	return errors.New(msg[:cut] + "a value of the data (not shown)")
}

// limitedBuffer fails writes past its limit.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, fmt.Errorf("the rendered value is larger than %d bytes", b.limit)
	}
	return b.Buffer.Write(p)
}

// maxRangeDepth bounds how deep ranges may nest: the work of nested ranges
// multiplies, and two levels (a map of lists) is all a value needs.
const maxRangeDepth = 2

// boundedLoops keeps the work of a template proportional to its data: it
// may range only over the data it is given (whose lists and maps are
// small), never over a number or a variable that could hold one, nest
// ranges at most maxRangeDepth deep, and not call sub-templates, whose
// calls can double at every level.
func boundedLoops(t *template.Template) error {
	if len(t.Templates()) > 1 {
		return fmt.Errorf("templates may not define sub-templates")
	}
	return walk(t.Tree.Root, 0)
}

func walk(n parse.Node, depth int) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walk(c, depth); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return fmt.Errorf("templates may not call other templates")
	case *parse.RangeNode:
		if !overData(n.Pipe) {
			return fmt.Errorf("range may only go over the lists and maps of the data, such as .Headers")
		}
		if depth+1 > maxRangeDepth {
			return fmt.Errorf("ranges may nest at most %d deep", maxRangeDepth)
		}
		return walkBranches(n.List, n.ElseList, depth+1)
	case *parse.IfNode:
		return walkBranches(n.List, n.ElseList, depth)
	case *parse.WithNode:
		return walkBranches(n.List, n.ElseList, depth)
	}
	return nil
}

// overData reports whether a range pipeline is a single field of the data:
// .Headers, $.Channel.EventTypes, (.X).Y.
func overData(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode, *parse.DotNode:
		return true
	case *parse.ChainNode:
		_, fromField := a.Node.(*parse.FieldNode)
		return fromField
	case *parse.VariableNode:
		return len(a.Ident) > 1 && a.Ident[0] == "$"
	}
	return false
}

func walkBranches(list, elseList *parse.ListNode, depth int) error {
	if err := walk(list, depth); err != nil {
		return err
	}
	return walk(elseList, depth)
}
