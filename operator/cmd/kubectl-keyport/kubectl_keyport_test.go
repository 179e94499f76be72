package main_test

// These tests run the plugin the way a user does: the binary is built into
// a folder on PATH and invoked as `kubectl keyport ...`, found by kubectl's
// own plugin discovery, against a real API server. The objects come from
// Keyport's real controllers talking to the sandbox over HTTPS (ns "live"),
// or are written directly with a made-up status (ns "direct"), for states
// the controllers reach only slowly.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the thumbprint a platform binds; computed here independently of shared/certs
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/operator/controllers/ingestionchannel"
	"github.com/keyport-dev/keyport/operator/controllers/m2mcertificate"
	"github.com/keyport-dev/keyport/operator/controllers/notificationchannel"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	_ "github.com/keyport-dev/keyport/shared/drivers/restdriver"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

var (
	env        *testenv.Env
	sb         *sandbox.Sandbox
	pluginDir  string // holds kubectl-keyport
	kubectl    string
	kubeconfig string
	rootCA     *certstest.CA
)

const (
	clientID       = "cpu-app"
	clientSecret   = "s3cret-Hq73%good"
	wrongSecret    = "Wr0ng!s3cret-bad"
	headerValue    = "subscription-key-5150"
	directToken    = "opaque-token-value-4c1d9e"
	directPassword = "webhook-client-secret-9x"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	var err error
	if rootCA, err = certstest.NewCA("Keyport test client root"); err != nil {
		return fail(err)
	}
	sb, err = sandbox.Start(sandbox.Config{Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret}},
		ClientCAs: []*x509.Certificate{rootCA.Cert}, Seed: 18})
	if err != nil {
		return fail(err)
	}
	defer sb.Close()
	if kubectl, err = findKubectl(); err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "kubectl-keyport-test-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	pluginDir = filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "kubectl-keyport"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("go build kubectl-keyport: %v\n%s", err, out))
	}
	if env, err = testenv.Start(); err != nil {
		return fail(err)
	}
	defer func() { _ = env.Stop() }()
	if kubeconfig, err = env.Kubeconfig(dir); err != nil {
		return fail(err)
	}
	return m.Run()
}

// findKubectl is kubectl from PATH, or the one `make testbin` builds from
// the Go module proxy when there is none.
func findKubectl() (string, error) {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p, nil
	}
	p := filepath.Join(testenv.RepoRoot(), "bin", "testbin", "kubectl")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("kubectl is neither on PATH nor in bin/testbin: run `make testbin`, which builds it from the Go module proxy")
}

// keyport runs `kubectl keyport ARGS...` with the plugin found on PATH.
func keyport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kubectl, append([]string{"keyport"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if testing.Verbose() {
		t.Logf("$ kubectl keyport %s\n%s", strings.Join(args, " "), out.String())
	}
	return out.String(), err
}

func mustKeyport(t *testing.T, args ...string) string {
	t.Helper()
	out, err := keyport(t, args...)
	if err != nil {
		t.Fatalf("kubectl keyport %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func keyportJSON(t *testing.T, v any, args ...string) string {
	t.Helper()
	out := mustKeyport(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kubectl keyport %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func get[T client.Object](t *testing.T, ns, name string, obj T) T {
	t.Helper()
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s: %v", obj, name, err)
	}
	return obj
}

func contains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s does not show %q:\n%s", what, w, out)
		}
	}
}

// clientCert is a leaf with SANs under an intermediate of rootCA: a chain
// of two in tls.crt and the root in ca.crt, as a provider's bundle has.
func clientCert(t *testing.T) (leaf, inter *x509.Certificate, certPEM, keyPEM []byte) {
	t.Helper()
	ic, err := rootCA.Intermediate("Keyport test client intermediate")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spiffe, _ := url.Parse("spiffe://bank.example/cpu-app")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x5eed),
		Subject:      pkix.Name{CommonName: "cpu-app", Organization: []string{"Keyport Test"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames: []string{"cpu-app.bank.example"}, URIs: []*url.URL{spiffe},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ic.Cert, key.Public(), ic.Key)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ic.Cert.Raw})...)
	return leaf, ic.Cert, certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

