package config_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv/helmchart"
)

// TestThePackagedChartInstallsWithAlertsOn packages the chart as `make
// helm-package` does (`helm package`, here through Helm's library) and
// installs that archive, not the folder, with the ServiceMonitor, the alerts
// and the dashboard on: what a user gets from a release's charts/*.tgz. The
// folder's crds/ and files/ are symbolic links; the archive must hold what
// they point to.
func TestThePackagedChartInstallsWithAlertsOn(t *testing.T) {
	pkg := action.NewPackage()
	pkg.Destination = t.TempDir()
	archive, err := pkg.Run(root("config", "helm", "keyport"), nil)
	if err != nil {
		t.Fatalf("helm package: %v", err)
	}

	// What `tar tzf` lists: the schema, the dashboard and the CRDs as files.
	entries := archiveEntries(t, archive)
	wantEntries := []string{"keyport/Chart.yaml", "keyport/values.yaml", "keyport/values.schema.json",
		"keyport/files/keyport-dashboard.json", "keyport/templates/prometheusrule.yaml",
		"keyport/templates/servicemonitor.yaml", "keyport/templates/grafana-dashboard.yaml"}
	for name := range generatedCRDs(t) {
		wantEntries = append(wantEntries, "keyport/crds/"+name)
	}
	for _, want := range wantEntries {
		if !slices.Contains(entries, want) {
			t.Errorf("%s lacks %s (it holds %q)", filepath.Base(archive), want, entries)
		}
	}
	ch, err := loader.LoadFile(archive)
	if err != nil {
		t.Fatalf("load %s: %v", archive, err)
	}
	// The archive's CRDs are config/crd/bases, byte for byte.
	checkChartCRDs(t, ch.CRDObjects())
	if t.Failed() {
		return
	}

	installPrometheusOperatorCRDs(t)
	ns := env.Namespace(t)
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Named after the namespace: the ClusterRole and its binding are
	// cluster-wide, and must not meet another install's.
	rel := helmchart.Release{Kubeconfig: kubeconfig, Namespace: ns, Name: "keyport-" + ns, Chart: archive,
		// No controller makes the Deployment ready in this API server.
		Wait: kube.HookOnlyStrategy, Timeout: time.Minute}

	// The archive's schema refuses a misspelt value, and nothing is
	// installed.
	misspelt := map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"enabeld": true}}}
	err = rel.Install(misspelt)
	if err == nil || !strings.Contains(err.Error(), "'enabeld' not allowed") {
		t.Fatalf("installing the archive with metrics.prometheusRule.enabeld answered %v; want the schema to refuse it", err)
	}
	if status, err := rel.Status(); err == nil {
		t.Fatalf("a refused install left a release with status %q", status)
	}

	if err := rel.Install(alertValues(map[string]any{"serviceMonitor": map[string]any{"enabled": true}})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rel.Uninstall(); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	})
	if status, err := rel.Status(); err != nil || status != "deployed" {
		t.Errorf("helm status: %q, %v; want deployed", status, err)
	}

	// What the API server now holds, read back from it.
	get := func(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
		t.Helper()
		o := &unstructured.Unstructured{}
		o.SetAPIVersion(apiVersion)
		o.SetKind(kind)
		if err := env.Client.Get(ctx(t), client.ObjectKey{Namespace: namespace, Name: name}, o); err != nil {
			t.Fatalf("%s %s/%s after the install: %v", kind, namespace, name, err)
		}
		return o
	}
	checkAlerts(t, get("monitoring.coreos.com/v1", "PrometheusRule", ns, rel.Name), wantAlerts)
	checkDashboard(t, "the packaged chart's dashboard", typed[corev1.ConfigMap](t, get("v1", "ConfigMap", ns, rel.Name+"-dashboard")))
	svc := typed[corev1.Service](t, get("v1", "Service", ns, rel.Name+"-metrics"))
	checkServiceMonitor(t, get("monitoring.coreos.com/v1", "ServiceMonitor", ns, rel.Name), svc)

	// The Keyport CRDs the install needs are served. This API server
	// starts with config/crd/bases installed (Helm skips a CRD that
	// exists), so this shows the archive's CRDs, equal to those files
	// above, are the ones in use, not that Helm created them.
	for _, c := range ch.CRDObjects() {
		for _, o := range decode(t, c.Name, c.File.Data) {
			crd := get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", o.GetName())
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			established := slices.ContainsFunc(conditions, func(cond any) bool {
				m, _ := cond.(map[string]any)
				return m["type"] == "Established" && m["status"] == "True"
			})
			if !established {
				t.Errorf("CRD %s is not established: %v", o.GetName(), conditions)
			}
		}
	}
}

// archiveEntries lists the files of a chart archive (a gzipped tar).
func archiveEntries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag == tar.TypeSymlink {
			t.Errorf("%s holds %s as a symbolic link to %s, which a user's copy would not have", path, h.Name, h.Linkname)
		}
		names = append(names, h.Name)
	}
}
