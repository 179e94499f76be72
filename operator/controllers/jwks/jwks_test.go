package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/jwks"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// platform serves a key set over HTTPS with the cache headers it is told,
// and counts the fetches.
type platform struct {
	srv     *httptest.Server
	mu      sync.Mutex
	kid     string
	header  map[string]string
	failing bool
	fetches atomic.Int32
}

func newPlatform(t *testing.T) *platform {
	p := &platform{kid: "sig-1"}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.failing {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for k, v := range p.header {
			w.Header().Set(k, v)
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: p.kid, Use: "sig", Algorithm: "ES256"}}})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) set(f func(p *platform)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *platform) caPEM() []byte {
	return pemCert(p.srv.Certificate().Raw)
}

// kids reads the key ids the ConfigMap holds.
func kids(t *testing.T, ns, name string) []string {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatalf("the ConfigMap: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(cm.Data[jwks.Key]), &set); err != nil {
		t.Fatalf("jwks.json is not a key set: %v", err)
	}
	var out []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatal("the ConfigMap holds a private key")
		}
		out = append(out, k.KeyID)
	}
	return out
}

// The schedule follows the platform's Cache-Control, then Expires, under
// the spec's interval; a new refresh annotation fetches at once; a failing
// platform leaves the copy as it was. The clock is injected: nothing waits.
func TestKeySetFollowsCacheHeadersAndTheRefreshAnnotation(t *testing.T) {
	outbound.SetDefaultPolicy(optest.SandboxOnLoopback)
	ctx := context.Background()
	ns := env.Namespace(t)
	p := newPlatform(t)
	p.set(func(p *platform) { p.header = map[string]string{"Cache-Control": "public, max-age=120"} })
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "platform-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": p.caPEM()}}); err != nil {
		t.Fatal(err)
	}
	ac := &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "softpos", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: "https://login.example.com/token", ClientID: "softpos-app", ClientAuthentication: keyportv1.NoClientAuthentication,
		TLS:  &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "platform-ca", Key: "ca.crt"}},
		JWKS: &keyportv1.JWKSSettings{URL: p.srv.URL + "/jwks.json"},
	}}
	if err := env.Client.Create(ctx, ac); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(t0)
	events := record.NewFakeRecorder(10)
	r := &jwks.Reconciler{Client: env.Client, Reader: env.Client, Recorder: events, Clock: clock}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "softpos"}}
	reconcile := func(at time.Duration) ctrl.Result {
		t.Helper()
		clock.SetTime(t0.Add(at))
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			t.Fatalf("reconcile at +%s: %v", at, err)
		}
		return res
	}

	if res := reconcile(0); res.RequeueAfter != 2*time.Minute {
		t.Errorf("next fetch in %s, want the platform's max-age 2m", res.RequeueAfter)
	}
	if got := kids(t, ns, "softpos-jwks"); len(got) != 1 || got[0] != "sig-1" {
		t.Fatalf("kids %v", got)
	}
	cm := &corev1.ConfigMap{}
	_ = env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "softpos-jwks"}, cm)
	if owner := metav1.GetControllerOf(cm); owner == nil || owner.Name != "softpos" {
		t.Error("the ConfigMap is not owned by its ApiClient")
	}

	// The platform rotates its key; the copy follows after max-age, not before.
	p.set(func(p *platform) {
		p.kid = "sig-2"
		p.header = map[string]string{"Date": t0.Add(2 * time.Minute).Format(http.TimeFormat),
			"Expires": t0.Add(2*time.Minute + 30*time.Minute).Format(http.TimeFormat)}
	})
	if res := reconcile(time.Minute); res.RequeueAfter != time.Minute || p.fetches.Load() != 1 {
		t.Fatalf("fetched before the cache lifetime ran out (requeue %s, %d fetches)", res.RequeueAfter, p.fetches.Load())
	}
	if res := reconcile(2 * time.Minute); res.RequeueAfter != 30*time.Minute {
		// Expires is 30 minutes after the platform's Date.
		t.Errorf("next fetch in %s, want 30m from Expires", res.RequeueAfter)
	}
	if got := kids(t, ns, "softpos-jwks"); got[0] != "sig-2" {
		t.Fatalf("kids %v after the cache lifetime", got)
	}

	// A workload met a kid it does not know: the refresh annotation fetches
	// at once, long before the next planned fetch.
	p.set(func(p *platform) { p.kid = "sig-3"; p.header = nil })
	patch := client.MergeFrom(ac.DeepCopy())
	ac.Annotations = map[string]string{keyportv1.AnnotationRefresh: "kid sig-3"}
	if err := env.Client.Patch(ctx, ac, patch); err != nil {
		t.Fatal(err)
	}
	if res := reconcile(3 * time.Minute); res.RequeueAfter != time.Hour {
		t.Errorf("next fetch in %s, want the default interval 1h (no cache headers)", res.RequeueAfter)
	}
	if got := kids(t, ns, "softpos-jwks"); got[0] != "sig-3" {
		t.Fatalf("kids %v after the refresh annotation", got)
	}

	// The platform fails: the copy stays, and the user is told.
	p.set(func(p *platform) { p.failing = true })
	if res := reconcile(2 * time.Hour); res.RequeueAfter != time.Minute {
		t.Errorf("retry in %s, want 1m", res.RequeueAfter)
	}
	if got := kids(t, ns, "softpos-jwks"); got[0] != "sig-3" {
		t.Fatalf("kids %v after a failed fetch", got)
	}
	select {
	case e := <-events.Events:
		if !strings.Contains(e, "JWKSFetchFailed") || !strings.Contains(e, "HTTP 503") {
			t.Errorf("event %q", e)
		}
	default:
		t.Error("no event for the failed fetch")
	}
}

