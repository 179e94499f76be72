package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	ktypes "k8s.io/apimachinery/pkg/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/dialect"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/token"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// NewAccessTokenEphemeralResource returns keyport_access_token.
func NewAccessTokenEphemeralResource() ephemeral.EphemeralResource {
	return &accessToken{now: time.Now}
}

var _ ephemeral.EphemeralResourceWithConfigure = (*accessToken)(nil)

// accessToken reads an ApiClient's current token from its output Secret, for
// use elsewhere in the same run (to configure another provider, say). It is
// never stored in state or plan.
type accessToken struct {
	c   *clients
	now func() time.Time
}

type accessTokenModel struct {
	ApiClientID   types.String  `tfsdk:"api_client_id"`
	ApiClientName types.String  `tfsdk:"api_client_name"`
	Namespace     types.String  `tfsdk:"namespace"`
	AccessToken   types.String  `tfsdk:"access_token"`
	TokenType     types.String  `tfsdk:"token_type"`
	Authorization types.String  `tfsdk:"authorization"`
	ExpiresAt     types.String  `tfsdk:"expires_at"`
	Headers       types.Map     `tfsdk:"headers"`
	SecretName    types.String  `tfsdk:"secret_name"`
	Client        *directClient `tfsdk:"client"`
}

// directClient is a client declared in the configuration, for a token
// fetched by the provider itself through Keyport's shared token code.
type directClient struct {
	TokenURL     types.String `tfsdk:"token_url"`
	Preset       types.String `tfsdk:"preset"`
	ClientID     types.String `tfsdk:"client_id"`
	ClientSecret types.String `tfsdk:"client_secret"`
	Username     types.String `tfsdk:"username"`
	Password     types.String `tfsdk:"password"`
	Scopes       types.List   `tfsdk:"scopes"`
	CABundle     types.String `tfsdk:"ca_bundle"`
}

func (e *accessToken) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_access_token"
}

func (e *accessToken) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The current access token of a `keyport_api_client`, read from the output Secret the Keyport operator " +
			"keeps fresh, for use elsewhere in the same run (for example to configure another provider). Ephemeral: the token " +
			"is never stored in state or plan. A token that has already expired is an error.\n\n" +
			"Terraform reads ephemeral resources during plan as soon as their arguments are known. To read the token of an " +
			"ApiClient created in the same run, pass `api_client_id = keyport_api_client.<name>.id`: the id is known only " +
			"once the ApiClient exists (and, with `wait_for_ready`, is Ready), so the read waits for the apply.\n\n" +
			"With `client` instead, the provider asks the token endpoint itself, through the same token code and presets " +
			"as the operator, without a cluster: for a token needed only during the run. Client certificates (mutual TLS, " +
			"`private_key_jwt`) are not supported there; use an ApiClient for those.",
		Attributes: map[string]schema.Attribute{
			"api_client_id": schema.StringAttribute{Optional: true,
				Validators: []validator.String{
					stringvalidator.ExactlyOneOf(path.MatchRoot("api_client_name"), path.MatchRoot("client")),
					stringvalidator.ConflictsWith(path.MatchRoot("namespace")),
					stringvalidator.RegexMatches(regexp.MustCompile(`^[^/]+/[^/]+$`), "must be namespace/name, such as keyport_api_client.<name>.id"),
				},
				MarkdownDescription: "The ApiClient as `namespace/name`, usually `keyport_api_client.<name>.id`. Exactly one of `api_client_id` and `api_client_name`."},
			"api_client_name": schema.StringAttribute{Optional: true, Validators: objectName(),
				MarkdownDescription: "Name of an ApiClient that already exists, in `namespace`."},
			"namespace": schema.StringAttribute{Optional: true, Computed: true, Validators: namespaceName(),
				MarkdownDescription: "Namespace of the ApiClient named by `api_client_name`; the provider's `namespace` when unset."},

			"access_token": schema.StringAttribute{Computed: true, Sensitive: true, MarkdownDescription: "The access token."},
			"token_type":   schema.StringAttribute{Computed: true, MarkdownDescription: "The token type, such as `Bearer`."},
			"authorization": schema.StringAttribute{Computed: true, Sensitive: true,
				MarkdownDescription: "The full `Authorization` header value, such as `Bearer eyJ…`."},
			"expires_at": schema.StringAttribute{Computed: true, MarkdownDescription: "When the token expires (RFC 3339)."},
			"headers": schema.MapAttribute{Computed: true, Sensitive: true, ElementType: types.StringType,
				MarkdownDescription: "Every header an API call needs: `Authorization` and the ApiClient's static headers (such as a subscription key)."},
			"secret_name": schema.StringAttribute{Computed: true, MarkdownDescription: "The output Secret the token was read from; null with `client`."},
			"client": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "A client to fetch a token for directly, instead of reading an ApiClient's Secret.",
				Attributes: map[string]schema.Attribute{
					"token_url": schema.StringAttribute{Required: true, MarkdownDescription: "The token endpoint (https)."},
					"preset": schema.StringAttribute{Optional: true, Validators: []validator.String{enum(presetNames()...)[0]},
						MarkdownDescription: "The platform dialect, as `preset` of `keyport_api_client`; plain client credentials when unset."},
					"client_id":     schema.StringAttribute{Optional: true, MarkdownDescription: "The client id."},
					"client_secret": schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "The client secret."},
					"username":      schema.StringAttribute{Optional: true, MarkdownDescription: "User name, for the password grant."},
					"password":      schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Password, for the password grant."},
					"scopes":        schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Scopes to request."},
					"ca_bundle": schema.StringAttribute{Optional: true,
						MarkdownDescription: "PEM certificates to verify the endpoint with instead of the system roots."},
				},
			},
		},
	}
}

