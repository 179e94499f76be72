package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// M2MCertificateSpec declares a client certificate for mutual TLS and for
// signing client assertions. Exactly one source is set.
//
// +kubebuilder:validation:XValidation:rule="[has(self.certManager), has(self.pkcs12), has(self.secretRef)].filter(x, x).size() == 1",message="set exactly one certificate source: certManager, pkcs12 or secretRef"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.certManager) == has(self.certManager) && has(oldSelf.pkcs12) == has(self.pkcs12) && has(oldSelf.secretRef) == has(self.secretRef)",message="the certificate source cannot be switched: create a new M2MCertificate and point the ApiClient at it"
type M2MCertificateSpec struct {
	// CertManager has Keyport create and own a cert-manager Certificate and
	// follow its renewals.
	// +optional
	CertManager *CertManagerSource `json:"certManager,omitempty"`

	// PKCS12 imports a provider-issued .p12/.pfx bundle protected by a
	// passphrase. Keyport cannot renew such a certificate; it warns in time.
	// +optional
	PKCS12 *PKCS12Source `json:"pkcs12,omitempty"`

	// SecretRef uses an existing kubernetes.io/tls Secret as it is.
	// +optional
	SecretRef *TLSSecretSource `json:"secretRef,omitempty"`

	// OutputSecretName of the normalized kubernetes.io/tls Secret. Defaults to
	// <m2mcertificate-name>-tls.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	OutputSecretName string `json:"outputSecretName,omitempty"`

	// ExpiryWarning is how long before notAfter the ExpiringSoon condition,
	// a Warning event and the expiry metric start warning. Default 720h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1m')",message="expiryWarning must be a duration of at least 1m, such as 720h"
	ExpiryWarning *metav1.Duration `json:"expiryWarning,omitempty"`

	// Registration registers the certificate with the platform, where its
	// provider driver supports it, before the previous one expires.
	// +optional
	Registration *PlatformReference `json:"registration,omitempty"`
}

// CertManagerSource describes the cert-manager Certificate Keyport creates.
// +kubebuilder:validation:XValidation:rule="!has(self.duration) || !has(self.renewBefore) || duration(self.renewBefore) < duration(self.duration)",message="renewBefore must be shorter than duration"
// +kubebuilder:validation:XValidation:rule="has(self.commonName) || (has(self.dnsNames) && size(self.dnsNames) > 0) || (has(self.uris) && size(self.uris) > 0)",message="set commonName, dnsNames or uris: a client certificate needs an identity"
type CertManagerSource struct {
	// IssuerRef names the cert-manager Issuer or ClusterIssuer that signs.
	IssuerRef IssuerReference `json:"issuerRef"`

	// CommonName of the subject.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CommonName string `json:"commonName,omitempty"`

	// Organizations in the subject.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=128
	Organizations []string `json:"organizations,omitempty"`

	// DNSNames as subject alternative names.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	DNSNames []string `json:"dnsNames,omitempty"`

	// URIs as subject alternative names.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=2048
	URIs []string `json:"uris,omitempty"`

	// PrivateKey algorithm and size.
	// +optional
	PrivateKey *PrivateKeySettings `json:"privateKey,omitempty"`

	// Duration of each issued certificate. cert-manager's default (90 days)
	// applies when unset; cert-manager refuses durations under 1h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1h')",message="duration must be at least 1h (cert-manager's minimum), such as 2160h"
	Duration *metav1.Duration `json:"duration,omitempty"`

	// RenewBefore is how long before expiry cert-manager renews.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('5m')",message="renewBefore must be a duration of at least 5m, such as 360h"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
}

