package apiclient

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Collectors are the metrics the controller registers, for the test that
// checks each of them.
var Collectors = collectors

// ReconcileSettled reconciles an ApiClient as the controller would, for
// tests that drive a Reconciler by hand (no manager, no queue): when the
// reconcile sent a token request, it waits for the answer and reconciles
// again to act on it, as the answer's requeue would.
func ReconcileSettled(ctx context.Context, r *Reconciler, key types.NamespacedName) (ctrl.Result, error) {
	for {
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
		if err != nil {
			return res, err
		}
		pending, err := r.calls.await(key, 30*time.Second)
		if err != nil || !pending {
			return res, err
		}
	}
}

// await waits until the request on its way for key has an answer; it
// reports whether there was one on its way.
func (q *tokenCalls) await(key types.NamespacedName, within time.Duration) (bool, error) {
	deadline := time.Now().Add(within)
	for {
		q.mu.Lock()
		p, ok := q.pending[key]
		done := ok && p.done
		q.mu.Unlock()
		switch {
		case !ok:
			return false, nil
		case done:
			return true, nil
		case time.Now().After(deadline):
			return true, fmt.Errorf("the token request for %s did not end within %v", key, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// PolicyOf is the refresh policy an ApiClient spec asks for; the benchmark
// prints the requests per lifetime it plans.
var PolicyOf = policyOf
