package m2mcertificate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cert-manager/cert-manager/pkg/apis/certmanager"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/certs"
)

// sourceError is a problem with the certificate's source, with the reason a
// person reads. Messages name Secrets and keys, never their contents.
type sourceError struct {
	reason  string
	message string
}

func (e *sourceError) Error() string { return e.message }

// loaded is a certificate read from its source.
type loaded struct {
	bundle *certs.Bundle
	// caPEM is the issuing CA when the source knows it.
	caPEM []byte
	// renewable is false for provider-issued certificates Keyport cannot renew.
	renewable bool
}

// load reads the certificate from whichever source the spec names. For a
// cert-manager source it first makes sure the Certificate exists.
func (r *Reconciler) load(ctx context.Context, m *keyportv1.M2MCertificate) (*loaded, error) {
	switch {
	case m.Spec.SecretRef != nil:
		s, err := r.secret(ctx, m.Namespace, m.Spec.SecretRef.Name)
		if err != nil {
			return nil, err
		}
		b, err := certs.DecodePEM(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			return nil, &sourceError{keyportv1.ReasonInvalidCertificateData,
				fmt.Sprintf("Secret %q does not hold a usable tls.crt and tls.key: %v", s.Name, err)}
		}
		return &loaded{bundle: b, caPEM: s.Data["ca.crt"]}, nil

	case m.Spec.PKCS12 != nil:
		p := m.Spec.PKCS12
		s, err := r.secret(ctx, m.Namespace, p.SecretName)
		if err != nil {
			return nil, err
		}
		key := p.BundleKey
		if key == "" {
			key = "bundle.p12"
		}
		data, ok := s.Data[key]
		if !ok {
			return nil, &sourceError{keyportv1.ReasonSourceSecretNotFound, fmt.Sprintf("Secret %q has no key %q", p.SecretName, key)}
		}
		ps, err := r.secret(ctx, m.Namespace, p.Passphrase.Name)
		if err != nil {
			return nil, err
		}
		passphrase, ok := ps.Data[p.Passphrase.Key]
		if !ok {
			return nil, &sourceError{keyportv1.ReasonSourceSecretNotFound, fmt.Sprintf("Secret %q has no key %q", p.Passphrase.Name, p.Passphrase.Key)}
		}
		decode := r.decodePKCS12
		if decode == nil {
			decode = certs.DecodePKCS12
		}
		b, err := decode(data, string(passphrase))
		switch {
		case errors.Is(err, certs.ErrBundleTooLarge):
			return nil, &sourceError{ReasonBundleTooLarge, fmt.Sprintf("the bundle in Secret %q key %q is refused: %v", p.SecretName, key, err)}
		case errors.Is(err, certs.ErrBundleTooExpensive):
			return nil, &sourceError{ReasonBundleTooExpensive, fmt.Sprintf("the bundle in Secret %q key %q is refused: %v", p.SecretName, key, err)}
		case errors.Is(err, certs.ErrWrongPassphrase):
			return nil, &sourceError{keyportv1.ReasonWrongPassphrase,
				fmt.Sprintf("the passphrase in Secret %q key %q does not open the bundle in Secret %q", p.Passphrase.Name, p.Passphrase.Key, p.SecretName)}
		case errors.Is(err, certs.ErrNoPrivateKey):
			return nil, &sourceError{keyportv1.ReasonBundleWithoutKey,
				fmt.Sprintf("the bundle in Secret %q holds no private key: export it with its key", p.SecretName)}
		case err != nil:
			return nil, &sourceError{keyportv1.ReasonInvalidCertificateData, fmt.Sprintf("the bundle in Secret %q: %v", p.SecretName, err)}
		}
		return &loaded{bundle: b, caPEM: b.CAPEM()}, nil

	case m.Spec.CertManager != nil:
		return r.loadFromCertManager(ctx, m)
	}
	return nil, &sourceError{keyportv1.ReasonInvalidCertificateData, "no certificate source is set"}
}

func (r *Reconciler) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &sourceError{keyportv1.ReasonSourceSecretNotFound, fmt.Sprintf("Secret %q does not exist in namespace %q", name, namespace)}
		}
		return nil, fmt.Errorf("read Secret %q: %w", name, err)
	}
	return s, nil
}

// certManagerSecretName is where cert-manager writes the issued certificate;
// Keyport normalizes it into the output Secret.
func certManagerSecretName(m *keyportv1.M2MCertificate) string { return m.Name + "-cert-manager" }

