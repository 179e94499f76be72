package apiclient

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
)

// writeStatus writes the status once per reconcile, and only when a person
// would notice the difference: conditions, failures, the generation seen, or
// token times that would otherwise show an expired token before the
// controller looks again.
//
// A refresh always writes the Secret. With the token's times in the status
// (the default), the status is rewritten about every second refresh, when
// the token it shows is about to expire: about 1.5 API writes per refresh.
// With Reconciler.OmitTokenTimes the status carries no per-token times, as a
// Node's heartbeat moved from its status to a Lease: a healthy refresh costs
// one API write, and the Secret's annotations and the metrics carry the
// times. That suits large fleets of short-lived tokens.
func (r *Reconciler) writeStatus(ctx context.Context, ac *keyportv1.ApiClient, before *keyportv1.ApiClientStatus) error {
	ac.Status.ObservedGeneration = ac.Generation
	conditions.RecordTransitions(r.Recorder, ac, before.Conditions, ac.Status.Conditions)
	if !statusWorthWriting(before, &ac.Status) {
		return nil
	}
	// The cache may not hold the last write yet: the Secret written in the
	// same reconcile requeues the ApiClient while its status patch is on the
	// way. Compared with what this process wrote last, one change is written
	// once.
	key := client.ObjectKeyFromObject(ac)
	if w, ok := r.written.Load(key); ok && w.(writtenStatus).uid == ac.UID && !statusWorthWriting(w.(writtenStatus).status, &ac.Status) {
		return nil
	}
	orig := ac.DeepCopy()
	orig.Status = *before
	if err := r.Client.Status().Patch(ctx, ac, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("write status: %w", client.IgnoreNotFound(err))
	}
	r.written.Store(key, writtenStatus{uid: ac.UID, status: ac.Status.DeepCopy()})
	return nil
}

// writtenStatus is the status this process last wrote for an ApiClient.
type writtenStatus struct {
	uid    types.UID
	status *keyportv1.ApiClientStatus
}

// statusWorthWriting is the coalescing rule, pure for testing.
func statusWorthWriting(before, after *keyportv1.ApiClientStatus) bool {
	if before.ObservedGeneration != after.ObservedGeneration ||
		before.OutputSecretName != after.OutputSecretName ||
		before.ConsecutiveFailures != after.ConsecutiveFailures ||
		before.CertificateThumbprint != after.CertificateThumbprint ||
		!conditions.Equal(before.Conditions, after.Conditions, keyportv1.ReasonTokenRefreshed) {
		return true
	}
	switch {
	case after.TokenExpiresAt == nil:
		// Times left out: write once to clear times an earlier status shows.
		return before.TokenExpiresAt != nil
	case before.TokenExpiresAt == nil:
		return true
	case before.TokenExpiresAt.Equal(after.TokenExpiresAt):
		return false
	}
	// The status shows an earlier token. Rewrite it if that token expires
	// before the controller looks again, so that kubectl never shows an
	// expired token that the Secret no longer holds. The status keeps whole
	// seconds, as kubectl shows them; with refresh jitter under a second a
	// few more refreshes rewrite it.
	return after.NextRefreshTime == nil || !before.TokenExpiresAt.After(after.NextRefreshTime.Time)
}
