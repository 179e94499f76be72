package safetemplate

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestLoopsOnlyOverTheData(t *testing.T) {
	data := map[string]any{"Headers": map[string]string{"A": "1", "B": "2"}, "List": []string{"x", "y"}}
	for tmpl, want := range map[string]string{
		`{{ range $k, $v := .Headers }}{{ $k }}={{ $v }};{{ end }}`:      "A=1;B=2;",
		`{{ range .List }}{{ . }}{{ end }}`:                              "xy",
		`{{ with .Headers }}{{ range $.List }}{{ . }}{{ end }}{{ end }}`: "xy",
		`{{ with .Headers }}{{ range . }}{{ . }}{{ end }}{{ end }}`:      "12",
	} {
		tp, err := Parse("t", tmpl, nil)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		out, err := Execute(tp, data, 100)
		if err != nil || string(out) != want {
			t.Fatalf("%s: %q %v", tmpl, out, err)
		}
	}
	for _, tmpl := range []string{
		`{{ range 1000000000000 }}{{ end }}`,
		`{{ $n := 1000000000000 }}{{ range $n }}{{ end }}`,
		`{{ if true }}{{ range 5 }}{{ end }}{{ end }}`,
		`{{ range (len .List) }}{{ end }}`,
		`{{ with 1000000000000 }}{{ range . }}{{ end }}{{ end }}`,
		`{{ with $n := print "x" }}{{ range . }}{{ end }}{{ end }}`,
	} {
		if _, err := Parse("t", tmpl, nil); err == nil || !strings.Contains(err.Error(), "range may only") {
			t.Errorf("%s: want a refusal, got %v", tmpl, err)
		}
	}
}

