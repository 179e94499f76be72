package token_test

import (
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/token"
)

// FuzzParseResponse feeds arbitrary bodies to the response parser: it must
// never panic, and whatever it accepts must be a usable token.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		`{"access_token":"abc","token_type":"bearer","expires_in":3600}`,
		`{"access_token":"abc","expires_in":"300"}`,
		`{"access_token":"abc","expires_in":3599.5}`,
		`{"status_code":200,"expires_in":3600,"request_id":"r","access_token":"abc","token_type":"bearer"}`,
		`{"access_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9."}`,
		`{"access_token":"abc","expires_in":-1}`,
		`{"access_token":"","expires_in":60}`,
		`[1,2,3]`,
		`<html></html>`,
		`{"access_token":"abc","expires_in":1e309}`,
		`{"access_token":"abc","token_type":"DPoP","expires_in":"NaN"}`,
	} {
		f.Add([]byte(seed))
	}
	issued := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := token.ParseResponse(body, issued, 0)
		if err != nil {
			return
		}
		if tok.AccessToken == "" {
			t.Fatal("accepted an empty access token")
		}
		if lifetime := tok.ExpiresAt.Sub(issued); lifetime <= 0 || lifetime > token.MaxLifetime {
			t.Fatalf("accepted lifetime %v", lifetime)
		}
		if tok.TokenType == "" {
			t.Fatal("accepted an empty token type")
		}
	})
}
