// Package reconcilekit is the envelope every Keyport controller shares:
// the status written once per reconcile, and only when a person would see
// the difference; conditions turned into events on their transitions; and
// the watches that map one object to the resources that reference it
// through a field index.
//
// A controller's Reconcile reads its object, handles what is special to
// its kind (deletion, finalizers) and hands the rest to Status.Run:
//
//	return r.status().Run(ctx, obj, r.reconcile)
//
// A kind with nothing special to do lets Status.Reconcile read the object
// too.
package reconcilekit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyport-dev/keyport/operator/internal/conditions"
)

// Status writes the status of objects of one kind: T is the object's
// pointer type (*keyportv1.ApiClient), S its status type.
type Status[T client.Object, S any] struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Parts points at obj's status and, inside it, at the generation the
	// status was computed for and at its conditions.
	Parts func(obj T) (status *S, observedGeneration *int64, conds *[]metav1.Condition)
	// Normalize, when set, is applied to copies of the status as read
	// (before) and as reconciled (after) ahead of their comparison, to hide
	// differences not worth an API write: it zeroes or rounds fields, or
	// carries a field of before over into after. It changes only the
	// copies; a write sends the status as reconciled, whole.
	Normalize func(before, after *S)
	// Remember makes the status compared also with the status this process
	// wrote last for the object: the cache may not hold that write yet when
	// the object is reconciled again (the controller wrote one of its
	// Secrets in the same reconcile, say), and one change is then still
	// written once and raises one event. Only the leader writes, and a
	// process that loses its lease exits, so what it remembers is current.
	Remember bool

	// written holds a writtenStatus[S] by types.NamespacedName.
	written sync.Map
}

// writtenStatus is what Remember keeps of an object: a copy of the status
// last written and the UID of the object it was written to. Not the whole
// object: that would keep its spec (headers, templates) and the
// managedFields the API server answers a patch with, for ten thousand
// ApiClients tens of MiB kept for nothing.
type writtenStatus[S any] struct {
	uid    types.UID
	status S
}

// Run reconciles obj with reconcile, then writes its status (Write).
// reconcile changes obj's status in memory only; errors of both are
// returned together.
func (s *Status[T, S]) Run(ctx context.Context, obj T, reconcile func(context.Context, T) (ctrl.Result, error)) (ctrl.Result, error) {
	before := obj.DeepCopyObject().(T)
	result, err := reconcile(ctx, obj)
	return result, errors.Join(err, s.Write(ctx, before, obj))
}

// Reconcile is the Reconcile of a kind with nothing to do when an object
// is deleted: it reads the object req names into obj and, unless it is
// being deleted, runs reconcile on it and writes its status (Run). gone,
// when set, learns of an object that no longer exists (to drop its
// metrics, say).
func (s *Status[T, S]) Reconcile(ctx context.Context, req ctrl.Request, obj T, gone func(types.NamespacedName),
	reconcile func(context.Context, T) (ctrl.Result, error)) (ctrl.Result, error) {
	if err := s.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) && gone != nil {
			gone(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil
	}
	return s.Run(ctx, obj, reconcile)
}

// Write records obj's generation as observed, raises one event per
// condition reason that changed since before (conditions.RecordTransitions)
// and patches the status when it differs from before's after
// normalization. A deleted object is no error.
func (s *Status[T, S]) Write(ctx context.Context, before, obj T) error {
	_, observed, conds := s.Parts(obj)
	*observed = obj.GetGeneration()
	key := client.ObjectKeyFromObject(obj)
	last := before
	if s.Remember {
		if w, ok := s.written.Load(key); ok && w.(writtenStatus[S]).uid == obj.GetUID() {
			last = s.withStatus(obj, w.(writtenStatus[S]).status)
		}
	}
	_, _, lastConds := s.Parts(last)
	conditions.RecordTransitions(s.Recorder, obj, *lastConds, *conds)
	if !s.Changed(before, obj) || !s.Changed(last, obj) {
		return nil
	}
	if err := s.Client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		if err = client.IgnoreNotFound(err); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
		return nil
	}
	if s.Remember {
		copied, _, _ := s.Parts(obj.DeepCopyObject().(T))
		s.written.Store(key, writtenStatus[S]{uid: obj.GetUID(), status: *copied})
	}
	return nil
}

// withStatus is a new object of obj's type holding status and nothing
// else, to compare with as Changed and the events compare objects.
func (s *Status[T, S]) withStatus(obj T, status S) T {
	o := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(T)
	p, _, _ := s.Parts(o)
	*p = status
	return o
}

// Changed reports whether after's status is worth writing over before's:
// whether they differ semantically (equality.Semantic) once normalized.
// When conditions changed, a condition's status or a condition did too:
// the time of its last transition alone is no change. (A reconcile that
// read a cache lagging behind the last write sets a condition anew, with
// a new time.)
func (s *Status[T, S]) Changed(before, after T) bool {
	b, _, bConds := s.Parts(before.DeepCopyObject().(T))
	a, _, aConds := s.Parts(after.DeepCopyObject().(T))
	for _, conds := range [][]metav1.Condition{*bConds, *aConds} {
		for i := range conds {
			conds[i].LastTransitionTime = metav1.Time{}
		}
	}
	if s.Normalize != nil {
		s.Normalize(b, a)
	}
	return !equality.Semantic.DeepEqual(b, a)
}

// Forget drops what Remember kept for an object that is gone.
func (s *Status[T, S]) Forget(key types.NamespacedName) {
	s.written.Delete(key)
}

// Clock is c, or the real clock for a reconciler built without one: the
// reconcilers take a clock so that tests can move time instead of waiting
// for it.
func Clock(c clock.PassiveClock) clock.PassiveClock {
	if c == nil {
		return clock.RealClock{}
	}
	return c
}

// WholeSeconds rounds times down to whole seconds, for a Normalize: the
// API server keeps a status time to the second, so a time read back
// differs from the one computed below the second, and a time recomputed
// within the same second is no news.
func WholeSeconds(times ...*metav1.Time) {
	for _, t := range times {
		if t != nil {
			t.Time = t.Truncate(time.Second)
		}
	}
}
