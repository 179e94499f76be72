package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// apiClientModel is keyport_api_client's state. Its mapping to the API type
// lives only here: toApiClient and fromApiClient.
type apiClientModel struct {
	ID                    types.String `tfsdk:"id"`
	Name                  types.String `tfsdk:"name"`
	Namespace             types.String `tfsdk:"namespace"`
	TokenURL              types.String `tfsdk:"token_url"`
	Preset                types.String `tfsdk:"preset"`
	Environment           types.String `tfsdk:"environment"`
	ClientID              types.String `tfsdk:"client_id"`
	CredentialsSecretName types.String `tfsdk:"credentials_secret_name"`
	ClientSecretWO        types.String `tfsdk:"client_secret_wo"`
	ClientSecretVersion   types.Int64  `tfsdk:"client_secret_wo_version"`
	CABundleSecretName    types.String `tfsdk:"ca_bundle_secret_name"`
	CABundleSecretKey     types.String `tfsdk:"ca_bundle_secret_key"`
	Scopes                []string     `tfsdk:"scopes"`
	WaitForReady          types.Bool   `tfsdk:"wait_for_ready"`
	WaitTimeout           types.String `tfsdk:"wait_timeout"`
	OutputSecretName      types.String `tfsdk:"output_secret_name"`
	TokenExpiresAt        types.String `tfsdk:"token_expires_at"`
}

// toApiClient builds the object to apply: only the fields this provider
// owns, so server-side apply leaves others' fields alone.
func toApiClient(m *apiClientModel) *keyportv1.ApiClient {
	ac := &keyportv1.ApiClient{
		TypeMeta:   metav1.TypeMeta{APIVersion: keyportv1.GroupVersion.String(), Kind: "ApiClient"},
		ObjectMeta: metav1.ObjectMeta{Name: m.Name.ValueString(), Namespace: m.Namespace.ValueString()},
		Spec: keyportv1.ApiClientSpec{
			TokenURL:    m.TokenURL.ValueString(),
			Preset:      keyportv1.Preset(m.Preset.ValueString()),
			Environment: m.Environment.ValueString(),
			ClientID:    m.ClientID.ValueString(),
			Scopes:      m.Scopes,
		},
	}
	if name := m.CredentialsSecretName.ValueString(); name != "" {
		ac.Spec.Credentials = &keyportv1.CredentialsSource{SecretName: name}
	}
	if name := m.CABundleSecretName.ValueString(); name != "" {
		ac.Spec.TLS = &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: name, Key: firstOf(m.CABundleSecretKey.ValueString(), "ca.crt")}}
	}
	return ac
}

// fromApiClient reads the spec back into the model, so drift shows in plans.
func fromApiClient(ac *keyportv1.ApiClient, m *apiClientModel) {
	s := ac.Spec
	m.TokenURL = types.StringValue(s.TokenURL)
	m.Preset = optional(string(s.Preset))
	m.Environment = optional(s.Environment)
	m.ClientID = optional(s.ClientID)
	m.Scopes = s.Scopes
	m.CABundleSecretName, m.CABundleSecretKey = types.StringNull(), types.StringNull()
	if s.TLS != nil && s.TLS.CABundle != nil {
		m.CABundleSecretName = types.StringValue(s.TLS.CABundle.Name)
		if s.TLS.CABundle.Key != "ca.crt" {
			m.CABundleSecretKey = types.StringValue(s.TLS.CABundle.Key)
		}
	}
	if s.Credentials != nil {
		m.CredentialsSecretName = types.StringValue(s.Credentials.SecretName)
	} else {
		m.CredentialsSecretName = types.StringNull()
	}
}

// optional maps an omitted string field to null, as HCL leaves it.
func optional(v string) types.String {
	if v == "" {
		return types.StringNull()
	}
	return types.StringValue(v)
}
