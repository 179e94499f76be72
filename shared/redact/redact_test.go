package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

const secret = "p@ss w/rd+Zq9!"

func TestSecretsAreTakenOutInEveryFormTheyTravelIn(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"as it is", "secret " + secret + " is wrong", "secret [redacted] is wrong"},
		{"form-encoded", "body had " + url.QueryEscape(secret) + " in it", "body had [redacted] in it"},
		{"form-encoded with lower-case hex", "body had " + strings.ToLower(url.QueryEscape(secret)[:3]) + url.QueryEscape(secret)[3:] + " in it",
			"body had [redacted] in it"},
		{"path-encoded", "path /" + url.PathEscape(secret) + "/x", "path /[redacted]/x"},
		{"base64", "got " + base64.StdEncoding.EncodeToString([]byte(secret)), "got [redacted]"},
		{"base64url without padding", "got " + base64.RawURLEncoding.EncodeToString([]byte(secret)), "got [redacted]"},
		{"cut where the text ends", "the secret was " + secret[:7], "the secret was [redacted]"},
		{"a Basic header of any credentials", "Authorization: Basic YXBwOm90aGVy", "Authorization: Basic [redacted]"},
		{"a bearer token", "sent bearer abc.def-123", "sent bearer [redacted]"},
		{"a JWT", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here", "token [redacted] here"},
		{"a JSON token field", `{"access_token":"opaque","token":"x1"}`, `{"access_token":"[redacted]","token":"[redacted]"}`},
		{"a form token field", "refresh_token=r1&client_secret=s1&scope=a", "refresh_token=[redacted]&client_secret=[redacted]&scope=a"},
		{"an opaque token", "token 8fK2c9QxTok7aLmN3pQ5rS7tU9 revoked", "token [redacted] revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.text, secret); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestWhatHelpsAPersonIsKept(t *testing.T) {
	for _, text := range []string{
		"invalid_client",
		"Client authentication failed",
		"Basic authentication is not allowed for this client",
		"the redirect_uri https://login.example.com/oauth2/v2.0/callback is not registered",
		"scope read:orders is unknown",
		"token_type must be bearer; status_code 400",
		"unsupported_grant_type_for_this_client_application",
	} {
		if got := String(text, secret); got != text {
			t.Errorf("String(%q) = %q", text, got)
		}
	}
}

// TestClipRedactsBeforeItCuts: a secret the cut splits is recognised whole,
// so no start of it survives.
func TestClipRedactsBeforeItCuts(t *testing.T) {
	text := strings.Repeat("x", 95) + secret + " and more"
	got := Clip(text, 100, secret)
	for n := 4; n <= len(secret); n++ {
		if strings.Contains(got, secret[:n]) {
			t.Fatalf("Clip left the first %d characters of the secret: %q", n, got)
		}
	}
	if !strings.HasPrefix(got, strings.Repeat("x", 95)) || !strings.HasSuffix(got, "…") || len(got) > 100+len("…") {
		t.Errorf("Clip = %q", got)
	}
	if got := Clip("a\n  b\tc", 10); got != "a b c" {
		t.Errorf("Clip does not put text on one line: %q", got)
	}
}
