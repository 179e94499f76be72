package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// notificationChannelModel is keyport_notification_channel. Its mapping to
// keyportv1.NotificationChannel lives only here.
type notificationChannelModel struct {
	baseModel

	Platform          *platformModel    `tfsdk:"platform"`
	ChannelName       types.String      `tfsdk:"channel_name"`
	ChannelType       types.String      `tfsdk:"channel_type"`
	WebhookURL        types.String      `tfsdk:"webhook_url"`
	Method            types.String      `tfsdk:"method"`
	AllowInsecureHTTP types.Bool        `tfsdk:"allow_insecure_http"`
	EventTypes        types.Set         `tfsdk:"event_types"`
	Headers           []headerModel     `tfsdk:"headers"`
	Authentication    *webhookAuthModel `tfsdk:"authentication"`
	DeletionPolicy    types.String      `tfsdk:"deletion_policy"`

	// From the status.
	ChannelID types.String `tfsdk:"channel_id"`
}

type webhookAuthModel struct {
	Type                types.String            `tfsdk:"type"`
	BearerToken         *secretKeySelectorModel `tfsdk:"bearer_token"`
	OAuth2              *webhookOAuth2Model     `tfsdk:"oauth2"`
	GeneratedSecretName types.String            `tfsdk:"generated_secret_name"`
}

type webhookOAuth2Model struct {
	TokenURL     types.String            `tfsdk:"token_url"`
	ClientID     types.String            `tfsdk:"client_id"`
	ClientSecret *secretKeySelectorModel `tfsdk:"client_secret"`
	Username     types.String            `tfsdk:"username"`
	Password     *secretKeySelectorModel `tfsdk:"password"`
	Scopes       types.List              `tfsdk:"scopes"`
	Headers      []headerModel           `tfsdk:"headers"`
}

func toNotificationChannel(m *notificationChannelModel) *keyportv1.NotificationChannel {
	spec := keyportv1.NotificationChannelSpec{
		ChannelName:       m.ChannelName.ValueString(),
		ChannelType:       m.ChannelType.ValueString(),
		WebhookURL:        m.WebhookURL.ValueString(),
		Method:            m.Method.ValueString(),
		AllowInsecureHTTP: m.AllowInsecureHTTP.ValueBool(),
		EventTypes:        toStringSet(m.EventTypes),
		Headers:           toHeaders(m.Headers),
		DeletionPolicy:    keyportv1.DeletionPolicy(m.DeletionPolicy.ValueString()),
	}
	if p := toPlatform(m.Platform); p != nil {
		spec.Platform = *p
	}
	if a := m.Authentication; a != nil {
		spec.Authentication = keyportv1.WebhookAuthentication{
			Type:                keyportv1.WebhookAuthenticationType(a.Type.ValueString()),
			BearerToken:         toSecretKeySelector(a.BearerToken),
			GeneratedSecretName: a.GeneratedSecretName.ValueString(),
		}
		if o := a.OAuth2; o != nil {
			spec.Authentication.OAuth2 = &keyportv1.WebhookOAuth2{
				TokenURL:     o.TokenURL.ValueString(),
				ClientID:     o.ClientID.ValueString(),
				ClientSecret: toSecretKeySelector(o.ClientSecret),
				Username:     o.Username.ValueString(),
				Password:     toSecretKeySelector(o.Password),
				Scopes:       toStrings(o.Scopes),
				Headers:      toHeaders(o.Headers),
			}
		}
	}
	return &keyportv1.NotificationChannel{ObjectMeta: m.objectMeta(), Spec: spec}
}

func notificationChannelFromSpec(c *keyportv1.NotificationChannel, m *notificationChannelModel) {
	s := c.Spec
	m.Platform = fromPlatform(&s.Platform)
	m.ChannelName = types.StringValue(s.ChannelName)
	m.ChannelType = optString(s.ChannelType)
	m.WebhookURL = types.StringValue(s.WebhookURL)
	m.Method = optString(s.Method)
	m.AllowInsecureHTTP = types.BoolValue(s.AllowInsecureHTTP)
	m.EventTypes = fromStringSet(s.EventTypes)
	m.Headers = fromHeaders(s.Headers)
	m.DeletionPolicy = optString(string(s.DeletionPolicy))
	a := s.Authentication
	m.Authentication = &webhookAuthModel{
		Type:                types.StringValue(string(a.Type)),
		BearerToken:         fromSecretKeySelector(a.BearerToken),
		GeneratedSecretName: optString(a.GeneratedSecretName),
	}
	if o := a.OAuth2; o != nil {
		m.Authentication.OAuth2 = &webhookOAuth2Model{
			TokenURL:     types.StringValue(o.TokenURL),
			ClientID:     types.StringValue(o.ClientID),
			ClientSecret: fromSecretKeySelector(o.ClientSecret),
			Username:     optString(o.Username),
			Password:     fromSecretKeySelector(o.Password),
			Scopes:       fromStrings(o.Scopes),
			Headers:      fromHeaders(o.Headers),
		}
	}
}

func notificationChannelFromStatus(c *keyportv1.NotificationChannel, m *notificationChannelModel) {
	m.ChannelID = optString(c.Status.ChannelID)
}
