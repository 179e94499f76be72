package tokensecret

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// renderBudget is far beyond what any template within the limits needs (they
// render in microseconds); a Render that takes longer is a hang.
const renderBudget = 10 * time.Second

// mayReachToken reports whether a template's text could reach the token at
// all: a field holding it (.AccessToken, .Authorization, or .Headers, which
// carries Authorization), or the whole data (a bare "." or "$", which can be
// printed or passed to a sub-template). Template fields are reached only by
// their literal names, so a template without any of these cannot render or
// otherwise depend on the token. Deliberately generous: "1.5" counts.
var bareDot = regexp.MustCompile(`\.($|[^\p{L}_])|\$`)

func mayReachToken(tmpl string) bool {
	for _, field := range []string{"AccessToken", "Authorization", "Headers"} {
		if strings.Contains(tmpl, field) {
			return true
		}
	}
	return bareDot.MatchString(tmpl)
}

// renderWithin runs Render, failing the test when it does not return within
// renderBudget: the fuzzing engine has no per-input time limit, so without
// this a template that runs for hours would show up as a stalled worker, not
// as a finding.
func renderWithin(t *testing.T, tok Token, tmpl map[string]string) (map[string][]byte, error) {
	t.Helper()
	type result struct {
		data map[string][]byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := Render(tok, tmpl)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-time.After(renderBudget):
		t.Fatalf("Render did not finish within %v", renderBudget)
		return nil, nil
	}
}

