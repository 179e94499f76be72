// Package m2mcertificate is the M2MCertificate controller: it turns a
// cert-manager Certificate, a provider-issued PKCS#12 bundle or an existing
// TLS Secret into a normalized kubernetes.io/tls Secret, reports the
// certificate's identity and expiry, warns in time, and registers each new
// certificate with the platform before it is used.
package m2mcertificate

import (
	"context"
	"errors"
	"fmt"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/operator/internal/ownedsecret"
	"github.com/keyport-dev/keyport/operator/internal/platform"
	"github.com/keyport-dev/keyport/operator/internal/reconcilekit"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/drivers"
)

// annotationRegistered records which certificate is registered at the
// platform (its thumbprint), so that it is registered once.
const annotationRegistered = "keyport.dev/registered-thumbprint"

// Reasons of the conditions only this controller sets.
const (
	// ReasonBundleTooLarge: the PKCS#12 bundle is over the size or
	// certificate-count limit of shared/certs.
	ReasonBundleTooLarge = "BundleTooLarge"
	// ReasonBundleTooExpensive: the bundle asks for more key-derivation work
	// than Keyport allows.
	ReasonBundleTooExpensive = "BundleTooExpensive"
	// ReasonIssuerNotAllowed: the spec names a ClusterIssuer the cluster
	// admin has not allowed.
	ReasonIssuerNotAllowed = "IssuerNotAllowed"
)

// DefaultWorkers is how many M2MCertificates are reconciled at once when
// Workers is unset. A reconcile may decode a bundle (up to about a quarter
// second of CPU) or wait on a platform to register a certificate: with one
// worker, one tenant's M2MCertificate held every other tenant's.
const DefaultWorkers = 4

var certificateExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "keyport_certificate_expiry_timestamp_seconds",
	Help: "notAfter of each M2MCertificate's current certificate, as a Unix timestamp.",
}, []string{"namespace", "name"})

func init() { metrics.Registry.MustRegister(certificateExpiry) }

// Reconciler reconciles M2MCertificates.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Clock tells the time of expiry checks; nil means the real clock.
	Clock clock.PassiveClock
	// Workers is how many M2MCertificates are reconciled at once; 0 means
	// DefaultWorkers.
	Workers int
	// AllowedClusterIssuers are the ClusterIssuers an M2MCertificate may
	// name: cert-manager.io ones by name, others as <group>/<name>. Issuers
	// in the M2MCertificate's own namespace are always allowed.
	AllowedClusterIssuers []string

	// decodePKCS12 is certs.DecodePKCS12; tests replace it to hold a decode.
	decodePKCS12 func(data []byte, passphrase string) (*certs.Bundle, error)
}

// +kubebuilder:rbac:groups=keyport.dev,resources=m2mcertificates,verbs=list;watch
// +kubebuilder:rbac:groups=keyport.dev,resources=m2mcertificates/status,verbs=patch
// +kubebuilder:rbac:groups=keyport.dev,resources=m2mcertificates/finalizers,verbs=update
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=list;watch;create;update

// Reconcile brings one M2MCertificate's output Secret and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.status().Reconcile(ctx, req, &keyportv1.M2MCertificate{}, func(gone types.NamespacedName) {
		certificateExpiry.DeleteLabelValues(gone.Namespace, gone.Name)
	}, r.reconcile)
}

// status writes an M2MCertificate's status: every field is worth a write.
func (r *Reconciler) status() *reconcilekit.Status[*keyportv1.M2MCertificate, keyportv1.M2MCertificateStatus] {
	return &reconcilekit.Status[*keyportv1.M2MCertificate, keyportv1.M2MCertificateStatus]{Client: r.Client, Recorder: r.Recorder,
		Parts: func(m *keyportv1.M2MCertificate) (*keyportv1.M2MCertificateStatus, *int64, *[]metav1.Condition) {
			return &m.Status, &m.Status.ObservedGeneration, &m.Status.Conditions
		}}
}

