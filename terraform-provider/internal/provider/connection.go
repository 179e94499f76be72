package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// defaultNamespace is where resources go when neither they nor the provider
// name a namespace, as with the Kubernetes provider.
const defaultNamespace = "default"

// connection is the provider block resolved against the environment: plain
// values, nothing contacted yet.
type connection struct {
	host, token, caData, certData, keyData, tlsServerName, proxyURL string

	// paths are kubeconfig files; empty means host alone.
	paths                      []string
	context, authInfo, cluster string
	exec                       *clientcmdapi.ExecConfig
}

// resolveConnection applies the Kubernetes provider's environment
// fallbacks. unknown is true when the configuration holds values that are
// not known until apply (a cluster created in the same run).
func resolveConnection(m providerModel, getenv func(string) string) (c connection, unknown bool) {
	str := func(v types.String, env string) string {
		if v.IsUnknown() {
			unknown = true
			return ""
		}
		if !v.IsNull() {
			return v.ValueString()
		}
		if env == "" {
			return ""
		}
		return getenv(env)
	}
	c.host = str(m.Host, "KUBE_HOST")
	c.token = str(m.Token, "KUBE_TOKEN")
	c.caData = str(m.ClusterCACertificate, "KUBE_CLUSTER_CA_CERT_DATA")
	c.certData = str(m.ClientCertificate, "KUBE_CLIENT_CERT_DATA")
	c.keyData = str(m.ClientKey, "KUBE_CLIENT_KEY_DATA")
	c.tlsServerName = str(m.TLSServerName, "KUBE_TLS_SERVER_NAME")
	c.proxyURL = str(m.ProxyURL, "KUBE_PROXY_URL")
	c.context = str(m.ConfigContext, "KUBE_CTX")
	c.authInfo = str(m.ConfigContextAuthInfo, "KUBE_CTX_AUTH_INFO")
	c.cluster = str(m.ConfigContextCluster, "KUBE_CTX_CLUSTER")

	switch {
	case m.ConfigPaths.IsUnknown():
		unknown = true
	case !m.ConfigPaths.IsNull():
		paths, u := stringElements(m.ConfigPaths.Elements())
		unknown = unknown || u
		c.paths = append(c.paths, paths...)
	}
	if p := str(m.ConfigPath, "KUBE_CONFIG_PATH"); p != "" {
		c.paths = append([]string{p}, c.paths...)
	}
	if len(c.paths) == 0 && m.ConfigPaths.IsNull() {
		c.paths = splitPathList(getenv("KUBE_CONFIG_PATHS"))
	}
	// KUBECONFIG is the last resort, and only when nothing names a cluster:
	// a host given explicitly must not pick up a developer's kubeconfig.
	if len(c.paths) == 0 && c.host == "" && !unknown {
		c.paths = splitPathList(getenv("KUBECONFIG"))
	}

	if e := m.Exec; e != nil {
		x := &clientcmdapi.ExecConfig{
			APIVersion:      str(e.APIVersion, ""),
			Command:         str(e.Command, ""),
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}
		if !e.Args.IsNull() {
			args, u := stringElements(e.Args.Elements())
			unknown = unknown || u || e.Args.IsUnknown()
			x.Args = args
		}
		if !e.Env.IsNull() {
			for name, v := range e.Env.Elements() {
				s, ok := v.(types.String)
				if !ok || s.IsUnknown() {
					unknown = true
					continue
				}
				x.Env = append(x.Env, clientcmdapi.ExecEnvVar{Name: name, Value: s.ValueString()})
			}
		}
		if x.Command != "" {
			c.exec = x
		}
	}
	return c, unknown
}

func stringElements(elems []attr.Value) (out []string, unknown bool) {
	for _, v := range elems {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() {
			unknown = true
			continue
		}
		if !s.IsNull() {
			out = append(out, s.ValueString())
		}
	}
	return out, unknown
}

