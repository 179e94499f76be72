package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// ingestionChannelModel is keyport_ingestion_channel. Its mapping to
// keyportv1.IngestionChannel lives only here.
type ingestionChannelModel struct {
	baseModel

	ApiClientName     types.String   `tfsdk:"api_client_name"`
	Customer          types.String   `tfsdk:"customer"`
	BaseURL           types.String   `tfsdk:"base_url"`
	ChannelID         types.String   `tfsdk:"channel_id"`
	URL               types.String   `tfsdk:"url"`
	MessageType       types.String   `tfsdk:"message_type"`
	MediaType         types.String   `tfsdk:"media_type"`
	Environment       types.String   `tfsdk:"environment"`
	AllowInsecureHTTP types.Bool     `tfsdk:"allow_insecure_http"`
	Platform          *platformModel `tfsdk:"platform"`
	OutputSecretName  types.String   `tfsdk:"output_secret_name"`

	// From the status.
	ChannelURL     types.String `tfsdk:"channel_url"`
	TokenExpiresAt types.String `tfsdk:"token_expires_at"`
}

func toIngestionChannel(m *ingestionChannelModel) *keyportv1.IngestionChannel {
	return &keyportv1.IngestionChannel{ObjectMeta: m.objectMeta(), Spec: keyportv1.IngestionChannelSpec{
		ApiClientName:     m.ApiClientName.ValueString(),
		Customer:          m.Customer.ValueString(),
		BaseURL:           m.BaseURL.ValueString(),
		ChannelID:         m.ChannelID.ValueString(),
		URL:               m.URL.ValueString(),
		MessageType:       m.MessageType.ValueString(),
		MediaType:         m.MediaType.ValueString(),
		Environment:       m.Environment.ValueString(),
		AllowInsecureHTTP: m.AllowInsecureHTTP.ValueBool(),
		Platform:          toPlatform(m.Platform),
		OutputSecretName:  knownString(m.OutputSecretName),
	}}
}

func ingestionChannelFromSpec(c *keyportv1.IngestionChannel, m *ingestionChannelModel) {
	s := c.Spec
	m.ApiClientName = types.StringValue(s.ApiClientName)
	m.Customer = types.StringValue(s.Customer)
	m.BaseURL = optString(s.BaseURL)
	m.ChannelID = optString(s.ChannelID)
	m.URL = optString(s.URL)
	m.MessageType = types.StringValue(s.MessageType)
	m.MediaType = optString(s.MediaType)
	m.Environment = optString(s.Environment)
	m.AllowInsecureHTTP = types.BoolValue(s.AllowInsecureHTTP)
	m.Platform = fromPlatform(s.Platform)
	m.OutputSecretName = optString(s.OutputSecretName)
}

func ingestionChannelFromStatus(c *keyportv1.IngestionChannel, m *ingestionChannelModel) {
	st := c.Status
	m.OutputSecretName = declaredOr(m.OutputSecretName, st.OutputSecretName)
	m.ChannelURL = optString(st.URL)
	m.TokenExpiresAt = fromTime(st.TokenExpiresAt)
}
