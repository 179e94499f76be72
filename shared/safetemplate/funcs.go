package safetemplate

import (
	"fmt"
	"reflect"
	"strings"
	"text/template"
)

const (
	// maxPad bounds printf widths and precisions: fmt pads to a width of
	// up to a million bytes per verb, which is how a short template made
	// the operator allocate gigabytes.
	maxPad = 64

	// printfPerByte and printfPerLeaf bound what a printf verb writes for a
	// value: up to five bytes per byte of a string ("%# x" writes
	// "0x61 " for "a"), and for each string, number or other scalar in it
	// up to maxPad of padding and a few hundred bytes of digits (%.64f of
	// 1e308 is 374 bytes).
	printfPerByte = 5
	printfPerLeaf = 512

	// escapeGrowth bounds what html, js and urlquery write per byte they
	// are given (js writes "<" as \u003C).
	escapeGrowth = 6
)

// The reasons a function refuses to run; they reach the user through
// ExecError.
var (
	errWork   = fmt.Errorf("the template's functions would produce more than %d bytes in one render: call print, printf, js and the like on less, or less often", MaxWork)
	errLong   = fmt.Errorf("a function made a value longer than a template may use (%d bytes, or the output limit if less)", MaxValue)
	errFormat = fmt.Errorf("the widths, precisions and argument indexes of printf verbs may be at most %d, and not *", maxPad)
)

// meter is the budget of one render.
type meter struct {
	left    int // bytes the functions may still produce
	longest int // the longest value a function may return
}

// charge takes n bytes from the budget, before the work they pay for.
func (m *meter) charge(n int) error {
	if n > m.left {
		m.left = 0
		return errWork
	}
	m.left -= n
	return nil
}

// result passes on what a function made, unless it is too long.
func (m *meter) result(s string, err error) (string, error) {
	if err == nil && len(s) > m.longest {
		return "", errLong
	}
	return s, err
}

// funcMap replaces text/template's functions that build strings, whose
// cost grows with their arguments, widths or nesting, with versions that
// charge m first, and meters the caller's functions the same way. The
// other built-in functions (index, slice, len, eq, and, ...) build nothing.
func funcMap(m *meter, user map[string]Func) template.FuncMap {
	fm := template.FuncMap{
		"print":   func(args ...any) (string, error) { return m.sprint(fmt.Sprint, args...) },
		"println": func(args ...any) (string, error) { return m.sprint(fmt.Sprintln, args...) },
		"printf": func(format string, args ...any) (string, error) {
			verbs, err := checkFormat(format)
			if err != nil {
				return "", err
			}
			// A verb may print any argument ("%[1]v%[1]v"), or none
			// ("%!d(MISSING)"), and arguments no verb uses are printed once
			// more at the end.
			most := printfPerLeaf
			for _, a := range args {
				e := measure(a)
				most = max(most, printfPerByte*e.bytes+printfPerLeaf*e.leaves)
			}
			if err := m.charge(len(format) + (verbs+len(args))*most); err != nil {
				return "", err
			}
			return m.result(fmt.Sprintf(format, args...), nil)
		},
		"html":     m.escaper(template.HTMLEscaper),
		"js":       m.escaper(template.JSEscaper),
		"urlquery": m.escaper(template.URLQueryEscaper),
	}
	for name, f := range user {
		fm[name] = func(v any) (string, error) {
			if err := m.charge(measure(v).bytes); err != nil {
				return "", err
			}
			s, err := f(v)
			if err == nil {
				err = m.charge(len(s))
			}
			return m.result(s, err)
		}
	}
	return fm
}

// sprint runs print or println, which write each argument with %v.
func (m *meter) sprint(print func(...any) string, args ...any) (string, error) {
	if err := m.charge(printed(args)); err != nil {
		return "", err
	}
	return m.result(print(args...), nil)
}

// escaper charges an escaping function for what it may write: its
// argument, or all of them printed with %v, escaped.
func (m *meter) escaper(escape func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		in := printed(args)
		if s, ok := oneString(args); ok {
			in = len(s)
		}
		if err := m.charge(escapeGrowth * in); err != nil {
			return "", err
		}
		return m.result(escape(args...), nil)
	}
}

// printed bounds the bytes of args printed with %v and separated.
func printed(args []any) int {
	n := 0
	for _, a := range args {
		n += measure(a).bytes + 1
	}
	return n
}

func oneString(args []any) (string, bool) {
	if len(args) != 1 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

// checkFormat refuses a printf format whose widths or precisions are over
// maxPad or given as * (taken from an argument), before fmt pads anything
// to them, and returns how many verbs it has. It counts a number in the
// verb's argument index ("%[2]d") as one too: that errs only on the safe
// side.
func checkFormat(format string) (verbs int, err error) {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		n := 0
		for i++; i < len(format); i++ {
			c := format[i]
			if c == '*' {
				return 0, errFormat
			}
			if '0' <= c && c <= '9' {
				if n = n*10 + int(c-'0'); n > maxPad {
					return 0, errFormat
				}
				continue
			}
			if !strings.ContainsRune("+-# .[]", rune(c)) {
				break // the verb
			}
			n = 0
		}
		verbs++ // "%%" too, which only overestimates
	}
	return verbs, nil
}

// extent is what a value holds, as fmt prints it.
type extent struct {
	bytes   int // printed with %v, with field and type names (%#v)
	leaves  int // strings, numbers and other scalars: each one a verb pads
	longest int // the longest string
}

// maxDepth is deeper than any data given to a template; fmt prints
// pointers below the top as addresses, so nothing deeper adds bytes.
const maxDepth = 10

func measure(v any) extent {
	var e extent
	e.add(reflect.ValueOf(v), 0)
	return e
}

func (e *extent) add(v reflect.Value, depth int) {
	if depth > maxDepth {
		e.bytes += 32
		e.leaves++
		return
	}
	switch v.Kind() {
	case reflect.String:
		e.bytes += v.Len()
		e.leaves++
		e.longest = max(e.longest, v.Len())
	case reflect.Slice, reflect.Array:
		e.bytes += len(v.Type().String()) + 2
		for i := range v.Len() {
			e.add(v.Index(i), depth+1)
			e.bytes += 2
		}
	case reflect.Map:
		e.bytes += len(v.Type().String()) + 2
		for it := v.MapRange(); it.Next(); {
			e.add(it.Key(), depth+1)
			e.add(it.Value(), depth+1)
			e.bytes += 2
		}
	case reflect.Struct:
		e.bytes += len(v.Type().String()) + 2
		for i := range v.NumField() {
			e.bytes += len(v.Type().Field(i).Name) + 2
			e.add(v.Field(i), depth+1)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			e.bytes++ // &
			e.add(v.Elem(), depth+1)
			return
		}
		fallthrough
	default: // nil, bool, numbers, functions, channels
		e.bytes += 64
		e.leaves++
	}
}