func (e *accessToken) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	if c, ok := configuredClients(req.ProviderData, &resp.Diagnostics); ok {
		e.c = c
	}
}

func (e *accessToken) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m accessTokenModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.Client != nil {
		e.fetchDirectly(ctx, &m, resp)
		return
	}
	ns, name := m.Namespace.ValueString(), m.ApiClientName.ValueString()
	if id := m.ApiClientID.ValueString(); id != "" {
		ns, name, _ = strings.Cut(id, "/")
	}
	key := e.c.apiClientKey(ns, name)
	ns = key.Namespace
	kube, ac, err := e.c.getApiClient(ctx, key, &resp.Diagnostics)
	if err != nil {
		cannotReadApiClient(&resp.Diagnostics, key, err)
		return
	}
	if ac == nil {
		return
	}
	secretName := firstOf(ac.Status.OutputSecretName, outputSecretOf(ac), ac.Name+"-token")
	s := &corev1.Secret{}
	if err := kube.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: secretName}, s); err != nil {
		if apierrors.IsNotFound(err) {
			resp.Diagnostics.AddError("The ApiClient has no token yet",
				fmt.Sprintf("Secret %s/%s does not exist yet: ApiClient %s is not Ready (%s).", ns, secretName, key, readiness(ac)))
			return
		}
		resp.Diagnostics.AddError("Cannot read the token Secret", fmt.Sprintf("Secret %s/%s: %v", ns, secretName, err))
		return
	}
	tok, err := tokensecret.Parse(s.Data)
	if err != nil {
		// Parse names keys, never values.
		resp.Diagnostics.AddError("The token Secret is not usable", fmt.Sprintf("Secret %s/%s: %v", ns, secretName, err))
		return
	}
	if !e.now().Before(tok.ExpiresAt) {
		resp.Diagnostics.AddError("The token has expired",
			fmt.Sprintf("The token in Secret %s/%s expired at %s; ApiClient %s: %s.", ns, secretName,
				tok.ExpiresAt.UTC().Format(time.RFC3339), key, readiness(ac)))
		return
	}
	m.Namespace = types.StringValue(ns)
	m.AccessToken = types.StringValue(tok.AccessToken)
	m.TokenType = types.StringValue(tok.TokenType)
	m.Authorization = types.StringValue(tok.Authorization())
	m.ExpiresAt = types.StringValue(tok.ExpiresAt.UTC().Format(time.RFC3339))
	m.Headers = fromStringMap(tok.AllHeaders())
	m.SecretName = types.StringValue(secretName)
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}

// fetchDirectly asks the declared client's token endpoint for a token.
func (e *accessToken) fetchDirectly(ctx context.Context, m *accessTokenModel, resp *ephemeral.OpenResponse) {
	c := m.Client
	var scopes []string
	resp.Diagnostics.Append(c.Scopes.ElementsAs(ctx, &scopes, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := &keyportv1.ApiClientSpec{TokenURL: c.TokenURL.ValueString(), Preset: keyportv1.Preset(c.Preset.ValueString()),
		ClientID: c.ClientID.ValueString(), Scopes: scopes}
	// Terraform runs with its user's own rights, not for a tenant: a token
	// endpoint on the user's machine (a port-forward) is theirs to reach.
	// Link-local and metadata addresses stay refused.
	hc, err := outbound.NewClient(outbound.Options{CABundle: []byte(c.CABundle.ValueString()),
		Policy: &outbound.Policy{Allow: outbound.Loopback()}})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("client").AtName("ca_bundle"), "Unusable CA bundle", err.Error())
		return
	}
	d, err := dialect.Resolve(spec)
	var req token.Request
	if err == nil {
		req, err = d.Request(spec, dialect.Credentials{ClientID: c.ClientID.ValueString(),
			ClientSecret: c.ClientSecret.ValueString(), Username: c.Username.ValueString(), Password: c.Password.ValueString()})
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("client").AtName("preset"), "Unsupported dialect", err.Error())
		return
	}
	req.Now = e.now
	tok, err := token.Fetch(ctx, hc, req)
	if err != nil {
		// Token errors name the endpoint and the platform's answer, never
		// the credentials.
		resp.Diagnostics.AddError("Cannot obtain a token", err.Error())
		return
	}
	m.Namespace = types.StringNull()
	m.AccessToken = types.StringValue(tok.AccessToken)
	m.TokenType = types.StringValue(tok.TokenType)
	m.Authorization = types.StringValue(tok.Authorization())
	m.ExpiresAt = types.StringValue(tok.ExpiresAt.UTC().Format(time.RFC3339))
	m.Headers = fromStringMap(map[string]string{"Authorization": tok.Authorization()})
	m.SecretName = types.StringNull()
	resp.Diagnostics.Append(resp.Result.Set(ctx, m)...)
}

func outputSecretOf(ac *keyportv1.ApiClient) string {
	if ac.Spec.Output != nil {
		return ac.Spec.Output.SecretName
	}
	return ""
}

// readiness describes the ApiClient's Ready condition in words.
func readiness(ac *keyportv1.ApiClient) string {
	c := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
	if c == nil {
		return "the operator has not reported on it yet"
	}
	return "Ready is " + string(c.Status) + ", " + describe(c)
}
