package main_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// An operator testing an enrolment with the SoftPOS API: `kubectl keyport
// par` pushes an authorization request with the ApiClient's certificate to
// the sandbox and prints the request_uri; with a certificate the platform
// does not know it fails with the platform's answer. Neither output holds
// the key or anything shaped like the signed assertion.
func TestKubectlKeyportPAR(t *testing.T) {
	ns := env.Namespace(t)
	const enrolling = "softpos-enrolment"
	sb.AddClient(sandbox.Client{ID: enrolling})
	certPEM, keyPEM, err := sb.IssueRegisteredClientCert(enrolling)
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey, _ := sb.IssueClientCert(enrolling)

	tlsSecret := func(name string, cert, key []byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key}}
	}
	create(t, tlsSecret("enrolment-tls", certPEM, keyPEM))
	create(t, tlsSecret("stranger-tls", strangerCert, strangerKey))
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "enrolment-credentials", Namespace: ns},
		StringData: map[string]string{"client_id": enrolling}})
	apiClient := func(name, certSecret string) *keyportv1.ApiClient {
		return &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.ApiClientSpec{
			Preset: keyportv1.PresetSoftPOS, TokenURL: sb.URL() + "/softpos/appenrollment/token", Scopes: []string{"enrolment"},
			Credentials:       &keyportv1.CredentialsSource{SecretName: "enrolment-credentials"},
			ClientCertificate: &keyportv1.ClientCertificateReference{SecretName: certSecret},
			TLS:               &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}},
		}}
	}
	create(t, apiClient("softpos", "enrolment-tls"))
	create(t, apiClient("stranger", "stranger-tls"))
	args := func(name string) []string {
		return []string{"par", name, "-n", ns, "--endpoint", sb.URL() + "/softpos/as/par",
			"--redirect-uri", "https://merchant.example.com/cb", "--allow-cidrs", "127.0.0.0/8"}
	}
	noSecrets := func(out string) {
		t.Helper()
		for _, line := range strings.Split(string(keyPEM)+string(strangerKey), "\n") {
			if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(out, line) {
				t.Fatalf("the output holds a line of a private key:\n%s", out)
			}
		}
		// A JWS header starts eyJ; the request_uri and times never do.
		if strings.Contains(out, "eyJ") {
			t.Fatalf("the output holds something shaped like a signed JWT:\n%s", out)
		}
	}

	before := time.Now()
	var res struct {
		RequestURI  string    `json:"requestURI"`
		ExpiresAt   time.Time `json:"expiresAt"`
		Encrypted   bool      `json:"encrypted"`
		Certificate string    `json:"certificateSecret"`
	}
	out := keyportJSON(t, &res, args("softpos")...)
	noSecrets(out)
	if !strings.HasPrefix(res.RequestURI, "urn:ietf:params:oauth:request_uri:") || res.Certificate != "enrolment-tls" || res.Encrypted {
		t.Errorf("result %s", out)
	}
	// The sandbox's request_uri lives 90 s.
	if res.ExpiresAt.Before(before.Add(89*time.Second)) || res.ExpiresAt.After(time.Now().Add(91*time.Second)) {
		t.Errorf("expires at %s", res.ExpiresAt)
	}
	text := mustKeyport(t, args("softpos")...)
	noSecrets(text)
	contains(t, "par", text, "pushed authorization request accepted by", "request_uri:  urn:ietf:params:oauth:request_uri:", "certificate:  Secret enrolment-tls")

	out, err = keyport(t, args("stranger")...)
	if err == nil || !strings.Contains(out, "invalid_client") || !strings.Contains(out, "the client assertion does not verify") {
		t.Fatalf("a certificate the platform does not know: err %v\n%s", err, out)
	}
	noSecrets(out)
}
