package config_test

// Keyport's alerts and dashboard: the chart renders them only when asked,
// the kustomize overlay's copy of the rules is the chart's rendering, the
// rules pass `promtool check rules` and the unit tests of
// config/testdata/keyport-alerts.test.yaml, and the API server accepts the
// objects under the Prometheus Operator's CRDs.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

var updateAlerts = flag.Bool("update-alerts", false,
	"rewrite config/prometheus/alerts/prometheusrule.yaml from the chart's templates/prometheusrule.yaml")

// The alerts the chart defines, by name.
var wantAlerts = []string{
	"KeyportTokenExpiresBeforeRefresh", "KeyportTokenRefreshFailing", "KeyportRefreshesLate",
	"KeyportCertificateExpiringSoon", "KeyportCertificateExpired", "KeyportNoLeader",
}

const (
	ruleTemplate  = "keyport/templates/prometheusrule.yaml"
	dashTemplate  = "keyport/templates/grafana-dashboard.yaml"
	promtoolTests = "keyport-alerts.test.yaml"
	// The prometheus-operator release whose CRDs the API-server test installs
	// (from the Go module proxy, like cert-manager's).
	prometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
)

func alertsFile() string    { return root("config", "prometheus", "alerts", "prometheusrule.yaml") }
func dashboardFile() string { return root("config", "prometheus", "dashboard", "keyport.json") }

// alertValues turns the chart's alerts and dashboard on, with more values.
func alertValues(more map[string]any) map[string]any {
	metrics := map[string]any{
		"prometheusRule":   map[string]any{"enabled": true},
		"grafanaDashboard": map[string]any{"enabled": true},
	}
	for k, v := range more {
		metrics[k] = v
	}
	return map[string]any{"metrics": metrics}
}

// kustomizeAlertsHeader precedes the chart's rendered spec in the kustomize
// overlay's file.
const kustomizeAlertsHeader = `# GENERATED from config/helm/keyport/templates/prometheusrule.yaml with the
# chart's default values; do not edit. Change the template, then run
#   go test ./config -run TestKustomizeAlertsAreTheChartsRules -update-alerts
# Needs the Prometheus Operator's CRDs (monitoring.coreos.com/v1).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: keyport-operator
  namespace: keyport-system
  labels:
    app.kubernetes.io/name: keyport
    app.kubernetes.io/component: operator
`

// kustomizeAlerts is what config/prometheus/alerts/prometheusrule.yaml must
// hold: the chart's PrometheusRule with the default values, named and
// placed as config/default installs the operator (Deployment
// keyport-operator in keyport-system).
func kustomizeAlerts(t *testing.T) string {
	t.Helper()
	files, _ := renderChart(t, "keyport", "keyport-system", map[string]any{
		"fullnameOverride": "keyport-operator",
		"metrics":          map[string]any{"prometheusRule": map[string]any{"enabled": true}},
	})
	text := files[ruleTemplate]
	i := strings.Index(text, "\nspec:\n")
	if i < 0 {
		t.Fatalf("%s rendered no spec:\n%s", ruleTemplate, text)
	}
	return kustomizeAlertsHeader + strings.TrimLeft(text[i:], "\n")
}