func splitPathList(v string) []string {
	var out []string
	for _, p := range filepath.SplitList(v) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// restConfig builds the client configuration. Explicit attributes override
// what the kubeconfig says, as in the Kubernetes provider.
func (c connection) restConfig(userAgent string) (*rest.Config, error) {
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.context}
	overrides.Context.AuthInfo = c.authInfo
	overrides.Context.Cluster = c.cluster
	overrides.ClusterInfo.Server = c.host
	overrides.ClusterInfo.TLSServerName = c.tlsServerName
	overrides.ClusterInfo.ProxyURL = c.proxyURL
	if c.caData != "" {
		overrides.ClusterInfo.CertificateAuthorityData = []byte(c.caData)
	}
	overrides.AuthInfo.Token = c.token
	if c.certData != "" {
		overrides.AuthInfo.ClientCertificateData = []byte(c.certData)
	}
	if c.keyData != "" {
		overrides.AuthInfo.ClientKeyData = []byte(c.keyData)
	}
	overrides.AuthInfo.Exec = c.exec

	var cc clientcmd.ClientConfig
	switch {
	case len(c.paths) > 0:
		rules := &clientcmd.ClientConfigLoadingRules{}
		for _, p := range c.paths {
			p = expandHome(p)
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", p, err)
			}
			rules.Precedence = append(rules.Precedence, p)
		}
		cc = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	case c.host != "":
		cc = clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), overrides)
	default:
		return nil, errors.New("no cluster configured: set config_path, config_paths or host in the provider block " +
			"(or KUBE_CONFIG_PATH, KUBE_CONFIG_PATHS, KUBE_HOST or KUBECONFIG in the environment)")
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = userAgent
	cfg.QPS, cfg.Burst = 20, 40
	return cfg, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// clients is what resources get from the provider: a Kubernetes client
// built on first use and the default namespace.
type clients struct {
	namespace string
	// namespaceKnown is false when the provider's namespace is unknown
	// until apply.
	namespaceKnown bool

	conn      connection
	unknown   bool
	userAgent string

	once sync.Once
	kube client.Client
	err  error
}

func newClients(m providerModel, version string) *clients {
	conn, unknown := resolveConnection(m, os.Getenv)
	c := &clients{conn: conn, unknown: unknown, namespace: defaultNamespace, namespaceKnown: !m.Namespace.IsUnknown(),
		userAgent: "terraform-provider-keyport/" + version}
	if v := m.Namespace.ValueString(); v != "" {
		c.namespace = v
	}
	return c
}

// client returns the Kubernetes client, building it on first use. The
// REST mapper discovers lazily, so building it does not reach the cluster.
func (c *clients) client() (client.Client, error) {
	if c == nil {
		return nil, errors.New("the provider is not configured")
	}
	c.once.Do(func() {
		if c.unknown {
			c.err = errors.New("the provider configuration depends on values that are not known until apply " +
				"(for example a cluster created in the same run); apply that first, for example with -target")
			return
		}
		cfg, err := c.conn.restConfig(c.userAgent)
		if err != nil {
			c.err = fmt.Errorf("build the Kubernetes client configuration: %w", err)
			return
		}
		scheme := runtime.NewScheme()
		if err := clientgoscheme.AddToScheme(scheme); err != nil {
			c.err = err
			return
		}
		if err := keyportv1.AddToScheme(scheme); err != nil {
			c.err = err
			return
		}
		c.kube, c.err = client.New(cfg, client.Options{Scheme: scheme})
	})
	return c.kube, c.err
}

// connect is client for the provider's operations: a failure becomes the
// diagnostic every resource, data source and ephemeral resource shows, and
// the client nil.
func (c *clients) connect(diags *diag.Diagnostics) client.Client {
	kube, err := c.client()
	if err != nil {
		diags.AddError("Cannot connect to the Kubernetes cluster", err.Error())
		return nil
	}
	return kube
}

// configuredClients is the Configure of every resource, data source and
// ephemeral resource: the provider's clients, or ok false while the provider
// is not configured yet (validation runs before it is).
func configuredClients(providerData any, diags *diag.Diagnostics) (c *clients, ok bool) {
	if providerData == nil {
		return nil, false
	}
	c, ok = providerData.(*clients)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("got %T", providerData))
	}
	return c, ok
}

// apiClientKey names the ApiClient ns/name, in the provider's namespace
// when ns is empty.
func (c *clients) apiClientKey(ns, name string) ktypes.NamespacedName {
	if ns == "" {
		ns = c.namespace
	}
	return ktypes.NamespacedName{Namespace: ns, Name: name}
}

// getApiClient connects to the cluster and reads the ApiClient key. A
// failure to connect is in diags and leaves ac and err nil; a failure to
// read is err, for the caller to explain.
func (c *clients) getApiClient(ctx context.Context, key ktypes.NamespacedName, diags *diag.Diagnostics) (kube client.Client, ac *keyportv1.ApiClient, err error) {
	if kube = c.connect(diags); kube == nil {
		return nil, nil, nil
	}
	ac = &keyportv1.ApiClient{}
	if err := kube.Get(ctx, key, ac); err != nil {
		return kube, nil, err
	}
	return kube, ac, nil
}

func cannotReadApiClient(diags *diag.Diagnostics, key ktypes.NamespacedName, err error) {
	diags.AddError("Cannot read the ApiClient", fmt.Sprintf("ApiClient %s: %v", key, err))
}
