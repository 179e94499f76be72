// Package ingestionchannel is the IngestionChannel controller: it keeps a
// Secret with everything a workload needs to post to one customer's channel
// (URL, content type, message type and the current token of the ApiClient
// that authorizes it), re-written on every token rotation.
package ingestionchannel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/operator/internal/ownedsecret"
	"github.com/keyport-dev/keyport/operator/internal/platform"
	"github.com/keyport-dev/keyport/operator/internal/reconcilekit"
	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// Keys of the channel Secret, beside the token keys of tokensecret.
const (
	KeyURL         = "url"
	KeyContentType = "content_type"
	KeyMessageType = "message_type"
	KeyCustomer    = "customer"
)

// verifyEvery is how often the channel is re-checked at the platform; token
// rotations in between need no platform call.
const verifyEvery = 10 * time.Minute

// Reconciler reconciles IngestionChannels.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Clock tells the time of token expiries and verifications; nil means
	// the real clock.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=keyport.dev,resources=ingestionchannels,verbs=list;watch
// +kubebuilder:rbac:groups=keyport.dev,resources=ingestionchannels/status,verbs=patch
// +kubebuilder:rbac:groups=keyport.dev,resources=ingestionchannels/finalizers,verbs=update
// +kubebuilder:rbac:groups=keyport.dev,resources=apiclients,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=list;watch;create;update

// ChannelURL is the channel's URL: the full url, or {baseURL}/ingestion/{channelID}.
func ChannelURL(spec *keyportv1.IngestionChannelSpec) string {
	if spec.URL != "" {
		return spec.URL
	}
	return strings.TrimSuffix(spec.BaseURL, "/") + "/ingestion/" + spec.ChannelID
}

// Reconcile brings one IngestionChannel's Secret and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.status().Reconcile(ctx, req, &keyportv1.IngestionChannel{}, nil, r.reconcile)
}

// status writes an IngestionChannel's status: anything but the token's
// expiry, which is rewritten only once the shown one passed, so that a
// token rotation costs the channel Secret's write alone. Ready's message
// names the expiry too and is not compared either.
func (r *Reconciler) status() *reconcilekit.Status[*keyportv1.IngestionChannel, keyportv1.IngestionChannelStatus] {
	return &reconcilekit.Status[*keyportv1.IngestionChannel, keyportv1.IngestionChannelStatus]{Client: r.Client, Recorder: r.Recorder,
		Parts: func(ch *keyportv1.IngestionChannel) (*keyportv1.IngestionChannelStatus, *int64, *[]metav1.Condition) {
			return &ch.Status, &ch.Status.ObservedGeneration, &ch.Status.Conditions
		},
		Normalize: func(before, after *keyportv1.IngestionChannelStatus) {
			conditions.IgnoreMessages(before.Conditions, keyportv1.ReasonChannelVerified)
			conditions.IgnoreMessages(after.Conditions, keyportv1.ReasonChannelVerified)
			if shown := before.TokenExpiresAt; shown != nil && after.TokenExpiresAt != nil && r.clock().Now().Before(shown.Time) {
				after.TokenExpiresAt = shown
			}
		}}
}

func (r *Reconciler) clock() clock.PassiveClock { return reconcilekit.Clock(r.Clock) }

