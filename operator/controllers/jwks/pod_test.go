package jwks_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/jwks"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/par"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/oidcpeer"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/secretvolume"
)

// projected writes a Secret's or ConfigMap's data into a new folder the
// way the kubelet projects a volume.
func projected(t *testing.T, data map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := secretvolume.Project(dir, data); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The SoftPOS flow end to end with oidc-provider as the platform: the
// operator copies the platform's key set (with its enc key) into the
// ApiClient's ConfigMap; a pod that mounts that ConfigMap and its
// certificate Secret, and nothing else, pushes an authorization request
// encrypted to the platform's key and gets a request_uri the authorization
// endpoint accepts.
func TestPodGetsARequestURIFromMountedFilesOnly(t *testing.T) {
	outbound.SetDefaultPolicy(optest.SandboxOnLoopback)
	ctx := context.Background()
	ca, _ := certstest.NewCA("merchant CA")
	cert, _ := ca.Issue("softpos-merchant", certstest.Options{})
	clientJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: cert.Key.Public(), Use: "sig"}}})
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

	ns := env.Namespace(t)
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "platform-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": peer.CAPEM}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "softpos", Namespace: ns},
		Spec: keyportv1.ApiClientSpec{TokenURL: peer.TokenEndpoint, ClientID: "softpos-merchant",
			ClientAuthentication: keyportv1.NoClientAuthentication,
			TLS:                  &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "platform-ca", Key: "ca.crt"}},
			JWKS:                 &keyportv1.JWKSSettings{URL: peer.JWKSURI}}}); err != nil {
		t.Fatal(err)
	}
	r := &jwks.Reconciler{Client: env.Client, Reader: env.Client, Recorder: record.NewFakeRecorder(10)}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "softpos"}}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "softpos-jwks"}, cm); err != nil {
		t.Fatal(err)
	}

	// The pod's volumes: the ConfigMap, the certificate Secret, the CA.
	jwksDir := projected(t, map[string][]byte{jwks.Key: []byte(cm.Data[jwks.Key])})
	certDir := projected(t, map[string][]byte{corev1.TLSCertKey: cert.CertPEM(), corev1.TLSPrivateKeyKey: cert.KeyPEM()})
	caDir := projected(t, map[string][]byte{"ca.crt": peer.CAPEM})
	res, err := par.Push(ctx, par.Mounted{CertificateDir: certDir, JWKSDir: jwksDir, CAFile: filepath.Join(caDir, "ca.crt")},
		par.Request{Endpoint: peer.PAREndpoint, ClientID: "softpos-merchant", Scope: "openid",
			RedirectURI: "https://merchant.example.com/cb"})
	if err != nil {
		t.Fatalf("PAR refused: %v", err)
	}
	if !res.Encrypted {
		t.Error("the request was not encrypted to the platform's enc key from the ConfigMap")
	}
	hc, _ := outbound.NewClient(outbound.Options{CABundle: peer.CAPEM})
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(peer.AuthorizationEndpoint + "?" + url.Values{"client_id": {"softpos-merchant"}, "request_uri": {res.RequestURI}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || strings.Contains(loc, "error=") {
		t.Fatalf("the authorization endpoint answered %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
