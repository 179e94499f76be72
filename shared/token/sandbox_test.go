package token_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/token"
)

// TestEveryDialectAgainstTheSandbox gets a token from each of the partner
// platforms' dialects as the sandbox plays them, over real HTTPS and mutual
// TLS, and checks that the sandbox accepts the token on an API call.
func TestEveryDialectAgainstTheSandbox(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Config{Clients: []sandbox.Client{{
		ID: "cpu-app", Secret: clientSecret, Username: "api-user@example.com", Password: password,
		SubscriptionKey: "sub-key-1",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	certPEM, keyPEM, err := sb.IssueClientCert("cpu-app")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := certs.DecodePEM(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sb.RegisterCertificate("cpu-app", bundle.Leaf)
	plain := sandboxClient(t, sb, nil)
	mtls := sandboxClient(t, sb, bundle.TLSCertificate())
	assertion := token.Assertion{Key: bundle.Key, Certificate: bundle.Leaf}

	cases := []struct {
		name     string
		hc       *http.Client
		req      token.Request
		endpoint string
		lifetime time.Duration
	}{
		{"port community system: password grant, secret in the body", plain, token.Request{URL: sb.URL() + "/connect/token",
			GrantType: token.GrantPassword, ClientAuth: token.ClientSecretPost, ClientID: "cpu-app", ClientSecret: clientSecret,
			Username: "api-user@example.com", Password: password, Scopes: []string{"openid"}}, sandbox.EndpointConnectToken, time.Hour},
		{"client credentials with RFC-encoded Basic", plain, token.Request{URL: sb.URL() + "/connect/token",
			GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretBasic, ClientID: "cpu-app", ClientSecret: clientSecret},
			sandbox.EndpointConnectToken, time.Hour},
		{"client credentials with raw Basic", plain, token.Request{URL: sb.URL() + "/connect/token",
			GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretBasicRaw, ClientID: "cpu-app", ClientSecret: clientSecret},
			sandbox.EndpointConnectToken, time.Hour},
		{"tls_client_auth", mtls, token.Request{URL: sb.URL() + "/connect/token",
			GrantType: token.GrantClientCredentials, ClientAuth: token.TLSClientAuth, ClientID: "cpu-app"},
			sandbox.EndpointConnectToken, time.Hour},
		{"private_key_jwt", plain, token.Request{URL: sb.URL() + "/connect/token",
			GrantType: token.GrantClientCredentials, ClientAuth: token.PrivateKeyJWT, ClientID: "cpu-app", Assertion: assertion},
			sandbox.EndpointConnectToken, time.Hour},
		{"bank M2M API: GET with raw Basic over mutual TLS, expires_in a string", mtls, token.Request{URL: sb.URL() + "/m2m/token",
			Method: http.MethodGet, Encoding: token.NoBody, GrantType: token.GrantNone, ClientAuth: token.ClientSecretBasicRaw,
			ClientID: "api-user@example.com", ClientSecret: password}, sandbox.EndpointM2MToken, 5 * time.Minute},
		{"payment API: JSON body", plain, token.Request{URL: sb.URL() + "/oauth2/token", Encoding: token.JSON,
			GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretPost, ClientID: "cpu-app", ClientSecret: clientSecret},
			sandbox.EndpointJSONToken, time.Hour},
		{"SoftPOS API: form client credentials over mutual TLS", mtls, token.Request{URL: sb.URL() + "/softpos/appenrollment/token",
			GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretPost, ClientID: "cpu-app", ClientSecret: clientSecret},
			sandbox.EndpointSoftPOSToken, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := sb.Counters().Succeeded(tc.endpoint, "cpu-app")
			req := tc.req
			req.APIHeaders = map[string]string{"Ocp-Apim-Subscription-Key": "sub-key-1"}
			tok, err := token.Fetch(context.Background(), tc.hc, req)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got := tok.Lifetime().Round(time.Second); got != tc.lifetime {
				t.Errorf("lifetime %v, want %v (from %s)", got, tc.lifetime, tok.ExpirySource)
			}
			if n := sb.Counters().Succeeded(tc.endpoint, "cpu-app") - before; n != 1 {
				t.Errorf("the sandbox counted %d token requests, want exactly 1", n)
			}
			// The token works on the platform's API, with the subscription key.
			apiReq, _ := http.NewRequest(http.MethodGet, sb.URL()+"/api/v1/visits", nil)
			for k, v := range tok.Headers {
				apiReq.Header.Set(k, v)
			}
			apiReq.Header.Set("Authorization", tok.Authorization())
			resp, err := plain.Do(apiReq)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("API call with the token answered %d", resp.StatusCode)
			}
		})
	}

	t.Run("the M2M token binds the certificate thumbprint", func(t *testing.T) {
		tok, err := token.Fetch(context.Background(), mtls, cases[5].req)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := sb.Validate(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if claims.Thumbprint != certs.Thumbprint(bundle.Leaf) {
			t.Errorf("thumbprint claim %q, want %q", claims.Thumbprint, certs.Thumbprint(bundle.Leaf))
		}
	})

	t.Run("SoftPOS API sandbox: JWKS and a pushed authorization request", func(t *testing.T) {
		set, err := token.FetchJWKS(context.Background(), plain, sb.URL()+"/softpos/par/jwks.json")
		if err != nil || len(set.Keys) == 0 {
			t.Fatalf("JWKS: %v", err)
		}
		resp, err := token.PushAuthorizationRequest(context.Background(), mtls, token.PushedAuthorizationRequest{
			URL: sb.URL() + "/softpos/as/par", ClientID: "cpu-app", Scope: "payments", RedirectURI: "https://app.example.com/cb",
			Assertion: assertion,
		})
		if err != nil {
			t.Fatalf("PAR: %v", err)
		}
		if resp.RequestURI == "" || resp.ExpiresIn != 90*time.Second {
			t.Errorf("PAR response %+v", resp)
		}
		// An assertion signed by a key the platform does not know is refused.
		otherPEM, otherKey, _ := sb.IssueClientCert("someone-else")
		other, _ := certs.DecodePEM(otherPEM, otherKey)
		_, err = token.PushAuthorizationRequest(context.Background(), mtls, token.PushedAuthorizationRequest{
			URL: sb.URL() + "/softpos/as/par", ClientID: "cpu-app", Scope: "payments", RedirectURI: "https://app.example.com/cb",
			Assertion: token.Assertion{Key: other.Key},
		})
		if err == nil {
			t.Fatal("a PAR with a wrongly signed assertion was accepted")
		}
	})
}

func sandboxClient(t *testing.T, sb *sandbox.Sandbox, cert *tls.Certificate) *http.Client {
	t.Helper()
	o := outbound.Options{CABundle: sb.CACertPEM(), Policy: local}
	if cert != nil {
		o.ClientCertificate = func() (*tls.Certificate, error) { return cert, nil }
	}
	hc, err := outbound.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return hc
}
