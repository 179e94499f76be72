package apiclient_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

var (
	env *testenv.Env
	sb  *sandbox.Sandbox
	// logs captures every line the controllers log, for the leak scan.
	logs   = &syncBuffer{}
	macKey = []byte("0123456789abcdef0123456789abcdef-test-key")
)

const (
	clientID     = "cpu-app"
	clientSecret = "client-secret-Zx81!"
	username     = "api-user@example.com"
	password     = "user-password-Qp42?"
	subKey       = "subscription-key-7777"
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(false)))
	var err error
	sb, err = sandbox.Start(sandbox.Config{
		Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret, Username: username, Password: password, SubscriptionKey: subKey}},
		Seed:    7,
	})
	if err != nil {
		panic(err)
	}
	testenv.Main(m, &env)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startOperator runs a manager with the ApiClient controller for one
// namespace until the test ends; tune adjusts the Reconciler.
func startOperator(t testing.TB, ns string, tune func(*apiclient.Reconciler)) *optest.Operator {
	t.Helper()
	return optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		r := &apiclient.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-apiclient"), MACKey: macKey}
		if tune != nil {
			tune(r)
		}
		return r.SetupWithManager(mgr)
	})
}

// eventually polls cond until it holds or the bound passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	optest.Eventually(t, within, what, cond)
}

// consistently checks that cond holds for the whole duration.
func consistently(t *testing.T, during time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(during)
	for time.Now().Before(deadline) {
		if ok, state := cond(); !ok {
			t.Fatalf("%s stopped holding: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get[T client.Object](t *testing.T, ns, name string, obj T) T {
	t.Helper()
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %s/%s: %v", ns, name, err)
	}
	return obj
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func credentials(ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cpu-credentials", Namespace: ns},
		StringData: map[string]string{
			"client_id": clientID, "client_secret": clientSecret, "username": username, "password": password,
			"subscription_key": subKey,
		},
	}
}

// condition returns the ApiClient's condition of a type, "" when absent.
func condition(ac *keyportv1.ApiClient, condType string) (metav1.ConditionStatus, string, int64) {
	c := apimeta.FindStatusCondition(ac.Status.Conditions, condType)
	if c == nil {
		return "", "", 0
	}
	return c.Status, c.Reason, c.ObservedGeneration
}

func describe(ac *keyportv1.ApiClient) string {
	s := fmt.Sprintf("generation %d, observed %d, failures %d", ac.Generation, ac.Status.ObservedGeneration, ac.Status.ConsecutiveFailures)
	for _, c := range ac.Status.Conditions {
		s += fmt.Sprintf("; %s=%s %s (%s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

func ptr[T any](v T) *T { return &v }