func (r *Reconciler) reconcile(ctx context.Context, ch *keyportv1.IngestionChannel) (ctrl.Result, error) {
	now := r.clock().Now()
	ch.Status.URL = ChannelURL(&ch.Spec)
	ch.Status.OutputSecretName = outputSecretName(ch)

	if other, err := r.conflict(ctx, ch); err != nil {
		return ctrl.Result{}, err
	} else if other != "" {
		msg := fmt.Sprintf("IngestionChannel %q already claims %s for another customer; a channel belongs to one customer", other, ch.Status.URL)
		conditions.SetProblem(&ch.Status.Conditions, ch.Generation, metav1.ConditionFalse, keyportv1.ReasonChannelConflict, msg)
		// Look again later: the other claim may go away.
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}

	tok, why := r.currentToken(ctx, ch)
	if why != "" {
		// Keep whatever valid token the channel Secret has.
		valid := metav1.ConditionFalse
		if existing, err := r.existingToken(ctx, ch); err == nil && now.Before(existing.ExpiresAt) {
			valid = metav1.ConditionTrue
			why += fmt.Sprintf("; the channel Secret keeps a token valid until %s", existing.ExpiresAt.UTC().Format(time.RFC3339))
		}
		conditions.SetProblem(&ch.Status.Conditions, ch.Generation, valid, keyportv1.ReasonApiClientNotReady, why)
		return ctrl.Result{}, nil
	}

	if msg, err := r.verify(ctx, ch, tok, now); err != nil {
		return ctrl.Result{}, err
	} else if msg != "" {
		conditions.SetProblem(&ch.Status.Conditions, ch.Generation, metav1.ConditionFalse, keyportv1.ReasonPlatformRejected, msg)
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}

	if err := r.writeSecret(ctx, ch, tok); err != nil {
		return ctrl.Result{}, err
	}
	ch.Status.TokenExpiresAt = &metav1.Time{Time: tok.ExpiresAt}
	setCondition(ch, keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonChannelVerified,
		fmt.Sprintf("Secret %q holds the channel URL and a token valid until %s", ch.Status.OutputSecretName, tok.ExpiresAt.UTC().Format(time.RFC3339)))
	setCondition(ch, keyportv1.ConditionDegraded, metav1.ConditionFalse, keyportv1.ReasonChannelVerified, "the ApiClient is Ready")
	return ctrl.Result{RequeueAfter: verifyEvery}, nil
}

// conflict returns the name of an older IngestionChannel that claims the
// same URL for another customer.
func (r *Reconciler) conflict(ctx context.Context, ch *keyportv1.IngestionChannel) (string, error) {
	var list keyportv1.IngestionChannelList
	if err := r.Client.List(ctx, &list, client.InNamespace(ch.Namespace), client.MatchingFields{indexURL: ch.Status.URL}); err != nil {
		return "", err
	}
	for _, other := range list.Items {
		if other.UID == ch.UID || other.Spec.Customer == ch.Spec.Customer {
			continue
		}
		older := other.CreationTimestamp.Before(&ch.CreationTimestamp) ||
			(other.CreationTimestamp.Equal(&ch.CreationTimestamp) && other.Name < ch.Name)
		if older {
			return other.Name, nil
		}
	}
	return "", nil
}

// currentToken reads the ApiClient's token, or says why there is none.
func (r *Reconciler) currentToken(ctx context.Context, ch *keyportv1.IngestionChannel) (tokensecret.Token, string) {
	ac := &keyportv1.ApiClient{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ch.Namespace, Name: ch.Spec.ApiClientName}, ac); err != nil {
		return tokensecret.Token{}, fmt.Sprintf("ApiClient %q: %v", ch.Spec.ApiClientName, client.IgnoreNotFound(err))
	}
	ready := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ac.Status.OutputSecretName == "" {
		msg := fmt.Sprintf("ApiClient %q is not Ready", ac.Name)
		if ready != nil {
			msg += ": " + ready.Reason
		}
		return tokensecret.Token{}, msg
	}
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ch.Namespace, Name: ac.Status.OutputSecretName}, s); err != nil {
		return tokensecret.Token{}, fmt.Sprintf("ApiClient %q has no token Secret yet", ac.Name)
	}
	tok, err := tokensecret.Parse(s.Data)
	if err != nil {
		return tokensecret.Token{}, fmt.Sprintf("ApiClient %q's token Secret is not usable: %v", ac.Name, err)
	}
	return tok, ""
}

func (r *Reconciler) existingToken(ctx context.Context, ch *keyportv1.IngestionChannel) (tokensecret.Token, error) {
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ch.Namespace, Name: outputSecretName(ch)}, s); err != nil {
		return tokensecret.Token{}, err
	}
	return tokensecret.Parse(s.Data)
}

