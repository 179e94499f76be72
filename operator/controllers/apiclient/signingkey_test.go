package apiclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/oidcpeer"
	"github.com/keyport-dev/keyport/shared/token"
)

// A platform that registered two bare public keys for a client (no
// certificate) and looks the key up by the assertion's kid: ApiClients whose
// signing key is a bare key in a Secret get tokens, with the kid given or
// derived, and one without a kid is told its credentials were refused.
func TestPrivateKeyJWTWithABareKeyFromASecret(t *testing.T) {
	keyA, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keyB, _ := rsa.GenerateKey(rand.Reader, 2048)
	thumbB, err := token.KeyThumbprint(keyB.Public())
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: keyA.Public(), KeyID: "key-a", Use: "sig"},
		{Key: keyB.Public(), KeyID: thumbB, Use: "sig"},
	}})
	peer := oidcpeer.Start(t, oidcpeer.Config{
		Clients: []map[string]any{{"client_id": "kid-app", "grant_types": []string{"client_credentials"},
			"response_types": []string{}, "redirect_uris": []string{}, "token_endpoint_auth_method": "private_key_jwt",
			"jwks": json.RawMessage(jwks)}},
		RequireKid: []string{"kid-app"},
	})

	ns := env.Namespace(t)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(keyA)
	jwkB, _ := json.Marshal(jose.JSONWebKey{Key: keyB})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jwt-keys", Namespace: ns}, Data: map[string][]byte{
		"key-a.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		"key-b.json": jwkB,
	}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "peer-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": peer.CAPEM}})
	startOperator(t, ns, nil)

	newClient := func(name string, a keyportv1.AssertionSettings) *keyportv1.ApiClient {
		return &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.ApiClientSpec{
			TokenURL: peer.TokenEndpoint, ClientAuthentication: keyportv1.PrivateKeyJWT, ClientID: "kid-app",
			TLS:       &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "peer-ca", Key: "ca.crt"}},
			Assertion: &a,
		}}
	}
	create(t, newClient("pem-kid", keyportv1.AssertionSettings{KeyID: "key-a",
		SigningKey: &keyportv1.SecretKeySelector{Name: "jwt-keys", Key: "key-a.pem"}}))
	create(t, newClient("jwk-thumbprint", keyportv1.AssertionSettings{KeyIDFrom: keyportv1.KeyIDThumbprint,
		SigningKey: &keyportv1.SecretKeySelector{Name: "jwt-keys", Key: "key-b.json"}}))
	create(t, newClient("no-kid", keyportv1.AssertionSettings{
		SigningKey: &keyportv1.SecretKeySelector{Name: "jwt-keys", Key: "key-a.pem"}}))

	for _, name := range []string{"pem-kid", "jwk-thumbprint"} {
		waitReady(t, ns, name)
		tok, _, ok := tokenIn(t, ns, name+"-token")
		if !ok || tok.AccessToken == "" {
			t.Fatalf("%s: the output Secret holds no token", name)
		}
	}
	eventually(t, 20*time.Second, "no-kid reported as refused credentials", func() (bool, string) {
		ac := get(t, ns, "no-kid", &keyportv1.ApiClient{})
		status, reason, _ := condition(ac, keyportv1.ConditionReady)
		return status == metav1.ConditionFalse && reason == keyportv1.ReasonInvalidCredentials, describe(ac)
	})

	// Nothing of either key reaches the logs: no line of the PEM, not the
	// JWK's private exponent.
	var jwkFields map[string]string
	_ = json.Unmarshal(jwkB, &jwkFields)
	secrets := []string{jwkFields["d"]}
	for _, line := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	for _, secret := range secrets {
		if secret == "" || strings.Contains(logs.String(), secret) {
			t.Error("a private key's bytes appear in the operator's log")
		}
	}
}
