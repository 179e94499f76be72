// Package notificationchannel is the NotificationChannel controller: it
// registers a webhook at the platform through its provider driver, keeps the
// registration equal to the spec (repairing changes and removals made out of
// band), and removes it when the resource is deleted.
package notificationchannel

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/operator/internal/platform"
	"github.com/keyport-dev/keyport/operator/internal/reconcilekit"
	"github.com/keyport-dev/keyport/shared/drivers"
)

// Finalizer keeps the resource until its registration is removed.
const Finalizer = "keyport.dev/notification-channel"

// Defaults of the reconciler's timing.
const (
	DefaultResync          = 5 * time.Minute
	DefaultDeletionTimeout = 10 * time.Minute
)

// Reconciler reconciles NotificationChannels.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Resync is how often the registration is compared with the platform's
	// to repair drift. Zero means DefaultResync.
	Resync time.Duration
	// DeletionTimeout bounds how long deletion waits for an unreachable
	// platform before it gives up and lets the resource go (with a Warning).
	// Zero means DefaultDeletionTimeout.
	DeletionTimeout time.Duration
	// RotationPropagation is how long after a credential rotation the
	// platform keeps presenting the previous value, so receivers have seen
	// the new one first. Zero means 2 minutes (kubelet sync plus margin).
	RotationPropagation time.Duration
	// RotationOverlap is how long the previous value stays in the generated
	// Secret. Zero means 10 minutes.
	RotationOverlap time.Duration
	// Clock tells the time of rotations, syncs and deletion bounds; nil
	// means the real clock.
	Clock clock.PassiveClock
}

func (r *Reconciler) clock() clock.PassiveClock { return reconcilekit.Clock(r.Clock) }

func (r *Reconciler) rotationPropagation() time.Duration {
	if r.RotationPropagation > 0 {
		return r.RotationPropagation
	}
	return 2 * time.Minute
}

func (r *Reconciler) rotationOverlap() time.Duration {
	if r.RotationOverlap > 0 {
		return r.RotationOverlap
	}
	return 10 * time.Minute
}

// +kubebuilder:rbac:groups=keyport.dev,resources=notificationchannels,verbs=list;watch;patch
// +kubebuilder:rbac:groups=keyport.dev,resources=notificationchannels/status,verbs=patch
// +kubebuilder:rbac:groups=keyport.dev,resources=notificationchannels/finalizers,verbs=update
// +kubebuilder:rbac:groups=keyport.dev,resources=apiclients,verbs=list;watch;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=list;watch;create;update;patch

