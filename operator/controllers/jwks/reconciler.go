// Package jwks keeps a platform's public keys (its JSON Web Key Set) in a
// ConfigMap next to an ApiClient's token Secret, for the ApiClients that ask
// for it with spec.jwks. Workloads mount the ConfigMap and read jwks.json
// (shared/par does, to encrypt to the platform's "enc" key).
//
// The key set is fetched again after the platform's cache lifetime
// (Cache-Control max-age or Expires) or spec.jwks.refreshInterval, whichever
// is sooner but never more often than once a minute, and at once when the
// ApiClient's keyport.dev/refresh annotation takes a value not yet handled
// (`kubectl keyport refresh apiclient NAME`). A workload that meets a kid
// the copy does not have yet fetches the set itself meanwhile (shared/par's
// Keys).
//
// It is its own controller so that the ApiClient's token reconciler knows
// nothing of it: a key set is public, has its own schedule, and a platform
// that cannot serve it must not hold up tokens.
package jwks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/reconcilekit"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/token"
)

// Key is the ConfigMap key that holds the key set.
const Key = "jwks.json"

// Annotations on the ConfigMap: what was fetched, when, and when next.
const (
	AnnotationURL       = "keyport.dev/jwks-url"
	AnnotationFetchedAt = "keyport.dev/jwks-fetched-at"
	AnnotationNextFetch = "keyport.dev/jwks-next-fetch"
	// AnnotationRefreshHandled is the ApiClient's keyport.dev/refresh value
	// the last fetch answered.
	AnnotationRefreshHandled = "keyport.dev/jwks-refresh-handled"
)

const (
	defaultInterval = time.Hour
	minInterval     = time.Minute
	// retryAfter is the wait after a failed fetch; the copy stays as it was.
	retryAfter = time.Minute
)

// Reconciler keeps the ConfigMaps of ApiClients with spec.jwks.
type Reconciler struct {
	Client client.Client
	// Reader reads ConfigMaps and the CA Secret from the API server, not
	// from a cache: the operator does not cache every ConfigMap and Secret
	// of the cluster for a few key sets.
	Reader   client.Reader
	Recorder record.EventRecorder
	// Clock defaults to the real one.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update

// SetupWithManager registers the controller for ApiClients with spec.jwks.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Reader == nil {
		r.Reader = mgr.GetAPIReader()
	}
	hasJWKS := predicate.NewPredicateFuncs(func(o client.Object) bool {
		ac, ok := o.(*keyportv1.ApiClient)
		return ok && ac.Spec.JWKS != nil
	})
	// A spec change, or a new keyport.dev/refresh value; not status writes.
	changed := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			e.ObjectOld.GetAnnotations()[keyportv1.AnnotationRefresh] != e.ObjectNew.GetAnnotations()[keyportv1.AnnotationRefresh]
	}}
	return ctrl.NewControllerManagedBy(mgr).
		Named("apiclient-jwks").
		For(&keyportv1.ApiClient{}, builder.WithPredicates(hasJWKS, changed)).
		Complete(r)
}

// ConfigMapName is the ConfigMap an ApiClient's key set is kept in.
func ConfigMapName(ac *keyportv1.ApiClient) string {
	if ac.Spec.JWKS != nil && ac.Spec.JWKS.ConfigMapName != "" {
		return ac.Spec.JWKS.ConfigMapName
	}
	return ac.Name + "-jwks"
}

