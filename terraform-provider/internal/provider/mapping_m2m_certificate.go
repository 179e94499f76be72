package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// m2mCertificateModel is keyport_m2m_certificate. Its mapping to
// keyportv1.M2MCertificate lives only here.
type m2mCertificateModel struct {
	baseModel

	CertManager      *certManagerModel `tfsdk:"cert_manager"`
	PKCS12           *pkcs12Model      `tfsdk:"pkcs12"`
	SecretRef        *secretRefModel   `tfsdk:"secret_ref"`
	OutputSecretName types.String      `tfsdk:"output_secret_name"`
	ExpiryWarning    durationValue     `tfsdk:"expiry_warning"`
	Registration     *platformModel    `tfsdk:"registration"`

	// Kept in the bundle Secret, never in the spec.
	PKCS12WO            types.String `tfsdk:"pkcs12_wo"`
	PKCS12WOVersion     types.Int64  `tfsdk:"pkcs12_wo_version"`
	PassphraseWO        types.String `tfsdk:"passphrase_wo"`
	PassphraseWOVersion types.Int64  `tfsdk:"passphrase_wo_version"`

	// From the status.
	SHA1Thumbprint    types.String `tfsdk:"sha1_thumbprint"`
	SHA256Fingerprint types.String `tfsdk:"sha256_fingerprint"`
	Subject           types.String `tfsdk:"subject"`
	Issuer            types.String `tfsdk:"issuer"`
	SerialNumber      types.String `tfsdk:"serial_number"`
	NotBefore         types.String `tfsdk:"not_before"`
	NotAfter          types.String `tfsdk:"not_after"`
	CertificateName   types.String `tfsdk:"certificate_name"`
	RegistrationID    types.String `tfsdk:"registration_id"`
}

type certManagerModel struct {
	IssuerRef     *issuerRefModel  `tfsdk:"issuer_ref"`
	CommonName    types.String     `tfsdk:"common_name"`
	Organizations types.List       `tfsdk:"organizations"`
	DNSNames      types.List       `tfsdk:"dns_names"`
	URIs          types.List       `tfsdk:"uris"`
	PrivateKey    *privateKeyModel `tfsdk:"private_key"`
	Duration      durationValue    `tfsdk:"duration"`
	RenewBefore   durationValue    `tfsdk:"renew_before"`
}

type issuerRefModel struct {
	Name  types.String `tfsdk:"name"`
	Kind  types.String `tfsdk:"kind"`
	Group types.String `tfsdk:"group"`
}

type privateKeyModel struct {
	Algorithm types.String `tfsdk:"algorithm"`
	Size      types.Int64  `tfsdk:"size"`
}

type pkcs12Model struct {
	SecretName types.String            `tfsdk:"secret_name"`
	BundleKey  types.String            `tfsdk:"bundle_key"`
	Passphrase *secretKeySelectorModel `tfsdk:"passphrase"`
}

type secretRefModel struct {
	Name types.String `tfsdk:"name"`
}

func toM2MCertificate(m *m2mCertificateModel) *keyportv1.M2MCertificate {
	spec := keyportv1.M2MCertificateSpec{
		OutputSecretName: knownString(m.OutputSecretName),
		ExpiryWarning:    toDuration(m.ExpiryWarning),
		Registration:     toPlatform(m.Registration),
	}
	if c := m.CertManager; c != nil {
		cm := &keyportv1.CertManagerSource{
			CommonName:    c.CommonName.ValueString(),
			Organizations: toStrings(c.Organizations),
			DNSNames:      toStrings(c.DNSNames),
			URIs:          toStrings(c.URIs),
			Duration:      toDuration(c.Duration),
			RenewBefore:   toDuration(c.RenewBefore),
		}
		if i := c.IssuerRef; i != nil {
			cm.IssuerRef = keyportv1.IssuerReference{Name: i.Name.ValueString(), Kind: i.Kind.ValueString(), Group: i.Group.ValueString()}
		}
		if k := c.PrivateKey; k != nil {
			cm.PrivateKey = &keyportv1.PrivateKeySettings{Algorithm: k.Algorithm.ValueString(), Size: toInt32(k.Size)}
		}
		spec.CertManager = cm
	}
	if p := m.PKCS12; p != nil {
		spec.PKCS12 = &keyportv1.PKCS12Source{SecretName: p.SecretName.ValueString(), BundleKey: p.BundleKey.ValueString()}
		if s := toSecretKeySelector(p.Passphrase); s != nil {
			spec.PKCS12.Passphrase = *s
		}
	}
	if s := m.SecretRef; s != nil {
		spec.SecretRef = &keyportv1.TLSSecretSource{Name: s.Name.ValueString()}
	}
	return &keyportv1.M2MCertificate{ObjectMeta: m.objectMeta(), Spec: spec}
}

func m2mCertificateFromSpec(c *keyportv1.M2MCertificate, m *m2mCertificateModel) {
	s := c.Spec
	m.OutputSecretName = optString(s.OutputSecretName)
	m.ExpiryWarning = fromDuration(s.ExpiryWarning)
	m.Registration = fromPlatform(s.Registration)

	m.CertManager = nil
	if cm := s.CertManager; cm != nil {
		out := &certManagerModel{
			IssuerRef:     &issuerRefModel{Name: types.StringValue(cm.IssuerRef.Name), Kind: optString(cm.IssuerRef.Kind), Group: optString(cm.IssuerRef.Group)},
			CommonName:    optString(cm.CommonName),
			Organizations: fromStrings(cm.Organizations),
			DNSNames:      fromStrings(cm.DNSNames),
			URIs:          fromStrings(cm.URIs),
			Duration:      fromDuration(cm.Duration),
			RenewBefore:   fromDuration(cm.RenewBefore),
		}
		if k := cm.PrivateKey; k != nil {
			out.PrivateKey = &privateKeyModel{Algorithm: types.StringValue(k.Algorithm), Size: fromInt32(k.Size)}
		}
		m.CertManager = out
	}
	m.PKCS12 = nil
	if p := s.PKCS12; p != nil {
		m.PKCS12 = &pkcs12Model{SecretName: types.StringValue(p.SecretName), BundleKey: optString(p.BundleKey),
			Passphrase: fromSecretKeySelector(&p.Passphrase)}
	}
	m.SecretRef = nil
	if r := s.SecretRef; r != nil {
		m.SecretRef = &secretRefModel{Name: types.StringValue(r.Name)}
	}
}

func m2mCertificateFromStatus(c *keyportv1.M2MCertificate, m *m2mCertificateModel) {
	st := c.Status
	m.OutputSecretName = declaredOr(m.OutputSecretName, st.OutputSecretName)
	m.SHA1Thumbprint = optString(st.SHA1Thumbprint)
	m.SHA256Fingerprint = optString(st.SHA256Fingerprint)
	m.Subject = optString(st.Subject)
	m.Issuer = optString(st.Issuer)
	m.SerialNumber = optString(st.SerialNumber)
	m.NotBefore = fromTime(st.NotBefore)
	m.NotAfter = fromTime(st.NotAfter)
	m.CertificateName = optString(st.CertificateName)
	m.RegistrationID = optString(st.RegistrationID)
}