func (r *Reconciler) reconcile(ctx context.Context, m *keyportv1.M2MCertificate) (ctrl.Result, error) {
	now := reconcilekit.Clock(r.Clock).Now()
	m.Status.OutputSecretName = outputSecretName(m)
	l, err := r.load(ctx, m)
	if err != nil {
		var se *sourceError
		if !errors.As(err, &se) {
			return ctrl.Result{}, err
		}
		// The previous certificate, if any, stays in the output Secret. It
		// is not Ready when its issuer is no longer allowed.
		ready := r.outputStillValid(ctx, m, now)
		if se.reason == ReasonIssuerNotAllowed {
			ready = metav1.ConditionFalse
		}
		conditions.SetProblem(&m.Status.Conditions, m.Generation, ready, se.reason, se.message)
		if se.reason == keyportv1.ReasonCertificateNotReady {
			return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
		}
		return ctrl.Result{}, nil
	}
	leaf := l.bundle.Leaf
	info := certs.Describe(leaf)

	registered, err := r.register(ctx, m, l)
	if err != nil {
		msg := "registering the certificate with the platform failed: " + err.Error()
		conditions.SetProblem(&m.Status.Conditions, m.Generation, r.outputStillValid(ctx, m, now), keyportv1.ReasonRegistrationFailed, msg)
		return ctrl.Result{RequeueAfter: 15 * time.Second}, nil
	}
	// Registration comes first: a consumer starts using the certificate as
	// soon as it is in the output Secret.
	if err := r.writeOutput(ctx, m, l, registered); err != nil {
		return ctrl.Result{}, err
	}

	m.Status.SHA1Thumbprint = info.SHA1Thumbprint
	m.Status.SHA256Fingerprint = info.SHA256Fingerprint
	m.Status.Subject, m.Status.Issuer, m.Status.SerialNumber = info.Subject, info.Issuer, info.SerialNumber
	m.Status.NotBefore = &metav1.Time{Time: info.NotBefore}
	m.Status.NotAfter = &metav1.Time{Time: info.NotAfter}
	certificateExpiry.WithLabelValues(m.Namespace, m.Name).Set(float64(info.NotAfter.Unix()))

	warning := DefaultExpiryWarning
	if m.Spec.ExpiryWarning != nil {
		warning = m.Spec.ExpiryWarning.Duration
	}
	state := assessExpiry(now, info.NotBefore, info.NotAfter, warning, l.renewable)
	reason := keyportv1.ReasonCertificateImported
	if l.renewable {
		reason = keyportv1.ReasonCertificateIssued
	}
	switch {
	case state.expired:
		setCondition(m, keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonCertificateExpired, state.message)
		setCondition(m, keyportv1.ConditionExpiringSoon, metav1.ConditionTrue, keyportv1.ReasonCertificateExpired, state.message)
	case state.expiring:
		setCondition(m, keyportv1.ConditionReady, metav1.ConditionTrue, reason, fmt.Sprintf("certificate %s is in Secret %q", info.SHA1Thumbprint, m.Status.OutputSecretName))
		setCondition(m, keyportv1.ConditionExpiringSoon, metav1.ConditionTrue, keyportv1.ReasonCertificateExpiring, state.message)
	default:
		setCondition(m, keyportv1.ConditionReady, metav1.ConditionTrue, reason, fmt.Sprintf("certificate %s is in Secret %q", info.SHA1Thumbprint, m.Status.OutputSecretName))
		setCondition(m, keyportv1.ConditionExpiringSoon, metav1.ConditionFalse, reason, fmt.Sprintf("valid until %s", info.NotAfter.UTC().Format(time.RFC3339)))
	}
	setCondition(m, keyportv1.ConditionDegraded, metav1.ConditionFalse, reason, "the source is readable")
	if !state.nextCheck.IsZero() && state.nextCheck.After(now) {
		return ctrl.Result{RequeueAfter: state.nextCheck.Sub(now)}, nil
	}
	return ctrl.Result{}, nil
}

// register registers the certificate at the platform when the spec asks and
// it is not registered yet. It returns the thumbprint now registered.
func (r *Reconciler) register(ctx context.Context, m *keyportv1.M2MCertificate, l *loaded) (string, error) {
	ref := m.Spec.Registration
	if ref == nil {
		return "", nil
	}
	thumbprint := certs.Thumbprint(l.bundle.Leaf)
	if out, err := r.output(ctx, m); err == nil && out.Annotations[annotationRegistered] == thumbprint && m.Status.RegistrationID != "" {
		return thumbprint, nil
	}
	d, conn, err := platform.Connect(ctx, r.Client, m.Namespace, ref)
	if err != nil {
		return "", err
	}
	registrar, ok := d.(drivers.CertificateRegistrar)
	if !ok {
		return "", fmt.Errorf("driver %q cannot register certificates", ref.Driver)
	}
	id, err := registrar.RegisterCertificate(ctx, conn, l.bundle.CertificatePEM())
	if err != nil {
		return "", err
	}
	m.Status.RegistrationID = id
	return thumbprint, nil
}

