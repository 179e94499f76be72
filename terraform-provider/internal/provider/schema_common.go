package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/keyport-dev/keyport/shared/safetemplate"
)

// Schema pieces shared by the four resources. Each mirrors one type of
// api/v1alpha1; its model and conversion live in mapping_common.go.

// crdSchema adds the attributes every Keyport resource has (id, name,
// namespace, wait_for_ready and the timeouts block) to a resource's own.
func crdSchema(ctx context.Context, kind, description string, attrs map[string]schema.Attribute) schema.Schema {
	attrs["id"] = schema.StringAttribute{Computed: true,
		PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		MarkdownDescription: "`namespace/name` of the " + kind + "."}
	attrs["name"] = schema.StringAttribute{Required: true, Validators: objectName(),
		PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
		MarkdownDescription: "Name of the " + kind + ". Changing it replaces the resource."}
	attrs["namespace"] = schema.StringAttribute{Optional: true, Computed: true, Validators: namespaceName(),
		MarkdownDescription: "Namespace of the " + kind + "; the provider's `namespace` when unset. Secrets it references " +
			"must be in the same namespace. Changing it replaces the resource."}
	attrs["wait_for_ready"] = schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
		MarkdownDescription: "Wait, within `timeouts`, until the operator reports `Ready` for the generation just written. " +
			"A terminal failure (such as `InvalidCredentials`) fails the apply at once with the operator's message. Default `true`."}
	return schema.Schema{
		MarkdownDescription: description,
		Attributes:          attrs,
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

// secretKeySelectorAttribute mirrors SecretKeySelector: a key of a Secret in
// the resource's namespace.
func secretKeySelectorAttribute(description string, required bool) schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Required: required, Optional: !required,
		MarkdownDescription: description + " The Secret must be in the resource's namespace.",
		Attributes: map[string]schema.Attribute{
			"name": schema.StringAttribute{Required: true, Validators: objectName(), MarkdownDescription: "Name of the Secret."},
			"key":  schema.StringAttribute{Required: true, Validators: secretKey(), MarkdownDescription: "Key within the Secret's data."},
		},
	}
}

// headersAttribute mirrors []HTTPHeader: static headers whose values are
// inline or read from a Secret. forbidden names are refused (case-insensitive).
func headersAttribute(description string, forbidden ...string) schema.ListNestedAttribute {
	nameValidators := []validator.String{
		stringvalidator.LengthBetween(1, 128),
		stringvalidator.RegexMatches(headerNamePattern, "must be an HTTP token: letters, digits and !#$%&'*+-.^_`|~, without spaces or a colon"),
	}
	if len(forbidden) > 0 {
		nameValidators = append(nameValidators, stringvalidator.NoneOfCaseInsensitive(forbidden...))
	}
	return schema.ListNestedAttribute{
		Optional:            true,
		MarkdownDescription: description,
		Validators:          []validator.List{listvalidator.SizeBetween(1, 16)},
		NestedObject: schema.NestedAttributeObject{
			Attributes: map[string]schema.Attribute{
				"name": schema.StringAttribute{Required: true, Validators: nameValidators,
					MarkdownDescription: "Header name, such as `Ocp-Apim-Subscription-Key`."},
				"value": schema.StringAttribute{Optional: true,
					Validators: []validator.String{
						stringvalidator.LengthAtMost(4096),
						stringvalidator.ExactlyOneOf(path.MatchRelative().AtParent().AtName("value_from")),
					},
					MarkdownDescription: "Inline value, for values that are not secret. Exactly one of `value` and `value_from`."},
				"value_from": secretKeySelectorAttribute("Reads the value from a Secret key, for values that are secret (such as an API key).", false),
			},
		},
	}
}

// platformAttribute mirrors PlatformReference: which provider driver manages
// the object at the partner platform, with which ApiClient's token.
// driverImmutable makes a change of driver replace the resource.
func platformAttribute(description string, required, driverImmutable bool) schema.SingleNestedAttribute {
	var driverModifiers []planmodifier.String
	driverDescription := "Provider driver registered with the operator, for example `generic-rest`, which `parameters` fit to the platform's management API."
	if driverImmutable {
		driverModifiers = []planmodifier.String{stringplanmodifier.RequiresReplace()}
		driverDescription += " Changing it replaces the resource."
	}
	return schema.SingleNestedAttribute{
		Required: required, Optional: !required,
		MarkdownDescription: description,
		Attributes: map[string]schema.Attribute{
			"driver": schema.StringAttribute{Required: true,
				Validators: []validator.String{
					stringvalidator.LengthBetween(1, 63),
					stringvalidator.RegexMatches(dnsLabelPattern, "must be a driver name such as generic-rest"),
				},
				PlanModifiers:       driverModifiers,
				MarkdownDescription: driverDescription},
			"api_client_name": schema.StringAttribute{Required: true, Validators: objectName(),
				MarkdownDescription: "The `keyport_api_client`, in the same namespace, whose token authenticates the platform's management API."},
			"management_url": schema.StringAttribute{Required: true,
				Validators:          []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
				MarkdownDescription: "Base URL of the platform's management API (`https://`)."},
			"allow_insecure_http": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Permit a plain `http://` `management_url`. Only for local testing."},
			"parameters": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Validators: []validator.Map{mapvalidator.SizeBetween(1, 32),
					mapvalidator.ValueStringsAre(stringvalidator.UTF8LengthAtMost(safetemplate.MaxTextLength))},
				MarkdownDescription: "Driver-specific settings; each driver documents its own (`generic-rest` in `kubectl explain notificationchannel.spec.platform.parameters`). Each value is at most 8192 characters (some are templates)."},
		},
	}
}

// stringList is an optional list of non-empty strings.
func stringList(description string, maxItems int) schema.ListAttribute {
	return schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: description,
		Validators: []validator.List{listvalidator.SizeBetween(1, maxItems), listvalidator.ValueStringsAre(stringvalidator.LengthAtLeast(1))}}
}