// Through a running manager: an ApiClient of the SoftPOS API with spec.jwks
// gets the sandbox's keys in its ConfigMap, and a ConfigMap of the same
// name that is not its own is left alone.
func TestSoftPOSKeySetFromTheSandbox(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	ctx := context.Background()
	ns := env.Namespace(t)
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": sb.CACertPEM()}}); err != nil {
		t.Fatal(err)
	}
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: ns}, Data: map[string]string{"x": "y"}}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		return (&jwks.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-jwks")}).SetupWithManager(mgr)
	})
	newClient := func(name, configMap string) *keyportv1.ApiClient {
		return &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.ApiClientSpec{
			Preset: keyportv1.PresetSoftPOS, TokenURL: sb.URL() + "/softpos/appenrollment/token",
			Credentials:       &keyportv1.CredentialsSource{SecretName: "softpos-credentials"},
			ClientCertificate: &keyportv1.ClientCertificateReference{SecretName: "softpos-tls"},
			TLS:               &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}},
			JWKS:              &keyportv1.JWKSSettings{URL: sb.URL() + "/softpos/par/jwks.json", ConfigMapName: configMap},
		}}
	}
	for _, ac := range []*keyportv1.ApiClient{newClient("softpos", ""), newClient("clash", "taken")} {
		if err := env.Client.Create(ctx, ac); err != nil {
			t.Fatal(err)
		}
	}
	optest.Eventually(t, 20*time.Second, "the sandbox's keys in softpos-jwks", func() (bool, string) {
		cm := &corev1.ConfigMap{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "softpos-jwks"}, cm); err != nil {
			return false, err.Error()
		}
		return strings.Contains(cm.Data[jwks.Key], `"kid": "sandbox-1"`), cm.Data[jwks.Key]
	})
	optest.Eventually(t, 20*time.Second, "a conflict event for the ConfigMap that is not the ApiClient's", func() (bool, string) {
		list := &corev1.EventList{}
		_ = env.Client.List(ctx, list, client.InNamespace(ns))
		for _, e := range list.Items {
			if e.Reason == "JWKSConfigMapConflict" && e.InvolvedObject.Name == "clash" {
				return true, ""
			}
		}
		return false, "none yet"
	})
	cm := &corev1.ConfigMap{}
	_ = env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "taken"}, cm)
	if cm.Data[jwks.Key] != "" || cm.Data["x"] != "y" {
		t.Error("a ConfigMap that is not the ApiClient's was written")
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
