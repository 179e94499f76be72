package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// apiClientModel is keyport_api_client. Its mapping to keyportv1.ApiClient
// lives only here: toApiClient, apiClientFromSpec and apiClientFromStatus.
type apiClientModel struct {
	baseModel

	TokenURL             types.String            `tfsdk:"token_url"`
	Environment          types.String            `tfsdk:"environment"`
	Preset               types.String            `tfsdk:"preset"`
	Method               types.String            `tfsdk:"method"`
	BodyEncoding         types.String            `tfsdk:"body_encoding"`
	GrantType            types.String            `tfsdk:"grant_type"`
	ClientAuthentication types.String            `tfsdk:"client_authentication"`
	ClientID             types.String            `tfsdk:"client_id"`
	Credentials          *credentialsModel       `tfsdk:"credentials"`
	ClientCertificate    *clientCertificateModel `tfsdk:"client_certificate"`
	Scopes               types.List              `tfsdk:"scopes"`
	ExtraParameters      types.Map               `tfsdk:"extra_parameters"`
	Headers              []headerModel           `tfsdk:"headers"`
	TLS                  *apiClientTLSModel      `tfsdk:"tls"`
	Assertion            *assertionModel         `tfsdk:"assertion"`
	Refresh              *refreshModel           `tfsdk:"refresh"`
	OutputSecretName     types.String            `tfsdk:"output_secret_name"`
	OutputTemplate       types.Map               `tfsdk:"output_template"`
	RevocationProbe      *revocationProbeModel   `tfsdk:"revocation_probe"`
	JWKS                 *jwksModel              `tfsdk:"jwks"`
	Suspend              types.Bool              `tfsdk:"suspend"`

	// Kept in the credentials Secret, never in the spec.
	ClientSecretWO        types.String `tfsdk:"client_secret_wo"`
	ClientSecretWOVersion types.Int64  `tfsdk:"client_secret_wo_version"`
	Username              types.String `tfsdk:"username"`
	PasswordWO            types.String `tfsdk:"password_wo"`
	PasswordWOVersion     types.Int64  `tfsdk:"password_wo_version"`

	// From the status.
	TokenExpiresAt        types.String `tfsdk:"token_expires_at"`
	CertificateThumbprint types.String `tfsdk:"certificate_thumbprint"`
}

type credentialsModel struct {
	SecretName      types.String `tfsdk:"secret_name"`
	ClientIDKey     types.String `tfsdk:"client_id_key"`
	ClientSecretKey types.String `tfsdk:"client_secret_key"`
	UsernameKey     types.String `tfsdk:"username_key"`
	PasswordKey     types.String `tfsdk:"password_key"`
}

type clientCertificateModel struct {
	M2MCertificateName types.String `tfsdk:"m2m_certificate_name"`
	SecretName         types.String `tfsdk:"secret_name"`
}

type apiClientTLSModel struct {
	CABundle          *secretKeySelectorModel `tfsdk:"ca_bundle"`
	AllowInsecureHTTP types.Bool              `tfsdk:"allow_insecure_http"`
	AllowLinkLocal    types.Bool              `tfsdk:"allow_link_local"`
}

type assertionModel struct {
	Audience   types.String            `tfsdk:"audience"`
	Algorithm  types.String            `tfsdk:"algorithm"`
	KeyID      types.String            `tfsdk:"key_id"`
	KeyIDFrom  types.String            `tfsdk:"key_id_from"`
	SigningKey *secretKeySelectorModel `tfsdk:"signing_key"`
}

type refreshModel struct {
	Strategy          types.String  `tfsdk:"strategy"`
	RefreshAtPercent  types.Int64   `tfsdk:"refresh_at_percent"`
	PropagationBudget durationValue `tfsdk:"propagation_budget"`
	RetryMargin       durationValue `tfsdk:"retry_margin"`
	DefaultLifetime   durationValue `tfsdk:"default_lifetime"`
}

type revocationProbeModel struct {
	URL types.String `tfsdk:"url"`
}

type jwksModel struct {
	URL             types.String  `tfsdk:"url"`
	ConfigMapName   types.String  `tfsdk:"config_map_name"`
	RefreshInterval durationValue `tfsdk:"refresh_interval"`
}

