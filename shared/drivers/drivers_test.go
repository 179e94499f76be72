package drivers_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

const (
	accessToken = "mgmt-token-5Qz8"
	// generated is a webhook credential Keyport sends in a request body.
	generated = "whsec-generated-Xy72-kQ"
	// canary stands for whatever the answering service holds.
	canary = "internal-canary"
)

// TestAFailedManagementCallQuotesNoBody: what a management URL answers
// reaches an error, and so a status, only as its status code and the
// platform's structured error fields, redacted: never an HTML page, a text,
// other JSON fields or bytes that are not HTTP at all.
func TestAFailedManagementCallQuotesNoBody(t *testing.T) {
	type items struct {
		Items []string `json:"items"`
	}
	for _, tc := range []struct {
		name    string
		reply   http.HandlerFunc
		wantMsg string
	}{
		{name: "an HTML error page", wantMsg: "POST /channels: HTTP 500 Internal Server Error",
			reply: reply(500, "text/html", "<h1>"+canary+"</h1>")},
		{name: "a text that echoes the token", wantMsg: "POST /channels: HTTP 403 Forbidden",
			reply: reply(403, "text/plain", canary+" rejected Bearer "+accessToken)},
		{name: "an OAuth error that echoes a generated credential",
			wantMsg: "POST /channels: HTTP 400 Bad Request: invalid_request: secret [redacted] is too short",
			reply:   reply(400, "application/json", `{"error":"invalid_request","error_description":"secret `+generated+` is too short","debug":"`+canary+`"}`)},
		{name: "a problem document that echoes the token",
			wantMsg: "POST /channels: HTTP 422 Unprocessable Entity: Unprocessable: token [redacted] may not register webhooks",
			reply:   reply(422, "application/problem+json", `{"title":"Unprocessable","detail":"token `+accessToken+` may not register webhooks","instance":"`+canary+`"}`)},
		{name: "a success that is not JSON", wantMsg: "POST /channels: the response (15 bytes) is not the JSON the driver expects",
			reply: reply(200, "text/plain", canary)},
		{name: "a success of another shape", wantMsg: "POST /channels: the response's items is a JSON string, not what the driver expects",
			reply: reply(200, "application/json", `{"items":"`+canary+`"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, hc := serve(t, tc.reply)
			c := drivers.Conn{BaseURL: url, HTTP: hc, Token: tokensecret.Token{AccessToken: accessToken, TokenType: "Bearer"}}
			err := c.Do(context.Background(), http.MethodPost, "/channels", []byte(`{"secret":"`+generated+`"}`), &items{})
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want it to say %q", err, tc.wantMsg)
			}
			for _, leak := range []string{canary, accessToken, generated} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error quotes %q: %v", leak, err)
				}
			}
		})
	}
}

// TestAnAnswerThatIsNotHTTPIsNotQuoted: a management URL pointed at some
// other TLS service; Go's HTTP client would quote what it could not parse.
func TestAnAnswerThatIsNotHTTPIsNotQuoted(t *testing.T) {
	ca, _ := certstest.NewCA("ca")
	cert, _ := ca.Issue("127.0.0.1", certstest.Options{Server: true})
	for _, answer := range []string{canary, canary + " ready", "HTTP/1.1 " + canary, "HTTP/1.1 200 OK\r\n" + canary} {
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.TLS()}})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, answer+"\r\n\r\n")
				_ = c.Close()
			}
		}()
		c := drivers.Conn{BaseURL: "https://" + l.Addr().String(), HTTP: client(t, ca.CertPEM()), Token: tokensecret.Token{AccessToken: accessToken}}
		err = c.Do(context.Background(), http.MethodGet, "/channels", nil, nil)
		l.Close()
		if err == nil || strings.Contains(err.Error(), canary) {
			t.Errorf("%q: want an error that does not quote the answer, got %v", answer, err)
		} else if !errors.Is(err, outbound.ErrNotHTTP) {
			t.Errorf("%q: want outbound.ErrNotHTTP, got %v", answer, err)
		}
	}
}

func reply(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func serve(t *testing.T, h http.Handler) (string, *http.Client) {
	t.Helper()
	ca, _ := certstest.NewCA("ca")
	cert, _ := ca.Issue("127.0.0.1", certstest.Options{Server: true})
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.URL, client(t, ca.CertPEM())
}

// client trusts caPEM and may reach loopback, where the test servers are.
func client(t *testing.T, caPEM []byte) *http.Client {
	t.Helper()
	hc, err := outbound.NewClient(outbound.Options{CABundle: caPEM, Policy: &outbound.Policy{Allow: outbound.Loopback()}})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}
