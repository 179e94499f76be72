package par_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/par"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/oidcpeer"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/secretvolume"
	"github.com/keyport-dev/keyport/shared/token"
)

func TestMain(m *testing.M) {
	// The platforms of these tests listen on loopback, which Keyport's
	// outbound rules refuse by default; a process sets its rules once.
	outbound.SetDefaultPolicy(outbound.Policy{Allow: outbound.Loopback()})
	os.Exit(m.Run())
}

// project writes files into a new folder the way the kubelet projects a
// Secret or ConfigMap volume.
func project(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := secretvolume.Project(dir, files); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecretIn fails when an error message carries any line of a PEM key.
func noSecretIn(t *testing.T, err error, keyPEM []byte) {
	t.Helper()
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
			t.Fatalf("the error carries the private key: %v", err)
		}
	}
}

// A pod of the SoftPOS API's merchant backend, with only the mounted
// certificate Secret and the platform's CA, gets a request_uri from the
// sandbox's PAR endpoint; a certificate the platform does not know is
// refused with a message that says so.
func TestPushFromMountedFilesToTheSandbox(t *testing.T) {
	const clientID = "softpos-merchant"
	sb, err := sandbox.Start(sandbox.Config{Clients: []sandbox.Client{{ID: clientID}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	certPEM, keyPEM, err := sb.IssueRegisteredClientCert(clientID)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, sb.CACertPEM())
	req := par.Request{Endpoint: sb.URL() + "/softpos/as/par", ClientID: clientID, Scope: "enrolment",
		RedirectURI: "https://merchant.example.com/cb"}

	t.Run("the mounted certificate gets a request_uri", func(t *testing.T) {
		at := time.Now().Truncate(time.Second)
		r := req
		r.Now = func() time.Time { return at }
		res, err := par.Push(context.Background(),
			par.Mounted{CertificateDir: project(t, map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}), CAFile: caFile}, r)
		if err != nil {
			t.Fatalf("PAR refused: %v", err)
		}
		if !strings.HasPrefix(res.RequestURI, "urn:ietf:params:oauth:request_uri:") || res.Encrypted {
			t.Errorf("result %+v", res)
		}
		// The sandbox's request_uri lives 90 s.
		if !res.ExpiresAt.Equal(at.Add(90 * time.Second)) {
			t.Errorf("expires at %s, want %s", res.ExpiresAt, at.Add(90*time.Second))
		}
	})
	t.Run("a key the platform never registered is refused", func(t *testing.T) {
		otherCert, otherKey, err := sb.IssueClientCert(clientID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = par.Push(context.Background(),
			par.Mounted{CertificateDir: project(t, map[string][]byte{"tls.crt": otherCert, "tls.key": otherKey}), CAFile: caFile}, req)
		if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "the client assertion does not verify") {
			t.Fatalf("err = %v, want invalid_client: the client assertion does not verify", err)
		}
		noSecretIn(t, err, otherKey)
	})
	t.Run("a certificate with another certificate's key is refused before anything is sent", func(t *testing.T) {
		_, otherKey, _ := sb.IssueClientCert(clientID)
		before := sb.Counters()
		_, err := par.Push(context.Background(),
			par.Mounted{CertificateDir: project(t, map[string][]byte{"tls.crt": certPEM, "tls.key": otherKey}), CAFile: caFile}, req)
		if err == nil || !strings.Contains(err.Error(), "does not belong to the certificate") || !strings.Contains(err.Error(), "the mounted certificate in") {
			t.Fatalf("err = %v", err)
		}
		noSecretIn(t, err, otherKey)
		if sb.Counters().Requests(sandbox.EndpointPAR, clientID) != before.Requests(sandbox.EndpointPAR, clientID) {
			t.Error("a request was sent")
		}
	})
}

// oidc-provider's PAR endpoint: in the clear and, when the mounted JWKS has
// the server's encryption key, as an encrypted request object; the
// authorization endpoint accepts the request_uri until it expires and
// refuses it after.
func TestPushToOIDCProvider(t *testing.T) {
	ca, _ := certstest.NewCA("merchant CA")
	client, _ := ca.Issue("softpos-merchant", certstest.Options{})
	stranger, _ := ca.Issue("softpos-merchant", certstest.Options{})
	clientJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: client.Key.Public(), Use: "sig"}}})
	sigKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	encKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	peer := oidcpeer.Start(t, oidcpeer.Config{
		Clients: []map[string]any{{"client_id": "softpos-merchant", "token_endpoint_auth_method": "private_key_jwt",
			"jwks": json.RawMessage(clientJWKS), "grant_types": []string{"authorization_code"},
			"response_types": []string{"code"}, "redirect_uris": []string{"https://merchant.example.com/cb"}}},
		Keys: []jose.JSONWebKey{
			{Key: sigKey, KeyID: "server-sig", Use: "sig", Algorithm: "RS256"},
			{Key: encKey, KeyID: "server-enc", Use: "enc", Algorithm: "RSA-OAEP-256"},
		},
	})
	caFile := writeFile(t, peer.CAPEM)
	mount := func(c *certstest.Cert) string {
		return project(t, map[string][]byte{"tls.crt": c.CertPEM(), "tls.key": c.KeyPEM()})
	}
	hc, _ := outbound.NewClient(outbound.Options{CABundle: peer.CAPEM})
	published, err := token.FetchJWKS(context.Background(), hc, peer.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	publishedJSON, _ := json.Marshal(published)
	jwksDir := project(t, map[string][]byte{par.JWKSKey: publishedJSON})
	req := par.Request{Endpoint: peer.PAREndpoint, ClientID: "softpos-merchant", Scope: "openid",
		RedirectURI: "https://merchant.example.com/cb", Params: map[string]string{"state": "enrol-1"}}

	// authorize follows a request_uri at the authorization endpoint as a
	// browser would, without following the redirect.
	authorize := func(t *testing.T, requestURI string) (int, string) {
		t.Helper()
		u := peer.AuthorizationEndpoint + "?" + url.Values{"client_id": {"softpos-merchant"}, "request_uri": {requestURI}}.Encode()
		c, _ := outbound.NewClient(outbound.Options{CABundle: peer.CAPEM})
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(u)
		if err != nil && resp == nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location") + " " + string(body)
	}

	for _, tc := range []struct {
		name    string
		jwks    string
		encrypt bool
	}{{"in the clear", "", false}, {"encrypted to the server's enc key", jwksDir, true}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := par.Push(context.Background(), par.Mounted{CertificateDir: mount(client), JWKSDir: tc.jwks, CAFile: caFile}, req)
			if err != nil {
				t.Fatalf("PAR refused: %v", err)
			}
			if res.Encrypted != tc.encrypt || time.Until(res.ExpiresAt) <= 0 {
				t.Errorf("result %+v", res)
			}
			// Accepted: the server moves on to the user's login.
			if status, where := authorize(t, res.RequestURI); status != http.StatusSeeOther || strings.Contains(where, "error") {
				t.Fatalf("the authorization endpoint answered %d %s", status, where)
			}
		})
	}
	t.Run("a key the server does not know is refused", func(t *testing.T) {
		_, err := par.Push(context.Background(), par.Mounted{CertificateDir: mount(stranger), CAFile: caFile}, req)
		if err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("err = %v, want invalid_client", err)
		}
		noSecretIn(t, err, stranger.KeyPEM())
	})
	t.Run("a request_uri past its expiry is refused at the authorization endpoint", func(t *testing.T) {
		r := req
		r.RequestObjectLifetime = 2 * time.Second
		res, err := par.Push(context.Background(), par.Mounted{CertificateDir: mount(client), JWKSDir: jwksDir, CAFile: caFile}, r)
		if err != nil {
			t.Fatalf("PAR refused: %v", err)
		}
		if d := time.Until(res.ExpiresAt); d > 2*time.Second {
			t.Fatalf("the request_uri lives %s, longer than its request object", d)
		}
		// oidc-provider's clock cannot be moved from here: wait it out.
		time.Sleep(time.Until(res.ExpiresAt) + 1500*time.Millisecond)
		status, where := authorize(t, res.RequestURI)
		if !strings.Contains(where, "invalid_request_uri") {
			t.Fatalf("the authorization endpoint answered %d %s, want invalid_request_uri", status, where)
		}
	})
}
