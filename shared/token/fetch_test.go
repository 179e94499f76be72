package token_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/token"
)

// Secrets used by the tests; none may ever appear in an error.
const (
	clientSecret = "s3cr3t:with%odd+chars/é"
	password     = "p@ss:word%2F"
	accessToken  = "at-opaque-4f9c2b7e1d"
)

// seen is what the token endpoint received.
type seen struct {
	method      string
	contentType string
	basicUser   string
	basicPass   string
	rawAuth     string
	form        url.Values
	json        map[string]string
	clientCert  *x509.Certificate
}

// endpoint is a real HTTPS token endpoint on loopback that records each
// request and answers with reply.
type endpoint struct {
	*httptest.Server
	ca *certstest.CA

	mu   sync.Mutex
	last seen
}

func newEndpoint(t *testing.T, reply http.HandlerFunc, clientCAs *x509.CertPool) *endpoint {
	t.Helper()
	ca, err := certstest.NewCA("endpoint CA")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.Issue("127.0.0.1", certstest.Options{Server: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &endpoint{ca: ca}
	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, contentType: r.Header.Get("Content-Type"), rawAuth: r.Header.Get("Authorization")}
		s.basicUser, s.basicPass, _ = r.BasicAuth()
		body, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(s.contentType, "application/json") {
			_ = json.Unmarshal(body, &s.json)
		} else {
			s.form, _ = url.ParseQuery(string(body))
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s.clientCert = r.TLS.PeerCertificates[0]
		}
		e.mu.Lock()
		e.last = s
		e.mu.Unlock()
		reply(w, r)
	}))
	e.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert.TLS()}, MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		e.TLS.ClientCAs = clientCAs
		e.TLS.ClientAuth = tls.VerifyClientCertIfGiven
	}
	e.StartTLS()
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) seen() seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// local lets the tests reach their endpoints on loopback, which the
// default outbound policy refuses.
var local = &outbound.Policy{Allow: outbound.Loopback()}

