// Package provider is the Keyport Terraform provider: Keyport's resources in
// HCL, applied as Kubernetes custom resources with server-side apply.
package provider

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// New returns the provider factory.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &keyportProvider{version: version} }
}

type keyportProvider struct {
	version string
}

// providerModel is the provider block.
type providerModel struct {
	ConfigPath           types.String `tfsdk:"config_path"`
	ConfigContext        types.String `tfsdk:"config_context"`
	Host                 types.String `tfsdk:"host"`
	Token                types.String `tfsdk:"token"`
	ClusterCACertificate types.String `tfsdk:"cluster_ca_certificate"`
	Namespace            types.String `tfsdk:"namespace"`
}

// clients is what resources get from the provider: a Kubernetes client and
// the default namespace.
type clients struct {
	kube      client.Client
	namespace string
}

func (p *keyportProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "keyport"
	resp.Version = p.version
}

func (p *keyportProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Declares Keyport resources (ApiClient, ...) and applies them to a Kubernetes cluster where the Keyport operator runs. " +
			"Connection settings follow the Kubernetes provider: a kubeconfig (`config_path`, `KUBECONFIG`/`KUBE_CONFIG_PATH`) or `host`, `token` and `cluster_ca_certificate` (`KUBE_HOST`, `KUBE_TOKEN`, `KUBE_CLUSTER_CA_CERT_DATA`).",
		Attributes: map[string]schema.Attribute{
			"config_path":            schema.StringAttribute{Optional: true, MarkdownDescription: "Path to a kubeconfig file. Env: `KUBE_CONFIG_PATH`, `KUBECONFIG`."},
			"config_context":         schema.StringAttribute{Optional: true, MarkdownDescription: "Context of the kubeconfig to use. Env: `KUBE_CTX`."},
			"host":                   schema.StringAttribute{Optional: true, MarkdownDescription: "API server URL, instead of a kubeconfig. Env: `KUBE_HOST`."},
			"token":                  schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Bearer token for `host`. Env: `KUBE_TOKEN`."},
			"cluster_ca_certificate": schema.StringAttribute{Optional: true, MarkdownDescription: "PEM CA of `host`. Env: `KUBE_CLUSTER_CA_CERT_DATA`."},
			"namespace":              schema.StringAttribute{Optional: true, MarkdownDescription: "Namespace of resources that set none. Default `default`."},
		},
	}
}

func (p *keyportProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg, err := restConfig(m)
	if err != nil {
		resp.Diagnostics.AddError("Cannot build a Kubernetes client configuration", err.Error())
		return
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = keyportv1.AddToScheme(scheme)
	// The REST mapper discovers lazily: nothing reaches the cluster until a
	// resource needs it.
	kube, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		resp.Diagnostics.AddError("Cannot create a Kubernetes client", err.Error())
		return
	}
	ns := firstOf(m.Namespace.ValueString(), "default")
	c := &clients{kube: kube, namespace: ns}
	resp.ResourceData = c
	resp.DataSourceData = c
}

// restConfig follows the Kubernetes provider's order: explicit host, then a
// kubeconfig from the block or the environment.
func restConfig(m providerModel) (*rest.Config, error) {
	host := firstOf(m.Host.ValueString(), os.Getenv("KUBE_HOST"))
	if host != "" {
		return &rest.Config{
			Host:            host,
			BearerToken:     firstOf(m.Token.ValueString(), os.Getenv("KUBE_TOKEN")),
			TLSClientConfig: rest.TLSClientConfig{CAData: []byte(firstOf(m.ClusterCACertificate.ValueString(), os.Getenv("KUBE_CLUSTER_CA_CERT_DATA")))},
		}, nil
	}
	path := firstOf(m.ConfigPath.ValueString(), os.Getenv("KUBE_CONFIG_PATH"), os.Getenv("KUBECONFIG"))
	if path == "" {
		return nil, fmt.Errorf("set config_path or host (or KUBE_CONFIG_PATH, KUBECONFIG, KUBE_HOST)")
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: firstOf(m.ConfigContext.ValueString(), os.Getenv("KUBE_CTX"))}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func (p *keyportProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewApiClientResource}
}

func (p *keyportProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

func (p *keyportProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{NewCertificateThumbprintFunction}
}
