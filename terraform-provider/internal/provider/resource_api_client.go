package provider

import (
	"context"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/safetemplate"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// NewApiClientResource returns keyport_api_client.
func NewApiClientResource() resource.Resource {
	return &crdResource[apiClientModel, *apiClientModel, *keyportv1.ApiClient]{k: apiClientKind}
}

var apiClientKind = &kind[apiClientModel, *apiClientModel, *keyportv1.ApiClient]{
	typeName:   "api_client",
	name:       "ApiClient",
	schema:     apiClientSchema,
	newObject:  func() *keyportv1.ApiClient { return &keyportv1.ApiClient{} },
	toObject:   toApiClient,
	fromSpec:   apiClientFromSpec,
	fromStatus: apiClientFromStatus,
	terminal: map[string]bool{
		keyportv1.ReasonInvalidCredentials:     true,
		keyportv1.ReasonPolicyInfeasible:       true,
		keyportv1.ReasonUnknownTokenLifetime:   true,
		keyportv1.ReasonTokenEndpointRejected:  true,
		keyportv1.ReasonMalformedTokenResponse: true,
		// The output Secret is someone else's: waiting does not free the name.
		keyportv1.ReasonOutputSecretConflict: true,
	},
	configValidators: []resource.ConfigValidator{
		httpsOnly{url: path.Root("token_url"), allow: path.Root("tls").AtName("allow_insecure_http")},
		httpsOnly{url: path.Root("revocation_probe").AtName("url"), allow: path.Root("tls").AtName("allow_insecure_http")},
		oneValuePerKey{},
		refreshStrategyFields{},
	},
	modifyPlan: apiClientModifyPlan,
	stored:     apiClientStored,
}

func apiClientSchema(ctx context.Context) schema.Schema {
	dialect := func(what string, values ...string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Validators: enum(values...),
			MarkdownDescription: what + " Excluded by `preset`, which fixes it."}
	}
	optionalKey := func(what string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Validators: secretKey(), MarkdownDescription: what}
	}
	return crdSchema(ctx, "ApiClient",
		"An ApiClient: one registered client of one partner platform in one environment. The Keyport operator keeps "+
			"its OAuth 2.0 access token fresh in a Secret (`output_secret_name`) that workloads mount.\n\n"+
			"Credentials stay out of Terraform's state: `client_secret_wo` and `password_wo` are write-only. The provider "+
			"writes them (and `username`) into the credentials Secret the ApiClient references — by default "+
			"`<name>-credentials` — and writes them again when their `_wo_version` changes. An existing Secret works too: "+
			"set `credentials.secret_name` and leave the write-only arguments out. Several clients may write into one "+
			"Secret, each under keys of its own (`credentials.client_secret_key`, …): each owns only its keys; a "+
			"destroy removes those, and the Secret once no key is left in it.",
		map[string]schema.Attribute{
			// Required
			"token_url": schema.StringAttribute{Required: true,
				Validators:          []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
				MarkdownDescription: "The platform's token endpoint, for example `https://login.example.com/connect/token`. `https://` only, unless `tls.allow_insecure_http` is set."},

			// Optional: the dialect
			"environment": schema.StringAttribute{Optional: true,
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 63)},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				MarkdownDescription: "Platform environment this client belongs to, such as `uat` or `prd`. Changing it replaces the ApiClient."},
			"preset": schema.StringAttribute{Optional: true,
				Validators: append(enum(presetNames()...),
					stringvalidator.ConflictsWith(path.MatchRoot("method"), path.MatchRoot("body_encoding"), path.MatchRoot("grant_type"), path.MatchRoot("client_authentication"))),
				MarkdownDescription: presetsDescription()},
			"method": dialect("HTTP method of the token request: `POST` (default) or `GET`.",
				string(keyportv1.MethodPOST), string(keyportv1.MethodGET)),
			"body_encoding": dialect("Body of the token request: `Form` (default), `JSON` or `None`.",
				string(keyportv1.BodyForm), string(keyportv1.BodyJSON), string(keyportv1.BodyNone)),
			"grant_type": dialect("Grant: `ClientCredentials` (default), `Password` or `None`.",
				string(keyportv1.GrantClientCredentials), string(keyportv1.GrantPassword), string(keyportv1.GrantNone)),
			"client_authentication": dialect("How the client authenticates: `ClientSecretPost` (default), `ClientSecretBasic`, "+
				"`ClientSecretBasicRaw`, `TLSClientAuth`, `PrivateKeyJWT` or `None`.",
				string(keyportv1.ClientSecretPost), string(keyportv1.ClientSecretBasic), string(keyportv1.ClientSecretBasicRaw),
				string(keyportv1.TLSClientAuth), string(keyportv1.PrivateKeyJWT), string(keyportv1.NoClientAuthentication)),
			"client_id": schema.StringAttribute{Optional: true,
				Validators:          []validator.String{stringvalidator.LengthBetween(1, 512)},
				MarkdownDescription: "The registered client's id (an identifier, not a secret), unless the credentials Secret holds it."},

			// Optional: credentials
			"credentials": schema.SingleNestedAttribute{Optional: true, Computed: true,
				MarkdownDescription: "The Secret, in the ApiClient's namespace, that holds the client secret, user name and password. " +
					"Set by the provider when a write-only credential is given.",
				Attributes: map[string]schema.Attribute{
					"secret_name": schema.StringAttribute{Optional: true, Computed: true, Validators: objectName(),
						MarkdownDescription: "Name of the Secret. Default `<name>-credentials` when the provider writes it."},
					"client_id_key":     optionalKey("Key of the client id. " + defaultKey(keyClientID)),
					"client_secret_key": optionalKey("Key of the client secret. " + defaultKey(keyClientSecret)),
					"username_key":      optionalKey("Key of the user name, for the password grant. " + defaultKey(keyUsername)),
					"password_key":      optionalKey("Key of the password, for the password grant. " + defaultKey(keyPassword)),
				}},
			"client_secret_wo": schema.StringAttribute{Optional: true, WriteOnly: true, Sensitive: true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1), stringvalidator.AlsoRequires(path.MatchRoot("client_secret_wo_version"))},
				MarkdownDescription: "Client secret, written into the credentials Secret and never stored in state or plan. Write-only (Terraform 1.11 or later)."},
			"client_secret_wo_version": schema.Int64Attribute{Optional: true,
				Validators:          []validator.Int64{int64validator.AlsoRequires(path.MatchRoot("client_secret_wo"))},
				MarkdownDescription: "Version of `client_secret_wo`: change it to write a rotated secret."},
			"username": schema.StringAttribute{Optional: true,
				Validators: []validator.String{stringvalidator.LengthBetween(1, 512)},
				MarkdownDescription: "User name, written into the credentials Secret (it is not a secret) under the key the operator reads it from: " +
					"the user name's with the password grant, else the client id's (the HTTP Basic user name, as for `BankM2M`)."},
			"password_wo": schema.StringAttribute{Optional: true, WriteOnly: true, Sensitive: true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), stringvalidator.AlsoRequires(path.MatchRoot("password_wo_version"))},
				MarkdownDescription: "Password, written into the credentials Secret and never stored in state or plan, under the key the operator reads it from: " +
					"the password's with the password grant, else the client secret's (the HTTP Basic password, as for `BankM2M`). Write-only (Terraform 1.11 or later)."},
			"password_wo_version": schema.Int64Attribute{Optional: true,
				Validators:          []validator.Int64{int64validator.AlsoRequires(path.MatchRoot("password_wo"))},
				MarkdownDescription: "Version of `password_wo`: change it to write a rotated password."},
			"client_certificate": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Client certificate presented for mutual TLS; its key signs `PrivateKeyJWT` assertions. Exactly one of the two.",
				Attributes: map[string]schema.Attribute{
					"m2m_certificate_name": schema.StringAttribute{Optional: true,
						Validators:          append(objectName(), stringvalidator.ExactlyOneOf(path.MatchRelative().AtParent().AtName("secret_name"))),
						MarkdownDescription: "A `keyport_m2m_certificate` in the same namespace."},
					"secret_name": schema.StringAttribute{Optional: true, Validators: objectName(),
						MarkdownDescription: "An existing `kubernetes.io/tls` Secret in the same namespace."},
				}},

			// Optional: the request
			"scopes": stringList("Scopes requested, sent space-separated. A preset may add its own.", 32),
			"extra_parameters": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Validators: []validator.Map{mapvalidator.SizeBetween(1, 16), mapvalidator.KeysAre(stringvalidator.NoneOf(
					"client_id", "client_secret", "username", "password", "grant_type", "client_assertion"))},
				MarkdownDescription: "Extra token request parameters, such as `audience` or `resource`. They must not carry secrets."},
			"headers": headersAttribute("Static headers every API call with this token needs, such as `Ocp-Apim-Subscription-Key`; "+
				"they go into `headers.json` in the output Secret. `Authorization`, `Host` and `Content-Length` are not allowed.",
				"authorization", "host", "content-length"),
			"tls": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "TLS settings for the token endpoint.",
				Attributes: map[string]schema.Attribute{
					"ca_bundle": secretKeySelectorAttribute("PEM certificates that verify the token endpoint instead of the system roots.", false),
					"allow_insecure_http": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
						MarkdownDescription: "Permit a plain `http://` `token_url`. Only for local testing; honoured only when the operator runs with `--outbound-tenant-opt-outs=insecure-http`."},
					"allow_link_local": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
						MarkdownDescription: "Permit token endpoints on link-local addresses, which Keyport refuses by default; honoured only when the operator runs with `--outbound-tenant-opt-outs=link-local`, and never for cloud metadata addresses."},
				}},
			"assertion": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "The `PrivateKeyJWT` client assertion.",
				Attributes: map[string]schema.Attribute{
					"audience": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 2048)},
						MarkdownDescription: "Audience of the assertion. Default `token_url`."},
					"algorithm": schema.StringAttribute{Optional: true, Validators: enum("RS256", "PS256", "ES256"),
						MarkdownDescription: "`RS256`, `PS256` or `ES256`. Default by key type."},
					"key_id": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 256),
						stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("key_id_from"))},
						MarkdownDescription: "Sent as the assertion's `kid` header: the id the platform registered the client's public key under."},
					"key_id_from": schema.StringAttribute{Optional: true, Validators: enum(string(keyportv1.KeyIDThumbprint)),
						MarkdownDescription: "`Thumbprint` derives the `kid` header from the signing key (RFC 7638 SHA-256 JWK thumbprint)."},
					"signing_key": secretKeySelectorAttribute("A bare private key (PEM PKCS#8, PKCS#1 or EC, or a private JWK) that signs the assertion instead of `client_certificate`'s key; set one of the two.", false),
				}},
			"refresh": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "When a token is replaced. With `strategy` `Fraction` (the default) at the earlier of `refresh_at_percent` of its lifetime and its expiry minus `propagation_budget`; with `Latest` at its expiry minus `propagation_budget` minus `retry_margin`.",
				Attributes: map[string]schema.Attribute{
					"strategy": schema.StringAttribute{Optional: true, Validators: enum(string(keyportv1.RefreshFraction), string(keyportv1.RefreshLatest)),
						MarkdownDescription: "`Fraction` (default): 2 token requests per lifetime at 50 %, and a platform outage of up to about half a lifetime minus the budget passes without an expired token. " +
							"`Latest`: as few requests as the budget and margin allow (1.05 per lifetime for 1-hour tokens with the defaults, but 2.5 for 5-minute ones), for platforms that ask for as few token requests as possible; only `retry_margin` of outage passes before the budget is eaten into."},
					"refresh_at_percent": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(10, 90)},
						MarkdownDescription: "Percentage of the lifetime after which a token is refreshed, 10 to 90, with `strategy` `Fraction` only. Default 50."},
					"propagation_budget": schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{goDuration{}},
						MarkdownDescription: "How long a replaced token must stay valid so every pod sees the new one first, such as `2m` (the default)."},
					"retry_margin": schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{goDuration{}},
						MarkdownDescription: "With `strategy` `Latest` only: time left before expiry minus `propagation_budget` to retry a failed refresh, such as `1m` (the default: six or seven attempts against a platform that refuses at once, four against one that hangs until the 15-second request timeout)."},
					"default_lifetime": schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{goDuration{}},
						MarkdownDescription: "Lifetime assumed when the response has no `expires_in` and the token no `exp`, such as `1h`."},
				}},
			"jwks": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Keep the platform's public keys (its JWKS) in a ConfigMap next to the token Secret, for workloads that verify its signatures or encrypt to it; fetched again after the platform's cache lifetime or `refresh_interval`, and on a forced refresh.",
				Attributes: map[string]schema.Attribute{
					"url": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
						MarkdownDescription: "URL of the key set (`https://`)."},
					"config_map_name": schema.StringAttribute{Optional: true, Validators: objectName(),
						MarkdownDescription: "The ConfigMap that holds `jwks.json`. Default `<name>-jwks`."},
					"refresh_interval": schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{goDuration{}},
						MarkdownDescription: "Longest time between fetches, at least `1m`. Default `1h`."},
				}},
			"revocation_probe": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "A cheap read-only API call Keyport makes with the previous token after each refresh, to detect platforms that revoke it.",
				Attributes: map[string]schema.Attribute{
					"url": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.LengthAtMost(2048), absoluteURL{}},
						MarkdownDescription: "URL of the call (`https://`)."},
				}},
			"output_secret_name": schema.StringAttribute{Optional: true, Computed: true, Validators: objectName(),
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseNonNullStateForUnknown()},
				MarkdownDescription: "The Secret that holds the live token, for workloads to mount. Default `<name>-token`."},
			"output_template": schema.MapAttribute{Optional: true, ElementType: types.StringType,
				Validators: []validator.Map{mapvalidator.SizeBetween(1, 16), mapvalidator.KeysAre(
					stringvalidator.RegexMatches(secretKeyPattern, "must be a Secret key"),
					stringvalidator.NoneOf(tokensecret.StandardKeys...)),
					mapvalidator.ValueStringsAre(stringvalidator.UTF8LengthAtMost(safetemplate.MaxTextLength))},
				MarkdownDescription: "Extra keys of the output Secret, each a Go template over `.AccessToken`, `.TokenType`, `.Authorization`, `.ExpiresAt` and `.Headers`, " +
					"of at most 8192 characters, with `printf` widths and precisions of at most 64."},
			"suspend": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "Stop refreshing without deleting anything."},

			// Computed
			"token_expires_at": schema.StringAttribute{Computed: true,
				MarkdownDescription: "Expiry of the token in the output Secret (RFC 3339), as the operator last reported it."},
			"certificate_thumbprint": schema.StringAttribute{Computed: true,
				PlanModifiers:       []planmodifier.String{nullWithoutCertificate{}},
				MarkdownDescription: "SHA-1 thumbprint (upper-case hex) of the client certificate used for the current token; null without `client_certificate`."},
		})
}