// IssuerReference names a cert-manager issuer.
type IssuerReference struct {
	// Name of the issuer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Kind is Issuer (same namespace) or ClusterIssuer. Default Issuer.
	// +optional
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`

	// Group of the issuer. Default cert-manager.io.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}

// PrivateKeySettings for a cert-manager issued key.
// +kubebuilder:validation:XValidation:rule="!has(self.size) || (self.algorithm == 'RSA' ? self.size in [2048, 3072, 4096] : self.algorithm == 'ECDSA' ? self.size in [256, 384, 521] : false)",message="size must be 2048, 3072 or 4096 for RSA, 256, 384 or 521 for ECDSA, and unset for Ed25519"
type PrivateKeySettings struct {
	// Algorithm of the key. Ed25519 keys cannot sign RS256/PS256/ES256
	// assertions, so prefer RSA or ECDSA for private_key_jwt.
	// +kubebuilder:validation:Enum=RSA;ECDSA;Ed25519
	Algorithm string `json:"algorithm"`

	// Size in bits (RSA) or curve size (ECDSA).
	// +optional
	Size *int32 `json:"size,omitempty"`
}

// PKCS12Source reads a provider-issued bundle and its passphrase from Secrets
// in the same namespace.
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="Secret references are same-namespace only: remove 'namespace' and create the Secret in this M2MCertificate's namespace"
type PKCS12Source struct {
	// SecretName of the Secret holding the bundle.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`

	// BundleKey is the key of the bundle within the Secret. Default bundle.p12.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	BundleKey string `json:"bundleKey,omitempty"`

	// Passphrase of the bundle, read from a Secret key.
	Passphrase SecretKeySelector `json:"passphrase"`

	// Namespace must not be set: the bundle is read from this resource's
	// own namespace only.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// TLSSecretSource names an existing kubernetes.io/tls Secret.
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="Secret references are same-namespace only: remove 'namespace' and create the Secret in this M2MCertificate's namespace"
type TLSSecretSource struct {
	// Name of the kubernetes.io/tls Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace must not be set.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// M2MCertificateStatus describes the certificate currently in the output
// Secret. Nothing here is secret: these are the public certificate's facts.
type M2MCertificateStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, ExpiringSoon and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// OutputSecretName is the normalized kubernetes.io/tls Secret.
	// +optional
	OutputSecretName string `json:"outputSecretName,omitempty"`

	// CertificateName is the cert-manager Certificate Keyport owns, if any.
	// +optional
	CertificateName string `json:"certificateName,omitempty"`

	// SHA1Thumbprint of the leaf certificate, upper-case hex, the form
	// platforms bind into tokens.
	// +optional
	SHA1Thumbprint string `json:"sha1Thumbprint,omitempty"`

	// SHA256Fingerprint of the leaf certificate, upper-case hex.
	// +optional
	SHA256Fingerprint string `json:"sha256Fingerprint,omitempty"`

	// Subject of the leaf certificate.
	// +optional
	Subject string `json:"subject,omitempty"`

	// Issuer of the leaf certificate.
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// SerialNumber of the leaf certificate, hex.
	// +optional
	SerialNumber string `json:"serialNumber,omitempty"`

	// NotBefore of the leaf certificate.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`

	// NotAfter of the leaf certificate.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// RegistrationID is the platform's id for the registered certificate.
	// +optional
	RegistrationID string `json:"registrationID,omitempty"`
}

// M2MCertificate is a client certificate for mutual TLS and for signing client
// assertions, issued by cert-manager, imported from a provider's PKCS#12
// bundle, or taken from an existing TLS Secret.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=m2mcert,categories=keyport
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Expiring",type=string,JSONPath=`.status.conditions[?(@.type=="ExpiringSoon")].status`
// +kubebuilder:printcolumn:name="Not-After",type=string,JSONPath=`.status.notAfter`
// +kubebuilder:printcolumn:name="Thumbprint",type=string,JSONPath=`.status.sha1Thumbprint`,priority=1
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.outputSecretName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type M2MCertificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   M2MCertificateSpec   `json:"spec"`
	Status M2MCertificateStatus `json:"status,omitempty"`
}

// M2MCertificateList is a list of M2MCertificates.
//
// +kubebuilder:object:root=true
type M2MCertificateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []M2MCertificate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&M2MCertificate{}, &M2MCertificateList{})
}
