package reconcilekit

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Index registers a field index on objects of obj's kind: the values
// says which names an object refers to (its ApiClient, its Secrets).
func Index[T client.Object](mgr manager.Manager, obj T, index string, values func(T) []string) error {
	return mgr.GetFieldIndexer().IndexField(context.Background(), obj, index, func(o client.Object) []string {
		return values(o.(T))
	})
}

// Referrers lists, as requests, the objects of newList's kind in namespace
// whose index holds name. A failed list (the cache is not synced yet)
// yields none: the next event or resync brings them.
func Referrers(ctx context.Context, c client.Reader, newList func() client.ObjectList, index, namespace, name string) []reconcile.Request {
	list := newList()
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: name}); err != nil {
		return nil
	}
	var out []reconcile.Request
	_ = meta.EachListItem(list, func(item runtime.Object) error {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(item.(client.Object))})
		return nil
	})
	return out
}

// EnqueueReferrers is the watch handler that maps an object to the objects
// of newList's kind in its namespace whose index holds its name.
func EnqueueReferrers(c client.Reader, newList func() client.ObjectList, index string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(ReferrersOf(c, newList, index))
}

// ReferrersOf is EnqueueReferrers' map function, for handlers that add to it.
func ReferrersOf(c client.Reader, newList func() client.ObjectList, index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return Referrers(ctx, c, newList, index, o.GetNamespace(), o.GetName())
	}
}
