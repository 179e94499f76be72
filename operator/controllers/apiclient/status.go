package apiclient

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
)

// writeStatus writes the status once per reconcile, and only when a person
// would notice the difference: conditions, failures, the generation seen, or
// token times that would otherwise show an already expired token. A healthy
// refresh therefore usually costs one API write (the Secret); the Secret's
// annotations always carry the exact expiry and refresh times.
func (r *Reconciler) writeStatus(ctx context.Context, ac *keyportv1.ApiClient, before *keyportv1.ApiClientStatus) error {
	ac.Status.ObservedGeneration = ac.Generation
	conditions.RecordTransitions(r.Recorder, ac, before.Conditions, ac.Status.Conditions)
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
		!conditions.Equal(before.Conditions, after.Conditions, keyportv1.ReasonTokenRefreshed) {
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
