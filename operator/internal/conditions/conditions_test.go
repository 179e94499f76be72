package conditions

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

func cond(t string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}

// TestTransitions: every controller reports a problem in Ready and in
// Degraded with one reason; a person sees it once, as a Warning.
func TestTransitions(t *testing.T) {
	const (
		T, F      = metav1.ConditionTrue, metav1.ConditionFalse
		ready     = keyportv1.ConditionReady
		degraded  = keyportv1.ConditionDegraded
		expiring  = keyportv1.ConditionExpiringSoon
		refreshed = keyportv1.ReasonTokenRefreshed
		down      = keyportv1.ReasonTokenEndpointUnreachable
	)
	healthy := []metav1.Condition{cond(ready, T, refreshed, "token valid until 12:00"), cond(degraded, F, refreshed, "the last refresh succeeded")}
	failing := []metav1.Condition{cond(ready, T, down, "the current token stays valid until 12:00; connection refused"), cond(degraded, T, down, "connection refused")}
	cases := []struct {
		name          string
		before, after []metav1.Condition
		want          []Event
	}{
		{"the first token", nil, healthy,
			[]Event{{corev1.EventTypeNormal, refreshed, "token valid until 12:00"}}},
		{"a failure while the token is valid: one Warning with Ready's words", healthy, failing,
			[]Event{{corev1.EventTypeWarning, down, "the current token stays valid until 12:00; connection refused"}}},
		{"the same failure again: nothing", failing, failing, nil},
		{"the token runs out during the failure", failing,
			[]metav1.Condition{cond(ready, F, down, "expired; retrying: connection refused"), cond(degraded, T, down, "connection refused")},
			[]Event{{corev1.EventTypeWarning, down, "expired; retrying: connection refused"}}},
		{"recovery: one Normal event", failing, healthy,
			[]Event{{corev1.EventTypeNormal, refreshed, "token valid until 12:00"}}},
		{"a failure before any token", nil,
			[]metav1.Condition{cond(ready, F, keyportv1.ReasonInvalidCredentials, "401"), cond(degraded, T, keyportv1.ReasonInvalidCredentials, "401")},
			[]Event{{corev1.EventTypeWarning, keyportv1.ReasonInvalidCredentials, "401"}}},
		{"a working but degraded client: Ready True with the problem's reason", nil,
			[]metav1.Condition{cond(ready, T, keyportv1.ReasonPolicyInfeasible, "valid, but infeasible"), cond(degraded, T, keyportv1.ReasonPolicyInfeasible, "infeasible")},
			[]Event{{corev1.EventTypeWarning, keyportv1.ReasonPolicyInfeasible, "valid, but infeasible"}}},
		{"different news, different events", nil,
			[]metav1.Condition{cond(ready, T, keyportv1.ReasonCertificateIssued, "in Secret"), cond(expiring, T, keyportv1.ReasonCertificateExpiring, "renew"),
				cond(degraded, F, keyportv1.ReasonCertificateIssued, "readable")},
			[]Event{{corev1.EventTypeNormal, keyportv1.ReasonCertificateIssued, "in Secret"}, {corev1.EventTypeWarning, keyportv1.ReasonCertificateExpiring, "renew"}}},
		{"a certificate that expired: one Warning", nil,
			[]metav1.Condition{cond(ready, F, keyportv1.ReasonCertificateExpired, "expired"), cond(expiring, T, keyportv1.ReasonCertificateExpired, "expired")},
			[]Event{{corev1.EventTypeWarning, keyportv1.ReasonCertificateExpired, "expired"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Transitions(c.before, c.after); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestRecordTransitionsRaisesTheEvents(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	RecordTransitions(rec, &corev1.Secret{}, nil, []metav1.Condition{
		cond(keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonRateLimited, "429"),
		cond(keyportv1.ConditionDegraded, metav1.ConditionTrue, keyportv1.ReasonRateLimited, "429")})
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	if want := []string{"Warning RateLimited 429"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	RecordTransitions(nil, &corev1.Secret{}, nil, nil) // no recorder: nothing to do
}

// TestSetProblemReportsOneReasonInReadyAndDegraded, so that the problem
// raises one event.
func TestSetProblemReportsOneReasonInReadyAndDegraded(t *testing.T) {
	var conds []metav1.Condition
	SetProblem(&conds, 4, metav1.ConditionTrue, keyportv1.ReasonPlatformUnreachable, "still registered; down")
	want := []Event{{corev1.EventTypeWarning, keyportv1.ReasonPlatformUnreachable, "still registered; down"}}
	if got := Transitions(nil, conds); !reflect.DeepEqual(got, want) {
		t.Errorf("events %+v, want %+v", got, want)
	}
	for _, c := range conds {
		if c.ObservedGeneration != 4 || c.Reason != keyportv1.ReasonPlatformUnreachable {
			t.Errorf("condition %+v", c)
		}
	}
	if len(conds) != 2 || conds[0].Status != metav1.ConditionTrue || conds[1].Type != keyportv1.ConditionDegraded || conds[1].Status != metav1.ConditionTrue {
		t.Errorf("conditions %+v", conds)
	}
}

func TestIgnoreMessagesBlanksOnlyTheGivenReasons(t *testing.T) {
	conds := []metav1.Condition{cond(keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonChannelVerified, "valid until 12:00"),
		cond(keyportv1.ConditionDegraded, metav1.ConditionTrue, keyportv1.ReasonPlatformRejected, "rejected")}
	IgnoreMessages(conds, keyportv1.ReasonChannelVerified)
	if conds[0].Message != "" || conds[1].Message != "rejected" {
		t.Errorf("messages %q and %q", conds[0].Message, conds[1].Message)
	}
}

func TestRecordWithoutARecorderRaisesNothing(t *testing.T) {
	Record(nil, &corev1.Secret{}, corev1.EventTypeNormal, "R", "m")
	rec := record.NewFakeRecorder(1)
	Record(rec, &corev1.Secret{}, corev1.EventTypeWarning, "DriftRepaired", "restored")
	if got := <-rec.Events; got != "Warning DriftRepaired restored" {
		t.Errorf("event %q", got)
	}
}

// TestReadyOfEveryKind: the Ready condition and the observed generation
// are found on each of the four kinds, and another object has none.
func TestReadyOfEveryKind(t *testing.T) {
	ready := []metav1.Condition{cond(keyportv1.ConditionDegraded, metav1.ConditionFalse, "Fine", ""),
		cond(keyportv1.ConditionReady, metav1.ConditionTrue, "Done", "ok")}
	ac := &keyportv1.ApiClient{}
	ac.Status.Conditions = ready
	m := &keyportv1.M2MCertificate{}
	m.Status.Conditions = ready
	ic := &keyportv1.IngestionChannel{}
	ic.Status.Conditions = ready
	nc := &keyportv1.NotificationChannel{}
	nc.Status.Conditions = ready
	ac.Status.ObservedGeneration, m.Status.ObservedGeneration, ic.Status.ObservedGeneration, nc.Status.ObservedGeneration = 3, 3, 3, 3
	for _, obj := range []client.Object{ac, m, ic, nc} {
		if c := ReadyOf(obj); c == nil || c.Reason != "Done" {
			t.Errorf("%T: Ready is %v, want the Done condition", obj, c)
		}
		if g := ObservedGenerationOf(obj); g != 3 {
			t.Errorf("%T: observed generation %d, want 3", obj, g)
		}
	}
	if c, g := ReadyOf(&corev1.Secret{}), ObservedGenerationOf(&corev1.Secret{}); c != nil || g != 0 {
		t.Errorf("a Secret has Ready %v and observed generation %d", c, g)
	}
	if c := ReadyOf(&keyportv1.ApiClient{}); c != nil {
		t.Errorf("an ApiClient without conditions has Ready %v", c)
	}
}
