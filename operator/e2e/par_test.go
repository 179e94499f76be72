package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyport-dev/keyport/shared/par"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// softposClientID is the merchant backend's client at the SoftPOS API.
const softposClientID = "softpos-merchant"

// pushFromAPod runs `workload par` in a pod of ns with the certificate
// Secret and the platform's JWKS ConfigMap mounted as volumes, as the
// SoftPOS API's merchant backend does for its enrolment step, and checks
// that the request_uri it prints is one the platform issued to the client
// and that its log holds nothing of the key.
func pushFromAPod(t *testing.T, ns string) {
	// The platform knows the client by its certificate: it chains to the
	// platform's CA for mutual TLS, and its key verifies the client
	// assertion (private_key_jwt) because it is registered for the client.
	platform.AddClient(sandbox.Client{ID: softposClientID})
	certPEM, keyPEM, err := platform.IssueRegisteredClientCert(softposClientID)
	if err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "softpos-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": platform.CACertPEM()}})
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "softpos-jwks"},
		Data: map[string]string{par.JWKSKey: platformJWKS(t)}})

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "softpos-par"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{restrictedContainer(corev1.Container{
				Name: "par", Image: workloadImage,
				Args: []string{"par", "-cert-dir=/var/run/keyport/cert", "-jwks-dir=/var/run/keyport/jwks",
					"-ca-file=/var/run/keyport/cert/ca.crt", "-endpoint=" + platform.URL() + "/softpos/as/par",
					"-client-id=" + softposClientID, "-redirect-uri=https://merchant.terminal.example/enrolled", "-scope=enrolment"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "client-cert", MountPath: "/var/run/keyport/cert", ReadOnly: true},
					{Name: "platform-keys", MountPath: "/var/run/keyport/jwks", ReadOnly: true},
				},
			})},
			Volumes: []corev1.Volume{
				{Name: "client-cert", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "softpos-tls"}}},
				{Name: "platform-keys", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "softpos-jwks"}}}},
			},
		},
	}
	create(t, pod)
	eventually(t, 2*time.Minute, "pod "+pod.Name+" finished", func() (bool, string) {
		if err := theNode.Client.Get(ctx(t), client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err.Error()
		}
		return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed,
			fmt.Sprintf("%s %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	logs := podLog(t, pod)
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the pod %s: %s", pod.Status.Phase, logs)
	}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(logs, line) {
			t.Fatal("the pod's log carries the private key")
		}
	}
	m := regexp.MustCompile(`request_uri=(\S+) expires_in=(\d+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("the pod printed no request_uri: %q", logs)
	}
	if !slices.ContainsFunc(platform.PushedRequests(), func(p sandbox.PushedRequest) bool {
		return p.ClientID == softposClientID && p.RequestURI == m[1]
	}) {
		t.Fatalf("the pod printed request_uri %s, which the platform did not issue to %s", m[1], softposClientID)
	}
	if m[2] != "90" {
		t.Errorf("the pod printed expires_in=%s, the platform's request_uri lives 90 s", m[2])
	}
	t.Logf("the pod got %s (expires_in %s s) with its mounted certificate", m[1], m[2])
}

// platformJWKS is the platform's published key set, fetched from inside the
// node's network as a platform team copies it into a ConfigMap.
func platformJWKS(t *testing.T) string {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(platform.CACertPEM())
	resp, err := theNode.HTTPClient(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}).Get(platform.URL() + "/softpos/par/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the platform's JWKS: %s %v", resp.Status, err)
	}
	return string(body)
}
