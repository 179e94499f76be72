package tokensecret

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

const secretToken = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln"

func sample() Token {
	return Token{
		AccessToken: secretToken,
		TokenType:   "Bearer",
		ExpiresAt:   time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC),
		Headers:     map[string]string{"Ocp-Apim-Subscription-Key": "sub-key"},
	}
}

func TestRenderWritesEveryStandardKey(t *testing.T) {
	data, err := Render(sample(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		KeyAccessToken:   secretToken,
		KeyTokenType:     "Bearer",
		KeyAuthorization: "Bearer " + secretToken,
		KeyExpiresAt:     "2026-11-23T10:05:00Z",
	}
	for key, value := range want {
		if got := string(data[key]); got != value {
			t.Errorf("%s = %q, want %q", key, got, value)
		}
	}
	var headers map[string]string
	if err := json.Unmarshal(data[KeyHeaders], &headers); err != nil {
		t.Fatalf("headers.json is not a JSON object: %v", err)
	}
	if headers["Authorization"] != "Bearer "+secretToken || headers["Ocp-Apim-Subscription-Key"] != "sub-key" {
		t.Errorf("headers.json lacks a header a request needs: %v", headers)
	}
}

func TestParseReadsBackWhatRenderWrote(t *testing.T) {
	data, err := Render(sample(), map[string]string{"extra": "x"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	if got.AccessToken != want.AccessToken || got.TokenType != want.TokenType || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		got.Headers["Ocp-Apim-Subscription-Key"] != "sub-key" || len(got.Headers) != 1 {
		t.Errorf("Parse(Render(t)) = %+v, want %+v", got, want)
	}
}

func TestRenderTemplateKeys(t *testing.T) {
	data, err := Render(sample(), map[string]string{
		"curl.config": `header = "Authorization: {{ .Authorization }}"`,
		"expiry":      "{{ .ExpiresAt }}",
		"subkey":      `{{ index .Headers "Ocp-Apim-Subscription-Key" }}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data["curl.config"]); got != `header = "Authorization: Bearer `+secretToken+`"` {
		t.Errorf("curl.config = %q", got)
	}
	if got := string(data["expiry"]); got != "2026-11-23T10:05:00Z" {
		t.Errorf("expiry = %q", got)
	}
	if got := string(data["subkey"]); got != "sub-key" {
		t.Errorf("subkey = %q", got)
	}
}

func TestRenderRejectsBadTemplatesWithoutQuotingTheToken(t *testing.T) {
	cases := map[string]map[string]string{
		"a template that does not parse":          {"bad": "{{ .AccessToken "},
		"a template that names an unknown field":  {"bad": "{{ .Password }}"},
		"a template that overwrites access_token": {KeyAccessToken: "x"},
	}
	for name, tmpl := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Render(sample(), tmpl)
			if err == nil {
				t.Fatal("Render accepted a bad template")
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Fatalf("error quotes the token: %v", err)
			}
		})
	}
}

func TestParseRejectsEditedSecrets(t *testing.T) {
	cases := map[string]func(map[string][]byte){
		"access_token removed":            func(d map[string][]byte) { delete(d, KeyAccessToken) },
		"expires_at not a time":           func(d map[string][]byte) { d[KeyExpiresAt] = []byte("tomorrow") },
		"authorization for another token": func(d map[string][]byte) { d[KeyAuthorization] = []byte("Bearer other") },
		"headers.json not JSON":           func(d map[string][]byte) { d[KeyHeaders] = []byte("{") },
		"access_token replaced by hand":   func(d map[string][]byte) { d[KeyAccessToken] = []byte("pasted") },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := Render(sample(), nil)
			if err != nil {
				t.Fatal(err)
			}
			edit(data)
			if _, err := Parse(data); err == nil {
				t.Fatal("Parse accepted an edited Secret")
			} else if strings.Contains(err.Error(), secretToken) {
				t.Fatalf("error quotes the token: %v", err)
			}
		})
	}
}

func TestTemplatesCannotBurnTheOperator(t *testing.T) {
	tok := Token{AccessToken: "a", TokenType: "Bearer", ExpiresAt: time.Now().Add(time.Hour)}
	for name, tmpl := range map[string]string{
		"a counting loop":   "{{ range 1000000000000 }}{{ end }}",
		"a nested loop":     `{{ with .AccessToken }}{{ range 99999999 }}x{{ end }}{{ end }}`,
		"an endless output": `{{ define "x" }}{{ $.Authorization }}{{ $.Authorization }}{{ template "x" $ }}{{ end }}{{ template "x" . }}`,
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Render(tok, map[string]string{"k": tmpl}); done <- err }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("accepted")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still rendering after 5s")
			}
		})
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

// TestTemplatesCannotExhaustTheOperatorsMemory: a template of a few hundred
// bytes used to make fmt pad to a million bytes per verb, and the operator
// (512 MiB in the chart) allocated gigabytes before the 64 KiB output limit
// was checked. Widths and precisions are now refused before anything is
// padded, and the render stays within a few megabytes.
func TestTemplatesCannotExhaustTheOperatorsMemory(t *testing.T) {
	tok := sample()
	tok.Headers = map[string]string{"A": "1", "B": "2", "C": "3"}
	ones := strings.Repeat(" 1", 40)
	for name, tmpl := range map[string]string{
		"printf with wide verbs":               `{{ printf "` + strings.Repeat("%1000000d", 40) + `"` + ones + ` }}`,
		"printf with long precisions":          `{{ printf "` + strings.Repeat("%.1000000f", 40) + `"` + strings.Repeat(" 1.5", 40) + ` }}`,
		"printf with widths from arguments":    `{{ printf "` + strings.Repeat("%*d", 40) + `"` + strings.Repeat(" 1000000 1", 40) + ` }}`,
		"printf with a format made on the fly": `{{ $f := print "%" "1000000d" }}{{ printf (print $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f $f)` + ones + ` }}`,
		"wide verbs in every run of a range":   `{{ range $.Headers }}{{ range $.Headers }}{{ $x := printf "%1000000d%1000000d%1000000d" 1 2 3 }}{{ end }}{{ end }}`,
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if n := allocated(func() { _, err = Render(tok, map[string]string{"k": tmpl}) }); n > 16<<20 {
				t.Errorf("one render allocated %d MiB", n>>20)
			}
			if err == nil || !strings.Contains(err.Error(), "may be at most 64, and not *") {
				t.Errorf("want the widths refused, naming the limit; got %v", err)
			}
		})
	}
}

// TestTemplateErrorsDoNotRebuildTheToken: the failing action's message
// used to print the value it failed on, so that `index "" (index
// .AccessToken N)` said "index out of range: 101", the token's byte N, in
// the ApiClient's status and events. The error is now the same whatever the
// token: it carries neither a character of it nor a number made from one.
func TestTemplateErrorsDoNotRebuildTheToken(t *testing.T) {
	tokA, tokB := sample(), sample()
	tokA.AccessToken = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0"
	tokB.AccessToken = "XZabcdefghijklmnopqrstuvwxyz0"
	for _, tmpl := range []string{
		`{{ index "" (index .AccessToken %d) }}`,
		`{{ index .AccessToken (index .AccessToken %d) }}`,
		`{{ slice .AccessToken (index .AccessToken %d) }}`,
		`{{ index .Headers (index .AccessToken %d) }}`,
		`{{ eq (index .AccessToken %d) "" }}`,
		`{{ range (index .AccessToken %d) }}{{ end }}`,
		`{{ with (index .AccessToken %d) }}{{ .Field }}{{ end }}`,
	} {
		for n := range len(tokA.AccessToken) {
			key := map[string]string{"k": fmt.Sprintf(tmpl, n)}
			_, errA := Render(tokA, key)
			_, errB := Render(tokB, key)
			if errA == nil || errB == nil {
				t.Fatalf("%s: want an error, got %v / %v", key["k"], errA, errB)
			}
			if errA.Error() != errB.Error() {
				t.Fatalf("the error depends on the token:\n%v\n%v", errA, errB)
			}
		}
	}
}