// apiClientModifyPlan plans the credentials Secret: when the provider is to
// write a credential, the ApiClient must reference a Secret, by default
// <name>-credentials.
func apiClientModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var cred *credentialsModel
	var secret, password, username, name types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("credentials"), &cred)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("client_secret_wo"), &secret)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("password_wo"), &password)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("username"), &username)...)
	resp.Diagnostics.Append(resp.Plan.GetAttribute(ctx, path.Root("name"), &name)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !secret.IsNull() || !password.IsNull() || !username.IsNull() {
		if cred == nil {
			cred = &credentialsModel{SecretName: types.StringNull(), ClientIDKey: types.StringNull(), ClientSecretKey: types.StringNull(),
				UsernameKey: types.StringNull(), PasswordKey: types.StringNull()}
		}
		if cred.SecretName.IsNull() {
			cred.SecretName = suffixed(name, "-credentials")
		}
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("credentials"), cred)...)
}

// apiClientStored lists what the provider keeps in the credentials Secret.
func apiClientStored(ctx context.Context, m *apiClientModel, cfg *tfsdk.Config) ([]storedValue, diag.Diagnostics) {
	var diags diag.Diagnostics
	if m.Credentials == nil {
		return nil, diags
	}
	keys, err := credentialKeysOf(&toApiClient(m).Spec)
	if err != nil {
		diags.AddAttributeError(path.Root("preset"), "Unsupported dialect", err.Error())
		return nil, diags
	}
	secret := m.Credentials.SecretName.ValueString()
	var out []storedValue
	writeOnly := func(id, attr, key string, version types.Int64) {
		if version.IsNull() {
			return
		}
		v := storedValue{id: id, secret: secret, key: key, version: strconv.FormatInt(version.ValueInt64(), 10)}
		if cfg != nil {
			var value types.String
			diags.Append(cfg.GetAttribute(ctx, path.Root(attr), &value)...)
			v.value = []byte(value.ValueString())
		}
		out = append(out, v)
	}
	writeOnly("client_secret", "client_secret_wo", keys.clientSecret, m.ClientSecretWOVersion)
	writeOnly("password", "password_wo", keys.password, m.PasswordWOVersion)
	if !m.Username.IsNull() {
		out = append(out, storedValue{id: "username", secret: secret, key: keys.username,
			version: m.Username.ValueString(), value: []byte(m.Username.ValueString())})
	}
	return out, diags
}

// suffixed is name+suffix, unknown while name is.
func suffixed(name types.String, suffix string) types.String {
	if name.IsUnknown() {
		return types.StringUnknown()
	}
	return types.StringValue(name.ValueString() + suffix)
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
