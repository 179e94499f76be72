// Package safetemplate runs Go text templates written by tenants (output
// Secret templates, the generic REST driver's request bodies and item paths)
// inside the operator, which every tenant shares. One template must not be
// able to exhaust its memory, stall it or make it print secrets:
//
//   - The work of a render is bounded before it is done. The text is at most
//     MaxTextLength characters; ranges go only over the lists and maps of the
//     data, nest at most two deep, and the nodes a render can evaluate, each
//     range counted as 64 runs of its body, are at most maxRuns. The functions
//     that build strings (print, printf, println, html, js, urlquery and the
//     caller's own) charge what they may produce to a budget of MaxWork bytes
//     per render before they produce it, and printf widths and precisions are
//     at most maxPad. The output is at most the caller's limit, and every
//     value a function returns and every string of the data at most that or
//     MaxValue, whichever is less.
//   - Errors say where the template failed and what kind of failure it was,
//     never a value of the data: the data holds tokens and credentials, and
//     errors end in status, events and the Terraform data source.
//
// Missing keys are errors, so a typo fails loudly instead of rendering
// "<no value>".
package safetemplate

import (
	"bytes"
	"errors"
	"fmt"
	"text/template"
	"unicode/utf8"
)

const (
	// MaxTextLength bounds the text of a template, in characters. The CRDs
	// hold template fields and driver parameters to it too.
	MaxTextLength = 8192

	// MaxWork bounds the bytes the functions of one render may produce
	// (fmt and the escapers allocate up to about three times that while
	// they do). Templates need kilobytes; the operator's memory is shared by
	// every tenant.
	MaxWork = 2 << 20

	// MaxValue bounds the strings a template works on, given or made:
	// comparing or indexing one costs its length, uncharged (see maxRuns).
	MaxValue = 64 << 10
)

// Func is a function a caller gives its templates, such as json. It is
// charged the size of its argument before it runs and the size of its
// result after.
type Func func(any) (string, error)

// Template is a parsed user template.
type Template struct {
	tmpl  *template.Template
	text  string
	funcs map[string]Func
}

// Parse parses a user template, with funcs besides the built-in ones, and
// checks that its work is bounded.
func Parse(name, text string, funcs map[string]Func) (*Template, error) {
	if n := utf8.RuneCountInString(text); n > MaxTextLength {
		return nil, fmt.Errorf("the template has %d characters, more than %d", n, MaxTextLength)
	}
	// The functions are bound to a budget for each render (see Execute);
	// parsing only needs their names and types.
	t, err := template.New(name).Option("missingkey=error").Funcs(funcMap(nil, funcs)).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := check(t); err != nil {
		return nil, err
	}
	return &Template{tmpl: t, text: text, funcs: funcs}, nil
}

// Execute renders t with data, failing once the output passes limit bytes.
// Its errors are *ExecError, which hold nothing derived from the data.
func Execute(t *Template, data any, limit int) ([]byte, error) {
	longest := min(limit, MaxValue)
	if measure(data).longest > longest {
		return nil, &ExecError{Reason: fmt.Sprintf("a value given to the template is longer than %d bytes", longest)}
	}
	run, err := t.tmpl.Clone()
	if err != nil {
		return nil, &ExecError{Reason: "the template could not be run"}
	}
	run.Funcs(funcMap(&meter{left: MaxWork, longest: longest}, t.funcs))
	out := &limitedBuffer{limit: limit}
	if err := run.Execute(out, data); err != nil {
		if errors.Is(err, errOutput) {
			return nil, &ExecError{Reason: fmt.Sprintf("the rendered value is larger than %d bytes", limit)}
		}
		return nil, describe(t, err)
	}
	return out.Bytes(), nil
}

// errOutput is what limitedBuffer fails with; Execute says which limit.
var errOutput = errors.New("output limit reached")

// limitedBuffer fails writes past its limit.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, errOutput
	}
	return b.Buffer.Write(p)
}
