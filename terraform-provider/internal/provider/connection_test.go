package provider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// nullProvider is a provider block with nothing set.
func nullProvider() providerModel {
	return providerModel{
		Host: types.StringNull(), Token: types.StringNull(), ClusterCACertificate: types.StringNull(),
		ClientCertificate: types.StringNull(), ClientKey: types.StringNull(), TLSServerName: types.StringNull(),
		ProxyURL: types.StringNull(), ConfigPath: types.StringNull(), ConfigPaths: types.ListNull(types.StringType),
		ConfigContext: types.StringNull(), ConfigContextAuthInfo: types.StringNull(), ConfigContextCluster: types.StringNull(),
		Namespace: types.StringNull(),
	}
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestResolveConnection(t *testing.T) {
	t.Run("attributes win over the environment", func(t *testing.T) {
		m := nullProvider()
		m.Host, m.Token = types.StringValue("https://attr:6443"), types.StringValue("attr-token")
		c, unknown := resolveConnection(m, envOf(map[string]string{"KUBE_HOST": "https://env:6443", "KUBE_TOKEN": "env-token"}))
		if unknown || c.host != "https://attr:6443" || c.token != "attr-token" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("the Kubernetes provider's variables fill what is unset", func(t *testing.T) {
		c, _ := resolveConnection(nullProvider(), envOf(map[string]string{
			"KUBE_HOST": "https://env:6443", "KUBE_TOKEN": "t", "KUBE_CLUSTER_CA_CERT_DATA": "ca", "KUBE_CLIENT_CERT_DATA": "cert",
			"KUBE_CLIENT_KEY_DATA": "key", "KUBE_TLS_SERVER_NAME": "api", "KUBE_PROXY_URL": "http://proxy", "KUBE_CTX": "ctx",
			"KUBE_CTX_AUTH_INFO": "user", "KUBE_CTX_CLUSTER": "cluster", "KUBE_CONFIG_PATH": "/a"}))
		if c.host != "https://env:6443" || c.token != "t" || c.caData != "ca" || c.certData != "cert" || c.keyData != "key" ||
			c.tlsServerName != "api" || c.proxyURL != "http://proxy" || c.context != "ctx" || c.authInfo != "user" ||
			c.cluster != "cluster" || strings.Join(c.paths, ",") != "/a" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("config_path comes before config_paths", func(t *testing.T) {
		m := nullProvider()
		m.ConfigPath = types.StringValue("/one")
		m.ConfigPaths = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("/two"), types.StringValue("/three")})
		c, _ := resolveConnection(m, envOf(nil))
		if strings.Join(c.paths, ",") != "/one,/two,/three" {
			t.Errorf("got %v", c.paths)
		}
	})
	t.Run("KUBE_CONFIG_PATHS is a path list", func(t *testing.T) {
		c, _ := resolveConnection(nullProvider(), envOf(map[string]string{"KUBE_CONFIG_PATHS": "/a" + string(os.PathListSeparator) + "/b"}))
		if strings.Join(c.paths, ",") != "/a,/b" {
			t.Errorf("got %v", c.paths)
		}
	})
	t.Run("KUBECONFIG is read when nothing else names a cluster", func(t *testing.T) {
		c, _ := resolveConnection(nullProvider(), envOf(map[string]string{"KUBECONFIG": "/home/me/.kube/config"}))
		if strings.Join(c.paths, ",") != "/home/me/.kube/config" {
			t.Errorf("got %v", c.paths)
		}
	})
	t.Run("KUBECONFIG is ignored when a host is given", func(t *testing.T) {
		c, _ := resolveConnection(nullProvider(), envOf(map[string]string{"KUBECONFIG": "/home/me/.kube/config", "KUBE_HOST": "https://h"}))
		if len(c.paths) != 0 {
			t.Errorf("a developer's kubeconfig leaked into an explicit host: %v", c.paths)
		}
	})
	t.Run("values unknown until apply are noticed", func(t *testing.T) {
		m := nullProvider()
		m.Host = types.StringUnknown()
		if _, unknown := resolveConnection(m, envOf(nil)); !unknown {
			t.Error("unknown host not noticed")
		}
	})
	t.Run("an exec plugin is passed on", func(t *testing.T) {
		m := nullProvider()
		m.Exec = &execModel{APIVersion: types.StringValue("client.authentication.k8s.io/v1"), Command: types.StringValue("aws"),
			Args: types.ListValueMust(types.StringType, []attr.Value{types.StringValue("eks"), types.StringValue("get-token")}),
			Env:  types.MapValueMust(types.StringType, map[string]attr.Value{"AWS_PROFILE": types.StringValue("prod")})}
		c, _ := resolveConnection(m, envOf(nil))
		if c.exec == nil || c.exec.Command != "aws" || strings.Join(c.exec.Args, " ") != "eks get-token" || c.exec.Env[0].Value != "prod" {
			t.Errorf("got %+v", c.exec)
		}
	})
}

const testKubeconfig = `apiVersion: v1
kind: Config
current-context: first
clusters:
- name: one
  cluster:
    server: https://one.example.com:6443
- name: two
  cluster:
    server: https://two.example.com:6443
users:
- name: me
  user:
    token: kubeconfig-token
contexts:
- name: first
  context: {cluster: one, user: me}
- name: second
  context: {cluster: two, user: me}
`

func TestConnectionRestConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		c         connection
		wantHost  string
		wantToken string
		wantErr   string
	}{
		{name: "the kubeconfig's current context", c: connection{paths: []string{path}}, wantHost: "https://one.example.com:6443", wantToken: "kubeconfig-token"},
		{name: "config_context picks another context", c: connection{paths: []string{path}, context: "second"}, wantHost: "https://two.example.com:6443"},
		{name: "an explicit host and token override the kubeconfig", c: connection{paths: []string{path}, host: "https://override:6443", token: "explicit"},
			wantHost: "https://override:6443", wantToken: "explicit"},
		{name: "a host alone needs no kubeconfig", c: connection{host: "https://alone:6443", token: "t"}, wantHost: "https://alone:6443", wantToken: "t"},
		{name: "a missing kubeconfig is named", c: connection{paths: []string{filepath.Join(dir, "absent")}}, wantErr: "absent"},
		{name: "nothing configured says what to set", c: connection{}, wantErr: "set config_path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.c.restConfig("test")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tc.wantHost || (tc.wantToken != "" && cfg.BearerToken != tc.wantToken) {
				t.Errorf("host %s token %q", cfg.Host, cfg.BearerToken)
			}
		})
	}
}

// TestClientIsBuiltWithoutContactingTheCluster: nothing listens at the
// host, and building the client still succeeds.
func TestClientIsBuiltWithoutContactingTheCluster(t *testing.T) {
	m := nullProvider()
	m.Host, m.Token = types.StringValue("https://127.0.0.1:9"), types.StringValue("t")
	c := newClients(m, "test")
	if _, err := c.client(); err != nil {
		t.Fatal(err)
	}
	if c.namespace != "default" {
		t.Errorf("default namespace %q", c.namespace)
	}
}