// TestKustomizeAlertsAreTheChartsRules keeps the one source of the rules:
// the overlay's file is the chart's template rendered, so that neither can
// drift from the other.
func TestKustomizeAlertsAreTheChartsRules(t *testing.T) {
	want := kustomizeAlerts(t)
	if *updateAlerts {
		if err := os.WriteFile(alertsFile(), []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(alertsFile())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.Split(want, "\n"), strings.Split(string(got), "\n")); diff != "" {
		t.Fatalf("config/prometheus/alerts/prometheusrule.yaml is not the chart's rendering (-chart +file):\n%s\n"+
			"Run: go test ./config -run TestKustomizeAlertsAreTheChartsRules -update-alerts", diff)
	}

	rules := ofKind(kustomize(t, root("config", "prometheus", "alerts")), "PrometheusRule")
	if len(rules) != 1 || rules[0].GetName() != "keyport-operator" || rules[0].GetNamespace() != "keyport-system" {
		t.Fatalf("config/prometheus/alerts renders %d PrometheusRules, want keyport-system/keyport-operator", len(rules))
	}
	checkAlerts(t, rules[0], wantAlerts)
}

// checkAlerts asserts the rule's alerts and that each tells a person what
// to check.
func checkAlerts(t *testing.T, rule *unstructured.Unstructured, want []string) {
	t.Helper()
	var names []string
	for _, r := range alertRules(t, rule) {
		name, _ := r["alert"].(string)
		names = append(names, name)
		labels, _ := r["labels"].(map[string]any)
		if sev, _ := labels["severity"].(string); sev != "critical" && sev != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", name, sev)
		}
		ann, _ := r["annotations"].(map[string]any)
		summary, _ := ann["summary"].(string)
		description, _ := ann["description"].(string)
		if summary == "" || !strings.Contains(description, "kubectl -n ") {
			t.Errorf("%s: the summary %q or the description %q does not say what to check with kubectl", name, summary, description)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("alerts %v, want %v", names, want)
	}
}

func alertRules(t *testing.T, rule *unstructured.Unstructured) []map[string]any {
	t.Helper()
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	var out []map[string]any
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			out = append(out, r.(map[string]any))
		}
	}
	if len(out) == 0 {
		t.Fatalf("PrometheusRule %s has no rules", rule.GetName())
	}
	return out
}

func TestChartRendersAlertsAndDashboardOnlyWhenEnabled(t *testing.T) {
	isMonitoring := func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "PrometheusRule" || o.GetLabels()["grafana_dashboard"] != ""
	}
	off := helmTemplate(t, "keyport", "keyport-system", nil)
	if slices.ContainsFunc(off.objs, isMonitoring) {
		t.Fatal("the chart renders a PrometheusRule or a dashboard by default; both must be opt-in")
	}
	for _, which := range []string{"prometheusRule", "grafanaDashboard"} {
		r := helmTemplate(t, "keyport", "keyport-system", map[string]any{"metrics": map[string]any{which: map[string]any{"enabled": true}}})
		var kinds []string
		for _, o := range r.objs {
			if isMonitoring(o) {
				kinds = append(kinds, o.GetKind())
			}
		}
		want := map[string][]string{"prometheusRule": {"PrometheusRule"}, "grafanaDashboard": {"ConfigMap"}}[which]
		if !slices.Equal(kinds, want) {
			t.Errorf("with only %s.enabled the chart renders %v, want %v", which, kinds, want)
		}
	}

	// Installed as config/default installs, so that the rules are the
	// overlay's, names in the descriptions included.
	values := alertValues(map[string]any{
		"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"grafanaDashboard": map[string]any{"enabled": true, "namespace": "grafana",
			"annotations": map[string]any{"grafana_folder": "Keyport"}},
	})
	values["fullnameOverride"] = "keyport-operator"
	r := helmTemplate(t, "kp", "keyport-system", values)
	rules := ofKind(r.objs, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(rules))
	}
	rule := rules[0]
	if rule.GetNamespace() != "keyport-system" || rule.GetLabels()["release"] != "kube-prometheus-stack" ||
		rule.GetLabels()["app.kubernetes.io/instance"] != "kp" {
		t.Errorf("PrometheusRule %s/%s with labels %v: want the release namespace, the chart's labels and the extra one",
			rule.GetNamespace(), rule.GetName(), rule.GetLabels())
	}
	checkAlerts(t, rule, wantAlerts)
	// Same thresholds, same rules as the overlay's.
	file := decode(t, alertsFile(), mustRead(t, alertsFile()))
	if diff := cmp.Diff(file[0].Object["spec"], rule.Object["spec"]); diff != "" {
		t.Errorf("the chart's rules with default values differ from config/prometheus/alerts (-file +chart):\n%s", diff)
	}

	dashboards := ofKind(r.objs, "ConfigMap")
	if len(dashboards) != 1 {
		t.Fatalf("want one dashboard ConfigMap, got %d", len(dashboards))
	}
	dash := typed[corev1.ConfigMap](t, dashboards[0])
	if dash.Namespace != "grafana" || dash.Labels["grafana_dashboard"] != "1" || dash.Annotations["grafana_folder"] != "Keyport" {
		t.Errorf("dashboard ConfigMap %s/%s, labels %v, annotations %v: want namespace grafana, grafana_dashboard=1 and the folder annotation",
			dash.Namespace, dash.Name, dash.Labels, dash.Annotations)
	}
	checkDashboard(t, "the chart's dashboard", dash)
	kdash := ofKind(kustomize(t, root("config", "prometheus", "dashboard")), "ConfigMap")
	if len(kdash) != 1 {
		t.Fatalf("config/prometheus/dashboard renders %d ConfigMaps, want 1", len(kdash))
	}
	kcm := typed[corev1.ConfigMap](t, kdash[0])
	if kcm.Name != "keyport-operator-dashboard" || kcm.Namespace != "keyport-system" || kcm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("config/prometheus/dashboard renders ConfigMap %s/%s with labels %v", kcm.Namespace, kcm.Name, kcm.Labels)
	}
	checkDashboard(t, "config/prometheus/dashboard", kcm)

	// Without leader election there is no leader to miss.
	noLE := helmTemplate(t, "keyport", "keyport-system", map[string]any{
		"leaderElection": map[string]any{"enabled": false},
		"metrics":        map[string]any{"prometheusRule": map[string]any{"enabled": true}},
	})
	checkAlerts(t, ofKind(noLE.objs, "PrometheusRule")[0], slices.DeleteFunc(slices.Clone(wantAlerts), func(s string) bool { return s == "KeyportNoLeader" }))
}

