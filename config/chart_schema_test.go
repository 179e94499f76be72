package config_test

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"sigs.k8s.io/yaml"
)

// schemaNode is the part of a JSON schema this test reads.
type schemaNode struct {
	Ref                  string                 `json:"$ref"`
	Type                 string                 `json:"type"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
	Definitions          map[string]*schemaNode `json:"definitions"`
}

// Every value of values.yaml, down to each leaf that Keyport defines, is
// declared in values.schema.json, and every object Keyport defines refuses
// undeclared keys: a value added to values.yaml without its schema fails
// here, and so would a misspelt one at install.
func TestChartSchemaCoversEveryValue(t *testing.T) {
	raw, err := os.ReadFile(root("config", "helm", "keyport", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema schemaNode
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	valuesYAML, err := os.ReadFile(root("config", "helm", "keyport", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(valuesYAML, &values); err != nil {
		t.Fatal(err)
	}
	resolve := func(n *schemaNode) *schemaNode {
		if name, ok := strings.CutPrefix(n.Ref, "#/definitions/"); ok {
			return schema.Definitions[name]
		}
		return n
	}
	var walk func(path string, v any, n *schemaNode)
	walk = func(path string, v any, n *schemaNode) {
		n = resolve(n)
		if n == nil {
			t.Errorf("%s: the schema refers to a definition it lacks", path)
			return
		}
		m, isMap := v.(map[string]any)
		if !isMap || n.Properties == nil {
			// A leaf, a list, or a map whose keys are the user's (labels,
			// annotations, Kubernetes objects).
			return
		}
		if string(n.AdditionalProperties) != "false" {
			t.Errorf("%s: the schema accepts keys it does not declare, so a misspelt one would pass", path)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child, ok := n.Properties[k]
			if !ok {
				t.Errorf("%s.%s is in values.yaml but not in values.schema.json", path, k)
				continue
			}
			walk(path+"."+k, m[k], child)
		}
	}
	walk("values", values, &schema)
	for _, leaf := range []string{"prometheusRule", "grafanaDashboard", "serviceMonitor"} {
		if schema.Properties["metrics"].Properties[leaf] == nil {
			t.Errorf("values.schema.json has no metrics.%s", leaf)
		}
	}
}

// A misspelt or mistyped value fails with a message that names where it is
// and what is wrong, the way `helm install --set` reports it.
func TestChartSchemaRejectsMisspeltValues(t *testing.T) {
	ch, err := loader.LoadDir(root("config", "helm", "keyport"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"misspelt key", map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"enabeld": true}}},
			[]string{"/metrics/prometheusRule", "'enabeld' not allowed"}},
		{"misspelt top-level key", map[string]any{"replicas": 2},
			[]string{"'replicas' not allowed"}},
		{"misspelt dashboard key", map[string]any{"metrics": map[string]any{"grafanaDashboard": map[string]any{"namepsace": "grafana"}}},
			[]string{"/metrics/grafanaDashboard", "'namepsace' not allowed"}},
		{"port as a string", map[string]any{"metrics": map[string]any{"port": "8080"}},
			[]string{"/metrics/port", "want integer"}},
		{"duration without a unit", map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"noLeader": map[string]any{"for": "5"}}}},
			[]string{"/metrics/prometheusRule/noLeader/for"}},
		{"unknown opt-out", map[string]any{"outbound": map[string]any{"tenantOptOuts": []any{"insecure_http"}}},
			[]string{"/outbound/tenantOptOuts/0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := util.ToRenderValues(ch, tc.values,
				common.ReleaseOptions{Name: "keyport", Namespace: "keyport-system", IsInstall: true}, common.DefaultCapabilities)
			if err == nil {
				t.Fatalf("values %v were accepted", tc.values)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

// `helm lint --strict` passes with the defaults and with every optional
// object of the chart turned on (make lint runs the helm command; this is
// the same lint through Helm's library).
func TestChartLintsStrict(t *testing.T) {
	lint := action.NewLint()
	lint.Strict = true
	for name, values := range map[string]map[string]any{
		"defaults": nil,
		"monitoring on": {"metrics": map[string]any{
			"serviceMonitor":   map[string]any{"enabled": true},
			"prometheusRule":   map[string]any{"enabled": true},
			"grafanaDashboard": map[string]any{"enabled": true},
		}},
	} {
		result := lint.Run([]string{root("config", "helm", "keyport")}, values)
		if len(result.Errors) > 0 || result.TotalChartsLinted != 1 {
			t.Errorf("%s: helm lint --strict: %v", name, result.Errors)
		}
	}
}
