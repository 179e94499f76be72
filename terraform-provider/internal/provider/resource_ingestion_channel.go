package provider

import (
	"context"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// NewIngestionChannelResource returns keyport_ingestion_channel.
func NewIngestionChannelResource() resource.Resource {
	return &crdResource[ingestionChannelModel, *ingestionChannelModel, *keyportv1.IngestionChannel]{k: ingestionChannelKind}
}

var ingestionChannelKind = &kind[ingestionChannelModel, *ingestionChannelModel, *keyportv1.IngestionChannel]{
	typeName:   "ingestion_channel",
	name:       "IngestionChannel",
	schema:     ingestionChannelSchema,
	newObject:  func() *keyportv1.IngestionChannel { return &keyportv1.IngestionChannel{} },
	toObject:   toIngestionChannel,
	fromSpec:   ingestionChannelFromSpec,
	fromStatus: ingestionChannelFromStatus,
	terminal: map[string]bool{
		keyportv1.ReasonChannelConflict:  true,
		keyportv1.ReasonPlatformRejected: true,
		keyportv1.ReasonUnknownDriver:    true,
	},
	configValidators: []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("url"), path.MatchRoot("base_url")),
		resourcevalidator.RequiredTogether(path.MatchRoot("base_url"), path.MatchRoot("channel_id")),
		httpsOnly{url: path.Root("url"), allow: path.Root("allow_insecure_http")},
		httpsOnly{url: path.Root("base_url"), allow: path.Root("allow_insecure_http")},
		httpsOnly{url: path.Root("platform").AtName("management_url"), allow: path.Root("platform").AtName("allow_insecure_http")},
	},
}

var (
	channelIDPattern = regexp.MustCompile(`^[A-Za-z0-9][-_.A-Za-z0-9]*$`)
	mediaTypePattern = regexp.MustCompile(`^[a-zA-Z0-9][-+.a-zA-Z0-9]*/[a-zA-Z0-9][-+.a-zA-Z0-9]*( *; *[-a-zA-Z0-9]+=[-a-zA-Z0-9."]+)*$`)
)

func ingestionChannelSchema(ctx context.Context) schema.Schema {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	return crdSchema(ctx, "IngestionChannel",
		"An IngestionChannel: one customer's ingestion endpoint at a data-sharing platform, "+
			"`https://{environment}/ingestion/{channel-id}`. The operator keeps a Secret (`output_secret_name`) with the "+
			"channel's URL, content type, message type and a valid token of the authorizing ApiClient, in step with every "+
			"token rotation. A service provider serving several customers declares one channel per customer. The channel's "+
			"identity (`customer`, `channel_id` or `url`, `environment`) cannot change: changing it replaces the resource.",
		map[string]schema.Attribute{
			"api_client_name": schema.StringAttribute{Required: true, Validators: objectName(),
				MarkdownDescription: "The `keyport_api_client`, in the same namespace, whose token authorizes posts to this channel."},
			"customer": schema.StringAttribute{Required: true, PlanModifiers: replace,
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 253)},
				MarkdownDescription: "The customer this channel belongs to. Changing it replaces the channel."},
			"message_type": schema.StringAttribute{Required: true,
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 253)},
				MarkdownDescription: "Message type agreed with the platform for this channel."},
			"base_url": schema.StringAttribute{Optional: true,
				Validators:          []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
				MarkdownDescription: "Base URL of the platform environment, such as `https://ingestion.uat.example.com`; with `channel_id` the channel URL is `{base_url}/ingestion/{channel_id}`. Exactly one of `base_url` and `url`."},
			"channel_id": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators: []validator.String{stringvalidator.LengthBetween(1, 253),
					stringvalidator.RegexMatches(channelIDPattern, "must start with a letter or digit and hold only letters, digits, '-', '_' and '.'")},
				MarkdownDescription: "Channel id the platform assigned to this customer and environment. Changing it replaces the channel."},
			"url": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators:          []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
				MarkdownDescription: "The full channel URL, for platforms whose URLs do not follow `{base_url}/ingestion/{channel_id}`. Changing it replaces the channel."},
			"media_type": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("application/json"),
				Validators: []validator.String{stringvalidator.LengthAtMost(255),
					stringvalidator.RegexMatches(mediaTypePattern, "must be a media type such as application/json or application/xml; charset=utf-8")},
				MarkdownDescription: "Media type of the messages. Default `application/json`."},
			"environment": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 63)},
				MarkdownDescription: "Platform environment, such as `uat` or `prd`. Changing it replaces the channel."},
			"allow_insecure_http": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Permit a plain `http://` channel URL. Only for local testing."},
			"platform": platformAttribute("Verify the channel at the platform through a provider driver, where the platform offers an API for it.", false, false),
			"output_secret_name": schema.StringAttribute{Optional: true, Computed: true, Validators: objectName(),
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseNonNullStateForUnknown()},
				MarkdownDescription: "The Secret a workload mounts to post to the channel (`url`, `content_type`, `message_type`, the token). Default `<name>-channel`."},

			"channel_url": schema.StringAttribute{Computed: true, MarkdownDescription: "The resolved channel URL, as the operator reports it."},
			"token_expires_at": schema.StringAttribute{Computed: true,
				MarkdownDescription: "Expiry of the token in the output Secret (RFC 3339), as the operator last reported it."},
		})
}
