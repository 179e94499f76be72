package apiclient

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
)

// writeStatus writes the status once per reconcile, and only when a person
// would notice the difference: conditions, failures, the generation seen,
// the Secret written, or the token's times.
//
// A refresh always writes the Secret. With the token's times in the status
// (the default, --status-token-times=exact) the status is rewritten on each
// refresh too, so that what kubectl shows is the Secret's token and its next
// refresh, never a refresh time that has passed: two API writes per
// refresh. With Reconciler.OmitTokenTimes the status carries no per-token
// times, as a Node's heartbeat moved from its status to a Lease: a healthy
// refresh costs one API write, and the Secret's annotations and the metrics
// carry the times. That suits large fleets of short-lived tokens.
func (r *Reconciler) writeStatus(ctx context.Context, ac *keyportv1.ApiClient, before *keyportv1.ApiClientStatus) error {
	ac.Status.ObservedGeneration = ac.Generation
	// The cache may not hold the last write yet: the Secret written in the
	// same reconcile requeues the ApiClient while its status patch is on the
	// way. Compared with what this process wrote last (only the leader
	// writes, and a process that loses the lease exits), one change raises
	// one event and is written once.
	key := client.ObjectKeyFromObject(ac)
	last := before
	if w := r.mem.lastWritten(key, ac.UID); w != nil {
		last = w
	}
	conditions.RecordTransitions(r.Recorder, ac, last.Conditions, ac.Status.Conditions)
	if !statusWorthWriting(before, &ac.Status) || !statusWorthWriting(last, &ac.Status) {
		return nil
	}
	orig := ac.DeepCopy()
	orig.Status = *before
	if err := r.Client.Status().Patch(ctx, ac, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("write status: %w", client.IgnoreNotFound(err))
	}
	r.mem.wrote(key, ac.UID, ac.Status.DeepCopy())
	return nil
}

// statusWorthWriting is the rule, pure for testing. Times are compared in
// whole seconds, as the status keeps them.
func statusWorthWriting(before, after *keyportv1.ApiClientStatus) bool {
	return before.ObservedGeneration != after.ObservedGeneration ||
		before.OutputSecretName != after.OutputSecretName ||
		before.ConsecutiveFailures != after.ConsecutiveFailures ||
		before.CertificateThumbprint != after.CertificateThumbprint ||
		!conditions.Equal(before.Conditions, after.Conditions, keyportv1.ReasonTokenRefreshed) ||
		!sameSecond(before.TokenExpiresAt, after.TokenExpiresAt) ||
		!sameSecond(before.LastRefreshTime, after.LastRefreshTime) ||
		!sameSecond(before.NextRefreshTime, after.NextRefreshTime) ||
		!sameSecond(before.RetryAt, after.RetryAt)
}

func sameSecond(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Unix() == b.Unix()
}