// live is a namespace where Keyport's controllers run against the sandbox:
// a working ApiClient "platform" with a subscription-key header, an
// ApiClient "broken" whose client secret is wrong and which presents the
// M2MCertificate "client-cert", an IngestionChannel and a
// NotificationChannel on "platform", and a Pod that mounts platform's token.
type live struct {
	ns                  string
	leaf, intermediate  *x509.Certificate
	keyPEM              []byte
	token, webhookToken string
}

func startLive(t *testing.T) *live {
	t.Helper()
	l := &live{ns: env.Namespace(t)}
	ns := l.ns
	optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		if err := (&apiclient.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-apiclient"),
			MACKey: []byte("0123456789abcdef0123456789abcdef")}).SetupWithManager(mgr); err != nil {
			return err
		}
		if err := (&m2mcertificate.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-m2mcertificate")}).SetupWithManager(mgr); err != nil {
			return err
		}
		if err := (&ingestionchannel.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-ingestionchannel")}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&notificationchannel.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-notificationchannel")}).SetupWithManager(mgr)
	})
	var certPEM []byte
	l.leaf, l.intermediate, certPEM, l.keyPEM = clientCert(t)
	caSel := &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
			StringData: map[string]string{"client_id": clientID, "client_secret": clientSecret, "subscription_key": headerValue}},
		{ObjectMeta: metav1.ObjectMeta{Name: "wrong-creds", Namespace: ns},
			StringData: map[string]string{"client_id": clientID, "client_secret": wrongSecret}},
		{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}},
		{ObjectMeta: metav1.ObjectMeta{Name: "client-cert-source", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": certPEM, "tls.key": l.keyPEM, "ca.crt": rootCA.CertPEM()}},
	} {
		create(t, s)
	}
	create(t, &keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: "client-cert", Namespace: ns},
		Spec: keyportv1.M2MCertificateSpec{SecretRef: &keyportv1.TLSSecretSource{Name: "client-cert-source"}}})
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: sb.URL() + "/connect/token", Credentials: &keyportv1.CredentialsSource{SecretName: "creds"},
		Headers: []keyportv1.HTTPHeader{{Name: "Ocp-Apim-Subscription-Key", ValueFrom: &keyportv1.SecretKeySelector{Name: "creds", Key: "subscription_key"}}},
		TLS:     &keyportv1.TLSSettings{CABundle: caSel}}})
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: sb.URL() + "/connect/token", Credentials: &keyportv1.CredentialsSource{SecretName: "wrong-creds"},
		ClientCertificate: &keyportv1.ClientCertificateReference{M2MCertificateName: "client-cert"},
		TLS:               &keyportv1.TLSSettings{CABundle: caSel}}})
	create(t, &keyportv1.IngestionChannel{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns}, Spec: keyportv1.IngestionChannelSpec{
		ApiClientName: "platform", Customer: "acme", BaseURL: "https://ingestion.example.test", ChannelID: "ch-4711", MessageType: "Order"}})
	create(t, &keyportv1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Name: "visits", Namespace: ns}, Spec: keyportv1.NotificationChannelSpec{
		Platform:    keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "platform", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
		ChannelName: ns + "-visits", WebhookURL: "https://hooks.example.test/visits", EventTypes: []string{"VisitCreated-" + ns},
		Authentication: keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthStaticBearer, GeneratedSecretName: "visits-webhook"}}})
	create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}})
	create(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: ns}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "keyport.dev/ingest-example:dev",
			VolumeMounts: []corev1.VolumeMount{{Name: "token", MountPath: "/var/run/token"}}}},
		Volumes: []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "platform-token"}}}},
	}})

	l.waitReady(t, &keyportv1.M2MCertificate{}, "client-cert", keyportv1.ReasonCertificateImported)
	l.waitReady(t, &keyportv1.ApiClient{}, "platform", keyportv1.ReasonTokenRefreshed)
	l.waitReady(t, &keyportv1.IngestionChannel{}, "orders", "")
	l.waitReady(t, &keyportv1.NotificationChannel{}, "visits", keyportv1.ReasonChannelRegistered)
	optest.Eventually(t, 30*time.Second, "broken fails with InvalidCredentials", func() (bool, string) {
		ac := get(t, ns, "broken", &keyportv1.ApiClient{})
		c := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == metav1.ConditionFalse && c.Reason == keyportv1.ReasonInvalidCredentials, c.Reason + ": " + c.Message
	})
	l.token = string(get(t, ns, "platform-token", &corev1.Secret{}).Data["access_token"])
	l.webhookToken = string(get(t, ns, "visits-webhook", &corev1.Secret{}).Data["bearer_token"])
	if strings.Count(l.token, ".") != 2 || l.webhookToken == "" {
		t.Fatalf("fixture: the sandbox's token is not a JWT (%d dots) or the webhook credential is missing", strings.Count(l.token, "."))
	}
	return l
}