// checkDashboard asserts that the ConfigMap holds the dashboard file as it
// is, and that the file is a Grafana dashboard with the panels it promises.
func checkDashboard(t *testing.T, source string, cm *corev1.ConfigMap) {
	t.Helper()
	want := strings.TrimSpace(string(mustRead(t, dashboardFile())))
	if got := strings.TrimSpace(cm.Data["keyport.json"]); got != want {
		t.Errorf("%s: keyport.json is not config/prometheus/dashboard/keyport.json", source)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(want), &d); err != nil {
		t.Fatalf("config/prometheus/dashboard/keyport.json: %v", err)
	}
	var titles []string
	for _, p := range d.Panels {
		if p.Type != "row" {
			titles = append(titles, p.Title)
			if len(p.Targets) == 0 {
				t.Errorf("dashboard panel %q has no query", p.Title)
			}
		}
	}
	for _, w := range []string{"Token time to expiry", "Token requests by result", "Consecutive failed refreshes",
		"Refresh lateness", "Certificate time to expiry", "Work queue depth"} {
		if !slices.Contains(titles, w) {
			t.Errorf("the dashboard has no panel %q (panels: %q)", w, titles)
		}
	}
	if d.UID == "" {
		t.Error("the dashboard has no uid: each import would make a new one")
	}
}

// promtool is bin/promtool, built by `make promtool` (a prerequisite of
// `make test`), or $PROMTOOL.
func promtool(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PROMTOOL")
	if bin == "" {
		bin = root("bin", "promtool")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("promtool not found at %s: run `make promtool` (it builds it from the Go module proxy)", bin)
	}
	return bin
}

