package safetemplate

import (
	"strings"
	"testing"
)

func TestLoopsOnlyOverTheData(t *testing.T) {
	data := map[string]any{"Headers": map[string]string{"A": "1", "B": "2"}, "List": []string{"x", "y"}}
	for tmpl, want := range map[string]string{
		`{{ range $k, $v := .Headers }}{{ $k }}={{ $v }};{{ end }}`:      "A=1;B=2;",
		`{{ range .List }}{{ . }}{{ end }}`:                              "xy",
		`{{ with .Headers }}{{ range $.List }}{{ . }}{{ end }}{{ end }}`: "xy",
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
	} {
		if _, err := Parse("t", tmpl, nil); err == nil || !strings.Contains(err.Error(), "range may only") {
			t.Errorf("%s: want a refusal, got %v", tmpl, err)
		}
	}
}

// TestWorkGrowsWithTheDataOnly: no sub-templates (whose calls can double at
// every level) and no ranges nested deeper than two.
func TestWorkGrowsWithTheDataOnly(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{ define "x" }}{{ end }}{{ template "x" }}`:                             "may not define sub-templates",
		`{{ template "x" }}`:                                                      "may not call other templates",
		`{{ block "b" . }}{{ end }}`:                                              "may not define sub-templates",
		`{{ range .L }}{{ range $.L }}{{ range $.L }}{{ end }}{{ end }}{{ end }}`: "nest at most 2 deep",
		`{{ range .L }}{{ if . }}{{ range $.L }}{{ with . }}{{ range $.L }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}`: "nest at most 2 deep",
	} {
		if _, err := Parse("t", tmpl, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", tmpl, want, err)
		}
	}
	if _, err := Parse("t", `{{ range .L }}{{ range $.L }}{{ . }}{{ end }}{{ end }}`, nil); err != nil {
		t.Errorf("two levels are refused: %v", err)
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
}

func TestMissingKeysAreErrors(t *testing.T) {
	tp, _ := Parse("t", `{{ .Nope }}`, nil)
	if _, err := Execute(tp, map[string]string{}, 100); err == nil {
		t.Fatal("a missing key rendered")
	}
}
