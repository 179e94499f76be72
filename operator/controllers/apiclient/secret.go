package apiclient

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// Annotations of the output Secret that only the controller reads. The
// public ones (expiry, refresh time, Reloader) are in the API package.
const (
	annotationIssuedAt      = "keyport.dev/issued-at"
	annotationInputsMAC     = "keyport.dev/inputs-mac"
	annotationDataMAC       = "keyport.dev/data-mac"
	annotationHandledForce  = "keyport.dev/refresh-handled"
	defaultOutputNameSuffix = "-token"
)

// outputSecretName is the Secret the token goes to.
func outputSecretName(ac *keyportv1.ApiClient) string {
	if ac.Spec.Output != nil && ac.Spec.Output.SecretName != "" {
		return ac.Spec.Output.SecretName
	}
	return ac.Name + defaultOutputNameSuffix
}

// outputConflictError is an output Secret that exists and is not the
// ApiClient's: another ApiClient's, or created by someone else. Keyport never
// touches it.
type outputConflictError struct {
	secret string
	owner  *metav1.OwnerReference
}

func (e *outputConflictError) Error() string {
	whose := "it was not created by this ApiClient"
	if e.owner != nil {
		whose = fmt.Sprintf("it belongs to %s %q", e.owner.Kind, e.owner.Name)
	}
	return fmt.Sprintf("the output Secret %q already exists and %s; Keyport leaves it untouched: choose another spec.output.secretName, or delete that Secret",
		e.secret, whose)
}

// conflictRecheck is how often an ApiClient whose output Secret is someone
// else's looks again without being told: the Secret watch queues it as soon
// as that Secret changes or goes.
const conflictRecheck = 5 * time.Minute

// issuedToken is a token with the bookkeeping the controller keeps beside it.
type issuedToken struct {
	token        tokensecret.Token
	issuedAt     time.Time
	refreshAt    time.Time
	inputsMAC    string
	handledForce string
}

// templateError is a user template that does not render.
type templateError struct{ err error }

func (e *templateError) Error() string { return "render output Secret: " + e.err.Error() }

// renderSecret fills s (new or existing) with the token. It returns the
// Secret's data, which is also what the data MAC covers.
func renderSecret(s *corev1.Secret, ac *keyportv1.ApiClient, t issuedToken, macKey []byte) error {
	var tmpl map[string]string
	if ac.Spec.Output != nil {
		tmpl = ac.Spec.Output.Template
	}
	data, err := tokensecret.Render(t.token, tmpl)
	if err != nil {
		return &templateError{err}
	}
	s.Type = corev1.SecretTypeOpaque
	s.Data = data
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels[keyportv1.LabelManagedBy] = keyportv1.ManagedByValue
	s.Labels[keyportv1.LabelApiClient] = ac.Name
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[keyportv1.AnnotationExpiresAt] = t.token.ExpiresAt.UTC().Format(time.RFC3339)
	s.Annotations[keyportv1.AnnotationRefreshAt] = t.refreshAt.UTC().Format(time.RFC3339)
	s.Annotations[keyportv1.AnnotationReloaderIgnore] = "true"
	s.Annotations[annotationIssuedAt] = t.issuedAt.UTC().Format(time.RFC3339)
	s.Annotations[annotationInputsMAC] = t.inputsMAC
	s.Annotations[annotationDataMAC] = dataMAC(macKey, data)
	if t.handledForce != "" {
		s.Annotations[annotationHandledForce] = t.handledForce
	} else {
		delete(s.Annotations, annotationHandledForce)
	}
	return nil
}

// readSecret recovers the token and its bookkeeping from the output Secret.
// It fails when the Secret was not written by this controller with this key
// or was edited since: such a Secret cannot be trusted to hold a valid token.
func readSecret(s *corev1.Secret, macKey []byte) (issuedToken, error) {
	var t issuedToken
	if !hmac.Equal([]byte(s.Annotations[annotationDataMAC]), []byte(dataMAC(macKey, s.Data))) {
		return t, fmt.Errorf("the Secret's data was changed outside Keyport")
	}
	tok, err := tokensecret.Parse(s.Data)
	if err != nil {
		return t, err
	}
	t.token = tok
	if t.issuedAt, err = time.Parse(time.RFC3339, s.Annotations[annotationIssuedAt]); err != nil {
		return t, fmt.Errorf("annotation %s is unreadable", annotationIssuedAt)
	}
	if t.refreshAt, err = time.Parse(time.RFC3339, s.Annotations[keyportv1.AnnotationRefreshAt]); err != nil {
		return t, fmt.Errorf("annotation %s is unreadable", keyportv1.AnnotationRefreshAt)
	}
	t.inputsMAC = s.Annotations[annotationInputsMAC]
	t.handledForce = s.Annotations[annotationHandledForce]
	return t, nil
}

// dataMAC is a keyed MAC of the Secret's data, so that tampering is noticed
// without storing a plain hash of a token anywhere.
func dataMAC(key []byte, data map[string][]byte) string {
	h := hmac.New(sha256.New, key)
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%s:%d:", k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}
