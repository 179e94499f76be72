package apiclient

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/operator/internal/reconcilekit"
)

// statusWriter writes the status once per reconcile (reconcilekit), and
// only when a person would notice the difference: conditions, failures,
// the generation seen, the Secret written, or the token's and the retry's
// times in whole seconds (normalizeStatus).
//
// A refresh always writes the Secret. With the token's times in the status
// (the default, --status-token-times=exact) the status is rewritten on each
// refresh too, so that what kubectl shows is the Secret's token and its next
// refresh, never a refresh time that has passed: two API writes per
// refresh. With Reconciler.OmitTokenTimes the status carries no per-token
// times, as a Node's heartbeat moved from its status to a Lease: a healthy
// refresh costs one API write, and the Secret's annotations and the metrics
// carry the times. That suits large fleets of short-lived tokens.
//
// It remembers what it wrote: the Secret written in the same reconcile
// requeues the ApiClient while its status patch may not be in the cache
// yet, and one change is still written once and raises one event.
func statusWriter(c client.Client, rec record.EventRecorder) *reconcilekit.Status[*keyportv1.ApiClient, keyportv1.ApiClientStatus] {
	return &reconcilekit.Status[*keyportv1.ApiClient, keyportv1.ApiClientStatus]{
		Client: c, Recorder: rec, Remember: true, Normalize: normalizeStatus,
		Parts: func(ac *keyportv1.ApiClient) (*keyportv1.ApiClientStatus, *int64, *[]metav1.Condition) {
			return &ac.Status, &ac.Status.ObservedGeneration, &ac.Status.Conditions
		},
	}
}

// normalizeStatus hides what is not worth a write: times within the same
// second (the status keeps whole seconds, so a time read back differs from
// the one planned by its fraction), and the message of a Ready condition
// that only moved on to the next token's times.
func normalizeStatus(before, after *keyportv1.ApiClientStatus) {
	for _, t := range []struct{ before, after **metav1.Time }{
		{&before.TokenExpiresAt, &after.TokenExpiresAt},
		{&before.LastRefreshTime, &after.LastRefreshTime},
		{&before.NextRefreshTime, &after.NextRefreshTime},
		{&before.RetryAt, &after.RetryAt},
	} {
		if *t.before != nil && *t.after != nil && (*t.before).Unix() == (*t.after).Unix() {
			*t.after = *t.before
		}
	}
	conditions.IgnoreMessages(before.Conditions, keyportv1.ReasonTokenRefreshed)
	conditions.IgnoreMessages(after.Conditions, keyportv1.ReasonTokenRefreshed)
}
