package m2mcertificate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/m2mcertificate"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// TestACertificateIsWarnedAboutAndThenExpiresAsTimePasses moves an
// injected clock through a certificate's life instead of waiting for it:
// valid, then expiring (one Warning, at the warning's start, the reconcile
// asked to come back then), then expired and no longer Ready. Reconciles
// are called directly against the real API server.
func TestACertificateIsWarnedAboutAndThenExpiresAsTimePasses(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	start := time.Now().Truncate(time.Second)
	ca, _ := certstest.NewCA("provider")
	leaf, _ := ca.Issue("aging", certstest.Options{NotBefore: start.Add(-time.Hour), NotAfter: start.Add(40 * 24 * time.Hour)})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aging-src", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: leaf.CertPEM(), corev1.TLSPrivateKeyKey: leaf.KeyPEM()}})
	create(t, &keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: "aging", Namespace: ns},
		Spec: keyportv1.M2MCertificateSpec{SecretRef: &keyportv1.TLSSecretSource{Name: "aging-src"}}})

	clock := clocktesting.NewFakePassiveClock(start)
	events := record.NewFakeRecorder(10)
	r := &m2mcertificate.Reconciler{Client: env.Client, Recorder: events, Clock: clock}
	reconcile := func() (ctrl.Result, *keyportv1.M2MCertificate) {
		t.Helper()
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "aging"}})
		if err != nil {
			t.Fatalf("reconcile at %s: %v", clock.Now(), err)
		}
		return res, getCert(t, ns, "aging")
	}
	condition := func(m *keyportv1.M2MCertificate, condType string) metav1.Condition {
		if c := apimeta.FindStatusCondition(m.Status.Conditions, condType); c != nil {
			return *c
		}
		t.Fatalf("no %s condition: %s", condType, describe(m.Status.Conditions))
		return metav1.Condition{}
	}

	res, m := reconcile()
	if c := condition(m, keyportv1.ConditionExpiringSoon); c.Status != metav1.ConditionFalse {
		t.Fatalf("a certificate valid for 40 days: %s", describe(m.Status.Conditions))
	}
	warnFrom := start.Add(40*24*time.Hour - m2mcertificate.DefaultExpiryWarning)
	if want := warnFrom.Sub(start); res.RequeueAfter != want {
		t.Errorf("requeued after %v, want %v: when the warning starts", res.RequeueAfter, want)
	}
	if got := drain(events); len(got) != 1 || !strings.HasPrefix(got[0], "Normal "+keyportv1.ReasonCertificateImported) {
		t.Errorf("events of the first reconcile %q, want one Normal %s", got, keyportv1.ReasonCertificateImported)
	}

	clock.SetTime(warnFrom.Add(-time.Second))
	if _, m = reconcile(); condition(m, keyportv1.ConditionExpiringSoon).Status != metav1.ConditionFalse {
		t.Errorf("warned a second early: %s", describe(m.Status.Conditions))
	}
	clock.SetTime(warnFrom)
	res, m = reconcile()
	if c := condition(m, keyportv1.ConditionExpiringSoon); c.Status != metav1.ConditionTrue || c.Reason != keyportv1.ReasonCertificateExpiring {
		t.Errorf("at the warning's start: %s", describe(m.Status.Conditions))
	}
	if c := condition(m, keyportv1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("an expiring certificate is not Ready: %s", describe(m.Status.Conditions))
	}
	if res.RequeueAfter != m2mcertificate.DefaultExpiryWarning {
		t.Errorf("requeued after %v, want the time left until notAfter", res.RequeueAfter)
	}
	if got := drain(events); len(got) != 1 || !strings.HasPrefix(got[0], "Warning "+keyportv1.ReasonCertificateExpiring) {
		t.Errorf("events at the warning's start %q, want one Warning", got)
	}
	if _, m = reconcile(); len(drain(events)) != 0 {
		t.Error("the same warning raised again")
	}

	clock.SetTime(start.Add(40 * 24 * time.Hour))
	_, m = reconcile()
	if c := condition(m, keyportv1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != keyportv1.ReasonCertificateExpired {
		t.Errorf("at notAfter: %s", describe(m.Status.Conditions))
	}
	if got := drain(events); len(got) != 1 || !strings.HasPrefix(got[0], "Warning "+keyportv1.ReasonCertificateExpired) {
		t.Errorf("events at expiry %q, want one Warning", got)
	}
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}
