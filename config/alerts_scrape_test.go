package config_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/operatorproc"
)

// TestAlertMetricsExistInARealScrape runs the operator binary against the
// test API server and a sandbox platform, with an ApiClient that gets
// tokens, one whose credentials are refused and an M2MCertificate, and
// scrapes its /metrics as Prometheus would. Every metric the alerts and
// the dashboard query must be there, and the series of the promtool unit
// tests must have the real metrics' labels: renaming a metric or a label
// in the operator fails here instead of silencing an alert.
func TestAlertMetricsExistInARealScrape(t *testing.T) {
	ns := env.Namespace(t)
	const (
		clientID, clientSecret = "scrape-app", "scrape-client-secret-Hq73"
		username, password     = "scrape-user@example.com", "scrape-password-Lm29"
	)
	platform, err := sandbox.Start(sandbox.Config{
		Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret, Username: username, Password: password}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = platform.Close() })
	certPEM, keyPEM, err := platform.IssueClientCert("scrape-test")
	if err != nil {
		t.Fatal(err)
	}

	creds := func(name, secret, pw string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{
			"client_id": clientID, "client_secret": secret, "username": username, "password": pw}}
	}
	apiClient := func(name, secret string) *keyportv1.ApiClient {
		return &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.ApiClientSpec{
			TokenURL:    platform.URL() + "/connect/token",
			Credentials: &keyportv1.CredentialsSource{SecretName: secret},
			TLS:         &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}},
		}}
	}
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": platform.CACertPEM()}},
		creds("good-credentials", clientSecret, password),
		creds("refused-credentials", "not-the-client-secret", "not-the-password"),
		apiClient("good", "good-credentials"),
		apiClient("refused", "refused-credentials"),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "client-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}},
		&keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: "client-cert", Namespace: ns},
			Spec: keyportv1.M2MCertificateSpec{SecretRef: &keyportv1.TLSSecretSource{Name: "client-tls"}}},
	} {
		if err := env.Client.Create(ctx(t), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}

	dir := t.TempDir()
	bin, err := operatorproc.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := env.Kubeconfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "operator.log")
	// Leader election on, with the default Lease name, as installed.
	op, err := operatorproc.Start(bin, kubeconfig, logPath,
		"--watch-namespace="+ns, "--leader-election-namespace="+ns, "--mac-key-secret="+ns+"/keyport-mac-key")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.Stop)

	// Until every kind of series the alerts read has been written.
	ready := []struct {
		family string
		match  func(*dto.Metric) bool
	}{
		{"keyport_apiclient_token_expiry_timestamp_seconds", resource(ns, "good")},
		{"keyport_apiclient_next_refresh_timestamp_seconds", resource(ns, "refused")},
		{"keyport_apiclient_consecutive_failures", func(m *dto.Metric) bool { return resource(ns, "refused")(m) && m.GetGauge().GetValue() >= 1 }},
		{"keyport_certificate_expiry_timestamp_seconds", resource(ns, "client-cert")},
		{"keyport_token_requests_total", func(m *dto.Metric) bool { return label(m, "result") == "success" }},
		{"leader_election_master_status", func(m *dto.Metric) bool { return m.GetGauge().GetValue() == 1 }},
	}
	var families map[string]*dto.MetricFamily
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var missing []string
		families, err = op.Metrics()
		if err == nil {
			for _, r := range ready {
				if f := families[r.family]; f == nil || !slices.ContainsFunc(f.GetMetric(), r.match) {
					missing = append(missing, r.family)
				}
			}
		}
		if err == nil && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) || !op.Running() {
			t.Fatalf("after 2 minutes the operator's /metrics lacks %v (scrape error: %v); its log is %s", missing, err, logPath)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Every metric an alert or a panel reads.
	names := alertAndDashboardMetrics(t)
	if len(names) < 10 {
		t.Fatalf("the rules and the dashboard read only %v: the metric-name extraction is broken", names)
	}
	for _, name := range names {
		if familyOf(families, name) == nil {
			t.Errorf("the alerts or the dashboard read %s, which the operator does not serve", name)
		}
	}

	// The promtool unit tests' series: the real metrics with the labels
	// Prometheus adds when it scrapes (namespace for operator-wide ones).
	targetLabels := []string{"job", "instance", "pod", "namespace"}
	var promtoolFile struct {
		Tests []struct {
			InputSeries []struct {
				Series string `json:"series"`
			} `json:"input_series"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(mustRead(t, root("config", "testdata", promtoolTests)), &promtoolFile); err != nil {
		t.Fatal(err)
	}
	seriesRE := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$`)
	labelRE := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	checked := map[string]bool{}
	for _, test := range promtoolFile.Tests {
		for _, s := range test.InputSeries {
			m := seriesRE.FindStringSubmatch(s.Series)
			if m == nil {
				t.Errorf("unexpected promtool series %q", s.Series)
				continue
			}
			f := familyOf(families, m[1])
			if f == nil {
				t.Errorf("the promtool tests use %s, which the operator does not serve", m[1])
				continue
			}
			var got []string
			for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
				got = append(got, l[1])
			}
			want := realLabels(f)
			if f.GetType() == dto.MetricType_HISTOGRAM {
				want = append(want, "le")
			}
			for _, l := range want {
				if !slices.Contains(got, l) {
					t.Errorf("promtool series %s lacks the label %q of the real metric (labels %v)", s.Series, l, want)
				}
			}
			for _, l := range got {
				if !slices.Contains(want, l) && !slices.Contains(targetLabels, l) {
					t.Errorf("promtool series %s has the label %q, which neither the real metric (%v) nor a scrape target has", s.Series, l, want)
				}
			}
			checked[m[1]] = true
		}
	}
	if len(checked) < 6 {
		t.Errorf("the promtool tests' series cover only %v", checked)
	}

	// The leader alert's Lease pattern matches the Lease the operator
	// reports, and another controller's does not.
	rule := decode(t, alertsFile(), mustRead(t, alertsFile()))[0]
	var leaseRE *regexp.Regexp
	for _, a := range alertRules(t, rule) {
		if a["alert"] == "KeyportNoLeader" {
			m := regexp.MustCompile(`leader_election_master_status\{name=~"([^"]+)"\}`).FindStringSubmatch(a["expr"].(string))
			if m == nil {
				t.Fatalf("KeyportNoLeader selects no Lease name: %s", a["expr"])
			}
			leaseRE = regexp.MustCompile("^(?:" + strings.ReplaceAll(m[1], `\\`, `\`) + ")$")
		}
	}
	for _, m := range families["leader_election_master_status"].GetMetric() {
		if name := label(m, "name"); !leaseRE.MatchString(name) {
			t.Errorf("KeyportNoLeader's Lease pattern %s does not match the operator's Lease %q", leaseRE, name)
		}
	}
	for _, other := range []string{"cert-manager-controller", "keyport-operator.keyport.devx", "xkeyport-operator.keyport.dev"} {
		if leaseRE.MatchString(other) {
			t.Errorf("KeyportNoLeader's Lease pattern %s matches %q", leaseRE, other)
		}
	}
	if !leaseRE.MatchString("keyport-operator.keyport.dev-a") {
		t.Errorf("KeyportNoLeader's Lease pattern %s does not match shard a's Lease", leaseRE)
	}
}

// familyOf finds a scraped family by a name PromQL uses: the family's own,
// or a histogram's _bucket, _sum or _count series.
func familyOf(families map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	if f := families[name]; f != nil {
		return f
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := families[base]; f != nil && (f.GetType() == dto.MetricType_HISTOGRAM || suffix != "_bucket" && f.GetType() == dto.MetricType_SUMMARY) {
				return f
			}
		}
	}
	return nil
}

// realLabels is the union of the label names of a family's series.
func realLabels(f *dto.MetricFamily) []string {
	var names []string
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if !slices.Contains(names, l.GetName()) {
				names = append(names, l.GetName())
			}
		}
	}
	slices.Sort(names)
	return names
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func resource(namespace, name string) func(*dto.Metric) bool {
	return func(m *dto.Metric) bool { return label(m, "namespace") == namespace && label(m, "name") == name }
}