// waitReady waits for Ready=True (with reason, when given) at the current
// generation.
func (l *live) waitReady(t *testing.T, obj client.Object, name, reason string) {
	t.Helper()
	optest.Eventually(t, 30*time.Second, fmt.Sprintf("%T %s Ready", obj, name), func() (bool, string) {
		c := conditions.ReadyOf(get(t, l.ns, name, obj))
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == metav1.ConditionTrue && (reason == "" || c.Reason == reason), c.Reason + ": " + c.Message
	})
}

// statusJSON mirrors the plugin's -o json status, as a script reads it.
type statusJSON struct {
	Kind               string `json:"kind"`
	Generation         int64  `json:"generation"`
	ObservedGeneration int64  `json:"observedGeneration"`
	Conditions         []struct {
		Type, Status, Reason, Message string
	} `json:"conditions"`
	ValidityOf string `json:"validityOf"`
	Validity   []struct {
		Label  string     `json:"label"`
		Time   *time.Time `json:"time"`
		Value  string     `json:"value"`
		Source string     `json:"source"`
	} `json:"validity"`
	OutputSecret *struct {
		Name             string `json:"name"`
		Exists           bool   `json:"exists"`
		ManagedByKeyport bool   `json:"managedByKeyport"`
	} `json:"outputSecret"`
	Uses         []refJSON `json:"uses"`
	ReferencedBy []refJSON `json:"referencedBy"`
	MountedBy    []refJSON `json:"mountedBy"`
	Events       []struct {
		Type, Reason, Message string
	} `json:"events"`
	Notes []string `json:"notes"`
}

type refJSON struct {
	Kind, Name, Via, Ready, Reason string
	Found                          bool
}

func (s statusJSON) fact(label string) (string, *time.Time) {
	for _, f := range s.Validity {
		if f.Label == label {
			return f.Value, f.Time
		}
	}
	return "", nil
}

// statusWithReady runs `kubectl keyport status args -o json` and checks
// that it shows Ready with status and, unless empty, reason.
func statusWithReady(t *testing.T, status, reason string, args ...string) statusJSON {
	t.Helper()
	var s statusJSON
	keyportJSON(t, &s, append([]string{"status"}, args...)...)
	if st, r := s.ready(); st != status || (reason != "" && r != reason) {
		t.Errorf("status %s: Ready %s %s, want %s %s", strings.Join(args, " "), st, r, status, reason)
	}
	return s
}

