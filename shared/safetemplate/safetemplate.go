// Package safetemplate runs Go text templates written by users (output
// Secret templates, the generic REST driver's request bodies) inside the
// operator without letting them burn it: a template may not loop over a
// number, and its output is bounded. Missing keys are errors, so a typo
// fails loudly instead of rendering "<no value>".
package safetemplate

import (
	"bytes"
	"fmt"
	"text/template"
	"text/template/parse"
)

// Parse parses a user template with funcs and checks its loops.
func Parse(name, text string, funcs template.FuncMap) (*template.Template, error) {
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
func Execute(t *template.Template, data any, limit int) ([]byte, error) {
	out := &limitedBuffer{limit: limit}
	if err := t.Execute(out, data); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
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

// boundedLoops lets templates range only over the data they are given
// (whose lists and maps are small), never over a number or a variable that
// could hold one: counting loops only serve to burn CPU.
func boundedLoops(t *template.Template) error {
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if err := walk(tt.Tree.Root); err != nil {
			return err
		}
	}
	return nil
}

func walk(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walk(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		if !overData(n.Pipe) {
			return fmt.Errorf("range may only go over the lists and maps of the data, such as .Headers")
		}
		return walkBranches(n.List, n.ElseList)
	case *parse.IfNode:
		return walkBranches(n.List, n.ElseList)
	case *parse.WithNode:
		return walkBranches(n.List, n.ElseList)
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

func walkBranches(list, elseList *parse.ListNode) error {
	if err := walk(list); err != nil {
		return err
	}
	return walk(elseList)
}
