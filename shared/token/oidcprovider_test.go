package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/oidcpeer"
	"github.com/keyport-dev/keyport/shared/token"
)

// oidcSecret has the characters that RFC 6749 section 2.3.1 encoding must get right
// (oidc-provider, like the RFC, allows only printable ASCII in secrets).
const oidcSecret = "s3cr3t:with%odd+chars/~ &="

// TestAgainstOIDCProvider runs the token code against oidc-provider, an
// OpenID Certified authorization server from the npm registry, on loopback:
// the sandbox is Keyport's own and must not be the only judge. `make test`
// installs it (make oidc-deps).
func TestAgainstOIDCProvider(t *testing.T) {
	clientCA, _ := certstest.NewCA("oidc client CA")
	rsaKey, _ := clientCA.Issue("jwt-app-rsa", certstest.Options{KeyType: certstest.RSA})
	ecKey, _ := clientCA.Issue("jwt-app-ec", certstest.Options{KeyType: certstest.ECDSA})
	tlsClient, _ := clientCA.Issue("tls-app", certstest.Options{})

	jwk := func(c *certstest.Cert) json.RawMessage {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.Key.Public(), Use: "sig"}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// kid-app registered two bare public keys, as platforms that take a JWKS
	// rather than a certificate do: each assertion must name its key.
	keyA, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keyB, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyAlike, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	thumbB, err := token.KeyThumbprint(keyB.Public())
	if err != nil {
		t.Fatal(err)
	}
	twoKeys, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: keyA.Public(), KeyID: "key-a", Use: "sig"},
		{Key: keyB.Public(), KeyID: thumbB, Use: "sig"},
	}})
	client := func(id, method string, extra map[string]any) map[string]any {
		m := map[string]any{"client_id": id, "grant_types": []string{"client_credentials"}, "response_types": []string{},
			"redirect_uris": []string{}, "token_endpoint_auth_method": method}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	endpoints := oidcpeer.Start(t, oidcpeer.Config{
		ClientCA: clientCA,
		Clients: []map[string]any{
			client("basic-app", "client_secret_basic", map[string]any{"client_secret": oidcSecret}),
			client("post-app", "client_secret_post", map[string]any{"client_secret": oidcSecret}),
			client("jwt-app-rsa", "private_key_jwt", map[string]any{"jwks": jwk(rsaKey)}),
			client("jwt-app-ec", "private_key_jwt", map[string]any{"jwks": jwk(ecKey)}),
			client("tls-app", "tls_client_auth", map[string]any{"tls_client_auth_subject_dn": "CN=tls-app"}),
			client("kid-app", "private_key_jwt", map[string]any{"jwks": json.RawMessage(twoKeys)}),
		},
		RequireKid: []string{"kid-app"},
	})

	httpClient := func(cert *certstest.Cert) *http.Client {
		o := outbound.Options{CABundle: endpoints.CAPEM, Policy: local}
		if cert != nil {
			c := cert.TLS()
			o.ClientCertificate = func() (*tls.Certificate, error) { return &c, nil }
		}
		hc, err := outbound.NewClient(o)
		if err != nil {
			t.Fatal(err)
		}
		return hc
	}

	cases := []struct {
		name string
		req  token.Request
		cert *certstest.Cert
	}{
		{"client_secret_basic", token.Request{ClientAuth: token.ClientSecretBasic, ClientID: "basic-app", ClientSecret: oidcSecret}, nil},
		{"client_secret_post", token.Request{ClientAuth: token.ClientSecretPost, ClientID: "post-app", ClientSecret: oidcSecret}, nil},
		{"private_key_jwt with RS256", token.Request{ClientAuth: token.PrivateKeyJWT, ClientID: "jwt-app-rsa",
			Assertion: token.Assertion{Key: rsaKey.Key, Certificate: rsaKey.Cert}}, nil},
		{"private_key_jwt with PS256", token.Request{ClientAuth: token.PrivateKeyJWT, ClientID: "jwt-app-rsa",
			Assertion: token.Assertion{Key: rsaKey.Key, Algorithm: "PS256"}}, nil},
		{"private_key_jwt with ES256", token.Request{ClientAuth: token.PrivateKeyJWT, ClientID: "jwt-app-ec",
			Assertion: token.Assertion{Key: ecKey.Key}}, nil},
		{"tls_client_auth", token.Request{ClientAuth: token.TLSClientAuth, ClientID: "tls-app"}, tlsClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.URL = endpoints.TokenEndpoint
			req.GrantType = token.GrantClientCredentials
			tok, err := token.Fetch(context.Background(), httpClient(tc.cert), req)
			if err != nil {
				t.Fatalf("oidc-provider refused: %v", err)
			}
			if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.Lifetime() <= 0 || tok.ExpirySource != "expires_in" {
				t.Errorf("token %+v", tok)
			}
		})
	}

	// Bare keys, decoded as the operator decodes a signing key Secret: PEM
	// PKCS#8 for key A, a private JWK for key B.
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(keyA)
	bareA, err := certs.DecodePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	if err != nil {
		t.Fatal(err)
	}
	jwkB, _ := json.Marshal(jose.JSONWebKey{Key: keyB})
	bareB, err := certs.DecodePrivateKey(jwkB)
	if err != nil {
		t.Fatal(err)
	}
	kidCases := []struct {
		name      string
		assertion token.Assertion
		ok        bool
	}{
		{"kid set, key from PEM", token.Assertion{Key: bareA, KeyID: "key-a"}, true},
		{"kid derived (RFC 7638 thumbprint), key from a JWK", token.Assertion{Key: bareB, ThumbprintKeyID: true}, true},
		{"no kid", token.Assertion{Key: bareA}, false},
		{"the other key's kid", token.Assertion{Key: bareA, KeyID: thumbB}, false},
		{"a kid the client never registered", token.Assertion{Key: bareA, KeyID: "key-c"}, false},
		{"the right kid on a key the client never registered", token.Assertion{Key: keyAlike, KeyID: "key-a"}, false},
	}
	for _, tc := range kidCases {
		t.Run("private_key_jwt with two registered keys: "+tc.name, func(t *testing.T) {
			_, err := token.Fetch(context.Background(), httpClient(nil), token.Request{URL: endpoints.TokenEndpoint,
				GrantType: token.GrantClientCredentials, ClientAuth: token.PrivateKeyJWT, ClientID: "kid-app", Assertion: tc.assertion})
			if tc.ok && err != nil {
				t.Fatalf("oidc-provider refused: %v", err)
			}
			if !tc.ok && token.KindOf(err) != token.KindInvalidCredentials {
				t.Fatalf("err = %v, want invalid credentials", err)
			}
		})
	}

	t.Run("a wrong secret is reported as invalid credentials", func(t *testing.T) {
		_, err := token.Fetch(context.Background(), httpClient(nil), token.Request{URL: endpoints.TokenEndpoint,
			GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretBasic, ClientID: "basic-app", ClientSecret: "wrong"})
		if token.KindOf(err) != token.KindInvalidCredentials || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("err = %v, want invalid_client", err)
		}
	})
	t.Run("an assertion signed with a key the server does not know is refused", func(t *testing.T) {
		_, err := token.Fetch(context.Background(), httpClient(nil), token.Request{URL: endpoints.TokenEndpoint,
			GrantType: token.GrantClientCredentials, ClientAuth: token.PrivateKeyJWT, ClientID: "jwt-app-ec",
			Assertion: token.Assertion{Key: tlsClient.Key}})
		if token.KindOf(err) != token.KindInvalidCredentials {
			t.Fatalf("err = %v, want invalid credentials", err)
		}
	})
}