func (s statusJSON) ready() (status, reason string) {
	for _, c := range s.Conditions {
		if c.Type == keyportv1.ConditionReady {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

func hasRef(refs []refJSON, kind, name string) bool {
	for _, r := range refs {
		if r.Kind == kind && r.Name == name && r.Found {
			return true
		}
	}
	return false
}

func TestKubectlKeyport(t *testing.T) {
	l := startLive(t)
	ns := l.ns

	t.Run("found by kubectl's plugin discovery", func(t *testing.T) {
		cmd := exec.Command(kubectl, "plugin", "list")
		cmd.Env = append(os.Environ(), "PATH="+pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, _ := cmd.CombinedOutput() // exits 1 on warnings about other folders on PATH
		contains(t, "kubectl plugin list", string(out), filepath.Join(pluginDir, "kubectl-keyport"))
	})

	t.Run("status of a failing ApiClient shows its reason", func(t *testing.T) {
		ac := get(t, ns, "broken", &keyportv1.ApiClient{})
		ready := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
		// The recorder writes events asynchronously: wait for the one the
		// failure raised before asking for it.
		optest.Eventually(t, 10*time.Second, "the InvalidCredentials event", func() (bool, string) {
			events := &corev1.EventList{}
			if err := env.Client.List(context.Background(), events, client.InNamespace(ns)); err != nil {
				return false, err.Error()
			}
			for _, e := range events.Items {
				if e.InvolvedObject.UID == ac.UID && e.Reason == keyportv1.ReasonInvalidCredentials {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events in the namespace", len(events.Items))
		})
		out := mustKeyport(t, "status", "apiclient", "broken", "-n", ns)
		contains(t, "status apiclient broken", out,
			"ApiClient "+ns+"/broken",
			"Ready", "False", keyportv1.ReasonInvalidCredentials,
			"Ready: "+ready.Message,
			"consecutive failures:",
			"Output Secret: broken-token (does not exist)",
			"Secret wrong-creds", "spec.credentials",
			"M2MCertificate client-cert", "Ready=True "+keyportv1.ReasonCertificateImported,
			"Warning", // the event the transition raised
		)
		s := statusWithReady(t, "False", keyportv1.ReasonInvalidCredentials, "apic/broken", "-n", ns)
		found := false
		for _, e := range s.Events {
			found = found || (e.Type == corev1.EventTypeWarning && e.Reason == keyportv1.ReasonInvalidCredentials)
		}
		if !found {
			t.Errorf("-o json: no Warning InvalidCredentials event among %+v", s.Events)
		}
	})

	t.Run("status of an ApiClient", func(t *testing.T) {
		secret := get(t, ns, "platform-token", &corev1.Secret{})
		expires, _ := time.Parse(time.RFC3339, secret.Annotations[keyportv1.AnnotationExpiresAt])
		refreshAt, _ := time.Parse(time.RFC3339, secret.Annotations[keyportv1.AnnotationRefreshAt])
		s := statusWithReady(t, "True", keyportv1.ReasonTokenRefreshed, "apiclients", "platform", "-n", ns)
		if _, at := s.fact("expires"); at == nil || !at.Equal(expires) {
			t.Errorf("expires %v, want the Secret's %v", at, expires)
		}
		if _, at := s.fact("next refresh"); at == nil || !at.Equal(refreshAt) {
			t.Errorf("next refresh %v, want the Secret's %v", at, refreshAt)
		}
		if s.OutputSecret == nil || s.OutputSecret.Name != "platform-token" || !s.OutputSecret.Exists || !s.OutputSecret.ManagedByKeyport {
			t.Errorf("output Secret %+v", s.OutputSecret)
		}
		if !hasRef(s.ReferencedBy, "IngestionChannel", "orders") || !hasRef(s.ReferencedBy, "NotificationChannel", "visits") {
			t.Errorf("referenced by %+v, want IngestionChannel orders and NotificationChannel visits", s.ReferencedBy)
		}
		if !hasRef(s.MountedBy, "Pod", "worker") || !hasRef(s.Uses, "Secret", "creds") || !hasRef(s.Uses, "Secret", "sandbox-ca") {
			t.Errorf("mounted by %+v, uses %+v", s.MountedBy, s.Uses)
		}
		out := mustKeyport(t, "status", "ApiClient", "platform", "-n", ns)
		contains(t, "status apiclient platform", out,
			"Ready", "True", keyportv1.ReasonTokenRefreshed,
			"Token:", "expires:", expires.UTC().Format(time.RFC3339), "next refresh:", refreshAt.UTC().Format(time.RFC3339),
			"Output Secret: platform-token (exists, written by Keyport)",
			"IngestionChannel orders", "NotificationChannel visits", "Pod worker", "volume token")
	})

	t.Run("status of an M2MCertificate", func(t *testing.T) {
		m := get(t, ns, "client-cert", &keyportv1.M2MCertificate{})
		s := statusWithReady(t, "True", keyportv1.ReasonCertificateImported, "m2mcert", "client-cert", "-n", ns)
		if _, at := s.fact("not after"); at == nil || !at.Equal(l.leaf.NotAfter) {
			t.Errorf("not after %v, want %v", at, l.leaf.NotAfter)
		}
		if v, _ := s.fact("SHA-1 thumbprint"); v != m.Status.SHA1Thumbprint || v == "" {
			t.Errorf("thumbprint %q, status %q", v, m.Status.SHA1Thumbprint)
		}
		if !hasRef(s.ReferencedBy, "ApiClient", "broken") || !hasRef(s.Uses, "Secret", "client-cert-source") {
			t.Errorf("referenced by %+v, uses %+v", s.ReferencedBy, s.Uses)
		}
		out := mustKeyport(t, "status", "m2mcertificates/client-cert", "-n", ns)
		contains(t, "status m2mcertificate", out, "Certificate:", "subject:", "CN=cpu-app", "not after:", "next renewal:",
			"Output Secret: client-cert-tls (exists", "ApiClient broken", "spec.clientCertificate")
	})

	t.Run("status of an IngestionChannel", func(t *testing.T) {
		secret := get(t, ns, "orders-channel", &corev1.Secret{})
		s := statusWithReady(t, "True", "", "ingch", "orders", "-n", ns)
		if v, _ := s.fact("channel URL"); v != "https://ingestion.example.test/ingestion/ch-4711" {
			t.Errorf("channel URL %q", v)
		}
		if _, at := s.fact("expires"); at == nil || at.UTC().Format(time.RFC3339) != secret.Annotations[keyportv1.AnnotationExpiresAt] {
			t.Errorf("expires %v, Secret says %s", at, secret.Annotations[keyportv1.AnnotationExpiresAt])
		}
		if _, at := s.fact("next refresh"); at == nil {
			t.Error("no next refresh (the ApiClient's)")
		}
		if !hasRef(s.Uses, "ApiClient", "platform") || s.OutputSecret == nil || !s.OutputSecret.Exists {
			t.Errorf("uses %+v, output %+v", s.Uses, s.OutputSecret)
		}
		out := mustKeyport(t, "status", "ingestionchannel", "orders", "-n", ns)
		contains(t, "status ingestionchannel", out, "IngestionChannel "+ns+"/orders", "channel URL:", "ApiClient platform", "Output Secret: orders-channel (exists")
	})

	t.Run("status of a NotificationChannel", func(t *testing.T) {
		nc := get(t, ns, "visits", &keyportv1.NotificationChannel{})
		s := statusWithReady(t, "True", keyportv1.ReasonChannelRegistered, "notifch", "visits", "-n", ns)
		if v, _ := s.fact("channel id"); v != nc.Status.ChannelID || v == "" {
			t.Errorf("channel id %q, status %q", v, nc.Status.ChannelID)
		}
		if !hasRef(s.Uses, "ApiClient", "platform") || s.OutputSecret == nil || s.OutputSecret.Name != "visits-webhook" || !s.OutputSecret.Exists {
			t.Errorf("uses %+v, output %+v", s.Uses, s.OutputSecret)
		}
		out := mustKeyport(t, "status", "notificationchannel", "visits", "-n", ns)
		contains(t, "status notificationchannel", out, "NotificationChannel "+ns+"/visits", keyportv1.ReasonChannelRegistered, "channel id:", "Output Secret: visits-webhook (exists")
	})

	t.Run("refresh sets the annotation and the operator refreshes", func(t *testing.T) {
		var res struct{ Annotation, Value string }
		keyportJSON(t, &res, "refresh", "apiclient", "platform", "-n", ns)
		ac := get(t, ns, "platform", &keyportv1.ApiClient{})
		if res.Annotation != keyportv1.AnnotationRefresh || res.Value == "" || ac.Annotations[keyportv1.AnnotationRefresh] != res.Value {
			t.Fatalf("refresh printed %s=%s, the ApiClient has %q", res.Annotation, res.Value, ac.Annotations[keyportv1.AnnotationRefresh])
		}
		optest.Eventually(t, 30*time.Second, "status shows the forced refresh done", func() (bool, string) {
			var s statusJSON
			keyportJSON(t, &s, "status", "apiclient", "platform", "-n", ns)
			v, _ := s.fact("forced refresh")
			return v == res.Value+": done", v
		})
		out := mustKeyport(t, "refresh", "apiclient/platform", "-n", ns)
		contains(t, "refresh", out, "ApiClient "+ns+"/platform: refresh requested ("+keyportv1.AnnotationRefresh+"=")
		l.token = string(get(t, ns, "platform-token", &corev1.Secret{}).Data["access_token"])

		out, err := keyport(t, "refresh", "ingch", "orders", "-n", ns)
		if err == nil {
			t.Fatalf("refresh of an IngestionChannel succeeded:\n%s", out)
		}
		contains(t, "refresh ingestionchannel", out, "kubectl keyport refresh apiclient platform")
		if _, ok := get(t, ns, "orders", &keyportv1.IngestionChannel{}).Annotations[keyportv1.AnnotationRefresh]; ok {
			t.Error("refresh annotated the IngestionChannel")
		}
	})

	t.Run("inspect token shows the claims", func(t *testing.T) {
		secret := get(t, ns, "platform-token", &corev1.Secret{})
		tok := string(secret.Data["access_token"])
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		exp := time.Unix(int64(claims["exp"].(float64)), 0).UTC()
		iat := time.Unix(int64(claims["iat"].(float64)), 0).UTC()

		out := mustKeyport(t, "inspect", "token", "platform", "-n", ns)
		contains(t, "inspect token", out, "format:  JWT", "Header:", "alg:", "ES256", "Claims:",
			"expires (exp):", exp.Format(time.RFC3339), "issued at (iat):", iat.Format(time.RFC3339),
			"Secret annotation "+keyportv1.AnnotationExpiresAt)
		for k, v := range claims {
			if s, ok := v.(string); ok {
				contains(t, "inspect token", out, k+":", s)
			}
		}
		var r struct {
			Format string
			Header map[string]any
			Claims map[string]any
		}
		keyportJSON(t, &r, "inspect", "token", "platform", "-n", ns)
		if r.Format != "JWT" || r.Header["alg"] != "ES256" || len(r.Claims) != len(claims) {
			t.Errorf("-o json: format %s, header %v, %d claims (want %d)", r.Format, r.Header, len(r.Claims), len(claims))
		}
		for k, v := range claims {
			if fmt.Sprint(r.Claims[k]) != fmt.Sprint(v) {
				t.Errorf("-o json: claim %s = %v, want %v", k, r.Claims[k], v)
			}
		}
	})

	t.Run("inspect certificate shows thumbprint and fingerprint", func(t *testing.T) {
		sha1sum := sha1.Sum(l.leaf.Raw) //nolint:gosec // see the import
		sha256sum := sha256.Sum256(l.leaf.Raw)
		interSum := sha1.Sum(l.intermediate.Raw) //nolint:gosec // see the import
		thumb, finger := strings.ToUpper(hex.EncodeToString(sha1sum[:])), strings.ToUpper(hex.EncodeToString(sha256sum[:]))
		out := mustKeyport(t, "inspect", "certificate", "client-cert", "-n", ns)
		contains(t, "inspect certificate", out,
			"SHA-1 thumbprint:", thumb, "SHA-256 fingerprint:", finger,
			"x5t#S256:", base64.RawURLEncoding.EncodeToString(sha256sum[:]),
			"subject:", "CN=cpu-app,O=Keyport Test", "issuer:", "CN=Keyport test client intermediate",
			"SANs:", "DNS:cpu-app.bank.example", "URI:spiffe://bank.example/cpu-app",
			"not after:", l.leaf.NotAfter.UTC().Format(time.RFC3339), "public key:", "ECDSA P-256",
			"Chain (1 intermediate after the leaf)", strings.ToUpper(hex.EncodeToString(interSum[:])),
			"Trust anchors (ca.crt, 1 certificate)", "CN=Keyport test client root",
			"Leaf verifies against ca.crt: yes")
		var r struct {
			Leaf  struct{ SHA1Thumbprint, SHA256Fingerprint string }
			Chain []struct{ Subject string }
		}
		keyportJSON(t, &r, "inspect", "cert", "client-cert", "-n", ns)
		if r.Leaf.SHA1Thumbprint != thumb || r.Leaf.SHA256Fingerprint != finger || len(r.Chain) != 1 {
			t.Errorf("-o json: %+v, want %s %s and one intermediate", r, thumb, finger)
		}
	})

	t.Run("no output holds a secret of the fixture", func(t *testing.T) {
		commands := [][]string{
			{"status", "apiclient", "platform"}, {"status", "apiclient", "broken"}, {"status", "m2mcert", "client-cert"},
			{"status", "ingch", "orders"}, {"status", "notifch", "visits"},
			{"inspect", "token", "platform"}, {"inspect", "certificate", "client-cert"}, {"refresh", "apiclient", "broken"},
			{"inspect", "token", "broken"}, {"status", "apiclient", "missing"},
		}
		var all strings.Builder
		for _, c := range commands {
			for _, format := range [][]string{nil, {"-o", "json"}} {
				out, _ := keyport(t, append(append(c, "-n", ns), format...)...)
				all.WriteString(out)
			}
		}
		// The token may have been refreshed by the commands above: check
		// every token the Secret held.
		tokens := []string{l.token, string(get(t, ns, "platform-token", &corev1.Secret{}).Data["access_token"])}
		secrets := map[string]string{
			"client secret": clientSecret, "wrong client secret": wrongSecret, "subscription key": headerValue,
			"webhook bearer token": l.webhookToken, "private key PEM": string(l.keyPEM),
		}
		for i, tok := range tokens {
			secrets[fmt.Sprintf("token %d", i)] = tok
			secrets[fmt.Sprintf("token %d signature", i)] = tok[strings.LastIndex(tok, ".")+1:]
		}
		// Each line of the key's base64, so that a partial print is caught too.
		for i, line := range strings.Split(string(l.keyPEM), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				secrets[fmt.Sprintf("private key line %d", i)] = line
			}
		}
		text := all.String()
		if len(text) < 2000 {
			t.Fatalf("the commands printed almost nothing:\n%s", text)
		}
		for what, v := range secrets {
			if v == "" {
				t.Fatalf("fixture: %s is empty", what)
			}
			if strings.Contains(text, v) {
				t.Errorf("the output holds the %s", what)
			}
		}
	})
}

// TestWrittenDirectly covers what the live operator reaches only slowly: an
// opaque token, a Degraded ApiClient whose previous token is still valid,
// an event written by another reporter, and RBAC that hides the Pods.
func TestWrittenDirectly(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	expires, refreshAt, retryAt := now.Add(40*time.Minute), now.Add(-2*time.Minute), now.Add(90*time.Second)

	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		StringData: map[string]string{"client_id": clientID, "client_secret": directPassword}})
	ac := &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "payments", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: "https://pay.example.test/oauth/token", Preset: keyportv1.PresetPaymentJSON,
		Credentials: &keyportv1.CredentialsSource{SecretName: "creds"},
		Output:      &keyportv1.TokenOutput{SecretName: "payments-live-token"}}}
	create(t, ac)
	msg := "the token endpoint https://pay.example.test/oauth/token did not answer (connection refused); the previous token is valid until " + expires.Format(time.RFC3339)
	ac.Status = keyportv1.ApiClientStatus{ObservedGeneration: ac.Generation, OutputSecretName: "payments-live-token", ConsecutiveFailures: 4,
		TokenExpiresAt: &metav1.Time{Time: expires}, NextRefreshTime: &metav1.Time{Time: retryAt},
		Conditions: []metav1.Condition{
			{Type: keyportv1.ConditionReady, Status: metav1.ConditionTrue, Reason: keyportv1.ReasonTokenRefreshed, Message: "token valid", ObservedGeneration: ac.Generation, LastTransitionTime: metav1.Time{Time: now.Add(-time.Hour)}},
			{Type: keyportv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: keyportv1.ReasonTokenEndpointUnreachable, Message: msg, ObservedGeneration: ac.Generation, LastTransitionTime: metav1.Time{Time: now.Add(-5 * time.Minute)}},
		}}
	if err := env.Client.Status().Update(ctx, ac); err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "payments-live-token", Namespace: ns,
		Labels: map[string]string{keyportv1.LabelManagedBy: keyportv1.ManagedByValue},
		Annotations: map[string]string{keyportv1.AnnotationExpiresAt: expires.Format(time.RFC3339), keyportv1.AnnotationRefreshAt: refreshAt.Format(time.RFC3339),
			"keyport.dev/issued-at": now.Add(-20 * time.Minute).Format(time.RFC3339)}},
		StringData: map[string]string{"access_token": directToken, "token_type": "Bearer", "authorization": "Bearer " + directToken,
			"expires_at": expires.Format(time.RFC3339), "headers.json": `{"Authorization":"Bearer ` + directToken + `"}`}})
	create(t, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "payments.1", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "ApiClient", APIVersion: keyportv1.GroupVersion.String(), Namespace: ns, Name: "payments", UID: ac.UID},
		Type:           corev1.EventTypeWarning, Reason: keyportv1.ReasonTokenEndpointUnreachable, Message: "connection refused", Count: 4,
		FirstTimestamp: metav1.Time{Time: now.Add(-5 * time.Minute)}, LastTimestamp: metav1.Time{Time: now.Add(-30 * time.Second)},
		Source: corev1.EventSource{Component: "keyport-apiclient"}})

	out := mustKeyport(t, "status", "apiclient", "payments", "-n", ns)
	contains(t, "status of a Degraded ApiClient", out,
		"Degraded", keyportv1.ReasonTokenEndpointUnreachable, "Degraded: "+msg,
		"expires:", expires.Format(time.RFC3339), "planned refresh:", refreshAt.Format(time.RFC3339), "ago)",
		"next attempt:", retryAt.Format(time.RFC3339)+" (in ",
		"consecutive failures:", "4",
		"Output Secret: payments-live-token (exists, written by Keyport)",
		"LAST SEEN", "Warning", "connection refused")
	if strings.Index(out, "Ready ") > strings.Index(out, "Degraded ") {
		t.Errorf("Ready is not the first condition:\n%s", out)
	}

	out = mustKeyport(t, "inspect", "token", "payments", "-n", ns)
	contains(t, "inspect of an opaque token", out, "format:  opaque", "expires:", expires.Format(time.RFC3339), "Secret annotation keyport.dev/expires-at")
	if strings.Contains(out, "Claims:") || strings.Contains(out, directToken) {
		t.Errorf("inspect of an opaque token shows claims or the token:\n%s", out)
	}

	// A user who may read ApiClients and Secrets but not Pods or events still
	// gets the report, with notes on what was hidden.
	cfg, err := env.UserConfig("viewer-" + ns)
	if err != nil {
		t.Fatal(err)
	}
	create(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "keyport-viewer", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{keyportv1.GroupVersion.Group}, Resources: []string{"apiclients", "m2mcertificates", "ingestionchannels", "notificationchannels"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
	}})
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "keyport-viewer", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "keyport-viewer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "viewer-" + ns}}})
	viewer := clientcmdapi.NewConfig()
	viewer.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	viewer.AuthInfos["viewer"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	viewer.Contexts["viewer"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "viewer"}
	viewer.CurrentContext = "viewer"
	viewerConfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*viewer, viewerConfig); err != nil {
		t.Fatal(err)
	}
	out = mustKeyport(t, "status", "apiclient", "payments", "-n", ns, "--kubeconfig", viewerConfig)
	contains(t, "status as a viewer", out, keyportv1.ReasonTokenEndpointUnreachable, "Notes:", "cannot list Pods: forbidden", "cannot list events: forbidden",
		"Mounted by:\n  unknown (see the notes)", "Events:\n  unknown (see the notes)")
	if strings.Contains(out, directToken) || strings.Contains(out, directPassword) {
		t.Errorf("status holds a secret:\n%s", out)
	}
}
