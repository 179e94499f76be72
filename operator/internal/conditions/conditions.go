// Package conditions holds the condition bookkeeping every Keyport
// controller shares: setting a condition for the current generation,
// comparing condition sets the way a person reads them, and turning
// transitions (not every reconcile) into events.
package conditions

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// Of is the conditions of any Keyport resource, and nil for another
// object: for code that shows or waits on a resource of any kind.
func Of(obj runtime.Object) []metav1.Condition {
	conds, _ := statusOf(obj)
	return conds
}

// ObservedGenerationOf is the generation any Keyport resource's status,
// and so its conditions, was computed for; 0 for another object.
func ObservedGenerationOf(obj runtime.Object) int64 {
	_, observed := statusOf(obj)
	return observed
}

func statusOf(obj runtime.Object) (conds []metav1.Condition, observedGeneration int64) {
	switch o := obj.(type) {
	case *keyportv1.ApiClient:
		return o.Status.Conditions, o.Status.ObservedGeneration
	case *keyportv1.M2MCertificate:
		return o.Status.Conditions, o.Status.ObservedGeneration
	case *keyportv1.IngestionChannel:
		return o.Status.Conditions, o.Status.ObservedGeneration
	case *keyportv1.NotificationChannel:
		return o.Status.Conditions, o.Status.ObservedGeneration
	}
	return nil, 0
}

// ReadyOf is the Ready condition of any Keyport resource, nil when it has
// none yet.
func ReadyOf(obj runtime.Object) *metav1.Condition {
	return apimeta.FindStatusCondition(Of(obj), keyportv1.ConditionReady)
}

// Set sets a condition computed for generation.
func Set(conds *[]metav1.Condition, generation int64, condType string, status metav1.ConditionStatus, reason, message string) {
	if len(message) > 1024 {
		message = message[:1024]
	}
	apimeta.SetStatusCondition(conds, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}

// SetProblem reports one problem the way every controller does: Degraded
// True and Ready as ready (True when what was delivered before still
// works), both with reason and message, so that the problem raises one
// event (RecordTransitions).
func SetProblem(conds *[]metav1.Condition, generation int64, ready metav1.ConditionStatus, reason, message string) {
	Set(conds, generation, keyportv1.ConditionReady, ready, reason, message)
	Set(conds, generation, keyportv1.ConditionDegraded, metav1.ConditionTrue, reason, message)
}

// IgnoreMessages blanks the messages of the conditions whose reason is one
// of reasons: a status normalization (reconcilekit) uses it for messages
// that embed times of routine events, which are not worth a write alone.
func IgnoreMessages(conds []metav1.Condition, reasons ...string) {
	for i := range conds {
		if slices.Contains(reasons, conds[i].Reason) {
			conds[i].Message = ""
		}
	}
}

// Record raises one event of its own (a repaired drift, generated
// credentials), beside those of transitions; a nil recorder raises none.
func Record(rec record.EventRecorder, obj runtime.Object, eventType, reason, message string) {
	if rec != nil {
		rec.Event(obj, eventType, reason, message)
	}
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

// RecordTransitions turns what changed in one reconcile into events, one
// per reason: controllers report a problem in Ready and in Degraded (or
// ExpiringSoon) with the same reason, and a person reading `kubectl get
// events` wants it once. The event is a Warning when any of its conditions
// warns — Ready stops being True, or another condition becomes True —
// and Normal otherwise (Ready becomes True, a problem clears). Its message
// is Ready's when Ready changed with that reason, since Ready's says what
// still works; else that of the first condition that changed. Conditions
// that appear False on creation are not news.
func RecordTransitions(rec record.EventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	if rec == nil {
		return
	}
	for _, e := range Transitions(before, after) {
		rec.Event(obj, e.Type, e.Reason, e.Message)
	}
}

// Event is one event RecordTransitions raises.
type Event struct {
	Type, Reason, Message string
}

// Transitions is the pure part of RecordTransitions: the events, in the
// order their reasons first appear in after.
func Transitions(before, after []metav1.Condition) []Event {
	var events []Event
	byReason := map[string]int{}
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
		i, seen := byReason[now.Reason]
		if !seen {
			i = len(events)
			byReason[now.Reason] = i
			events = append(events, Event{Type: corev1.EventTypeNormal, Reason: now.Reason, Message: now.Message})
		}
		if warn {
			events[i].Type = corev1.EventTypeWarning
		}
		if isReady {
			events[i].Message = now.Message
		}
	}
	return events
}
