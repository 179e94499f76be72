package notificationchannel

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/operator/internal/ownedsecret"
	"github.com/keyport-dev/keyport/shared/drivers"
)

// Keys of the generated credentials Secret, for the receiving workload.
const (
	KeyBearerToken  = "bearer_token"
	KeyClientID     = "client_id"
	KeyClientSecret = "client_secret"
)

// specError is a problem a person fixes in the spec or its Secrets.
type specError struct{ message string }

func (e *specError) Error() string { return e.message }

// desired builds the registration the spec asks for, resolving Secret values
// and generating credentials where asked. The result holds secrets.
func (r *Reconciler) desired(ctx context.Context, nc *keyportv1.NotificationChannel) (drivers.NotificationChannel, time.Time, error) {
	var next time.Time
	spec := &nc.Spec
	ch := drivers.NotificationChannel{
		Name: spec.ChannelName, ChannelType: orDefault(spec.ChannelType, "HTTPSWebhook"), Method: orDefault(spec.Method, "POST"),
		WebhookURL: spec.WebhookURL, EventTypes: slices.Clone(spec.EventTypes),
	}
	headers, err := r.headerValues(ctx, nc.Namespace, spec.Headers)
	if err != nil {
		return ch, next, err
	}
	ch.Headers = headers
	a := spec.Authentication
	switch a.Type {
	case keyportv1.WebhookAuthNone:
		ch.Auth.Type = "None"
	case keyportv1.WebhookAuthStaticBearer:
		// The platform knows only None plus a static Authorization header.
		ch.Auth.Type = "None"
		token, at, err := r.secretOrGenerated(ctx, nc, a.BearerToken, KeyBearerToken, nil)
		if err != nil {
			return ch, next, err
		}
		next = at
		if ch.Headers == nil {
			ch.Headers = map[string]string{}
		}
		ch.Headers["Authorization"] = "Bearer " + token
	case keyportv1.WebhookAuthOAuth2ClientCredentials, keyportv1.WebhookAuthOAuth2Password:
		o := a.OAuth2
		ch.Auth = drivers.WebhookAuth{Type: string(a.Type), TokenURL: o.TokenURL, ClientID: o.ClientID, Username: o.Username, Scopes: slices.Clone(o.Scopes)}
		secret, at, err := r.secretOrGenerated(ctx, nc, o.ClientSecret, KeyClientSecret, map[string][]byte{KeyClientID: []byte(o.ClientID)})
		if err != nil {
			return ch, next, err
		}
		ch.Auth.ClientSecret, next = secret, at
		if o.Password != nil {
			if ch.Auth.Password, err = r.value(ctx, nc.Namespace, *o.Password); err != nil {
				return ch, next, err
			}
		}
		if ch.Auth.Headers, err = r.headerValues(ctx, nc.Namespace, o.Headers); err != nil {
			return ch, next, err
		}
	}
	if ch.Headers == nil {
		ch.Headers = map[string]string{}
	}
	maps.DeleteFunc(ch.Headers, func(name, _ string) bool { return strings.EqualFold(name, IdentityHeader) })
	ch.Headers[IdentityHeader] = string(nc.UID)
	return ch, next, nil
}

// IdentityHeader is a header Keyport puts into every registration it makes,
// with the NotificationChannel's UID as its value: a registration is
// adopted (after a crash between creating it and recording its id) only
// when it carries this, never because its name and URL are the same, which
// anyone with access to the platform account can make them. The webhook
// receives it on each call.
const IdentityHeader = "X-Keyport-Channel"

// carriesIdentity reports whether a registration at the platform is nc's.
// Header names are compared as HTTP compares them.
func carriesIdentity(c drivers.NotificationChannel, nc *keyportv1.NotificationChannel) bool {
	for name, value := range c.Headers {
		if strings.EqualFold(name, IdentityHeader) && value == string(nc.UID) {
			return true
		}
	}
	return false
}

func (r *Reconciler) headerValues(ctx context.Context, namespace string, hs []keyportv1.HTTPHeader) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, h := range hs {
		if h.Value != nil {
			out[h.Name] = *h.Value
			continue
		}
		v, err := r.value(ctx, namespace, *h.ValueFrom)
		if err != nil {
			return nil, err
		}
		out[h.Name] = v
	}
	return out, nil
}

func (r *Reconciler) value(ctx context.Context, namespace string, ref keyportv1.SecretKeySelector) (string, error) {
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &specError{fmt.Sprintf("Secret %q does not exist", ref.Name)}
		}
		return "", err
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return "", &specError{fmt.Sprintf("Secret %q has no key %q", ref.Name, ref.Key)}
	}
	return string(v), nil
}

// Annotations of a generated Secret that drive its rotation.
const (
	// AnnotationRotate on a NotificationChannel, set to a new value, rotates
	// its generated credentials.
	AnnotationRotate = "keyport.dev/rotate-credentials"

	annotationRotated        = "keyport.dev/rotation-handled"
	annotationPlatformSwitch = "keyport.dev/platform-switch-at"
	annotationPreviousUntil  = "keyport.dev/previous-valid-until"
	previousPrefix           = "previous_"
)