// client trusts the endpoint's CA, optionally presenting a client cert.
func (e *endpoint) client(t *testing.T, clientCert *tls.Certificate) *http.Client {
	t.Helper()
	o := outbound.Options{CABundle: e.ca.CertPEM(), Timeout: 5 * time.Second, Policy: local}
	if clientCert != nil {
		o.ClientCertificate = func() (*tls.Certificate, error) { return clientCert, nil }
	}
	hc, err := outbound.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

func replyJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var ok = replyJSON(200, `{"access_token":"`+accessToken+`","token_type":"bearer","expires_in":3600,"scope":"x","unknown":{"nested":true}}`)

func TestFetchSpeaksEveryDialect(t *testing.T) {
	clientCA, err := certstest.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	rsaClient, err := clientCA.Issue("rsa-client", certstest.Options{KeyType: certstest.RSA})
	if err != nil {
		t.Fatal(err)
	}
	ecClient, err := clientCA.Issue("ec-client", certstest.Options{KeyType: certstest.ECDSA})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		req   token.Request
		cert  *certstest.Cert
		reply http.HandlerFunc
		check func(t *testing.T, s seen, e *endpoint)
	}{
		{
			name: "client credentials with the secret in a form body",
			req: token.Request{GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretPost,
				ClientID: "app", ClientSecret: clientSecret, Scopes: []string{"a", "b"}, Params: map[string]string{"audience": "api://x"}},
			check: func(t *testing.T, s seen, _ *endpoint) {
				want := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {clientSecret},
					"scope": {"a b"}, "audience": {"api://x"}}
				assertForm(t, s, want)
				if s.rawAuth != "" {
					t.Errorf("unexpected Authorization header %q", s.rawAuth)
				}
			},
		},
		{
			name: "the password grant of a port community platform",
			req: token.Request{GrantType: token.GrantPassword, ClientAuth: token.ClientSecretPost,
				ClientID: "app", ClientSecret: clientSecret, Username: "api-user@example.com", Password: password, Scopes: []string{"openid"}},
			check: func(t *testing.T, s seen, _ *endpoint) {
				assertForm(t, s, url.Values{"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {clientSecret},
					"username": {"api-user@example.com"}, "password": {password}, "scope": {"openid"}})
			},
		},
		{
			name: "HTTP Basic with id and secret form-encoded as RFC 6749 asks",
			req: token.Request{GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretBasic,
				ClientID: "app id", ClientSecret: clientSecret},
			check: func(t *testing.T, s seen, _ *endpoint) {
				if s.basicUser != url.QueryEscape("app id") || s.basicPass != url.QueryEscape(clientSecret) {
					t.Errorf("Basic credentials %q:%q, want the form-encoded id and secret", s.basicUser, s.basicPass)
				}
				if s.form.Has("client_secret") {
					t.Error("the secret was also sent in the body")
				}
			},
		},
		{
			name: "HTTP Basic with the raw id and secret",
			req: token.Request{GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretBasicRaw,
				ClientID: "app id", ClientSecret: clientSecret},
			check: func(t *testing.T, s seen, _ *endpoint) {
				want := "Basic " + base64.StdEncoding.EncodeToString([]byte("app id:"+clientSecret))
				if s.rawAuth != want {
					t.Errorf("Authorization %q, want %q", s.rawAuth, want)
				}
			},
		},
		{
			name: "a JSON body as the payment platform expects",
			req: token.Request{Encoding: token.JSON, GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretPost,
				ClientID: "app", ClientSecret: clientSecret},
			reply: replyJSON(200, `{"status_code":200,"expires_in":3600,"request_id":"request-id-1","access_token":"`+accessToken+`","token_type":"bearer"}`),
			check: func(t *testing.T, s seen, _ *endpoint) {
				if s.contentType != "application/json" {
					t.Errorf("Content-Type %q", s.contentType)
				}
				want := map[string]string{"client_id": "app", "client_secret": clientSecret, "grant_type": "client_credentials"}
				if len(s.json) != len(want) {
					t.Errorf("JSON body %v, want %v", keys(s.json), want)
				}
				for k, v := range want {
					if s.json[k] != v {
						t.Errorf("JSON %s = %q, want %q", k, s.json[k], v)
					}
				}
			},
		},
		{
			name: "a GET with raw Basic credentials over mutual TLS, expires_in a string",
			req: token.Request{Method: http.MethodGet, Encoding: token.NoBody, GrantType: token.GrantNone,
				ClientAuth: token.ClientSecretBasicRaw, ClientID: "m2m-user", ClientSecret: password},
			cert:  rsaClient,
			reply: replyJSON(200, `{"access_token":"`+accessToken+`","expires_in":"300"}`),
			check: func(t *testing.T, s seen, _ *endpoint) {
				if s.method != http.MethodGet {
					t.Errorf("method %s, want GET", s.method)
				}
				if s.rawAuth != "Basic "+base64.StdEncoding.EncodeToString([]byte("m2m-user:"+password)) {
					t.Errorf("Authorization %q", s.rawAuth)
				}
				if s.clientCert == nil || !s.clientCert.Equal(rsaClient.Cert) {
					t.Error("the client certificate was not presented")
				}
			},
		},
		{
			name: "tls_client_auth sends only the client id and the certificate",
			req:  token.Request{GrantType: token.GrantClientCredentials, ClientAuth: token.TLSClientAuth, ClientID: "app"},
			cert: ecClient,
			check: func(t *testing.T, s seen, _ *endpoint) {
				assertForm(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}})
				if s.clientCert == nil || !s.clientCert.Equal(ecClient.Cert) {
					t.Error("the client certificate was not presented")
				}
			},
		},
		{
			name: "private_key_jwt signed RS256 with the certificate's key",
			req: token.Request{GrantType: token.GrantClientCredentials, ClientAuth: token.PrivateKeyJWT, ClientID: "app",
				Assertion: token.Assertion{Key: rsaClient.Key, Certificate: rsaClient.Cert}},
			check: assertionCheck(rsaClient, jose.RS256, ""),
		},
		{
			name: "private_key_jwt signed PS256",
			req: token.Request{GrantType: token.GrantClientCredentials, ClientAuth: token.PrivateKeyJWT, ClientID: "app",
				Assertion: token.Assertion{Key: rsaClient.Key, Algorithm: "PS256"}},
			check: assertionCheck(rsaClient, jose.PS256, ""),
		},
		{
			name: "private_key_jwt signed ES256 with a declared audience",
			req: token.Request{GrantType: token.GrantClientCredentials, ClientAuth: token.PrivateKeyJWT, ClientID: "app",
				Assertion: token.Assertion{Key: ecClient.Key, Audience: "https://issuer.example.com"}},
			check: assertionCheck(ecClient, jose.ES256, "https://issuer.example.com"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reply := tc.reply
			if reply == nil {
				reply = ok
			}
			e := newEndpoint(t, reply, clientCA.Pool())
			var clientCert *tls.Certificate
			if tc.cert != nil {
				c := tc.cert.TLS()
				clientCert = &c
			}
			req := tc.req
			req.URL = e.URL + "/oauth2/token"
			req.APIHeaders = map[string]string{"Ocp-Apim-Subscription-Key": "sub"}
			before := time.Now()
			tok, err := token.Fetch(context.Background(), e.client(t, clientCert), req)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if tok.AccessToken != accessToken || tok.TokenType != "Bearer" {
				t.Errorf("token %q type %q", tok.AccessToken, tok.TokenType)
			}
			if tok.Authorization() != "Bearer "+accessToken || tok.Headers["Ocp-Apim-Subscription-Key"] != "sub" {
				t.Errorf("headers for API calls: %q %v", tok.Authorization(), tok.Headers)
			}
			if tok.IssuedAt.Before(before) || tok.Lifetime() <= 0 {
				t.Errorf("issued %v, lifetime %v", tok.IssuedAt, tok.Lifetime())
			}
			tc.check(t, e.seen(), e)
		})
	}
}

