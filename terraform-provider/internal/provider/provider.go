// Package provider is the Keyport Terraform provider: Keyport's resources in
// HCL, applied as Kubernetes custom resources with server-side apply, and
// waited on until the operator reports them Ready for the generation just
// written.
package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// New returns the provider factory.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &keyportProvider{version: version} }
}

var (
	_ provider.Provider                       = (*keyportProvider)(nil)
	_ provider.ProviderWithFunctions          = (*keyportProvider)(nil)
	_ provider.ProviderWithEphemeralResources = (*keyportProvider)(nil)
)

type keyportProvider struct {
	version string
}

// providerModel is the provider block. Each connection attribute falls back
// to the environment variable the Kubernetes provider reads.
type providerModel struct {
	Host                  types.String `tfsdk:"host"`
	Token                 types.String `tfsdk:"token"`
	ClusterCACertificate  types.String `tfsdk:"cluster_ca_certificate"`
	ClientCertificate     types.String `tfsdk:"client_certificate"`
	ClientKey             types.String `tfsdk:"client_key"`
	TLSServerName         types.String `tfsdk:"tls_server_name"`
	ProxyURL              types.String `tfsdk:"proxy_url"`
	ConfigPath            types.String `tfsdk:"config_path"`
	ConfigPaths           types.List   `tfsdk:"config_paths"`
	ConfigContext         types.String `tfsdk:"config_context"`
	ConfigContextAuthInfo types.String `tfsdk:"config_context_auth_info"`
	ConfigContextCluster  types.String `tfsdk:"config_context_cluster"`
	Exec                  *execModel   `tfsdk:"exec"`
	Namespace             types.String `tfsdk:"namespace"`
}

// execModel is the exec credential plugin block.
type execModel struct {
	APIVersion types.String `tfsdk:"api_version"`
	Command    types.String `tfsdk:"command"`
	Args       types.List   `tfsdk:"args"`
	Env        types.Map    `tfsdk:"env"`
}

func (p *keyportProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "keyport"
	resp.Version = p.version
}

func (p *keyportProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Declares Keyport's resources — `keyport_api_client`, `keyport_m2m_certificate`, " +
			"`keyport_ingestion_channel` and `keyport_notification_channel` — and applies them as Kubernetes custom " +
			"resources (group `keyport.dev`) to the cluster where the Keyport operator runs. Each apply waits until " +
			"the operator reports the resource Ready for the generation just written.\n\n" +
			"The connection is configured like the Kubernetes provider's: a kubeconfig (`config_path`, `config_paths`, " +
			"`config_context`…) or `host` with `token`, `cluster_ca_certificate`, `client_certificate`/`client_key` or " +
			"an `exec` plugin. Explicit attributes override the kubeconfig's values. Every attribute falls back to the " +
			"Kubernetes provider's environment variable (`KUBE_HOST`, `KUBE_TOKEN`, `KUBE_CONFIG_PATH`, …); " +
			"`KUBECONFIG` is read last. The provider connects lazily: planning new resources does not contact the cluster.",
		Attributes: map[string]schema.Attribute{
			"host": schema.StringAttribute{Optional: true,
				MarkdownDescription: "The Kubernetes API server, such as `https://10.0.0.1:6443`. Environment: `KUBE_HOST`."},
			"token": schema.StringAttribute{Optional: true, Sensitive: true,
				MarkdownDescription: "Bearer token for the API server. Environment: `KUBE_TOKEN`."},
			"cluster_ca_certificate": schema.StringAttribute{Optional: true,
				MarkdownDescription: "PEM-encoded CA bundle that verifies the API server. Environment: `KUBE_CLUSTER_CA_CERT_DATA`."},
			"client_certificate": schema.StringAttribute{Optional: true,
				MarkdownDescription: "PEM-encoded client certificate for TLS client authentication. Environment: `KUBE_CLIENT_CERT_DATA`."},
			"client_key": schema.StringAttribute{Optional: true, Sensitive: true,
				MarkdownDescription: "PEM-encoded private key of `client_certificate`. Environment: `KUBE_CLIENT_KEY_DATA`."},
			"tls_server_name": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Server name used to verify the API server's certificate. Environment: `KUBE_TLS_SERVER_NAME`."},
			"proxy_url": schema.StringAttribute{Optional: true,
				MarkdownDescription: "URL of a proxy to reach the API server through. Environment: `KUBE_PROXY_URL`."},
			"config_path": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Path to a kubeconfig file. Environment: `KUBE_CONFIG_PATH`, then `KUBECONFIG`."},
			"config_paths": schema.ListAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Paths to kubeconfig files, merged as kubectl merges them. Environment: `KUBE_CONFIG_PATHS` " +
					"(separated by `:`, `;` on Windows)."},
			"config_context": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Context of the kubeconfig to use instead of its current context. Environment: `KUBE_CTX`."},
			"config_context_auth_info": schema.StringAttribute{Optional: true,
				MarkdownDescription: "User of the kubeconfig to use with the context. Environment: `KUBE_CTX_AUTH_INFO`."},
			"config_context_cluster": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Cluster of the kubeconfig to use with the context. Environment: `KUBE_CTX_CLUSTER`."},
			"namespace": schema.StringAttribute{Optional: true,
				MarkdownDescription: "Namespace of the resources that set none. Default `default`."},
		},
		Blocks: map[string]schema.Block{
			"exec": schema.SingleNestedBlock{
				MarkdownDescription: "An exec credential plugin (such as `aws eks get-token` or `gke-gcloud-auth-plugin`) that " +
					"prints a token for the API server.",
				Attributes: map[string]schema.Attribute{
					"api_version": schema.StringAttribute{Optional: true,
						MarkdownDescription: "API version of the ExecCredential, such as `client.authentication.k8s.io/v1`."},
					"command": schema.StringAttribute{Optional: true, MarkdownDescription: "The command to run."},
					"args":    schema.ListAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Arguments of the command."},
					"env":     schema.MapAttribute{Optional: true, ElementType: types.StringType, MarkdownDescription: "Environment variables of the command."},
				},
			},
		},
	}
}

func (p *keyportProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// Nothing here reaches the cluster: the client is built on first use, so
	// that a plan of new resources works even before the cluster exists.
	c := newClients(m, p.version)
	resp.ResourceData = c
	resp.DataSourceData = c
	resp.EphemeralResourceData = c
}

func (p *keyportProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewApiClientResource,
		NewM2MCertificateResource,
		NewIngestionChannelResource,
		NewNotificationChannelResource,
	}
}

func (p *keyportProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewApiClientDataSource}
}

func (p *keyportProvider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{NewAccessTokenEphemeralResource}
}

func (p *keyportProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{
		NewCertificateThumbprintFunction,
		NewCertificateFingerprintFunction,
	}
}