// secretOrGenerated returns the credential the platform must present: from
// ref, or, when the spec asks Keyport to generate it, from the generated
// Secret (created once with a random value, owned by the channel).
//
// Rotation (AnnotationRotate) keeps an overlap: the new value and the
// previous one (previous_<key>) are both in the Secret, so the receiver
// accepts either; the platform is switched to the new value only after
// RotationPropagation (the receiver's pods have seen it), and the previous
// value leaves the Secret after RotationOverlap. The returned time is when
// the next step is due (zero when none).
func (r *Reconciler) secretOrGenerated(ctx context.Context, nc *keyportv1.NotificationChannel, ref *keyportv1.SecretKeySelector, key string, extra map[string][]byte) (string, time.Time, error) {
	if ref != nil {
		v, err := r.value(ctx, nc.Namespace, *ref)
		return v, time.Time{}, err
	}
	name := nc.Spec.Authentication.GeneratedSecretName
	nc.Status.GeneratedSecretName = name
	now := r.clock().Now()
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: nc.Namespace, Name: name}, s)
	switch {
	case apierrors.IsNotFound(err):
		value, err := randomCredential()
		if err != nil {
			return "", time.Time{}, err
		}
		data := map[string][]byte{key: []byte(value)}
		maps.Copy(data, extra)
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: nc.Namespace,
			Labels:      map[string]string{keyportv1.LabelManagedBy: keyportv1.ManagedByValue},
			Annotations: map[string]string{annotationRotated: nc.Annotations[AnnotationRotate]}}, Data: data}
		if err := ctrl.SetControllerReference(nc, s, r.Client.Scheme()); err != nil {
			return "", time.Time{}, err
		}
		if err := r.Client.Create(ctx, s); err != nil {
			return "", time.Time{}, fmt.Errorf("create generated Secret %q: %w", name, err)
		}
		conditions.Record(r.Recorder, nc, corev1.EventTypeNormal, keyportv1.ReasonCredentialsGenerated, fmt.Sprintf("generated webhook credentials into Secret %q", name))
		return value, time.Time{}, nil
	case err != nil:
		return "", time.Time{}, err
	case !metav1.IsControlledBy(s, nc):
		return "", time.Time{}, &specError{fmt.Sprintf("Secret %q exists and was not generated for this NotificationChannel; choose another generatedSecretName", name)}
	}

	updated := s.DeepCopy()
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	// One generated before Secrets were labelled is labelled now, and from
	// then on cached whole (operator/secretcache).
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	updated.Labels[keyportv1.LabelManagedBy] = keyportv1.ManagedByValue
	if want := nc.Annotations[AnnotationRotate]; want != updated.Annotations[annotationRotated] || len(updated.Data[key]) == 0 {
		value, err := randomCredential()
		if err != nil {
			return "", time.Time{}, err
		}
		if old := updated.Data[key]; len(old) > 0 {
			updated.Data[previousPrefix+key] = old
			updated.Annotations[annotationPlatformSwitch] = now.Add(r.rotationPropagation()).UTC().Format(time.RFC3339)
			updated.Annotations[annotationPreviousUntil] = now.Add(r.rotationOverlap()).UTC().Format(time.RFC3339)
		}
		updated.Data[key] = []byte(value)
		maps.Copy(updated.Data, extra)
		updated.Annotations[annotationRotated] = want
		conditions.Record(r.Recorder, nc, corev1.EventTypeNormal, keyportv1.ReasonCredentialsGenerated,
			fmt.Sprintf("rotated the webhook credentials in Secret %q; the previous ones stay valid for %v", name, r.rotationOverlap()))
	}
	switchAt, _ := time.Parse(time.RFC3339, updated.Annotations[annotationPlatformSwitch])
	previousUntil, _ := time.Parse(time.RFC3339, updated.Annotations[annotationPreviousUntil])
	if len(updated.Data[previousPrefix+key]) > 0 && !now.Before(previousUntil) {
		// The overlap is over: only the new value remains valid.
		delete(updated.Data, previousPrefix+key)
		delete(updated.Annotations, annotationPlatformSwitch)
		delete(updated.Annotations, annotationPreviousUntil)
		switchAt, previousUntil = time.Time{}, time.Time{}
	}
	if !ownedsecret.UpToDate(s, updated) {
		if err := r.Client.Update(ctx, updated); err != nil {
			return "", time.Time{}, fmt.Errorf("update generated Secret %q: %w", name, err)
		}
	}
	value := string(updated.Data[key])
	var next time.Time
	switch {
	case !switchAt.IsZero() && now.Before(switchAt):
		// Receivers may not have the new value yet: the platform keeps the
		// previous one until then.
		value, next = string(updated.Data[previousPrefix+key]), switchAt
	case !previousUntil.IsZero():
		next = previousUntil
	}
	return value, next, nil
}

func randomCredential() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// sameRegistration compares what the platform holds (got) with what is
// wanted. Platforms that never return secrets in reads cannot be checked for
// them, so an empty secret in got is not a difference.
func sameRegistration(got, want drivers.NotificationChannel) bool {
	sameSecret := func(g, w string) bool { return g == "" || g == w }
	return got.Name == want.Name && got.ChannelType == want.ChannelType && got.Method == want.Method && got.WebhookURL == want.WebhookURL &&
		maps.Equal(got.Headers, want.Headers) && slices.Equal(got.EventTypes, want.EventTypes) &&
		got.Auth.Type == want.Auth.Type && got.Auth.TokenURL == want.Auth.TokenURL && got.Auth.ClientID == want.Auth.ClientID &&
		sameSecret(got.Auth.ClientSecret, want.Auth.ClientSecret) && got.Auth.Username == want.Auth.Username &&
		sameSecret(got.Auth.Password, want.Auth.Password) &&
		slices.Equal(got.Auth.Scopes, want.Auth.Scopes) && maps.Equal(got.Auth.Headers, want.Auth.Headers)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