func assertForm(t *testing.T, s seen, want url.Values) {
	t.Helper()
	if s.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", s.contentType)
	}
	if len(s.form) != len(want) {
		t.Errorf("form fields %v, want %v", keys(s.form), keys(want))
	}
	for k := range want {
		if s.form.Get(k) != want.Get(k) {
			t.Errorf("form %s = %q, want %q", k, s.form.Get(k), want.Get(k))
		}
	}
}

func assertionCheck(c *certstest.Cert, alg jose.SignatureAlgorithm, audience string) func(*testing.T, seen, *endpoint) {
	return func(t *testing.T, s seen, e *endpoint) {
		t.Helper()
		if s.form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			t.Errorf("client_assertion_type %q", s.form.Get("client_assertion_type"))
		}
		if s.form.Has("client_secret") {
			t.Error("a client secret was sent with private_key_jwt")
		}
		parsed, err := jwt.ParseSigned(s.form.Get("client_assertion"), []jose.SignatureAlgorithm{alg})
		if err != nil {
			t.Fatalf("assertion is not a %s JWT: %v", alg, err)
		}
		var claims jwt.Claims
		if err := parsed.Claims(c.Cert.PublicKey, &claims); err != nil {
			t.Fatalf("assertion does not verify with the certificate's public key: %v", err)
		}
		if audience == "" {
			audience = e.URL + "/oauth2/token"
		}
		if err := claims.Validate(jwt.Expected{Issuer: "app", Subject: "app", AnyAudience: jwt.Audience{audience}, Time: time.Now()}); err != nil {
			t.Errorf("assertion claims: %v", err)
		}
		if claims.ID == "" || claims.Expiry == nil || claims.Expiry.Time().Sub(time.Now()) > 2*time.Minute {
			t.Errorf("assertion needs a jti and a short exp: jti %q exp %v", claims.ID, claims.Expiry)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFetchHonoursTheCallersDeadline(t *testing.T) {
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := token.Fetch(ctx, e.client(t, nil), token.Request{URL: e.URL, ClientID: "app", ClientSecret: clientSecret, GrantType: token.GrantClientCredentials})
	if token.KindOf(err) != token.KindUnreachable {
		t.Fatalf("err = %v, want KindUnreachable", err)
	}
}

func TestErrorsAreInspectableWithErrorsAs(t *testing.T) {
	e := newEndpoint(t, replyJSON(400, `{"error":"invalid_scope","error_description":"scope x is unknown"}`), nil)
	_, err := token.Fetch(context.Background(), e.client(t, nil), token.Request{URL: e.URL, ClientID: "app", ClientSecret: clientSecret, GrantType: token.GrantClientCredentials})
	var te *token.Error
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *token.Error", err)
	}
	if te.StatusCode != 400 || te.ErrorCode != "invalid_scope" || te.Description != "scope x is unknown" || te.Retryable() {
		t.Errorf("error fields: %+v", te)
	}
}

// TestFetchRefusesAnUnknownDialectValue: a client authentication or body
// encoding this version does not know is refused before anything is sent,
// rather than sent as the secret in a form body.
func TestFetchRefusesAnUnknownDialectValue(t *testing.T) {
	var calls atomic.Int32
	e := newEndpoint(t, func(w http.ResponseWriter, _ *http.Request) { calls.Add(1) }, nil)
	for name, req := range map[string]token.Request{
		"client authentication": {ClientAuth: token.NoClientAuth + 1},
		"body encoding":         {Encoding: token.NoBody + 1},
	} {
		req.URL, req.ClientID, req.ClientSecret, req.GrantType = e.URL, "app", clientSecret, token.GrantClientCredentials
		_, err := token.Fetch(context.Background(), e.client(t, nil), req)
		if token.KindOf(err) != token.KindRefused || !strings.Contains(err.Error(), "unknown "+name) {
			t.Errorf("%s: err = %v, want a refusal naming the unknown %s", name, err, name)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the endpoint was called %d times", n)
	}
}