// toApiClient builds the object to apply from a plan.
func toApiClient(m *apiClientModel) *keyportv1.ApiClient {
	spec := keyportv1.ApiClientSpec{
		TokenURL:             m.TokenURL.ValueString(),
		Environment:          m.Environment.ValueString(),
		Preset:               keyportv1.Preset(m.Preset.ValueString()),
		Method:               keyportv1.HTTPMethod(m.Method.ValueString()),
		BodyEncoding:         keyportv1.BodyEncoding(m.BodyEncoding.ValueString()),
		GrantType:            keyportv1.GrantType(m.GrantType.ValueString()),
		ClientAuthentication: keyportv1.ClientAuthentication(m.ClientAuthentication.ValueString()),
		ClientID:             m.ClientID.ValueString(),
		Scopes:               toStrings(m.Scopes),
		ExtraParameters:      toStringMap(m.ExtraParameters),
		Headers:              toHeaders(m.Headers),
		Suspend:              m.Suspend.ValueBool(),
	}
	if c := m.Credentials; c != nil {
		spec.Credentials = &keyportv1.CredentialsSource{
			SecretName:      c.SecretName.ValueString(),
			ClientIDKey:     c.ClientIDKey.ValueString(),
			ClientSecretKey: c.ClientSecretKey.ValueString(),
			UsernameKey:     c.UsernameKey.ValueString(),
			PasswordKey:     c.PasswordKey.ValueString(),
		}
	}
	if c := m.ClientCertificate; c != nil {
		spec.ClientCertificate = &keyportv1.ClientCertificateReference{
			M2MCertificateName: c.M2MCertificateName.ValueString(),
			SecretName:         c.SecretName.ValueString(),
		}
	}
	if t := m.TLS; t != nil {
		spec.TLS = &keyportv1.TLSSettings{
			CABundle:          toSecretKeySelector(t.CABundle),
			AllowInsecureHTTP: t.AllowInsecureHTTP.ValueBool(),
			AllowLinkLocal:    t.AllowLinkLocal.ValueBool(),
		}
	}
	if a := m.Assertion; a != nil {
		spec.Assertion = &keyportv1.AssertionSettings{Audience: a.Audience.ValueString(), Algorithm: keyportv1.SigningAlgorithm(a.Algorithm.ValueString()),
			KeyID: a.KeyID.ValueString(), KeyIDFrom: keyportv1.KeyIDSource(a.KeyIDFrom.ValueString()), SigningKey: toSecretKeySelector(a.SigningKey)}
	}
	if r := m.Refresh; r != nil {
		spec.Refresh = &keyportv1.RefreshPolicy{
			Strategy:          keyportv1.RefreshStrategy(r.Strategy.ValueString()),
			RefreshAtPercent:  toInt32(r.RefreshAtPercent),
			PropagationBudget: toDuration(r.PropagationBudget),
			RetryMargin:       toDuration(r.RetryMargin),
			DefaultLifetime:   toDuration(r.DefaultLifetime),
		}
	}
	if name, tmpl := knownString(m.OutputSecretName), toStringMap(m.OutputTemplate); name != "" || tmpl != nil {
		spec.Output = &keyportv1.TokenOutput{SecretName: name, Template: tmpl}
	}
	if p := m.RevocationProbe; p != nil {
		spec.RevocationProbe = &keyportv1.RevocationProbe{URL: p.URL.ValueString()}
	}
	if j := m.JWKS; j != nil {
		spec.JWKS = &keyportv1.JWKSSettings{URL: j.URL.ValueString(), ConfigMapName: j.ConfigMapName.ValueString(),
			RefreshInterval: toDuration(j.RefreshInterval)}
	}
	return &keyportv1.ApiClient{ObjectMeta: m.objectMeta(), Spec: spec}
}

