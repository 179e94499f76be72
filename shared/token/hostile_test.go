package token_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/token"
)

// TestHostileAndBrokenResponses feeds the token code what real and hostile
// endpoints send. Each case must end in the expected kind of error, and no
// error may quote a secret of the request.
func TestHostileAndBrokenResponses(t *testing.T) {
	fakeJWT := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln"
	cases := []struct {
		name    string
		reply   http.HandlerFunc
		want    token.Kind
		wantErr error  // optional sentinel
		wantMsg string // optional fragment of the message
		// server overrides the default TLS server.
		server func(t *testing.T, h http.Handler) (url string, hc *http.Client)
		req    func(r *token.Request)
	}{
		{name: "an HTML login page with status 200", want: token.KindMalformedResponse, wantMsg: "text/html",
			reply: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, "<html><body>Please sign in</body></html>")
			}},
		{name: "truncated JSON", want: token.KindMalformedResponse, wantErr: token.ErrNotJSON,
			reply: replyJSON(200, `{"access_token":"`+accessToken+`","expires_in":36`)},
		{name: "an empty body", want: token.KindMalformedResponse, wantErr: token.ErrNotJSON,
			reply: replyJSON(200, ``)},
		{name: "a JSON array instead of an object", want: token.KindMalformedResponse, wantErr: token.ErrNotJSON,
			reply: replyJSON(200, `[{"access_token":"x"}]`)},
		{name: "no access_token", want: token.KindMalformedResponse, wantErr: token.ErrNoAccessToken,
			reply: replyJSON(200, `{"token_type":"bearer","expires_in":3600}`)},
		{name: "an empty access_token", want: token.KindMalformedResponse, wantErr: token.ErrNoAccessToken,
			reply: replyJSON(200, `{"access_token":"","expires_in":3600}`)},
		{name: "a numeric access_token", want: token.KindMalformedResponse, wantErr: token.ErrNoAccessToken,
			reply: replyJSON(200, `{"access_token":12345,"expires_in":3600}`)},
		{name: "a negative lifetime", want: token.KindMalformedResponse, wantErr: token.ErrBadExpiresIn,
			reply: replyJSON(200, `{"access_token":"`+accessToken+`","expires_in":-60}`)},
		{name: "a zero lifetime", want: token.KindMalformedResponse, wantErr: token.ErrBadExpiresIn,
			reply: replyJSON(200, `{"access_token":"`+accessToken+`","expires_in":"0"}`)},
		{name: "an absurd lifetime of a century", want: token.KindMalformedResponse, wantErr: token.ErrAbsurdLifetime,
			reply: replyJSON(200, `{"access_token":"`+accessToken+`","expires_in":3153600000}`)},
		{name: "a lifetime that is not a number", want: token.KindMalformedResponse, wantErr: token.ErrBadExpiresIn,
			reply: replyJSON(200, `{"access_token":"`+accessToken+`","expires_in":"one hour"}`)},
		{name: "no lifetime anywhere and no declared default", want: token.KindUnknownLifetime, wantErr: token.ErrNoExpiry,
			reply: replyJSON(200, `{"access_token":"`+accessToken+`"}`)},
		{name: "a body over one MiB", want: token.KindMalformedResponse, wantMsg: "larger than",
			reply: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 2<<20)+`","expires_in":3600}`)
			}},
		{name: "a slow drip that outlasts the timeout", want: token.KindUnreachable,
			req: func(r *token.Request) { r.Timeout = 300 * time.Millisecond },
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(200)
				for _, b := range []byte(`{"access_token":"x","expires_in":3600}`) {
					select {
					case <-r.Context().Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					_, _ = w.Write([]byte{b})
					w.(http.Flusher).Flush()
				}
			}},
		{name: "a 401 invalid_client", want: token.KindInvalidCredentials, wantMsg: "HTTP 401 invalid_client",
			reply: replyJSON(401, `{"error":"invalid_client","error_description":"Client authentication failed"}`)},
		{name: "a 400 invalid_grant for a wrong password", want: token.KindInvalidCredentials, wantMsg: "invalid_grant",
			reply: replyJSON(400, `{"error":"invalid_grant","error_description":"invalid username or password"}`)},
		{name: "a 429 with Retry-After in seconds", want: token.KindRateLimited, wantMsg: "retry after 7s",
			reply: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(429)
			}},
		{name: "a 503 with Retry-After as an HTTP date", want: token.KindRateLimited, wantMsg: "retry after",
			reply: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
				w.WriteHeader(503)
			}},
		{name: "a 500 HTML error page", want: token.KindServerError, wantMsg: "HTTP 500 Internal Server Error (body: 23 bytes of text/html)",
			reply: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(500)
				_, _ = io.WriteString(w, "<h1>Internal error</h1>")
			}},
		{name: "an error body that echoes the client secret and password", want: token.KindRejected,
			reply: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(400)
				_, _ = fmt.Fprintf(w, "bad request: client_secret=%s password=%s", clientSecret, password)
			}},
		{name: "an error description that echoes the secret", want: token.KindInvalidCredentials,
			reply: replyJSON(401, `{"error":"invalid_client","error_description":"secret `+clientSecret+` is wrong"}`)},
		{name: "a 200 HTML page that leaks a token-shaped string", want: token.KindMalformedResponse,
			reply: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, "<p>your token: "+fakeJWT+"</p>")
			}},
		{name: "a redirect to another host", want: token.KindRefused, wantErr: outbound.ErrRedirect,
			reply: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://evil.example.com/steal", http.StatusTemporaryRedirect)
			}},
		{name: "a redirect to the same host, which is not followed either", want: token.KindRefused, wantErr: outbound.ErrRedirect,
			reply: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/other-token", http.StatusFound)
			}},
		{name: "a server certificate from a CA the client does not trust", want: token.KindTLS,
			server: func(t *testing.T, h http.Handler) (string, *http.Client) {
				s := httptest.NewTLSServer(h) // httptest's own CA, not trusted below
				t.Cleanup(s.Close)
				hc, _ := outbound.NewClient(outbound.Options{Policy: local})
				return s.URL, hc
			}},
		{name: "an expired server certificate", want: token.KindTLS,
			server: func(t *testing.T, h http.Handler) (string, *http.Client) {
				ca, _ := certstest.NewCA("ca")
				cert, _ := ca.Issue("127.0.0.1", certstest.Options{Server: true,
					NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
				return serveTLS(t, h, &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}, ca)
			}},
		{name: "a server that speaks only TLS 1.1", want: token.KindTLS,
			server: func(t *testing.T, h http.Handler) (string, *http.Client) {
				ca, _ := certstest.NewCA("ca")
				cert, _ := ca.Issue("127.0.0.1", certstest.Options{Server: true})
				return serveTLS(t, h, &tls.Config{Certificates: []tls.Certificate{cert.TLS()},
					MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, ca)
			}},
		{name: "a plain http URL without the opt-in", want: token.KindRefused, wantMsg: "refusing plain http://",
			server: func(t *testing.T, h http.Handler) (string, *http.Client) {
				s := httptest.NewServer(h)
				t.Cleanup(s.Close)
				hc, _ := outbound.NewClient(outbound.Options{})
				return s.URL, hc
			}},
		{name: "a cloud metadata address", want: token.KindRefused, wantErr: outbound.ErrForbiddenAddress,
			server: func(t *testing.T, h http.Handler) (string, *http.Client) {
				hc, _ := outbound.NewClient(outbound.Options{Timeout: 2 * time.Second})
				return "https://169.254.169.254/latest/token", hc
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var url string
			var hc *http.Client
			if tc.server != nil {
				h := tc.reply
				if h == nil {
					h = ok
				}
				url, hc = tc.server(t, h)
			} else {
				e := newEndpoint(t, tc.reply, nil)
				url, hc = e.URL+"/token", e.client(t, nil)
			}
			req := token.Request{URL: url, GrantType: token.GrantPassword, ClientAuth: token.ClientSecretPost,
				ClientID: "app", ClientSecret: clientSecret, Username: "user", Password: password}
			if tc.req != nil {
				tc.req(&req)
			}
			tok, err := token.Fetch(context.Background(), hc, req)
			if err == nil {
				t.Fatalf("Fetch succeeded with token %q; want a %v error", tok.AccessToken, tc.want)
			}
			if got := token.KindOf(err); got != tc.want {
				t.Fatalf("kind = %v, want %v (err: %v)", got, tc.want, err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.wantErr)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
			for _, secret := range []string{clientSecret, password, accessToken, fakeJWT} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error text leaks a secret: %v", err)
				}
			}
		})
	}
}