func outputSecretName(m *keyportv1.M2MCertificate) string {
	if m.Spec.OutputSecretName != "" {
		return m.Spec.OutputSecretName
	}
	return m.Name + "-tls"
}

func (r *Reconciler) output(ctx context.Context, m *keyportv1.M2MCertificate) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: outputSecretName(m)}, s)
	return s, err
}

// outputStillValid reports whether the output Secret holds a certificate
// that is valid now, so a broken source does not make a working one look
// broken.
func (r *Reconciler) outputStillValid(ctx context.Context, m *keyportv1.M2MCertificate, now time.Time) metav1.ConditionStatus {
	s, err := r.output(ctx, m)
	if err != nil {
		return metav1.ConditionFalse
	}
	list, err := certs.DecodeCertificatesPEM(s.Data[corev1.TLSCertKey])
	if err != nil || !now.Before(list[0].NotAfter) {
		return metav1.ConditionFalse
	}
	return metav1.ConditionTrue
}

// writeOutput writes the normalized kubernetes.io/tls Secret.
func (r *Reconciler) writeOutput(ctx context.Context, m *keyportv1.M2MCertificate, l *loaded, registered string) error {
	keyPEM, err := l.bundle.KeyPEM()
	if err != nil {
		return err
	}
	return ownedsecret.Apply(ctx, r.Client, m, outputSecretName(m), func(s *corev1.Secret) error {
		s.Type = corev1.SecretTypeTLS
		s.Data = map[string][]byte{corev1.TLSCertKey: l.bundle.CertificatePEM(), corev1.TLSPrivateKeyKey: keyPEM}
		if len(l.caPEM) > 0 {
			s.Data["ca.crt"] = l.caPEM
		}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[keyportv1.LabelM2MCertificate] = m.Name
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[keyportv1.AnnotationExpiresAt] = l.bundle.Leaf.NotAfter.UTC().Format(time.RFC3339)
		if registered != "" {
			s.Annotations[annotationRegistered] = registered
		}
		return nil
	})
}

func setCondition(m *keyportv1.M2MCertificate, condType string, status metav1.ConditionStatus, reason, message string) {
	conditions.Set(&m.Status.Conditions, m.Generation, condType, status, reason, message)
}

// Field index from a source Secret's name to the M2MCertificates reading it.
const indexSourceSecrets = "keyport.dev/source-secrets"

func sourceSecrets(m *keyportv1.M2MCertificate) []string {
	switch {
	case m.Spec.SecretRef != nil:
		return []string{m.Spec.SecretRef.Name}
	case m.Spec.PKCS12 != nil:
		return []string{m.Spec.PKCS12.SecretName, m.Spec.PKCS12.Passphrase.Name}
	case m.Spec.CertManager != nil:
		return []string{certManagerSecretName(m)}
	}
	return nil
}

// SetupWithManager watches M2MCertificates, their output Secrets, their
// source Secrets (a new bundle, a renewed cert-manager certificate) and the
// cert-manager Certificates they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := reconcilekit.Index(mgr, &keyportv1.M2MCertificate{}, indexSourceSecrets, sourceSecrets); err != nil {
		return err
	}
	workers := r.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("m2mcertificate").
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		For(&keyportv1.M2MCertificate{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.Secret{}).
		Owns(&cmapi.Certificate{}).
		// Sources are the tenants' Secrets and cert-manager's, of which the
		// cache holds only metadata (operator/secretcache); Keyport's own
		// Secrets are sources only when they hold a certificate, never a
		// token.
		Watches(&corev1.Secret{}, r.sourceUsers(), builder.OnlyMetadata).
		Watches(&corev1.Secret{}, r.sourceUsers(), builder.WithPredicates(
			predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetLabels()[keyportv1.LabelApiClient] == "" }))).
		Complete(r)
}

// sourceUsers maps a Secret to the M2MCertificates that read it.
func (r *Reconciler) sourceUsers() handler.EventHandler {
	return reconcilekit.EnqueueReferrers(r.Client, func() client.ObjectList { return &keyportv1.M2MCertificateList{} }, indexSourceSecrets)
}
