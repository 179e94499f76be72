package apiclient

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// writeStatus writes the status once per reconcile, and only when a person
// would notice the difference: conditions, failures, the generation seen, or
// token times that would otherwise show an already expired token. A healthy
// refresh therefore usually costs one API write (the Secret); the Secret's
// annotations always carry the exact expiry and refresh times.
func (r *Reconciler) writeStatus(ctx context.Context, ac *keyportv1.ApiClient, before *keyportv1.ApiClientStatus) error {
	ac.Status.ObservedGeneration = ac.Generation
	r.recordTransitions(ac, before)
	if !statusWorthWriting(before, &ac.Status, r.Now()) {
		return nil
	}
	orig := ac.DeepCopy()
	orig.Status = *before
	if err := r.Client.Status().Patch(ctx, ac, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("write status: %w", client.IgnoreNotFound(err))
	}
	return nil
}

// statusWorthWriting is the coalescing rule, pure for testing.
func statusWorthWriting(before, after *keyportv1.ApiClientStatus, now interface{ Unix() int64 }) bool {
	if before.ObservedGeneration != after.ObservedGeneration ||
		before.OutputSecretName != after.OutputSecretName ||
		before.ConsecutiveFailures != after.ConsecutiveFailures ||
		before.CertificateThumbprint != after.CertificateThumbprint ||
		!conditionsEqual(before.Conditions, after.Conditions) {
		return true
	}
	if after.TokenExpiresAt == nil {
		return false
	}
	if before.TokenExpiresAt == nil {
		return true
	}
	// The status still shows an earlier token: rewrite once that token's
	// expiry has passed, so kubectl never shows an expired token that the
	// Secret no longer holds.
	return !before.TokenExpiresAt.Equal(after.TokenExpiresAt) && before.TokenExpiresAt.Unix() <= now.Unix()
}

// conditionsEqual compares what a person reads in conditions, ignoring the
// messages' embedded times when nothing else changed.
func conditionsEqual(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, ca := range a {
		cb := apimeta.FindStatusCondition(b, ca.Type)
		if cb == nil || ca.Status != cb.Status || ca.Reason != cb.Reason || ca.ObservedGeneration != cb.ObservedGeneration {
			return false
		}
		if ca.Reason != keyportv1.ReasonTokenRefreshed && ca.Message != cb.Message {
			return false
		}
	}
	return true
}

// recordTransitions emits events when Ready or Degraded change, never on
// every refresh.
func (r *Reconciler) recordTransitions(ac *keyportv1.ApiClient, before *keyportv1.ApiClientStatus) {
	if r.Recorder == nil {
		return
	}
	for _, t := range []string{keyportv1.ConditionReady, keyportv1.ConditionDegraded} {
		now := apimeta.FindStatusCondition(ac.Status.Conditions, t)
		was := apimeta.FindStatusCondition(before.Conditions, t)
		if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
			continue
		}
		eventType := corev1.EventTypeNormal
		if (t == keyportv1.ConditionReady && now.Status != metav1.ConditionTrue) ||
			(t == keyportv1.ConditionDegraded && now.Status == metav1.ConditionTrue) {
			eventType = corev1.EventTypeWarning
		}
		if t == keyportv1.ConditionDegraded && now.Status != metav1.ConditionTrue && was == nil {
			continue // "not degraded" on creation is not news
		}
		r.Recorder.Event(ac, eventType, now.Reason, now.Message)
	}
}