// FuzzRender feeds user output templates (spec.output.template) to Render.
// Whatever the template, Render must not panic, must finish in bounded time,
// must refuse to redefine a standard key and keep the standard keys exactly
// as the contract defines them, must render within MaxTemplateOutput, must be
// deterministic, must not let the token reach a key whose template does not
// ask for it, and its errors must not quote the token. What it writes must
// read back as the same token.
func FuzzRender(f *testing.F) {
	nested := func(depth int, inner string) string {
		return strings.Repeat("{{ range $.Headers }}", depth) + inner + strings.Repeat("{{ end }}", depth)
	}
	doubling := func(depth int) string {
		var b strings.Builder
		b.WriteString(`{{ define "t0" }}.{{ end }}`)
		for i := 1; i <= depth; i++ {
			fmt.Fprintf(&b, `{{ define "t%d" }}{{ template "t%d" }}{{ template "t%d" }}{{ end }}`, i, i-1, i-1)
		}
		fmt.Fprintf(&b, `{{ template "t%d" }}`, depth)
		return b.String()
	}
	for _, seed := range []struct{ key, tmpl string }{
		{"bearer.txt", "{{ .Authorization }}"},
		{"env", "TOKEN={{ .AccessToken }}\nEXPIRES={{ .ExpiresAt }}"},
		{"curl-headers", `{{ range $k, $v := .Headers }}{{ $k }}: {{ $v }}{{ "\n" }}{{ end }}`},
		{"type", "{{ .TokenType }} until {{ .ExpiresAt }}"},
		{"static", "no template at all"},
		{"access_token", "{{ .AccessToken }}"},
		{"headers.json", "{}"},
		{"x", "{{ .Missing }}"},
		{"x", "{{ .Headers.Missing }}"},
		{"x", "{{ . }}"},
		{"x", `{{ printf "%v" $ }}`},
		{"x", `{{ with .Headers }}{{ .Authorization }}{{ end }}`},
		{"x", `{{ index .Headers "Authorization" }}`},
		{"x", "{{ slice .AccessToken 0 4 }}|{{ len .AccessToken }}|{{ js .AccessToken }}|{{ urlquery .Authorization }}"},
		{"x", "{{ index .AccessToken 999 }}"},
		{"x", "{{ .AccessToken.Nope }}"},
		{"x", "{{ range . }}{{ end }}"},
		{"x", "{{ range .AccessToken }}{{ end }}"},
		{"x", "{{ range slice .AccessToken 1 }}{{ end }}"},
		{"x", "{{ range $k, $v := js .Authorization }}{{ end }}"},
		{"x", "{{ with $x := .Headers }}{{ range $x.Authorization }}{{ end }}{{ end }}"},
		{"x", `{{ printf "%d" .AccessToken }}`},
		{"x", "{{ template \"x\" }}"},
		{"x", "{{ range 10000000 }}{{ end }}"},
		{"x", "{{ $n := 1000000 }}{{ range $n }}{{ end }}"},
		{"x", `{{ define "a" }}{{ .AccessToken }}{{ .AccessToken }}{{ end }}{{ template "a" . }}`},
		{"x", `{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`},
		{"x", nested(3, "{{ $.TokenType }}")},
		{"x", nested(12, "{{ $.AccessToken }}")}, // 4096 tokens: over MaxTemplateOutput
		{"x", doubling(6)},
		{"x", "{{"},
		{"x", "{{ end }}"},
		{"", "{{ .TokenType }}"},
	} {
		f.Add(seed.key, seed.tmpl)
	}
	const secret, other = "tok-7f3a9c-do-not-print", "tok-0b81e2-also-secret"
	tok := Token{AccessToken: secret, TokenType: "Bearer", ExpiresAt: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		Headers: map[string]string{"Ocp-Apim-Subscription-Key": "sub"}}
	tok2 := tok
	tok2.AccessToken = other
	standard, err := Render(tok, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, tmpl string) {
		data, err := renderWithin(t, tok, map[string]string{key: tmpl})
		if slices.Contains(StandardKeys, key) && err == nil {
			t.Fatalf("a template redefined the standard key %q", key)
		}
		reaches := mayReachToken(tmpl)
		data2, err2 := renderWithin(t, tok2, map[string]string{key: tmpl})
		if (err == nil) != (err2 == nil) && !reaches {
			t.Fatalf("whether the template renders depends on a token it does not reference: %v / %v", err, err2)
		}
		if err != nil {
			// Pieces too, since a template can slice or escape the token.
			for _, piece := range []string{secret, "7f3a9c", "do-not-print"} {
				if strings.Contains(err.Error(), piece) && !strings.Contains(tmpl+key, piece) {
					t.Fatalf("the error quotes the token: %v", err)
				}
			}
			return
		}
		for k, v := range standard {
			if !bytes.Equal(data[k], v) {
				t.Fatalf("the template changed the standard key %q", k)
			}
		}
		if len(data) != len(standard)+1 {
			t.Fatalf("one template key gave %d keys", len(data)-len(standard))
		}
		if len(data[key]) > MaxTemplateOutput {
			t.Fatalf("rendered %d bytes, more than MaxTemplateOutput", len(data[key]))
		}
		if !reaches {
			if bytes.Contains(data[key], []byte(secret)) && !strings.Contains(tmpl, secret) {
				t.Fatalf("the token reached key %q, whose template does not ask for it", key)
			}
			if err2 == nil && !bytes.Equal(data[key], data2[key]) {
				t.Fatalf("key %q depends on a token its template does not ask for", key)
			}
		}
		again, err := renderWithin(t, tok, map[string]string{key: tmpl})
		if err != nil || !maps.EqualFunc(data, again, bytes.Equal) {
			t.Fatalf("rendering is not deterministic: %v", err)
		}
		back, err := Parse(data)
		if err != nil {
			t.Fatalf("the rendered Secret does not parse: %v", err)
		}
		if back.AccessToken != tok.AccessToken || back.TokenType != tok.TokenType || !back.ExpiresAt.Equal(tok.ExpiresAt) ||
			!maps.Equal(back.Headers, tok.Headers) {
			t.Fatal("the rendered Secret reads back as a different token")
		}
	})
}

// TestRenderTimeIsBounded is the "never takes unbounded time" property for
// templates the fuzzer is unlikely to build by mutation: nested ranges over
// the data and sub-templates that call each other twice both stay within the
// loop rules of shared/safetemplate and write nothing, so neither the loop
// check nor the output cap stops them, and their cost doubles with every
// level (measured here: depth 20 takes about 0.3 s, so depth 40, a template of
// about 2 KB, would take days and pin an operator worker).
func TestRenderTimeIsBounded(t *testing.T) {
	tok := Token{AccessToken: "a", TokenType: "Bearer", ExpiresAt: time.Now(), Headers: map[string]string{"X": "y"}}
	var calls strings.Builder
	calls.WriteString(`{{ define "t0" }}{{ end }}`)
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&calls, `{{ define "t%d" }}{{ template "t%d" }}{{ template "t%d" }}{{ end }}`, i, i-1, i-1)
	}
	calls.WriteString(`{{ template "t40" }}`)
	for name, tmpl := range map[string]string{
		"nested ranges":      strings.Repeat("{{ range $.Headers }}", 40) + strings.Repeat("{{ end }}", 40),
		"doubling sub-calls": calls.String(),
	} {
		t.Run(name, func(t *testing.T) {
			// Either refused or rendered; both within the budget.
			renderWithin(t, tok, map[string]string{"k": tmpl})
		})
	}
}
