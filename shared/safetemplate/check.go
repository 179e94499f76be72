package safetemplate

import (
	"errors"
	"fmt"
	"reflect"
	"text/template"
	"text/template/parse"
)

const (
	// maxRangeDepth bounds how deep ranges may nest: the work of nested
	// ranges multiplies, and two levels (a map of lists) is all a value
	// needs.
	maxRangeDepth = 2

	// listRuns is how many runs of its body a range counts for: the
	// longest list a template is given (a NotificationChannel's
	// eventTypes, at most 64 items).
	listRuns = 64

	// maxRuns bounds the nodes a render may evaluate, each range counted as
	// listRuns runs of its body. Comparing and indexing are not charged to
	// the work budget and cost the length of their strings, so this times
	// MaxValue bounds the time of a render: some 50 ms for a template that
	// compares the longest strings in every node it may run.
	maxRuns = 1 << 16
)

// check keeps the work of a template proportional to its text and data: it
// may range only over the data it is given (whose lists and maps are small),
// never over a number or a variable that could hold one, nest ranges at most
// maxRangeDepth deep, evaluate at most maxRuns nodes, use only printf formats
// that checkFormat accepts, and not call sub-templates, whose calls can
// double at every level.
func check(t *template.Template) error {
	if len(t.Templates()) > 1 {
		return errors.New("templates may not define sub-templates")
	}
	c := checker{}
	return c.walk(t.Tree.Root, 0, true)
}

type checker struct{ runs int }

// walk checks n, which runs listRuns^depth times per render; dotIsData
// says whether dot holds the data or a part of it, rather than a value the
// template made (as in {{ with 1000000000 }}).
func (c *checker) walk(n parse.Node, depth int, dotIsData bool) error {
	if _, list := n.(*parse.ListNode); !list {
		runs := 1
		for range depth {
			runs *= listRuns
		}
		if c.runs += runs; c.runs > maxRuns {
			return fmt.Errorf("the template does too much: counting each range as %d runs of its body, it evaluates more than %d nodes; shorten it or the bodies of its ranges", listRuns, maxRuns)
		}
	}
	switch n := n.(type) {
	case *parse.TemplateNode:
		return errors.New("templates may not call other templates")
	case *parse.CommandNode:
		if err := checkLiteralFormat(n); err != nil {
			return err
		}
	case *parse.RangeNode:
		if !overData(n.Pipe, dotIsData) {
			return errors.New("range may only go over the lists and maps of the data, such as .Headers")
		}
		if depth+1 > maxRangeDepth {
			return fmt.Errorf("ranges may nest at most %d deep", maxRangeDepth)
		}
		if err := c.walkAll(depth, dotIsData, n.Pipe, n.ElseList); err != nil {
			return err
		}
		// The body runs once per item, with dot set to the item.
		return c.walk(n.List, depth+1, true)
	case *parse.WithNode:
		if err := c.walkAll(depth, dotIsData, n.Pipe, n.ElseList); err != nil {
			return err
		}
		return c.walk(n.List, depth, overData(n.Pipe, dotIsData))
	}
	return c.walkAll(depth, dotIsData, children(n)...)
}

func (c *checker) walkAll(depth int, dotIsData bool, nodes ...parse.Node) error {
	for _, n := range nodes {
		if !isNil(n) {
			if err := c.walk(n, depth, dotIsData); err != nil {
				return err
			}
		}
	}
	return nil
}

// overData reports whether a range or with pipeline is a single field of
// the data: .Headers, $.Channel.EventTypes, (.X).Y, or dot while it holds
// the data.
func overData(p *parse.PipeNode, dotIsData bool) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return true
	case *parse.DotNode:
		return dotIsData
	case *parse.ChainNode:
		_, fromField := a.Node.(*parse.FieldNode)
		return fromField
	case *parse.VariableNode:
		return len(a.Ident) > 1 && a.Ident[0] == "$"
	}
	return false
}

// checkLiteralFormat checks the format of a printf call written in the
// template, so that a bad one is refused when the template is parsed (and
// so in the resource's status at once); printf checks the formats it is
// given at run time too.
func checkLiteralFormat(cmd *parse.CommandNode) error {
	if len(cmd.Args) < 2 {
		return nil
	}
	fn, isIdent := cmd.Args[0].(*parse.IdentifierNode)
	format, isString := cmd.Args[1].(*parse.StringNode)
	if !isIdent || fn.Ident != "printf" || !isString {
		return nil
	}
	if _, err := checkFormat(format.Text); err != nil {
		return fmt.Errorf("printf %s: %w", format.Quoted, err)
	}
	return nil
}

// children are the nodes directly under n, in the order of the text.
func children(n parse.Node) []parse.Node {
	var kids []parse.Node
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			kids = n.Nodes
		}
	case *parse.ActionNode:
		kids = []parse.Node{n.Pipe}
	case *parse.PipeNode:
		if n != nil {
			for _, v := range n.Decl {
				kids = append(kids, v)
			}
			for _, c := range n.Cmds {
				kids = append(kids, c)
			}
		}
	case *parse.CommandNode:
		kids = n.Args
	case *parse.ChainNode:
		kids = []parse.Node{n.Node}
	case *parse.IfNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.RangeNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.WithNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.TemplateNode:
		kids = []parse.Node{n.Pipe}
	}
	return kids
}

// isNil reports a missing node: parse leaves absent else branches and
// pipelines as typed nil pointers.
func isNil(n parse.Node) bool {
	v := reflect.ValueOf(n)
	return n == nil || v.Kind() == reflect.Pointer && v.IsNil()
}