// rulesFile writes the rule groups of a PrometheusRule as a Prometheus
// rules file, which promtool reads.
func rulesFile(t *testing.T, dir string, rule *unstructured.Unstructured) string {
	t.Helper()
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	data, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keyport-alerts.rules.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRulesPromtool checks the overlay's rules (the chart's with the
// default values) with `promtool check rules` and runs their unit tests
// over series shaped like the operator's metrics as Prometheus stores them;
// then checks the chart's rules with other thresholds, which the unit tests
// do not cover.
func TestAlertRulesPromtool(t *testing.T) {
	dir := t.TempDir()
	rule := decode(t, alertsFile(), mustRead(t, alertsFile()))[0]
	rulesFile(t, dir, rule)
	tests := mustRead(t, root("config", "testdata", promtoolTests))
	if err := os.WriteFile(filepath.Join(dir, promtoolTests), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, dir, "check", "rules", "--lint=all", "--lint-fatal", "keyport-alerts.rules.yaml")
	if !strings.Contains(out, fmt.Sprintf("%d rules found", len(wantAlerts))) {
		t.Errorf("promtool check rules found other than %d rules:\n%s", len(wantAlerts), out)
	}
	out = runPromtool(t, dir, "test", "rules", promtoolTests)
	t.Logf("promtool test rules:\n%s", out)

	other := t.TempDir()
	r := helmTemplate(t, "keyport", "keyport-system", map[string]any{
		"leaderElection": map[string]any{"id": "payments.keyport.example"},
		"metrics": map[string]any{"prometheusRule": map[string]any{
			"enabled":                   true,
			"tokenExpiresBeforeRefresh": map[string]any{"marginSeconds": 120, "for": "2m", "severity": "warning"},
			"tokenRefreshFailing":       map[string]any{"minFailures": 3, "for": "1h"},
			"refreshesLate":             map[string]any{"seconds": 10},
			"certificateExpiringSoon":   map[string]any{"windowHours": 336},
			"noLeader":                  map[string]any{"for": "10m"},
		}},
	})
	custom := ofKind(r.objs, "PrometheusRule")[0]
	runPromtool(t, other, "check", "rules", "--lint=all", "--lint-fatal", filepath.Base(rulesFile(t, other, custom)))
	text := string(mustRead(t, filepath.Join(other, "keyport-alerts.rules.yaml")))
	for _, want := range []string{"< 120\n", "for: 2m", "severity: warning", ">= 3\n", "for: 1h", "> 10\n", "< 336 * 3600 > 0",
		`name=~"payments\\.keyport\\.example(-.+)?"`, "for: 10m"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chart's rules with other values lack %q:\n%s", want, text)
		}
	}
}

// TestMonitoringObjectsAcceptedByAPIServer installs the Prometheus
// Operator's CRDs and applies the chart's and the overlay's PrometheusRule,
// ServiceMonitor and dashboard, as an install with them on would.
func TestMonitoringObjectsAcceptedByAPIServer(t *testing.T) {
	installPrometheusOperatorCRDs(t)
	ns := env.Namespace(t)
	r := helmTemplate(t, "keyport", ns, alertValues(map[string]any{
		"serviceMonitor": map[string]any{"enabled": true},
	}))
	var objs []*unstructured.Unstructured
	for _, o := range r.objs {
		switch o.GetKind() {
		case "PrometheusRule", "ServiceMonitor", "ConfigMap":
			objs = append(objs, o)
		}
	}
	for _, dir := range []string{"prometheus", "prometheus/alerts", "prometheus/dashboard"} {
		for _, o := range kustomize(t, root("config", dir)) {
			o.SetNamespace(ns)
			o.SetName("kustomize-" + o.GetName())
			objs = append(objs, o)
		}
	}
	if len(objs) != 6 {
		t.Fatalf("want a PrometheusRule, a ServiceMonitor and a dashboard from each of the chart and kustomize, got %d objects", len(objs))
	}
	apply(t, objs)
	for _, o := range objs {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(o), got); err != nil {
			t.Fatalf("read back %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		if o.GetKind() == "ServiceMonitor" {
			// Without honorLabels Prometheus renames the metrics' own
			// namespace label (an ApiClient's) to exported_namespace, and
			// the alerts would name the operator's namespace instead.
			endpoints, _, _ := unstructured.NestedSlice(got.Object, "spec", "endpoints")
			if len(endpoints) != 1 || endpoints[0].(map[string]any)["honorLabels"] != true {
				t.Errorf("ServiceMonitor %s: endpoints %v, want one with honorLabels: true", o.GetName(), endpoints)
			}
		}
		if o.GetKind() == "PrometheusRule" {
			// The CRD's schema prunes unknown fields: the rules must
			// come back whole.
			if diff := cmp.Diff(o.Object["spec"], got.Object["spec"]); diff != "" {
				t.Errorf("the API server changed PrometheusRule %s (-applied +stored):\n%s", o.GetName(), diff)
			}
		}
	}

	// The schema is enforced: a rule without an expression is refused.
	bad := ofKind(objs, "PrometheusRule")[0].DeepCopy()
	bad.SetName("no-expr")
	rules := alertRules(t, bad)
	delete(rules[0], "expr")
	if err := unstructured.SetNestedSlice(bad.Object, []any{map[string]any{"name": "keyport", "rules": []any{rules[0]}}}, "spec", "groups"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx(t), bad); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "expr") {
		t.Errorf("the API server answered %v to a PrometheusRule whose rule has no expr; want it refused as invalid", err)
	}
}

