package apiclient

import (
	"context"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/reconcilekit"
)

// Field indexes from a referenced object's name to the ApiClients naming it.
const (
	indexSecretRefs      = "keyport.dev/secret-refs"
	indexCertificateRefs = "keyport.dev/m2mcertificate-refs"
	indexOutputSecret    = "keyport.dev/output-secret"
)

// referencedSecrets lists every Secret an ApiClient reads.
func referencedSecrets(ac *keyportv1.ApiClient) []string {
	var names []string
	if c := ac.Spec.Credentials; c != nil {
		names = append(names, c.SecretName)
	}
	for _, h := range ac.Spec.Headers {
		if h.ValueFrom != nil {
			names = append(names, h.ValueFrom.Name)
		}
	}
	if t := ac.Spec.TLS; t != nil && t.CABundle != nil {
		names = append(names, t.CABundle.Name)
	}
	if c := ac.Spec.ClientCertificate; c != nil && c.SecretName != "" {
		names = append(names, c.SecretName)
	}
	return names
}

// SetupWithManager registers the controller: it watches ApiClients, their
// output Secrets (to repair them), the Secrets and M2MCertificates they
// reference (to refresh promptly after a rotation) and nothing else.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	for index, values := range map[string]func(*keyportv1.ApiClient) []string{
		indexSecretRefs: referencedSecrets,
		indexCertificateRefs: func(ac *keyportv1.ApiClient) []string {
			if c := ac.Spec.ClientCertificate; c != nil && c.M2MCertificateName != "" {
				return []string{c.M2MCertificateName}
			}
			return nil
		},
		indexOutputSecret: func(ac *keyportv1.ApiClient) []string { return []string{outputSecretName(ac)} },
	} {
		if err := reconcilekit.Index(mgr, &keyportv1.ApiClient{}, index, values); err != nil {
			return err
		}
	}
	workers := r.Workers
	if workers <= 0 {
		workers = 8
	}
	// Stopped with the controller, while the cache and the Lease are kept.
	if err := mgr.Add(manager.RunnableFunc(r.writeTokensOnStop)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("apiclient").
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: apiErrorBackoff()}).
		// Spec changes and the refresh annotation; status writes are ours.
		For(&keyportv1.ApiClient{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		// Keyport's Secrets are cached whole (an M2MCertificate's output, say);
		// of the others, the credentials and CA bundles, only their metadata
		// (operator/secretcache).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretReferrers)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretReferrers), builder.OnlyMetadata).
		Watches(&keyportv1.M2MCertificate{}, reconcilekit.EnqueueReferrers(r.Client, apiClients, indexCertificateRefs)).
		// Answers of token requests made off the workers.
		WatchesRawSource(source.Func(r.calls.begin)).
		Complete(r)
}

// stopGrace is how long a stopping operator waits for the token requests
// on their way: a platform answers in well under a second, and the
// Deployment gives the operator 40 s to stop.
const stopGrace = 10 * time.Second

// writeTokensOnStop waits for the operator to stop, then for the token
// requests on their way (stopGrace at most), and reconciles each ApiClient
// whose answer brought a token, so that the token reaches its Secret.
// Otherwise a rolling update in the middle of refreshes throws tokens the
// platform issued away: a wasted request, and at a platform that revokes a
// client's previous token when it issues a new one, a revoked token left
// in the Secret for the workloads. It runs only on the leader (a runnable
// that needs leader election), which keeps its Lease until this returns.
func (r *Reconciler) writeTokensOnStop(ctx context.Context) error {
	<-ctx.Done()
	stopped := context.WithoutCancel(ctx)
	waiting, cancel := context.WithTimeout(stopped, stopGrace)
	defer cancel()
	r.calls.drain(waiting, func(key types.NamespacedName) {
		writing, cancel := context.WithTimeout(stopped, 10*time.Second)
		defer cancel()
		if _, err := r.Reconcile(writing, ctrl.Request{NamespacedName: key}); err != nil {
			log.FromContext(ctx).Error(err, "could not write a token that arrived while the operator stopped", "apiclient", key.String())
		}
	})
	return nil
}

// secretReferrers maps a Secret to the ApiClients that read it: directly, or
// as the output of an M2MCertificate they use, so that a rotated certificate
// is used for the next token at once. It also maps a Secret to the
// ApiClients that name it as their output without owning it, so that they
// take the name as soon as the Secret goes (its owner hears through Owns).
func (r *Reconciler) secretReferrers(ctx context.Context, o client.Object) []reconcile.Request {
	out := reconcilekit.Referrers(ctx, r.Client, apiClients, indexSecretRefs, o.GetNamespace(), o.GetName())
	var named keyportv1.ApiClientList
	if err := r.Client.List(ctx, &named, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexOutputSecret: o.GetName()}); err == nil {
		for _, ac := range named.Items {
			if !metav1.IsControlledBy(o, &ac) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ac.Namespace, Name: ac.Name}})
			}
		}
	}
	if cert := o.GetLabels()[keyportv1.LabelM2MCertificate]; cert != "" {
		out = append(out, reconcilekit.Referrers(ctx, r.Client, apiClients, indexCertificateRefs, o.GetNamespace(), cert)...)
	}
	return out
}

func apiClients() client.ObjectList { return &keyportv1.ApiClientList{} }

func rateLimit(perSecond float64) rate.Limit { return rate.Limit(perSecond) }

// apiErrorBackoff paces retries after Kubernetes API errors (platform
// failures have their own backoff, bounded by the token's expiry). The
// default grows to 16 minutes per item; here it stops at 5 seconds, so that
// tokens obtained while the API server or etcd was away reach their Secrets
// moments after it is back, before the previous token expires. The shared
// bucket still keeps a thousand failing clients from hammering it.
func apiErrorBackoff() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](100*time.Millisecond, 5*time.Second),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(50), 500)},
	)
}