// verify checks the channel at the platform, when a driver can, at most
// every verifyEvery. It returns a message when the platform disagrees.
func (r *Reconciler) verify(ctx context.Context, ch *keyportv1.IngestionChannel, tok tokensecret.Token, now time.Time) (string, error) {
	ref := ch.Spec.Platform
	if ref == nil || ch.Spec.ChannelID == "" {
		return "", nil
	}
	last := ch.Status.LastVerifiedTime
	if last != nil && now.Sub(last.Time) < verifyEvery && ch.Status.ObservedGeneration == ch.Generation {
		return "", nil
	}
	d, conn, err := platform.Connect(ctx, r.Client, ch.Namespace, ref)
	if err != nil {
		return "cannot reach the platform to verify the channel: " + err.Error(), nil
	}
	verifier, ok := d.(drivers.IngestionChannels)
	if !ok {
		return "", nil // the platform offers no way to check; the URL is taken as given
	}
	got, err := verifier.GetIngestionChannel(ctx, conn, ch.Spec.ChannelID)
	switch {
	case errors.Is(err, drivers.ErrNotFound):
		return fmt.Sprintf("the platform has no ingestion channel %q", ch.Spec.ChannelID), nil
	case err != nil:
		return "verifying the channel failed: " + err.Error(), nil
	// What the platform answered is not quoted: another customer's name is
	// not this tenant's to read, and the management URL may point at a
	// service whose answers are nobody's to read.
	case got.Customer != "" && got.Customer != ch.Spec.Customer:
		return fmt.Sprintf("the platform says channel %q belongs to another customer than %q", ch.Spec.ChannelID, ch.Spec.Customer), nil
	case got.MessageType != "" && got.MessageType != ch.Spec.MessageType:
		return fmt.Sprintf("the platform expects another messageType than %q on this channel", ch.Spec.MessageType), nil
	}
	ch.Status.LastVerifiedTime = &metav1.Time{Time: now}
	return "", nil
}

func outputSecretName(ch *keyportv1.IngestionChannel) string {
	if ch.Spec.OutputSecretName != "" {
		return ch.Spec.OutputSecretName
	}
	return ch.Name + "-channel"
}

// writeSecret writes the channel Secret: the token keys of tokensecret plus
// the channel's own.
func (r *Reconciler) writeSecret(ctx context.Context, ch *keyportv1.IngestionChannel, tok tokensecret.Token) error {
	data, err := tokensecret.Render(tok, nil)
	if err != nil {
		return err
	}
	mediaType := ch.Spec.MediaType
	if mediaType == "" {
		mediaType = "application/json"
	}
	data[KeyURL] = []byte(ch.Status.URL)
	data[KeyContentType] = []byte(mediaType)
	data[KeyMessageType] = []byte(ch.Spec.MessageType)
	data[KeyCustomer] = []byte(ch.Spec.Customer)
	return ownedsecret.Apply(ctx, r.Client, ch, outputSecretName(ch), func(s *corev1.Secret) error {
		s.Type = corev1.SecretTypeOpaque
		s.Data = data
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[keyportv1.AnnotationExpiresAt] = tok.ExpiresAt.UTC().Format(time.RFC3339)
		s.Annotations[keyportv1.AnnotationReloaderIgnore] = "true"
		return nil
	})
}

func setCondition(ch *keyportv1.IngestionChannel, condType string, status metav1.ConditionStatus, reason, message string) {
	conditions.Set(&ch.Status.Conditions, ch.Generation, condType, status, reason, message)
}

// Field indexes.
const (
	indexURL       = "keyport.dev/channel-url"
	indexApiClient = "keyport.dev/apiclient"
)

// indexes are what the field indexes hold for a channel: its URL, for
// conflicts, and its ApiClient, for rotations.
var indexes = map[string]func(*keyportv1.IngestionChannel) []string{
	indexURL:       func(ch *keyportv1.IngestionChannel) []string { return []string{ChannelURL(&ch.Spec)} },
	indexApiClient: func(ch *keyportv1.IngestionChannel) []string { return []string{ch.Spec.ApiClientName} },
}

// SetupWithManager watches IngestionChannels, their Secrets, and the
// ApiClients (and their token Secrets) they use, so every rotation reaches
// the channel Secret.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	for name, values := range indexes {
		if err := reconcilekit.Index(mgr, &keyportv1.IngestionChannel{}, name, values); err != nil {
			return err
		}
	}
	channels := func() client.ObjectList { return &keyportv1.IngestionChannelList{} }
	return ctrl.NewControllerManagedBy(mgr).
		Named("ingestionchannel").
		For(&keyportv1.IngestionChannel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.Secret{}).
		Watches(&keyportv1.ApiClient{}, reconcilekit.EnqueueReferrers(r.Client, channels, indexApiClient)).
		// A token Secret names its ApiClient in a label.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			if name := o.GetLabels()[keyportv1.LabelApiClient]; name != "" {
				return reconcilekit.Referrers(ctx, r.Client, channels, indexApiClient, o.GetNamespace(), name)
			}
			return nil
		})).
		Complete(r)
}