// TestWorkGrowsWithTheDataOnly: no sub-templates (whose calls can double at
// every level), no ranges nested deeper than two, and no more nodes than a
// render may evaluate, counting a range as 64 runs of its body.
func TestWorkGrowsWithTheDataOnly(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{ define "x" }}{{ end }}{{ template "x" }}`:                             "may not define sub-templates",
		`{{ template "x" }}`:                                                      "may not call other templates",
		`{{ block "b" . }}{{ end }}`:                                              "may not define sub-templates",
		`{{ range .L }}{{ range $.L }}{{ range $.L }}{{ end }}{{ end }}{{ end }}`: "nest at most 2 deep",
		`{{ range .L }}{{ if . }}{{ range $.L }}{{ with . }}{{ range $.L }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}`: "nest at most 2 deep",
		`{{ range .L }}{{ range $.L }}` + strings.Repeat("{{ . }}", 20) + `{{ end }}{{ end }}`:                            "shorten it or the bodies of its ranges",
		`{{ range .L }}` + strings.Repeat("{{ . }}", 300) + `{{ end }}`:                                                   "shorten it or the bodies of its ranges",
	} {
		if _, err := Parse("t", tmpl, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: want %q, got %v", tmpl, want, err)
		}
	}
	for _, tmpl := range []string{
		`{{ range .L }}{{ range $.L }}{{ . }}{{ end }}{{ end }}`,
		`{{ range .L }}` + strings.Repeat("{{ . }}", 200) + `{{ end }}`,
		strings.Repeat("{{ .X }}", 1000),
	} {
		if _, err := Parse("t", tmpl, nil); err != nil {
			t.Errorf("%.60s: refused: %v", tmpl, err)
		}
	}
	if _, err := Parse("t", strings.Repeat("é", MaxTextLength+1), nil); err == nil || !strings.Contains(err.Error(), "more than 8192") {
		t.Errorf("a template over MaxTextLength characters: %v", err)
	}
}

func TestPrintfFormatsAreCheckedBeforeAnythingIsPadded(t *testing.T) {
	tp, err := Parse("t", `{{ printf "%-6s|%06.2f|%x|%%|%[1]q|%64d" "ab" 3.14159 255 1 }}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := Execute(tp, nil, 1000); err != nil || !strings.HasPrefix(string(out), `ab    |003.14|ff|%|"ab"|`) {
		t.Errorf("ordinary formats: %q %v", out, err)
	}
	for _, format := range []string{`%1000000d`, `%.65f`, `%*d`, `%.*f`, `%[99]d`, `%065d`} {
		_, err := Parse("t", `{{ printf "`+format+`" 1 }}`, nil)
		if err == nil || !strings.Contains(err.Error(), "may be at most 64, and not *") || !strings.Contains(err.Error(), format) {
			t.Errorf("%s: want a refusal naming the format, got %v", format, err)
		}
	}
	// A format made at run time is checked when printf runs.
	tp, err = Parse("t", `{{ printf (print "%" .W "d") 1 }}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Execute(tp, map[string]string{"W": "1000000"}, 1000)
	var e *ExecError
	if !errors.As(err, &e) || e.Reason != errFormat.Error() || e.Line != 1 {
		t.Errorf("a wide format made at run time: %v", err)
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFunctionsAreChargedBeforeTheyWork: templates that make a value grow
// at every step (doubling it, escaping it again, printing the whole data
// many times) stop at the budget or at MaxValue, having allocated a few
// megabytes at most.
func TestFunctionsAreChargedBeforeTheyWork(t *testing.T) {
	list := make([]string, 64)
	data := map[string]any{"S": strings.Repeat(`<"é`, 10000), "List": list, "Headers": map[string]string{"a": strings.Repeat("<", 4000)}}
	funcs := map[string]Func{"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err }}
	for name, tmpl := range map[string]string{
		"a value doubled in nested ranges":     `{{ $x := "ab" }}{{ range .List }}{{ range $.List }}{{ $x = print $x $x }}{{ end }}{{ end }}`,
		"a value escaped again and again":      `{{ js (js (js (js (js (js (js (js .Headers.a))))))) }}`,
		"the data printed in every run":        `{{ range .List }}{{ range $.List }}{{ $x := printf "%64v%64v" $ $ }}{{ end }}{{ end }}`,
		"the data encoded in every run":        `{{ range .List }}{{ range $.List }}{{ $x := json $ }}{{ end }}{{ end }}`,
		"many wide verbs":                      `{{ range .List }}{{ $x := printf "` + strings.Repeat("%64d", 500) + `" 1 }}{{ end }}`,
		"values joined by println in each run": `{{ range .List }}{{ range $.List }}{{ $x := println $.S $.S }}{{ end }}{{ end }}`,
	} {
		t.Run(name, func(t *testing.T) {
			tp, err := Parse("t", tmpl, funcs)
			if err != nil {
				t.Fatal(err)
			}
			var e *ExecError
			if n := allocated(func() { _, err = Execute(tp, data, 64<<10) }); n > 16<<20 {
				t.Errorf("allocated %d MiB", n>>20)
			}
			if !errors.As(err, &e) || e.Reason != errWork.Error() && e.Reason != errLong.Error() {
				t.Errorf("want the work budget or MaxValue, got %v", err)
			}
		})
	}
}

func TestOutputIsBounded(t *testing.T) {
	tp, err := Parse("t", `{{ range .L }}{{ range $.L }}{{ $.S }}{{ end }}{{ end }}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"L": make([]int, 100), "S": strings.Repeat("a", 100)}
	if _, err := Execute(tp, data, 1000); err == nil || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("want the output limit, got %v", err)
	}
	if _, err := Execute(tp, map[string]any{"S": strings.Repeat("a", 1001)}, 1000); err == nil ||
		!strings.Contains(err.Error(), "a value given to the template is longer than 1000 bytes") {
		t.Fatalf("want the value limit, got %v", err)
	}
}

func TestMissingKeysAreErrors(t *testing.T) {
	tp, _ := Parse("t", `{{ .Nope }}`, nil)
	if _, err := Execute(tp, map[string]string{}, 100); err == nil {
		t.Fatal("a missing key rendered")
	}
}

// TestErrorsSayWhereNotWhat: an error names the line, the column and the
// action that failed, and is the same whatever the values of the data.
func TestErrorsSayWhereNotWhat(t *testing.T) {
	for tmpl, want := range map[string]ExecError{
		"x\n  {{ .Nope }}":                               {Line: 2, Column: 6, Action: "{{.Nope}}", Reason: reasonEval},
		`{{ index "" (index .S 3) }}`:                    {Line: 1, Column: 4, Action: `{{index "" (index .S 3)}}`, Reason: reasonCall},
		"{{ if .S }}\n{{ printf \"%d\" .S.X }}{{ end }}": {Line: 2, Column: 18, Action: ".S.X", Reason: reasonEval},
		`{{ range .S }}{{ end }}`:                        {Line: 1, Column: 10, Action: "{{range .S}}{{end}}", Reason: reasonEval},
		`{{ eq .S 1 }}`:                                  {Line: 1, Column: 4, Action: "{{eq .S 1}}", Reason: reasonCall},
	} {
		tp, err := Parse("t", tmpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		var errs []string
		for _, s := range []string{"tok-7f3a9c", "TOK-0B81E2"} {
			_, err := Execute(tp, map[string]string{"S": s}, 100)
			var e *ExecError
			if !errors.As(err, &e) || *e != want {
				t.Errorf("%s: got %#v, want %#v", tmpl, err, want)
			}
			errs = append(errs, err.Error())
		}
		if errs[0] != errs[1] {
			t.Errorf("%s: the error depends on the data: %q / %q", tmpl, errs[0], errs[1])
		}
	}
}