// loadFromCertManager keeps the owned cert-manager Certificate in line with
// the spec and reads what cert-manager issued.
func (r *Reconciler) loadFromCertManager(ctx context.Context, m *keyportv1.M2MCertificate) (*loaded, error) {
	spec := certificateSpec(m)
	crt := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace}}
	if refusal := r.issuerRefusal(spec.IssuerRef, m.Namespace); refusal != "" {
		// One created before the issuer was refused would go on renewing.
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(crt), crt); err == nil && metav1.IsControlledBy(crt, m) {
			if err := r.Client.Delete(ctx, crt); client.IgnoreNotFound(err) != nil {
				return nil, fmt.Errorf("delete cert-manager Certificate %q of a refused issuer: %w", crt.Name, err)
			}
		} else if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("read cert-manager Certificate %q: %w", crt.Name, err)
		}
		m.Status.CertificateName = ""
		return nil, &sourceError{ReasonIssuerNotAllowed, refusal}
	}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, crt, func() error {
		crt.Spec = spec
		return controllerutil.SetControllerReference(m, crt, r.Client.Scheme())
	})
	if err != nil {
		return nil, fmt.Errorf("create or update cert-manager Certificate %q: %w", m.Name, err)
	}
	m.Status.CertificateName = crt.Name
	ready := apimeta.FindStatusCondition(toMetaConditions(crt.Status.Conditions), string(cmapi.CertificateConditionReady))
	s := &corev1.Secret{}
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: certManagerSecretName(m)}, s)
	if apierrors.IsNotFound(err) || (err == nil && len(s.Data[corev1.TLSCertKey]) == 0) {
		msg := fmt.Sprintf("waiting for cert-manager to issue Certificate %q", crt.Name)
		if ready != nil && ready.Message != "" {
			msg += ": " + ready.Message
		}
		return nil, &sourceError{keyportv1.ReasonCertificateNotReady, msg}
	}
	if err != nil {
		return nil, fmt.Errorf("read cert-manager's Secret: %w", err)
	}
	b, err := certs.DecodePEM(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, &sourceError{keyportv1.ReasonInvalidCertificateData, fmt.Sprintf("cert-manager's Secret %q: %v", s.Name, err)}
	}
	return &loaded{bundle: b, caPEM: s.Data["ca.crt"], renewable: true}, nil
}

// issuerRefusal says why ref may not sign for an M2MCertificate in
// namespace, or "" when it may. Keyport creates the Certificate with its
// own rights, and a ClusterIssuer signs for every namespace: a tenant naming
// one would get certificates for any identity from a cluster-wide CA. So
// ClusterIssuers are used only when the cluster admin allows them; an
// Issuer is the tenant's own namespace's.
func (r *Reconciler) issuerRefusal(ref cmmeta.IssuerReference, namespace string) string {
	if ref.Kind != cmapi.ClusterIssuerKind {
		return ""
	}
	name := ref.Name
	if ref.Group != certmanager.GroupName {
		name = ref.Group + "/" + ref.Name
	}
	if slices.Contains(r.AllowedClusterIssuers, name) {
		return ""
	}
	return fmt.Sprintf("ClusterIssuer %q is not one the cluster admin allows M2MCertificates to use (operator flag --allowed-cluster-issuers); "+
		"use an Issuer in namespace %q or ask the admin to allow it", name, namespace)
}

// certificateSpec maps the M2MCertificate's cert-manager source.
func certificateSpec(m *keyportv1.M2MCertificate) cmapi.CertificateSpec {
	src := m.Spec.CertManager
	kind := src.IssuerRef.Kind
	if kind == "" {
		kind = "Issuer"
	}
	group := src.IssuerRef.Group
	if group == "" {
		group = "cert-manager.io"
	}
	spec := cmapi.CertificateSpec{
		SecretName: certManagerSecretName(m),
		IssuerRef:  cmmeta.IssuerReference{Name: src.IssuerRef.Name, Kind: kind, Group: group},
		CommonName: src.CommonName,
		DNSNames:   src.DNSNames,
		URIs:       src.URIs,
		Duration:   src.Duration,
		// A client certificate: usable for mutual TLS and for signing.
		Usages: []cmapi.KeyUsage{cmapi.UsageClientAuth, cmapi.UsageDigitalSignature, cmapi.UsageKeyEncipherment},
		PrivateKey: &cmapi.CertificatePrivateKey{
			// A new key with each certificate: a leaked key expires with it.
			RotationPolicy: cmapi.RotationPolicyAlways,
			Algorithm:      cmapi.ECDSAKeyAlgorithm,
			Size:           256,
		},
	}
	if src.RenewBefore != nil {
		spec.RenewBefore = src.RenewBefore
	}
	if len(src.Organizations) > 0 {
		spec.Subject = &cmapi.X509Subject{Organizations: src.Organizations}
	}
	if k := src.PrivateKey; k != nil {
		spec.PrivateKey.Algorithm = cmapi.PrivateKeyAlgorithm(k.Algorithm)
		spec.PrivateKey.Size = 0
		if k.Size != nil {
			spec.PrivateKey.Size = int(*k.Size)
		}
	}
	return spec
}

func toMetaConditions(in []cmapi.CertificateCondition) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(in))
	for _, c := range in {
		out = append(out, metav1.Condition{Type: string(c.Type), Status: metav1.ConditionStatus(c.Status), Reason: c.Reason, Message: c.Message})
	}
	return out
}

var _ client.Object = &cmapi.Certificate{}
