package apiclient

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

func TestStatusWorthWriting(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	ready := []metav1.Condition{{Type: keyportv1.ConditionReady, Status: metav1.ConditionTrue, Reason: keyportv1.ReasonTokenRefreshed, Message: "token valid until 12:01"}}
	readyLater := []metav1.Condition{{Type: keyportv1.ConditionReady, Status: metav1.ConditionTrue, Reason: keyportv1.ReasonTokenRefreshed, Message: "token valid until 12:02"}}
	failing := []metav1.Condition{{Type: keyportv1.ConditionReady, Status: metav1.ConditionTrue, Reason: keyportv1.ReasonTokenEndpointUnreachable}}
	// Tokens live 60 s and are replaced at half-life.
	shows := func(expiry, next time.Duration, conds []metav1.Condition) *keyportv1.ApiClientStatus {
		return &keyportv1.ApiClientStatus{TokenExpiresAt: at(expiry), NextRefreshTime: at(next), Conditions: conds}
	}
	cases := []struct {
		name          string
		before, after *keyportv1.ApiClientStatus
		want          bool
	}{
		{"the first token", &keyportv1.ApiClientStatus{}, shows(60*time.Second, 30*time.Second, ready), true},
		{"every refresh: the shown next refresh would otherwise be in the past", shows(60*time.Second, 30*time.Second, ready), shows(90*time.Second, 60*time.Second-time.Second, readyLater), true},
		{"the same token looked at again, the status read back in whole seconds", shows(60*time.Second, 30*time.Second, ready),
			shows(60*time.Second+400*time.Millisecond, 30*time.Second+900*time.Millisecond, ready), false},
		{"a retry planned for another second", shows(60*time.Second, 30*time.Second, failing), shows(60*time.Second, 31*time.Second, failing), true},
		{"a failure changes the conditions", shows(60*time.Second, 30*time.Second, ready), shows(60*time.Second, 31*time.Second, failing), true},
		{"times left out: written once to clear the shown ones", shows(60*time.Second, 30*time.Second, ready), &keyportv1.ApiClientStatus{Conditions: ready}, true},
		{"times left out: nothing to write on a refresh", &keyportv1.ApiClientStatus{Conditions: ready}, &keyportv1.ApiClientStatus{Conditions: ready}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := statusWorthWriting(c.before, c.after); got != c.want {
				t.Errorf("statusWorthWriting = %v, want %v", got, c.want)
			}
		})
	}
}

// TestStatusWorthWritingSeesEveryField: a change to any one status field
// is written. A field added to the status and forgotten in
// statusWorthWriting would otherwise never reach the API server.
func TestStatusWorthWritingSeesEveryField(t *testing.T) {
	base := keyportv1.ApiClientStatus{}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			changed := base
			v := reflect.ValueOf(&changed).Elem().Field(i)
			switch v.Interface().(type) {
			case int64, int32:
				v.SetInt(3)
			case string:
				v.SetString("changed")
			case *metav1.Time:
				v.Set(reflect.ValueOf(&metav1.Time{Time: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}))
			case []metav1.Condition:
				v.Set(reflect.ValueOf([]metav1.Condition{{Type: keyportv1.ConditionReady, Status: metav1.ConditionTrue, Reason: keyportv1.ReasonTokenRefreshed}}))
			default:
				t.Fatalf("status field %s has type %s, which this test cannot change: teach it, and statusWorthWriting", f.Name, f.Type)
			}
			if !statusWorthWriting(&base, &changed) {
				t.Errorf("a change to status.%s alone is not written", f.Name)
			}
		})
	}
}

// statusWorthWriting is what the status writer decides for a status that
// a reconcile turned from before into after.
func statusWorthWriting(before, after *keyportv1.ApiClientStatus) bool {
	return statusWriter(nil, nil).Changed(&keyportv1.ApiClient{Status: *before}, &keyportv1.ApiClient{Status: *after})
}