// installPrometheusOperatorCRDs installs the PrometheusRule and
// ServiceMonitor CRDs of the prometheus-operator module, downloaded once
// into the module cache.
func installPrometheusOperatorCRDs(t *testing.T) {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", prometheusOperatorModule)
	// Outside this module, so that go.mod and go.sum stay as they are.
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s%s", prometheusOperatorModule, err, out, stderr.Bytes())
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v\n%s", prometheusOperatorModule, err, out)
	}
	crdDir := filepath.Join(mod.Dir, "example", "prometheus-operator-crd")
	var paths []string
	for _, name := range []string{"monitoring.coreos.com_prometheusrules.yaml", "monitoring.coreos.com_servicemonitors.yaml"} {
		paths = append(paths, filepath.Join(crdDir, name))
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("install the Prometheus Operator's CRDs: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ---------------------------------------------------------------------------
// Metric names in PromQL

var (
	promqlStrings   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlNameMatch = regexp.MustCompile(`__name__\s*=~?\s*"([^"]*)"`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlLabelList = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	grafanaVars     = regexp.MustCompile(`\$\{?\w+\}?`)
	labelValues     = regexp.MustCompile(`^\s*label_values\((.*),\s*\w+\s*\)\s*$`)
	promqlIdent     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlKeywords  = []string{"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan", "Inf", "NaN"}
)

// metricNames returns the metric names a PromQL expression (or a Grafana
// label_values query) selects: the identifiers that are neither functions,
// keywords, labels nor numbers.
func metricNames(expr string) []string {
	var names []string
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	for _, m := range promqlNameMatch.FindAllStringSubmatch(expr, -1) {
		names = append(names, strings.Split(m[1], "|")...)
	}
	expr = grafanaVars.ReplaceAllString(expr, "1")
	expr = promqlStrings.ReplaceAllString(expr, `""`)
	expr = promqlMatchers.ReplaceAllString(expr, " ")
	expr = promqlRanges.ReplaceAllString(expr, " ")
	expr = promqlLabelList.ReplaceAllString(expr, " ")
	for _, loc := range promqlIdent.FindAllStringIndex(expr, -1) {
		word, rest := expr[loc[0]:loc[1]], strings.TrimLeft(expr[loc[1]:], " \t\n")
		if loc[0] > 0 && (expr[loc[0]-1] >= '0' && expr[loc[0]-1] <= '9' || expr[loc[0]-1] == '.') {
			continue // the unit or exponent of a number: 10m, 1e3
		}
		if strings.HasPrefix(rest, "(") || slices.Contains(promqlKeywords, word) {
			continue
		}
		names = append(names, word)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (namespace, job, le) (rate(keyport_refresh_lateness_seconds_bucket[10m]))) > 30`: {"keyport_refresh_lateness_seconds_bucket"},
		`(a_total - time()) and on (namespace, name) (b{x="c_d"} <= clamp_min(c, time()) or d > 0)`:                       {"a_total", "b", "c", "d"},
		`count by (namespace, name) (last_over_time(x{name=~"a\\.b(-.+)?"}[1h])) unless on () absent(y == 1)`:             {"x", "y"},
		`label_values({__name__=~"m_one|m_two", job=~"$job"}, namespace)`:                                                 {"m_one", "m_two"},
		`sum by (le) (rate(h_bucket{job=~"$job"}[$__rate_interval])) * 1e3 < 720 * 3600`:                                  {"h_bucket"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// alertAndDashboardMetrics lists every metric name the chart's rules (with
// every alert on), the overlay's rules and the dashboard query.
func alertAndDashboardMetrics(t *testing.T) []string {
	t.Helper()
	var exprs []string
	r := helmTemplate(t, "keyport", "keyport-system", alertValues(nil))
	rules := append(ofKind(r.objs, "PrometheusRule"), decode(t, alertsFile(), mustRead(t, alertsFile()))...)
	for _, rule := range rules {
		for _, a := range alertRules(t, rule) {
			exprs = append(exprs, a["expr"].(string))
		}
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(mustRead(t, dashboardFile()), &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			exprs = append(exprs, q["query"].(string))
		}
	}
	var names []string
	for _, e := range exprs {
		names = append(names, metricNames(e)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