func serveTLS(t *testing.T, h http.Handler, cfg *tls.Config, ca *certstest.CA) (string, *http.Client) {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = cfg
	s.StartTLS()
	t.Cleanup(s.Close)
	hc, err := outbound.NewClient(outbound.Options{CABundle: ca.CertPEM(), Policy: local})
	if err != nil {
		t.Fatal(err)
	}
	return s.URL, hc
}

// TestNoPartOfAnAnswerIsQuoted: a 2xx answer of an unexpected shape holds a
// real token, and any answer may come from a service the URL should not
// point at. Errors say what was wrong with the shape; of an error answer
// they keep only the RFC 6749 fields, redacted of the request's secrets in
// every form they travel in, also where a cut would split one.
func TestNoPartOfAnAnswerIsQuoted(t *testing.T) {
	const (
		tok    = "QxTok7-hidden-in-an-odd-shape-91f3"
		secret = "Zk!9 secret/with+odd=chars&more-text-to-be-long"
		id     = "shape-app"
	)
	basic := base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
	basicForm := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	reply := func(status int, contentType, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	cases := []struct {
		name    string
		reply   http.HandlerFunc
		wantErr error
		wantMsg string
	}{
		{name: "a token under another name", wantErr: token.ErrNoAccessToken, wantMsg: "the field is missing (body: 64 bytes of application/json)",
			reply: reply(200, "application/json", `{"token":"`+tok+`","expires_in":3600}`)},
		{name: "an access_token that is an object", wantErr: token.ErrNoAccessToken, wantMsg: "it is a JSON object, not a string",
			reply: reply(200, "application/json", `{"access_token":{"value":"`+tok+`"},"expires_in":3600}`)},
		{name: "a form-encoded token", wantErr: token.ErrNotJSON, wantMsg: "form-encoded",
			reply: reply(200, "application/x-www-form-urlencoded", "access_token="+tok+"&token_type=bearer&expires_in=3600")},
		{name: "a form-encoded token labelled as text", wantErr: token.ErrNotJSON, wantMsg: "bytes of text/plain",
			reply: reply(200, "text/plain", "access_token="+tok+"&token_type=bearer&expires_in=3600")},
		{name: "a token in an array", wantErr: token.ErrNotJSON, wantMsg: "it is a JSON array",
			reply: reply(200, "application/json", `["`+tok+`"]`)},
		{name: "a token with a space in it", wantErr: token.ErrNoAccessToken, wantMsg: "whitespace",
			reply: reply(200, "application/json", `{"access_token":"`+tok+` `+tok+`","expires_in":3600}`)},
		{name: "a token on an HTML page", wantMsg: "HTML page",
			reply: reply(200, "text/html", "<p>"+tok+"</p>")},
		{name: "an error page of some other service", wantMsg: "HTTP 502 Bad Gateway (body: ",
			reply: reply(502, "text/plain", "upstream answered: access_token="+tok)},
		{name: "an error that echoes the Basic header", wantMsg: "invalid_client: header Authorization: Basic [redacted]",
			reply: reply(401, "application/json", `{"error":"invalid_client","error_description":"header Authorization: Basic `+basic+` refused"}`)},
		{name: "an error that echoes the form-encoded Basic credentials", wantMsg: "invalid_client: credentials [redacted]",
			reply: reply(401, "application/json", `{"error":"invalid_client","error_description":"credentials `+basicForm+` refused"}`)},
		{name: "an error that echoes the URL-encoded secret", wantMsg: "invalid_request: got [redacted]",
			reply: reply(400, "application/json", `{"error":"invalid_request","error_description":"got `+url.QueryEscape(secret)+` in the body"}`)},
		{name: "an error that echoes the path-encoded secret", wantMsg: "invalid_request: got [redacted]",
			reply: reply(400, "application/json", `{"error":"invalid_request","error_description":"got `+url.PathEscape(secret)+` in the path"}`)},
		{name: "an error whose description cuts through the secret", wantMsg: "invalid_client: " + strings.Repeat("x", 150),
			reply: reply(401, "application/json", `{"error":"invalid_client","error_description":"`+strings.Repeat("x", 190)+secret+`"}`)},
		{name: "an error cut by the platform inside the secret", wantMsg: "invalid_client: the secret was [redacted]",
			reply: reply(401, "application/json", `{"error":"invalid_client","error_description":"the secret was `+secret[:12]+`"}`)},
		{name: "an error that echoes an earlier token", wantMsg: "invalid_grant: token [redacted] was revoked",
			reply: reply(400, "application/json", `{"error":"invalid_grant","error_description":"token 8fK2c9QxTok7aLmN3pQ5rS7tU9vW1xY3 was revoked"}`)},
		{name: "an error code that is a secret", wantMsg: "HTTP 400 [redacted]",
			reply: reply(400, "application/json", `{"error":"`+secret+`"}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpoint(t, tc.reply, nil)
			_, err := token.Fetch(context.Background(), e.client(t, nil), token.Request{URL: e.URL + "/token",
				GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretBasic, ClientID: id, ClientSecret: secret,
				DefaultLifetime: time.Hour})
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			msg := err.Error()
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.wantErr)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("err = %q, want it to say %q", msg, tc.wantMsg)
			}
			for _, leak := range []string{tok[:6], "hidden", "upstream", "8fK2c9", basic[:8], basicForm[:8],
				url.QueryEscape(secret)[:6], url.PathEscape(secret)[:6]} {
				if strings.Contains(msg, leak) {
					t.Errorf("the error quotes %q: %s", leak, msg)
				}
			}
			for n := 4; n <= len(secret); n++ {
				if strings.Contains(msg, secret[:n]) {
					t.Fatalf("the error holds the first %d characters of the secret: %s", n, msg)
				}
			}
		})
	}
}
