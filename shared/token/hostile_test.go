package token_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/certs/certstest"
	"github.com/keyport-dev/keyport/shared/outbound"
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
		{name: "a 500 HTML error page", want: token.KindServerError, wantMsg: "Internal error",
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
				hc, _ := outbound.NewClient(outbound.Options{})
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
	hc, err := outbound.NewClient(outbound.Options{CABundle: ca.CertPEM()})
	if err != nil {
		t.Fatal(err)
	}
	return s.URL, hc
}
