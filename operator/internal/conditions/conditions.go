// Package conditions holds the condition bookkeeping every Keyport
// controller shares: setting a condition for the current generation,
// comparing condition sets the way a person reads them, and turning
// transitions (not every reconcile) into events.
package conditions

import (
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// Set sets a condition computed for generation.
func Set(conds *[]metav1.Condition, generation int64, condType string, status metav1.ConditionStatus, reason, message string) {
	if len(message) > 1024 {
		message = message[:1024]
	}
	apimeta.SetStatusCondition(conds, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}

// Equal compares two condition sets by type, status, reason, generation and
// message, except that messages of conditions whose reason is in
// volatileReasons (messages that embed times of routine events) are not
// compared.
func Equal(a, b []metav1.Condition, volatileReasons ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, ca := range a {
		cb := apimeta.FindStatusCondition(b, ca.Type)
		if cb == nil || ca.Status != cb.Status || ca.Reason != cb.Reason || ca.ObservedGeneration != cb.ObservedGeneration {
			return false
		}
		volatile := false
		for _, r := range volatileReasons {
			volatile = volatile || ca.Reason == r
		}
		if !volatile && ca.Message != cb.Message {
			return false
		}
	}
	return true
}

// RecordTransitions emits one event per condition whose status or reason
// changed: a Warning when Ready stops being True or another condition
// (Degraded, ExpiringSoon) becomes True, a Normal event when Ready becomes
// True. Other conditions turning False on creation are not news.
func RecordTransitions(rec record.EventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	if rec == nil {
		return
	}
	for _, now := range after {
		was := apimeta.FindStatusCondition(before, now.Type)
		if was != nil && was.Status == now.Status && was.Reason == now.Reason {
			continue
		}
		isReady := now.Type == keyportv1.ConditionReady
		warn := (isReady && now.Status != metav1.ConditionTrue) || (!isReady && now.Status == metav1.ConditionTrue)
		if !isReady && !warn && was == nil {
			continue
		}
		eventType := corev1.EventTypeNormal
		if warn {
			eventType = corev1.EventTypeWarning
		}
		rec.Event(obj, eventType, now.Reason, now.Message)
	}
}
