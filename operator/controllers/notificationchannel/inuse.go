package notificationchannel

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/platform"
)

// Removing a registration needs what creating it needed (platform.Connect):
// the ApiClient, its token Secret and its CA bundle. Deleting a namespace
// deletes all of them at once, in no particular order, and the channel's
// finalizer keeps only the channel: it would find the rest gone, give up
// after DeletionTimeout and leave its registration at the platform. So what
// a channel uses carries keyportv1.FinalizerInUse, as a PersistentVolumeClaim
// that a pod uses carries kubernetes.io/pvc-protection: it can be deleted,
// but goes only once no channel uses it. protect adds the finalizer before
// the channel registers; the releaser removes it when no channel in the
// namespace uses the object any more. A channel being deleted stops using
// it once it is gone, which DeletionTimeout bounds.
//
// Channels of another shard are not in this operator's cache and may use
// the same Secrets (a CA bundle often serves many ApiClients), so the
// releaser asks the API server which channels there are.

// releaseRecheck is how often the releaser looks again at an object that is
// being deleted and still in use: a channel of another shard leaves no
// event here when it goes.
const releaseRecheck = 10 * time.Second

// protect puts FinalizerInUse on the ApiClient the channel calls the
// platform with and on the Secrets that Connect reads through it.
func (r *Reconciler) protect(ctx context.Context, nc *keyportv1.NotificationChannel) error {
	if nc.Spec.DeletionPolicy == keyportv1.DeletionPolicyRetain {
		return nil // nothing to remove at the platform
	}
	ac := &keyportv1.ApiClient{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: nc.Namespace, Name: nc.Spec.Platform.ApiClientName}, ac); err != nil {
		return err
	}
	used := []client.Object{ac}
	for _, name := range platform.Secrets(ac) {
		s := &corev1.Secret{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: nc.Namespace, Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				continue // Connect does without a missing CA bundle
			}
			return err
		}
		used = append(used, s)
	}
	for _, o := range used {
		// An object being deleted takes no new finalizer.
		if controllerutil.ContainsFinalizer(o, keyportv1.FinalizerInUse) || !o.GetDeletionTimestamp().IsZero() {
			continue
		}
		patch := client.MergeFromWithOptions(o.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(o, keyportv1.FinalizerInUse)
		if err := r.Client.Patch(ctx, o, patch); err != nil {
			return fmt.Errorf("mark %T %q in use: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// releaser removes FinalizerInUse from the objects of one kind (ApiClients
// or Secrets) that no channel uses: at once from those being deleted, and
// from the others when a channel goes.
type releaser struct {
	name   string
	client client.Client
	reader client.Reader // the API server itself: every shard's channels
	object func() client.Object
	list   func() client.ObjectList
}

func (r *releaser) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	o := r.object()
	if err := r.client.Get(ctx, req.NamespacedName, o); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !controllerutil.ContainsFinalizer(o, keyportv1.FinalizerInUse) {
		return ctrl.Result{}, nil
	}
	user, err := r.usedBy(ctx, o)
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case user != "" && o.GetDeletionTimestamp().IsZero():
		return ctrl.Result{}, nil
	case user != "":
		log.FromContext(ctx).V(1).Info("deletion waits for a NotificationChannel", "notificationChannel", user)
		return ctrl.Result{RequeueAfter: releaseRecheck}, nil
	}
	patch := client.MergeFromWithOptions(o.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(o, keyportv1.FinalizerInUse)
	return ctrl.Result{}, client.IgnoreNotFound(r.client.Patch(ctx, o, patch))
}

// usedBy names a channel in o's namespace that uses o, or returns "".
func (r *releaser) usedBy(ctx context.Context, o client.Object) (string, error) {
	var channels keyportv1.NotificationChannelList
	if err := r.reader.List(ctx, &channels, client.InNamespace(o.GetNamespace())); err != nil {
		return "", err
	}
	apiClients := map[string]*keyportv1.ApiClient{}
	_, isSecret := o.(*metav1.PartialObjectMetadata)
	if isSecret && len(channels.Items) > 0 {
		var list keyportv1.ApiClientList
		if err := r.reader.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
			return "", err
		}
		for i := range list.Items {
			apiClients[list.Items[i].Name] = &list.Items[i]
		}
	}
	for _, nc := range channels.Items {
		if nc.Spec.DeletionPolicy == keyportv1.DeletionPolicyRetain {
			continue
		}
		name := nc.Spec.Platform.ApiClientName
		if !isSecret && name == o.GetName() {
			return nc.Name, nil
		}
		if ac := apiClients[name]; isSecret && ac != nil && slices.Contains(platform.Secrets(ac), o.GetName()) {
			return nc.Name, nil
		}
	}
	return "", nil
}

// inUse maps a channel that went to the objects in its namespace that
// carry FinalizerInUse.
func (r *releaser) inUse(ctx context.Context, nc client.Object) []reconcile.Request {
	list := r.list()
	if err := r.client.List(ctx, list, client.InNamespace(nc.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	_ = meta.EachListItem(list, func(item runtime.Object) error {
		if o := item.(client.Object); controllerutil.ContainsFinalizer(o, keyportv1.FinalizerInUse) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		}
		return nil
	})
	return out
}

func secretMetadata() client.Object {
	o := &metav1.PartialObjectMetadata{}
	o.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return o
}

func secretMetadataList() client.ObjectList {
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	return l
}

// setupReleasers registers a releaser for ApiClients and one for Secrets.
func setupReleasers(mgr ctrl.Manager) error {
	deleting := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return controllerutil.ContainsFinalizer(o, keyportv1.FinalizerInUse) && !o.GetDeletionTimestamp().IsZero()
	})
	channelGone := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	for _, r := range []*releaser{
		{name: "notificationchannel-inuse-apiclient",
			object: func() client.Object { return &keyportv1.ApiClient{} }, list: func() client.ObjectList { return &keyportv1.ApiClientList{} }},
		// Secrets by their metadata: a CA bundle is a tenant's Secret, of
		// which the cache holds nothing else (operator/secretcache).
		{name: "notificationchannel-inuse-secret", object: secretMetadata, list: secretMetadataList},
	} {
		r.client, r.reader = mgr.GetClient(), mgr.GetAPIReader()
		b := ctrl.NewControllerManagedBy(mgr).
			Named(r.name).
			For(r.object(), builder.WithPredicates(deleting)).
			Watches(&keyportv1.NotificationChannel{}, handler.EnqueueRequestsFromMapFunc(r.inUse), builder.WithPredicates(channelGone))
		if _, isSecret := r.object().(*metav1.PartialObjectMetadata); isSecret {
			// The watch of Secret metadata sees the tenants' Secrets; Keyport's
			// own, a token Secret, come from the cache of whole Secrets.
			b = b.Watches(&corev1.Secret{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(deleting))
		}
		if err := b.Complete(r); err != nil {
			return err
		}
	}
	return nil
}
