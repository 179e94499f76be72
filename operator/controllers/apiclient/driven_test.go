package apiclient_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// driven is an ApiClient Reconciler driven by hand against the test API
// server, on a fake clock: the test says what time it is and when the
// controller looks, so that what it decides at a token's refresh time, at
// its expiry or after a backoff is tested without waiting for it. Token
// requests still go to a real sandbox over HTTPS; the tests with a manager
// (startOperator) cover the wiring: watches, requeues and workers.
type driven struct {
	t   *testing.T
	r   *apiclient.Reconciler
	clk *clocktesting.FakeClock
	ns  string
	// next is when the last reconcile asked to be looked at again.
	next time.Duration
}

// newClock is a fake clock at a whole second, so that the times the
// Secret's annotations keep (whole seconds) are the ones planned.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
}

// drive returns a new Reconciler, as a new operator process would be, on
// clk; tune adjusts it. Refresh times are not jittered.
func drive(t *testing.T, ns string, clk *clocktesting.FakeClock, tune func(*apiclient.Reconciler)) *driven {
	t.Helper()
	// As the operator's main and a manager under test (optest) do.
	outbound.SetDefaultPolicy(optest.SandboxOnLoopback)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	t.Cleanup(b.Shutdown)
	r := &apiclient.Reconciler{Client: env.Client, MACKey: macKey, Clock: clk,
		Recorder: b.NewRecorder(env.Scheme, corev1.EventSource{Component: "keyport-apiclient"}),
		Jitter:   func() float64 { return 0 }}
	if tune != nil {
		tune(r)
	}
	return &driven{t: t, r: r, clk: clk, ns: ns}
}

// reconcile looks at the ApiClient now, as a watch event would, and acts
// on the answer of the token request it sends.
func (d *driven) reconcile(name string) *keyportv1.ApiClient {
	d.t.Helper()
	ctx := log.IntoContext(context.Background(), ctrl.Log.WithName("driven"))
	res, err := apiclient.ReconcileSettled(ctx, d.r, types.NamespacedName{Namespace: d.ns, Name: name})
	if err != nil {
		d.t.Fatalf("reconcile %s: %v", name, err)
	}
	d.next = res.RequeueAfter
	return get(d.t, d.ns, name, &keyportv1.ApiClient{})
}

// at sets the clock and reconciles.
func (d *driven) at(when time.Time, name string) *keyportv1.ApiClient {
	d.t.Helper()
	d.clk.SetTime(when)
	return d.reconcile(name)
}

// requeue moves the clock to when the last reconcile asked to be looked at
// again and reconciles, as the controller's queue would.
func (d *driven) requeue(name string) *keyportv1.ApiClient {
	d.t.Helper()
	if d.next <= 0 {
		d.t.Fatalf("%s asked for no timed requeue", name)
	}
	return d.at(d.clk.Now().Add(d.next), name)
}

// flowing runs f while the fake clock moves with real time, for a request
// whose time on the way is what counts (a hanging platform).
func (d *driven) flowing(f func()) {
	start, base := time.Now(), d.clk.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				d.clk.SetTime(base.Add(time.Since(start)))
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
}

// refreshTimes reads when the token in the output Secret is refreshed and
// expires, from the Secret's annotations.
func refreshTimes(t *testing.T, ns, secret string) (refreshAt, expiresAt time.Time) {
	t.Helper()
	_, s, ok := tokenIn(t, ns, secret)
	if !ok {
		t.Fatalf("the Secret %s holds no token", secret)
	}
	var err error
	if refreshAt, err = time.Parse(time.RFC3339, s.Annotations[keyportv1.AnnotationRefreshAt]); err != nil {
		t.Fatal(err)
	}
	if expiresAt, err = time.Parse(time.RFC3339, s.Annotations[keyportv1.AnnotationExpiresAt]); err != nil {
		t.Fatal(err)
	}
	return refreshAt, expiresAt
}

// readyShort is an ApiClient of a sandbox of its own with 20-second tokens
// (shortClient), driven to its first token on a new fake clock.
type readyShort struct {
	ns    string
	sb    *sandbox.Sandbox
	op    *driven
	ready *keyportv1.ApiClient
	// first is the first token, refreshAt and expiresAt its times.
	first                tokensecret.Token
	refreshAt, expiresAt time.Time
}

func newReadyShort(t *testing.T, name string, tune func(*apiclient.Reconciler)) *readyShort {
	t.Helper()
	f := &readyShort{ns: setup(t)}
	f.sb = shortSandbox(t, f.ns)
	f.op = drive(t, f.ns, newClock(), tune)
	create(t, shortClient(f.ns, name, f.sb))
	f.ready = f.op.reconcile(name)
	mustBeReady(t, f.ready)
	f.first, _, _ = tokenIn(t, f.ns, name+"-token")
	f.refreshAt, f.expiresAt = refreshTimes(t, f.ns, name+"-token")
	return f
}

// look reconciles the ApiClient once and does not wait for the answer of
// a token request it sent: the request stays on its way.
func (d *driven) look(name string) *keyportv1.ApiClient {
	d.t.Helper()
	ctx := log.IntoContext(context.Background(), ctrl.Log.WithName("driven"))
	res, err := d.r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: d.ns, Name: name}})
	if err != nil {
		d.t.Fatalf("reconcile %s: %v", name, err)
	}
	d.next = res.RequeueAfter
	return get(d.t, d.ns, name, &keyportv1.ApiClient{})
}