// Reconcile registers, repairs or removes one channel.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	nc := &keyportv1.NotificationChannel{}
	if err := r.Client.Get(ctx, req.NamespacedName, nc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !nc.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, nc)
	}
	if !controllerutil.ContainsFinalizer(nc, Finalizer) {
		patch := client.MergeFrom(nc.DeepCopy())
		controllerutil.AddFinalizer(nc, Finalizer)
		if err := r.Client.Patch(ctx, nc, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	return r.status().Run(ctx, nc, r.reconcileNormal)
}

// status writes a NotificationChannel's status; LastSyncedTime is written
// only along with something else, so a resync that finds no drift costs no
// write.
func (r *Reconciler) status() *reconcilekit.Status[*keyportv1.NotificationChannel, keyportv1.NotificationChannelStatus] {
	return &reconcilekit.Status[*keyportv1.NotificationChannel, keyportv1.NotificationChannelStatus]{Client: r.Client, Recorder: r.Recorder,
		Parts: func(nc *keyportv1.NotificationChannel) (*keyportv1.NotificationChannelStatus, *int64, *[]metav1.Condition) {
			return &nc.Status, &nc.Status.ObservedGeneration, &nc.Status.Conditions
		},
		Normalize: func(before, after *keyportv1.NotificationChannelStatus) {
			if before.LastSyncedTime != nil && after.LastSyncedTime != nil {
				after.LastSyncedTime = before.LastSyncedTime
			}
		}}
}

func (r *Reconciler) resync() time.Duration {
	if r.Resync > 0 {
		return r.Resync
	}
	return DefaultResync
}

func (r *Reconciler) reconcileNormal(ctx context.Context, nc *keyportv1.NotificationChannel) (ctrl.Result, error) {
	want, nextStep, err := r.desired(ctx, nc)
	if err != nil {
		var se *specError
		if errors.As(err, &se) {
			r.fail(nc, keyportv1.ReasonCredentialsNotFound, se.message)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	api, conn, err := r.connect(ctx, nc)
	if err != nil {
		return r.platformTrouble(nc, err)
	}
	// Before anything is registered: removing it will need the same (inuse.go).
	if err := r.protect(ctx, nc); err != nil {
		return ctrl.Result{}, err
	}
	id := nc.Status.ChannelID
	if id == "" {
		// A crash between creating and recording the id must not create a
		// second registration: adopt the one that carries this channel's
		// identity, on whichever page of the list, brought in line with the
		// spec, which may have changed since.
		existing, err := api.ListNotificationChannels(ctx, conn)
		if err != nil {
			return r.platformTrouble(nc, err)
		}
		for _, c := range existing {
			if carriesIdentity(c, nc) {
				id, want.ID = c.ID, c.ID
				if !sameRegistration(c, want) {
					if err := api.UpdateNotificationChannel(ctx, conn, want); err != nil {
						return r.platformTrouble(nc, err)
					}
				}
				break
			}
		}
		if id == "" {
			if id, err = api.CreateNotificationChannel(ctx, conn, want); err != nil {
				return r.platformTrouble(nc, err)
			}
			conditions.Record(r.Recorder, nc, corev1.EventTypeNormal, keyportv1.ReasonChannelRegistered, fmt.Sprintf("registered channel %s at the platform", id))
		}
		nc.Status.ChannelID = id
	} else {
		got, err := api.GetNotificationChannel(ctx, conn, id)
		switch {
		case errors.Is(err, drivers.ErrNotFound):
			newID, err := api.CreateNotificationChannel(ctx, conn, want)
			if err != nil {
				return r.platformTrouble(nc, err)
			}
			conditions.Record(r.Recorder, nc, corev1.EventTypeWarning, keyportv1.ReasonDriftRepaired,
				fmt.Sprintf("channel %s was removed at the platform; registered it again as %s", id, newID))
			nc.Status.ChannelID = newID
		case err != nil:
			return r.platformTrouble(nc, err)
		default:
			want.ID = id
			if !sameRegistration(*got, want) {
				if err := api.UpdateNotificationChannel(ctx, conn, want); err != nil {
					return r.platformTrouble(nc, err)
				}
				if nc.Status.ObservedGeneration == nc.Generation {
					conditions.Record(r.Recorder, nc, corev1.EventTypeWarning, keyportv1.ReasonDriftRepaired, fmt.Sprintf("channel %s was changed at the platform; restored it", id))
				}
			}
		}
	}
	now := r.clock().Now()
	nc.Status.LastSyncedTime = &metav1.Time{Time: now}
	setCondition(nc, keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonChannelRegistered,
		fmt.Sprintf("channel %s at the platform matches the spec", nc.Status.ChannelID))
	setCondition(nc, keyportv1.ConditionDegraded, metav1.ConditionFalse, keyportv1.ReasonChannelRegistered, "the platform answered")
	requeue := r.resync()
	if !nextStep.IsZero() && nextStep.Sub(now) < requeue {
		requeue = max(nextStep.Sub(now), time.Second)
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// reconcileDelete removes the registration (unless retained) and then the
// finalizer; an unreachable platform holds deletion only up to a bound. What
// the removal needs is still there, even when the namespace is being
// deleted: protect marked it in use.
func (r *Reconciler) reconcileDelete(ctx context.Context, nc *keyportv1.NotificationChannel) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(nc, Finalizer) {
		return ctrl.Result{}, nil
	}
	if nc.Spec.DeletionPolicy != keyportv1.DeletionPolicyRetain && nc.Status.ChannelID != "" {
		err := r.deleteRegistration(ctx, nc)
		if err != nil {
			timeout := r.DeletionTimeout
			if timeout <= 0 {
				timeout = DefaultDeletionTimeout
			}
			waited := r.clock().Since(nc.DeletionTimestamp.Time)
			if waited < timeout {
				before := nc.DeepCopy()
				msg := fmt.Sprintf("cannot remove channel %s from the platform (%v); retrying until %s, then the resource goes and the registration may remain",
					nc.Status.ChannelID, err, nc.DeletionTimestamp.Add(timeout).UTC().Format(time.RFC3339))
				setCondition(nc, keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonDeletionBlocked, msg)
				// Retried at least as often as the resync, so a platform
				// that is back is used soon.
				return ctrl.Result{RequeueAfter: min(30*time.Second, r.resync(), timeout-waited)}, r.status().Write(ctx, before, nc)
			}
			conditions.Record(r.Recorder, nc, corev1.EventTypeWarning, keyportv1.ReasonDeletionBlocked,
				fmt.Sprintf("gave up removing channel %s after %v; remove it at the platform by hand", nc.Status.ChannelID, timeout))
		}
	}
	patch := client.MergeFrom(nc.DeepCopy())
	controllerutil.RemoveFinalizer(nc, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, nc, patch))
}

func (r *Reconciler) deleteRegistration(ctx context.Context, nc *keyportv1.NotificationChannel) error {
	api, conn, err := r.connect(ctx, nc)
	if err != nil {
		return err
	}
	return api.DeleteNotificationChannel(ctx, conn, nc.Status.ChannelID)
}

func (r *Reconciler) connect(ctx context.Context, nc *keyportv1.NotificationChannel) (drivers.NotificationChannels, drivers.Conn, error) {
	d, conn, err := platform.Connect(ctx, r.Client, nc.Namespace, &nc.Spec.Platform)
	if err != nil {
		return nil, conn, err
	}
	api, ok := d.(drivers.NotificationChannels)
	if !ok {
		return nil, conn, fmt.Errorf("driver %q cannot manage notification channels", nc.Spec.Platform.Driver)
	}
	return api, conn, nil
}

// platformTrouble reports a failed platform call and retries later.
func (r *Reconciler) platformTrouble(nc *keyportv1.NotificationChannel, err error) (ctrl.Result, error) {
	reason := keyportv1.ReasonPlatformUnreachable
	var notReady *platform.NotReadyError
	if errors.As(err, &notReady) {
		reason = keyportv1.ReasonApiClientNotReady
	}
	r.fail(nc, reason, err.Error())
	return ctrl.Result{RequeueAfter: 15 * time.Second}, nil
}

func (r *Reconciler) fail(nc *keyportv1.NotificationChannel, reason, msg string) {
	// A registration that exists keeps delivering: Ready stays as it was
	// only if one exists; the problem shows in Degraded.
	ready := metav1.ConditionFalse
	if nc.Status.ChannelID != "" {
		ready = metav1.ConditionTrue
		msg = fmt.Sprintf("channel %s stays registered; %s", nc.Status.ChannelID, msg)
	}
	conditions.SetProblem(&nc.Status.Conditions, nc.Generation, ready, reason, msg)
}

func setCondition(nc *keyportv1.NotificationChannel, condType string, status metav1.ConditionStatus, reason, message string) {
	conditions.Set(&nc.Status.Conditions, nc.Generation, condType, status, reason, message)
}

// indexApiClient maps an ApiClient to the channels it authenticates.
const indexApiClient = "keyport.dev/platform-apiclient"

// SetupWithManager watches NotificationChannels, the Secrets they generate
// and the ApiClients they call the platform with (a first token unblocks
// them at once); drift at the platform is found by the periodic resync.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := reconcilekit.Index(mgr, &keyportv1.NotificationChannel{}, indexApiClient, func(nc *keyportv1.NotificationChannel) []string {
		return []string{nc.Spec.Platform.ApiClientName}
	}); err != nil {
		return err
	}
	if err := setupReleasers(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("notificationchannel").
		// No generation filter: deletion must be seen, and a status write
		// only leads to a comparison with the platform that changes nothing.
		For(&keyportv1.NotificationChannel{}).
		Owns(&corev1.Secret{}).
		Watches(&keyportv1.ApiClient{}, reconcilekit.EnqueueReferrers(r.Client,
			func() client.ObjectList { return &keyportv1.NotificationChannelList{} }, indexApiClient)).
		Complete(r)
}
