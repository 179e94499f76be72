package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// NewApiClientDataSource returns the keyport_api_client data source.
func NewApiClientDataSource() datasource.DataSource { return &apiClientDataSource{} }

var _ datasource.DataSourceWithConfigure = (*apiClientDataSource)(nil)

// apiClientDataSource reads an ApiClient's status: whether it works, why
// not, and where its token is. It never reads the token itself (use the
// keyport_access_token ephemeral resource for that).
type apiClientDataSource struct{ c *clients }

type apiClientDataModel struct {
	ID                    types.String `tfsdk:"id"`
	Name                  types.String `tfsdk:"name"`
	Namespace             types.String `tfsdk:"namespace"`
	Ready                 types.Bool   `tfsdk:"ready"`
	Reason                types.String `tfsdk:"reason"`
	Message               types.String `tfsdk:"message"`
	Degraded              types.Bool   `tfsdk:"degraded"`
	OutputSecretName      types.String `tfsdk:"output_secret_name"`
	TokenExpiresAt        types.String `tfsdk:"token_expires_at"`
	LastRefreshTime       types.String `tfsdk:"last_refresh_time"`
	NextRefreshTime       types.String `tfsdk:"next_refresh_time"`
	ConsecutiveFailures   types.Int64  `tfsdk:"consecutive_failures"`
	CertificateThumbprint types.String `tfsdk:"certificate_thumbprint"`
	TokenURL              types.String `tfsdk:"token_url"`
}

func (d *apiClientDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_client"
}

func (d *apiClientDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The status of an ApiClient, managed by Terraform or not: whether the operator keeps a valid token " +
			"for it, why not, and which Secret workloads mount. The token itself is not read; use the `keyport_access_token` " +
			"ephemeral resource for that.",
		Attributes: map[string]schema.Attribute{
			"id":   computed("`namespace/name`."),
			"name": schema.StringAttribute{Required: true, Validators: objectName(), MarkdownDescription: "Name of the ApiClient."},
			"namespace": schema.StringAttribute{Optional: true, Computed: true, Validators: namespaceName(),
				MarkdownDescription: "Namespace of the ApiClient; the provider's `namespace` when unset."},
			"ready": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether the output Secret holds a valid token for the current spec (the `Ready` condition)."},
			"reason":             computed("Reason of the `Ready` condition, such as `TokenRefreshed` or `InvalidCredentials`."),
			"message":            computed("Message of the `Ready` condition."),
			"degraded":           schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the last refresh failed (the `Degraded` condition)."},
			"output_secret_name": computed("The Secret with the token, for workloads to mount."),
			"token_expires_at":   computed("When the token the status last reported expires (RFC 3339); the Secret's `keyport.dev/expires-at` annotation is always exact. Null when the operator runs with `--status-token-times=omit`."),
			"last_refresh_time":  computed("When the token of `token_expires_at` was obtained (RFC 3339)."),
			"next_refresh_time":  computed("When the next refresh or retry is planned (RFC 3339); may lag one refresh behind, the Secret's `keyport.dev/refresh-at` annotation is exact."),
			"consecutive_failures": schema.Int64Attribute{Computed: true,
				MarkdownDescription: "Failed refreshes in a row; 0 when the last one succeeded."},
			"certificate_thumbprint": computed("SHA-1 thumbprint of the client certificate in use, for mutual TLS."),
			"token_url":              computed("The token endpoint."),
		},
	}
}

func (d *apiClientDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if c, ok := configuredClients(req.ProviderData, &resp.Diagnostics); ok {
		d.c = c
	}
}

func (d *apiClientDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m apiClientDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	key := d.c.apiClientKey(m.Namespace.ValueString(), m.Name.ValueString())
	ns := key.Namespace
	_, ac, err := d.c.getApiClient(ctx, key, &resp.Diagnostics)
	if err != nil {
		if apierrors.IsNotFound(err) {
			resp.Diagnostics.AddError("ApiClient not found", fmt.Sprintf("There is no ApiClient %s.", key))
			return
		}
		cannotReadApiClient(&resp.Diagnostics, key, err)
		return
	}
	if ac == nil {
		return
	}
	ready := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
	degraded := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionDegraded)
	m.ID = types.StringValue(key.String())
	m.Namespace = types.StringValue(ns)
	m.Ready = types.BoolValue(ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == ac.Generation)
	m.Reason, m.Message = types.StringValue(""), types.StringValue("the operator has not reported on this ApiClient yet")
	if ready != nil {
		m.Reason, m.Message = types.StringValue(ready.Reason), types.StringValue(ready.Message)
	}
	m.Degraded = types.BoolValue(degraded != nil && degraded.Status == metav1.ConditionTrue)
	m.OutputSecretName = types.StringValue(firstOf(ac.Status.OutputSecretName, outputSecretOf(ac), ac.Name+"-token"))
	m.TokenExpiresAt = fromTime(ac.Status.TokenExpiresAt)
	m.LastRefreshTime = fromTime(ac.Status.LastRefreshTime)
	m.NextRefreshTime = fromTime(ac.Status.NextRefreshTime)
	m.ConsecutiveFailures = types.Int64Value(int64(ac.Status.ConsecutiveFailures))
	m.CertificateThumbprint = types.StringValue(ac.Status.CertificateThumbprint)
	m.TokenURL = types.StringValue(ac.Spec.TokenURL)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
