// Package redact takes secrets out of text a platform sent before it may
// appear in an error, and so in a status, an event or a log: the request's
// own secrets in every form they travel in, and anything shaped like a
// credential.
package redact

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Mark replaces what was taken out.
const Mark = "[redacted]"

var (
	// schemeCredentials is the value after an Authorization scheme, such
	// as the base64 of id:secret after Basic.
	schemeCredentials = regexp.MustCompile(`(?i)\b(?:Basic|Bearer|DPoP|Digest|Negotiate|MAC)\s+([A-Za-z0-9._~+/=-]{8,})`)
	// tokenField is the value of a credential-bearing field, in JSON or in
	// a form.
	tokenField = regexp.MustCompile(`(?i)(\b(?:access_token|refresh_token|id_token|token|client_secret|password|client_assertion)\b"?\s*[:=]\s*"?)[^"&\s,;}]*`)
	// jwtLike is anything shaped like a JWS compact serialization.
	jwtLike = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
	// longRun is a run of token characters long enough to be an opaque
	// token or a key; runs without both a letter and a digit (long words)
	// are kept.
	longRun = regexp.MustCompile(`[A-Za-z0-9+/_=~-]{24,}`)
)

// minSecret is the shortest secret replaced wherever it appears, and
// minCut the shortest start of one replaced where a text ends (shorter
// ones would blot out common words).
const (
	minSecret = 3
	minCut    = 6
)

// String returns s without the given secrets (as they are, URL-encoded or
// base64-encoded, or cut off where s ends) and without anything shaped like
// a credential.
func String(s string, secrets ...string) string {
	for _, form := range forms(secrets) {
		s = strings.ReplaceAll(s, form, Mark)
	}
	s = schemeCredentials.ReplaceAllStringFunc(s, func(m string) string {
		// "Basic authentication failed" keeps its word.
		value := schemeCredentials.FindStringSubmatch(m)[1]
		if strings.IndexFunc(value, func(r rune) bool { return !unicode.IsLetter(r) }) < 0 {
			return m
		}
		return strings.TrimSuffix(m, value) + Mark
	})
	s = tokenField.ReplaceAllString(s, "${1}"+Mark)
	s = jwtLike.ReplaceAllString(s, Mark)
	s = longRun.ReplaceAllStringFunc(s, func(run string) string {
		if strings.IndexFunc(run, unicode.IsDigit) >= 0 && strings.IndexFunc(run, unicode.IsLetter) >= 0 {
			return Mark
		}
		return run
	})
	// A text that ends in the start of a secret was cut inside it (by the
	// platform, or by a clip): that start is secret too.
	for _, secret := range secrets {
		for n := len(secret) - 1; n >= minCut; n-- {
			if strings.HasSuffix(s, secret[:n]) {
				s = s[:len(s)-n] + Mark
				break
			}
		}
	}
	return s
}

// Clip redacts s, puts it on one line and shortens it to at most n bytes.
// Redacting comes first, so that a secret the cut would split is still
// recognised whole.
func Clip(s string, n int, secrets ...string) string {
	s = strings.Join(strings.Fields(String(s, secrets...)), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return strings.ToValidUTF8(s, "")
}

// forms are the ways a secret appears in what a platform echoes: as it is,
// URL-encoded (a form body, a query), and base64-encoded. Longest first, so
// that no shorter form breaks up a longer one.
func forms(secrets []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if len(f) >= minSecret && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, s := range secrets {
		if len(s) < minSecret {
			continue
		}
		q := url.QueryEscape(s)
		add(s)
		add(q)
		add(lowerHex.ReplaceAllStringFunc(q, strings.ToLower))
		add(url.PathEscape(s))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			add(enc.EncodeToString([]byte(s)))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

var lowerHex = regexp.MustCompile(`%[0-9A-F]{2}`)