// Reconcile fetches the key set when it is due and writes it.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ac := &keyportv1.ApiClient{}
	if err := r.Client.Get(ctx, req.NamespacedName, ac); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	spec := ac.Spec.JWKS
	if spec == nil || !ac.DeletionTimestamp.IsZero() {
		// A ConfigMap left by a removed spec.jwks goes with the ApiClient
		// (it is owned by it).
		return ctrl.Result{}, nil
	}
	now := reconcilekit.Clock(r.Clock).Now()
	cm := &corev1.ConfigMap{}
	name := types.NamespacedName{Namespace: ac.Namespace, Name: ConfigMapName(ac)}
	exists := true
	if err := r.Reader.Get(ctx, name, cm); apierrors.IsNotFound(err) {
		exists = false
		cm = &corev1.ConfigMap{}
		cm.Namespace, cm.Name = name.Namespace, name.Name
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if exists {
		if owner := metav1.GetControllerOf(cm); owner == nil || owner.UID != ac.UID {
			r.Recorder.Eventf(ac, corev1.EventTypeWarning, "JWKSConfigMapConflict",
				"ConfigMap %q exists and is not this ApiClient's: choose another spec.jwks.configMapName", cm.Name)
			return ctrl.Result{}, nil
		}
	}
	refresh := ac.Annotations[keyportv1.AnnotationRefresh]
	if wait := due(cm, exists, spec.URL, refresh, now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	hc, err := r.httpClient(ctx, ac)
	if err != nil {
		r.Recorder.Eventf(ac, corev1.EventTypeWarning, "JWKSFetchFailed", "%v", err)
		return ctrl.Result{RequeueAfter: retryAfter}, nil
	}
	set, cacheFor, err := token.FetchJWKSCacheable(ctx, hc, spec.URL, now)
	if err != nil {
		// The copy stays; the workloads keep the keys they have.
		r.Recorder.Eventf(ac, corev1.EventTypeWarning, "JWKSFetchFailed", "%v", err)
		return ctrl.Result{RequeueAfter: retryAfter}, nil
	}
	data, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return ctrl.Result{}, err
	}
	next := now.Add(nextFetch(spec, cacheFor))
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[Key] = string(data)
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[AnnotationURL] = spec.URL
	cm.Annotations[AnnotationFetchedAt] = now.UTC().Format(time.RFC3339)
	cm.Annotations[AnnotationNextFetch] = next.UTC().Format(time.RFC3339)
	cm.Annotations[AnnotationRefreshHandled] = refresh
	if exists {
		err = r.Client.Update(ctx, cm)
	} else {
		if err := controllerutil.SetControllerReference(ac, cm, r.Client.Scheme()); err != nil {
			return ctrl.Result{}, err
		}
		err = r.Client.Create(ctx, cm)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("write ConfigMap %q: %w", cm.Name, err)
	}
	return ctrl.Result{RequeueAfter: next.Sub(now)}, nil
}

// due returns how long until the next fetch; 0 means now.
func due(cm *corev1.ConfigMap, exists bool, url, refresh string, now time.Time) time.Duration {
	if !exists || cm.Data[Key] == "" || cm.Annotations[AnnotationURL] != url ||
		cm.Annotations[AnnotationRefreshHandled] != refresh {
		return 0
	}
	next, err := time.Parse(time.RFC3339, cm.Annotations[AnnotationNextFetch])
	if err != nil || !now.Before(next) {
		return 0
	}
	return next.Sub(now)
}

// nextFetch is the sooner of the platform's cache lifetime and the spec's
// interval, never under a minute.
func nextFetch(spec *keyportv1.JWKSSettings, cacheFor time.Duration) time.Duration {
	d := defaultInterval
	if spec.RefreshInterval != nil {
		d = spec.RefreshInterval.Duration
	}
	if cacheFor > 0 && cacheFor < d {
		d = cacheFor
	}
	return max(d, minInterval)
}

// httpClient follows the operator's outbound rules (the process's default
// policy) and the ApiClient's own TLS settings: its CA bundle and its
// link-local opt-out.
func (r *Reconciler) httpClient(ctx context.Context, ac *keyportv1.ApiClient) (*http.Client, error) {
	o := outbound.Options{}
	if t := ac.Spec.TLS; t != nil {
		o.AllowLinkLocal = t.AllowLinkLocal
		if sel := t.CABundle; sel != nil {
			s := &corev1.Secret{}
			err := r.Reader.Get(ctx, types.NamespacedName{Namespace: ac.Namespace, Name: sel.Name}, s)
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("the CA bundle Secret %q does not exist", sel.Name)
			}
			if err != nil {
				return nil, fmt.Errorf("read the CA bundle Secret %q: %w", sel.Name, err)
			}
			if len(s.Data[sel.Key]) == 0 {
				return nil, fmt.Errorf("the CA bundle Secret %q has no key %q", sel.Name, sel.Key)
			}
			o.CABundle = s.Data[sel.Key]
		}
	}
	return outbound.NewClient(o)
}
