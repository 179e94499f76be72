package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// NewNotificationChannelResource returns keyport_notification_channel.
func NewNotificationChannelResource() resource.Resource {
	return &crdResource[notificationChannelModel, *notificationChannelModel, *keyportv1.NotificationChannel]{k: notificationChannelKind}
}

var notificationChannelKind = &kind[notificationChannelModel, *notificationChannelModel, *keyportv1.NotificationChannel]{
	typeName:   "notification_channel",
	name:       "NotificationChannel",
	schema:     notificationChannelSchema,
	newObject:  func() *keyportv1.NotificationChannel { return &keyportv1.NotificationChannel{} },
	toObject:   toNotificationChannel,
	fromSpec:   notificationChannelFromSpec,
	fromStatus: notificationChannelFromStatus,
	terminal: map[string]bool{
		keyportv1.ReasonUnknownDriver:    true,
		keyportv1.ReasonPlatformRejected: true,
		keyportv1.ReasonChannelConflict:  true,
	},
	configValidators: []resource.ConfigValidator{
		httpsOnly{url: path.Root("webhook_url"), allow: path.Root("allow_insecure_http")},
		httpsOnly{url: path.Root("authentication").AtName("oauth2").AtName("token_url")},
		httpsOnly{url: path.Root("platform").AtName("management_url"), allow: path.Root("platform").AtName("allow_insecure_http")},
	},
}

func notificationChannelSchema(ctx context.Context) schema.Schema {
	return crdSchema(ctx, "NotificationChannel",
		"A NotificationChannel: a webhook registration at a partner platform, which POSTs notifications to `webhook_url`. "+
			"The operator creates the registration through the platform's provider driver, repairs it when it is changed out "+
			"of band and removes it on deletion (unless `deletion_policy` is `Retain`); deleting the resource waits until the "+
			"operator has removed the registration. With `authentication.generated_secret_name` the operator generates the "+
			"credentials the platform presents to the webhook and writes them to that Secret for the receiving workload.",
		map[string]schema.Attribute{
			"platform": platformAttribute("The platform's provider driver and the ApiClient that authenticates the management calls. "+
				"Changing `driver` replaces the channel.", true, true),
			"channel_name": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 128)},
				MarkdownDescription: "The channel's name at the platform."},
			"webhook_url": schema.StringAttribute{Required: true,
				Validators:          []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
				MarkdownDescription: "The webhook the platform calls (`https://`)."},
			"channel_type": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("HTTPSWebhook"),
				Validators: enum("HTTPSWebhook"), MarkdownDescription: "Channel type at the platform. Only `HTTPSWebhook` exists today."},
			"method": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("POST"),
				Validators: enum("POST"), MarkdownDescription: "HTTP method the platform uses. Only `POST` exists today."},
			"allow_insecure_http": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Permit a plain `http://` `webhook_url`. Only for local testing."},
			"event_types": schema.SetAttribute{Optional: true, ElementType: types.StringType,
				Validators:          []validator.Set{setvalidator.SizeBetween(1, 64), setvalidator.ValueStringsAre(stringvalidator.LengthBetween(1, 128))},
				MarkdownDescription: "Event types to deliver. Unset means every type the platform sends."},
			"headers": headersAttribute("Headers the platform adds to each webhook call; values may come from Secrets. " +
				"`Authorization` only with authentication type `None`."),
			"authentication": schema.SingleNestedAttribute{Required: true,
				MarkdownDescription: "How the platform authenticates when it calls the webhook.",
				Attributes: map[string]schema.Attribute{
					"type": schema.StringAttribute{Required: true,
						Validators: enum(string(keyportv1.WebhookAuthNone), string(keyportv1.WebhookAuthStaticBearer),
							string(keyportv1.WebhookAuthOAuth2ClientCredentials), string(keyportv1.WebhookAuthOAuth2Password)),
						MarkdownDescription: "`None`, `StaticBearer`, `OAuth2ClientCredentials` or `OAuth2Password`."},
					"bearer_token": secretKeySelectorAttribute("For `StaticBearer`: the token the platform sends, from a Secret key. "+
						"Exactly one of this and `generated_secret_name`.", false),
					"generated_secret_name": schema.StringAttribute{Optional: true, Validators: objectName(),
						MarkdownDescription: "Have the operator generate the credential the platform presents (the bearer token or the OAuth2 " +
							"client secret) and write it to this Secret for the receiving workload."},
					"oauth2": schema.SingleNestedAttribute{Optional: true,
						MarkdownDescription: "For the OAuth2 types: the receiver's token endpoint that the platform calls before each webhook call.",
						Attributes: map[string]schema.Attribute{
							"token_url": schema.StringAttribute{Required: true,
								Validators:          []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
								MarkdownDescription: "The receiver's token endpoint (`https://`)."},
							"client_id": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 512)},
								MarkdownDescription: "Client id the platform presents."},
							"client_secret": secretKeySelectorAttribute("Client secret the platform presents, from a Secret key. "+
								"Exactly one of this and `generated_secret_name`.", false),
							"username": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 512)},
								MarkdownDescription: "User name, for `OAuth2Password`."},
							"password": secretKeySelectorAttribute("Password, for `OAuth2Password`, from a Secret key.", false),
							"scopes":   stringList("Scopes requested, sent space-separated.", 32),
							"headers":  headersAttribute("Headers the platform adds to its token request."),
						}},
				}},
			"deletion_policy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(string(keyportv1.DeletionPolicyDelete)),
				Validators:          enum(string(keyportv1.DeletionPolicyDelete), string(keyportv1.DeletionPolicyRetain)),
				MarkdownDescription: "`Delete` (default) removes the registration from the platform when the resource is destroyed; `Retain` leaves it."},

			"channel_id": schema.StringAttribute{Computed: true, MarkdownDescription: "The platform's id of the registration."},
		})
}
