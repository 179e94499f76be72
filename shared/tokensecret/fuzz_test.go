package tokensecret

import (
	"bytes"
	"maps"
	"strings"
	"testing"
	"time"
)

// FuzzRender feeds user output templates (spec.output.template) to Render.
// Whatever the template, Render must not panic, must keep the standard keys
// exactly as the contract defines them, must be deterministic, and its
// errors must not quote the token.
func FuzzRender(f *testing.F) {
	for _, seed := range []struct{ key, tmpl string }{
		{"bearer.txt", "{{ .Authorization }}"},
		{"env", "TOKEN={{ .AccessToken }}\nEXPIRES={{ .ExpiresAt }}"},
		{"curl-headers", `{{ range $k, $v := .Headers }}{{ $k }}: {{ $v }}{{ "\n" }}{{ end }}`},
		{"access_token", "{{ .AccessToken }}"},
		{"x", "{{ .Missing }}"},
		{"x", "{{ template \"x\" }}"},
		{"x", "{{ range 10000000 }}{{ end }}"},
		{"x", `{{ define "a" }}{{ .AccessToken }}{{ .AccessToken }}{{ end }}{{ template "a" . }}`},
		{"x", "{{"},
	} {
		f.Add(seed.key, seed.tmpl)
	}
	const secret = "tok-7f3a9c-do-not-print"
	tok := Token{AccessToken: secret, TokenType: "Bearer", ExpiresAt: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		Headers: map[string]string{"Ocp-Apim-Subscription-Key": "sub"}}
	standard, err := Render(tok, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, tmpl string) {
		data, err := Render(tok, map[string]string{key: tmpl})
		if err != nil {
			if strings.Contains(err.Error(), secret) && !strings.Contains(tmpl+key, "tok-") {
				t.Fatalf("the error quotes the token: %v", err)
			}
			return
		}
		for k, v := range standard {
			if !bytes.Equal(data[k], v) {
				t.Fatalf("the template changed the standard key %q", k)
			}
		}
		again, err := Render(tok, map[string]string{key: tmpl})
		if err != nil || !maps.EqualFunc(data, again, bytes.Equal) {
			t.Fatalf("rendering is not deterministic: %v", err)
		}
		if _, err := Parse(data); err != nil {
			t.Fatalf("the rendered Secret does not parse: %v", err)
		}
	})
}