// apiClientFromSpec reads the spec back into m, so that drift shows in
// plans. Attributes that live only in state (versions, username) stay.
func apiClientFromSpec(ac *keyportv1.ApiClient, m *apiClientModel) {
	s := ac.Spec
	m.TokenURL = types.StringValue(s.TokenURL)
	m.Environment = optString(s.Environment)
	m.Preset = optString(string(s.Preset))
	m.Method = optString(string(s.Method))
	m.BodyEncoding = optString(string(s.BodyEncoding))
	m.GrantType = optString(string(s.GrantType))
	m.ClientAuthentication = optString(string(s.ClientAuthentication))
	m.ClientID = optString(s.ClientID)
	m.Scopes = fromStrings(s.Scopes)
	m.ExtraParameters = fromStringMap(s.ExtraParameters)
	m.Headers = fromHeaders(s.Headers)
	m.Suspend = types.BoolValue(s.Suspend)

	m.Credentials = nil
	if c := s.Credentials; c != nil {
		m.Credentials = &credentialsModel{
			SecretName:      types.StringValue(c.SecretName),
			ClientIDKey:     optString(c.ClientIDKey),
			ClientSecretKey: optString(c.ClientSecretKey),
			UsernameKey:     optString(c.UsernameKey),
			PasswordKey:     optString(c.PasswordKey),
		}
	}
	m.ClientCertificate = nil
	if c := s.ClientCertificate; c != nil {
		m.ClientCertificate = &clientCertificateModel{M2MCertificateName: optString(c.M2MCertificateName), SecretName: optString(c.SecretName)}
	}
	m.TLS = nil
	if t := s.TLS; t != nil {
		m.TLS = &apiClientTLSModel{
			CABundle:          fromSecretKeySelector(t.CABundle),
			AllowInsecureHTTP: types.BoolValue(t.AllowInsecureHTTP),
			AllowLinkLocal:    types.BoolValue(t.AllowLinkLocal),
		}
	}
	m.Assertion = nil
	if a := s.Assertion; a != nil {
		m.Assertion = &assertionModel{Audience: optString(a.Audience), Algorithm: optString(string(a.Algorithm)),
			KeyID: optString(a.KeyID), KeyIDFrom: optString(string(a.KeyIDFrom)), SigningKey: fromSecretKeySelector(a.SigningKey)}
	}
	m.Refresh = nil
	if r := s.Refresh; r != nil {
		m.Refresh = &refreshModel{
			Strategy:          optString(string(r.Strategy)),
			RefreshAtPercent:  fromInt32(r.RefreshAtPercent),
			PropagationBudget: fromDuration(r.PropagationBudget),
			RetryMargin:       fromDuration(r.RetryMargin),
			DefaultLifetime:   fromDuration(r.DefaultLifetime),
		}
	}
	m.OutputSecretName, m.OutputTemplate = types.StringNull(), types.MapNull(types.StringType)
	if o := s.Output; o != nil {
		m.OutputSecretName = optString(o.SecretName)
		m.OutputTemplate = fromStringMap(o.Template)
	}
	m.RevocationProbe = nil
	if p := s.RevocationProbe; p != nil {
		m.RevocationProbe = &revocationProbeModel{URL: types.StringValue(p.URL)}
	}
	m.JWKS = nil
	if j := s.JWKS; j != nil {
		m.JWKS = &jwksModel{URL: types.StringValue(j.URL), ConfigMapName: optString(j.ConfigMapName),
			RefreshInterval: fromDuration(j.RefreshInterval)}
	}
}

// apiClientFromStatus fills the computed attributes. output_secret_name
// keeps a declared name and otherwise shows the one the operator chose.
func apiClientFromStatus(ac *keyportv1.ApiClient, m *apiClientModel) {
	st := ac.Status
	m.OutputSecretName = declaredOr(m.OutputSecretName, st.OutputSecretName)
	m.TokenExpiresAt = fromTime(st.TokenExpiresAt)
	// Without a certificate there is no thumbprint, whatever a status not
	// yet updated after the certificate was removed still says: the plan
	// promised null (nullWithoutCertificate).
	m.CertificateThumbprint = types.StringNull()
	if m.ClientCertificate != nil {
		m.CertificateThumbprint = optString(st.CertificateThumbprint)
	}
}

// knownString is v's value, or "" when it is null or unknown.
func knownString(v types.String) string {
	if v.IsNull() || v.IsUnknown() {
		return ""
	}
	return v.ValueString()
}
