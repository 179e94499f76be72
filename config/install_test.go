// Package config_test checks Keyport's install manifests as a security
// reviewer would: it renders the kustomize overlay (config/default) and the
// Helm chart (config/helm/keyport), asserts what matters about them, applies
// them to a real kube-apiserver, and asks that API server what the
// operator's ServiceAccount may and may not do.
package config_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, &env)
}

const (
	nonRootUID  = int64(65532)
	metricsPort = int32(8080)
	healthPort  = int32(8081)
	fieldOwner  = "keyport-install-test"
)

func root(parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot()}, parts...)...)
}

// ---------------------------------------------------------------------------
// Rendering

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, source string, data []byte) []*unstructured.Unstructured {
	return testenv.DecodeManifests(t, source, data)
}

// kustomize renders a kustomization with `kubectl kustomize`.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	return testenv.Kustomize(t, dir)
}

type rendered struct {
	objs []*unstructured.Unstructured
	crds []chartv2.CRD
}

// helmTemplate renders the chart as `helm template` does, in strict mode
// (a template reading a value the chart does not define fails).
func helmTemplate(t *testing.T, release, namespace string, values map[string]any) rendered {
	t.Helper()
	files, ch := renderChart(t, release, namespace, values)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var r rendered
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		r.objs = append(r.objs, decode(t, name, []byte(files[name]))...)
	}
	r.crds = ch.CRDObjects()
	return r
}

// renderChart renders the chart's templates in strict mode and returns
// their text by name (keyport/templates/NAME) with the loaded chart.
func renderChart(t *testing.T, release, namespace string, values map[string]any) (map[string]string, *chartv2.Chart) {
	t.Helper()
	ch, err := loader.LoadDir(root("config", "helm", "keyport"))
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	if err := ch.Validate(); err != nil {
		t.Fatalf("the chart is invalid: %v", err)
	}
	vals, err := util.ToRenderValues(ch, values,
		common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true},
		common.DefaultCapabilities)
	if err != nil {
		t.Fatalf("chart values: %v", err)
	}
	files, err := engine.Engine{Strict: true}.Render(ch, vals)
	if err != nil {
		t.Fatalf("render the chart: %v", err)
	}
	return files, ch
}

// ---------------------------------------------------------------------------
// Finding objects

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one converts the single object of kind into a typed object.
func one[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) *T {
	t.Helper()
	found := ofKind(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, len(found))
	}
	return typed[T](t, found[0])
}

func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// generatedRoles are the roles of config/rbac/role.yaml, which `make
// manifests` generates: the ClusterRole of the controllers and the Role of
// the operator's own namespace.
func generatedRoles(t *testing.T) (*rbacv1.ClusterRole, *rbacv1.Role) {
	t.Helper()
	data, err := os.ReadFile(root("config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, "config/rbac/role.yaml", data)
	if len(objs) != 2 {
		t.Fatalf("config/rbac/role.yaml holds %d objects, want a ClusterRole and a Role", len(objs))
	}
	clusterRole, role := one[rbacv1.ClusterRole](t, objs, "ClusterRole"), one[rbacv1.Role](t, objs, "Role")
	if len(clusterRole.Rules) == 0 || len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has a role without rules")
	}
	return clusterRole, role
}

// generatedCRDs are the files of config/crd/bases by file name.
func generatedCRDs(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(root("config", "crd", "bases", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// ---------------------------------------------------------------------------
// What a reviewer checks

// want describes an install.
type want struct {
	namespace       string   // the operator's namespace
	watchNamespaces []string // empty: cluster-wide
	extraArgs       []string
}

// checkManifests asserts the security-relevant properties of an install's
// objects and returns the operator's ServiceAccount and Deployment.
func checkManifests(t *testing.T, objs []*unstructured.Unstructured, w want) (*corev1.ServiceAccount, *appsv1.Deployment) {
	t.Helper()
	for _, o := range objs {
		if o.GetNamespace() != "" && o.GetNamespace() != w.namespace && o.GetKind() != "RoleBinding" {
			t.Errorf("%s %s is in namespace %q, not the operator's %q", o.GetKind(), o.GetName(), o.GetNamespace(), w.namespace)
		}
		if o.GetKind() == "Secret" {
			t.Errorf("the install ships a Secret (%s): the operator creates its MAC key itself", o.GetName())
		}
	}

	sa := one[corev1.ServiceAccount](t, objs, "ServiceAccount")
	dep := one[appsv1.Deployment](t, objs, "Deployment")
	if dep.Namespace != w.namespace || sa.Namespace != w.namespace {
		t.Errorf("Deployment in %q and ServiceAccount in %q, want both in %q", dep.Namespace, sa.Namespace, w.namespace)
	}
	pod := dep.Spec.Template.Spec

	// Identity.
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("the pod runs as ServiceAccount %q, the install creates %q", pod.ServiceAccountName, sa.Name)
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Error("the pod must mount its ServiceAccount token explicitly: the operator needs it for the API and its namespace")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the pod shares a host namespace")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("the pod mounts the host path %s", v.HostPath.Path)
		}
	}

	// Selectors.
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("the Deployment's selector %v does not match its pod labels %v (%v)", dep.Spec.Selector, dep.Spec.Template.Labels, err)
	}

	// Pod security.
	psc := pod.SecurityContext
	if psc == nil {
		t.Fatal("the pod has no securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != nonRootUID {
		t.Errorf("pod securityContext.runAsUser = %v, want %d", psc.RunAsUser, nonRootUID)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile = %v, want RuntimeDefault", psc.SeccompProfile)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container and no init containers, got %d and %d", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("the container has no securityContext")
	}
	if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		t.Error("the container overrides runAsNonRoot with false")
	}
	if sc.RunAsUser != nil && *sc.RunAsUser != nonRootUID {
		t.Errorf("the container runs as uid %d", *sc.RunAsUser)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("the container is privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and add nothing", sc.Capabilities)
	}

	// Image.
	if !strings.HasPrefix(c.Image, "keyport-operator:") && !strings.HasPrefix(c.Image, "keyport-operator@") {
		t.Errorf("image %q, want keyport-operator", c.Image)
	}

	// Ports and probes.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != metricsPort || ports["health"] != healthPort {
		t.Errorf("container ports %v, want metrics %d and health %d", ports, metricsPort, healthPort)
	}
	probePort := func(p *corev1.Probe, name, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			return
		}
		port := p.HTTPGet.Port.IntVal
		if p.HTTPGet.Port.StrVal != "" {
			port = ports[p.HTTPGet.Port.StrVal]
		}
		if p.HTTPGet.Path != path || port != healthPort {
			t.Errorf("%s probe: %s on %d, want %s on %d", name, p.HTTPGet.Path, port, path, healthPort)
		}
	}
	probePort(c.LivenessProbe, "liveness", "/healthz")
	probePort(c.ReadinessProbe, "readiness", "/readyz")

	// Resources.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() {
			t.Errorf("%s: request %s, limit %s: want both set", r, req.String(), lim.String())
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s above limit %s", r, req.String(), lim.String())
		}
	}

	// Flags.
	args := append(slices.Clone(c.Command), c.Args...)
	for _, a := range []string{
		"--leader-elect=true",
		fmt.Sprintf("--metrics-bind-address=:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=:%d", healthPort),
		// The operator creates its MAC key Secret in its own namespace:
		// the flag must follow the namespace the install puts it in.
		"--mac-key-secret=" + w.namespace + "/keyport-mac-key",
	} {
		if !slices.Contains(args, a) {
			t.Errorf("args %q lack %s", args, a)
		}
	}
	var watch []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--watch-namespace="); ok {
			watch = append(watch, v)
		}
	}
	switch {
	case len(w.watchNamespaces) == 0 && len(watch) != 0:
		t.Errorf("args %q set --watch-namespace, want all namespaces", args)
	case len(w.watchNamespaces) != 0 && !slices.Equal(watch, []string{strings.Join(w.watchNamespaces, ",")}):
		t.Errorf("args %q: want --watch-namespace=%s once", args, strings.Join(w.watchNamespaces, ","))
	}
	for _, a := range w.extraArgs {
		if !slices.Contains(args, a) {
			t.Errorf("args %q lack the extra argument %s", args, a)
		}
	}

	// Metrics Service: selects the pod, and its named port is the
	// container's metrics port.
	svc := one[corev1.Service](t, objs, "Service")
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("the metrics Service is of type %s, want ClusterIP", svc.Spec.Type)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("the metrics Service's selector %v does not select the pod %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].Port != metricsPort ||
		ports[svc.Spec.Ports[0].TargetPort.String()] != metricsPort && svc.Spec.Ports[0].TargetPort.IntVal != metricsPort {
		t.Errorf("metrics Service ports %+v, want metrics %d to the container's metrics port", svc.Spec.Ports, metricsPort)
	}

	// RBAC: exactly the generated rules, bound to this ServiceAccount: the
	// ClusterRole where Keyport resources are reconciled, the Role in the
	// operator's own namespace only.
	wantClusterRole, wantRole := generatedRoles(t)
	clusterRole := one[rbacv1.ClusterRole](t, objs, "ClusterRole")
	if diff := cmp.Diff(wantClusterRole.Rules, clusterRole.Rules); diff != "" {
		t.Errorf("the ClusterRole's rules differ from config/rbac/role.yaml (-generated +installed):\n%s", diff)
	}
	if clusterRole.AggregationRule != nil {
		t.Error("the ClusterRole aggregates other roles")
	}
	role := one[rbacv1.Role](t, objs, "Role")
	if diff := cmp.Diff(wantRole.Rules, role.Rules); diff != "" {
		t.Errorf("the Role's rules differ from config/rbac/role.yaml (-generated +installed):\n%s", diff)
	}
	if role.Namespace != w.namespace {
		t.Errorf("the Role is in %q, want the operator's namespace %q", role.Namespace, w.namespace)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: sa.Namespace}}
	var clusterRoleIn, roleIn []string
	for _, u := range ofKind(objs, "RoleBinding") {
		b := typed[rbacv1.RoleBinding](t, u)
		switch b.RoleRef {
		case rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name}:
			clusterRoleIn = append(clusterRoleIn, b.Namespace)
		case rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}:
			roleIn = append(roleIn, b.Namespace)
		default:
			t.Errorf("RoleBinding %s/%s binds %+v, neither the generated ClusterRole nor the Role", b.Namespace, b.Name, b.RoleRef)
		}
		if diff := cmp.Diff(subjects, b.Subjects); diff != "" {
			t.Errorf("RoleBinding %s/%s subjects (-want +got):\n%s", b.Namespace, b.Name, diff)
		}
	}
	if !slices.Equal(roleIn, []string{w.namespace}) {
		t.Errorf("the Role is bound in %v, want in the operator's namespace %s only", roleIn, w.namespace)
	}
	crbs := ofKind(objs, "ClusterRoleBinding")
	if len(w.watchNamespaces) == 0 {
		if len(crbs) != 1 || len(clusterRoleIn) != 0 {
			t.Fatalf("a cluster-wide install wants one ClusterRoleBinding and no RoleBinding of the ClusterRole, got %d and %d", len(crbs), len(clusterRoleIn))
		}
		b := typed[rbacv1.ClusterRoleBinding](t, crbs[0])
		if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != clusterRole.Name {
			t.Errorf("ClusterRoleBinding %s binds %s %s, want ClusterRole %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, clusterRole.Name)
		}
		if diff := cmp.Diff(subjects, b.Subjects); diff != "" {
			t.Errorf("ClusterRoleBinding %s subjects (-want +got):\n%s", b.Name, diff)
		}
	} else {
		if len(crbs) != 0 {
			t.Errorf("a namespace-scoped install binds the ClusterRole cluster-wide")
		}
		wantNS := slices.Clone(w.watchNamespaces)
		slices.Sort(wantNS)
		slices.Sort(clusterRoleIn)
		if !slices.Equal(clusterRoleIn, slices.Compact(wantNS)) {
			t.Errorf("the ClusterRole is bound in %v, want in the watched namespaces %v only", clusterRoleIn, wantNS)
		}
	}
	return sa, dep
}

// checkCRDs asserts that CRD objects are exactly config/crd/bases: none
// missing, none extra, none different.
func checkCRDs(t *testing.T, source string, got map[string]*unstructured.Unstructured) {
	t.Helper()
	want := map[string]*unstructured.Unstructured{}
	for file, data := range generatedCRDs(t) {
		objs := decode(t, file, data)
		if len(objs) != 1 {
			t.Fatalf("config/crd/bases/%s holds %d objects", file, len(objs))
		}
		want[objs[0].GetName()] = objs[0]
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s lacks the CRD %s of config/crd/bases", source, name)
			continue
		}
		if diff := cmp.Diff(w.Object, g.Object); diff != "" {
			t.Errorf("%s: CRD %s differs from config/crd/bases (-generated +installed):\n%s", source, name, diff)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s installs the CRD %s, which config/crd/bases does not have", source, name)
		}
	}
}

// ---------------------------------------------------------------------------
// The real API server

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// apply applies objects with server-side apply, as `kubectl apply
// --server-side` does: CRDs and Namespaces first.
func apply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	rank := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			return 0
		case "Namespace":
			return 1
		}
		return 2
	}
	objs = slices.Clone(objs)
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
	for _, o := range objs {
		err := env.Client.Apply(ctx(t), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner(fieldOwner), client.ForceOwnership)
		if err != nil {
			t.Fatalf("the API server refused %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// restrictedNamespace creates a namespace that enforces the "restricted"
// Pod Security Standard.
func restrictedNamespace(t *testing.T) string {
	t.Helper()
	ns := env.Namespace(t)
	n := &corev1.Namespace{}
	if err := env.Client.Get(ctx(t), client.ObjectKey{Name: ns}, n); err != nil {
		t.Fatal(err)
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	n.Labels["pod-security.kubernetes.io/enforce-version"] = "latest"
	if err := env.Client.Update(ctx(t), n); err != nil {
		t.Fatal(err)
	}
	return ns
}

// checkPodSecurity submits the Deployment's pod (dry run) to its namespace,
// which enforces the "restricted" Pod Security Standard: the API server's
// PodSecurity admission accepts it. A privileged pod submitted the same way
// must be refused, or the check proves nothing.
func checkPodSecurity(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: dep.Name + "-", Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	if err := env.Client.Create(ctx(t), pod, client.DryRunAll); err != nil {
		t.Errorf("the operator's pod does not pass Pod Security admission (restricted) in %s: %v", dep.Namespace, err)
	}
	bad := pod.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.Privileged = new(true)
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = new(true)
	err := env.Client.Create(ctx(t), bad, client.DryRunAll)
	if err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("namespace %s does not enforce Pod Security (a privileged pod got %v): the check above proves nothing", dep.Namespace, err)
	}
}

// can asks the API server whether the ServiceAccount may do something.
func can(t *testing.T, sa *corev1.ServiceAccount, attr authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.Namespace, "system:authenticated"},
		ResourceAttributes: &attr,
	}}
	if err := env.Client.Create(ctx(t), sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed
}

type access struct {
	attr authorizationv1.ResourceAttributes
	want bool
	why  string
}

func checkAccess(t *testing.T, sa *corev1.ServiceAccount, checks []access) {
	t.Helper()
	for _, c := range checks {
		if got := can(t, sa, c.attr); got != c.want {
			a := c.attr
			t.Errorf("ServiceAccount %s/%s: %s %s.%s in %q allowed=%v, want %v (%s)",
				sa.Namespace, sa.Name, a.Verb, a.Resource, a.Group, a.Namespace, got, c.want, c.why)
		}
	}
}

// Access every install must refuse the operator, whatever its scope.
func neverAllowed(ns string) []access {
	return []access{
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: ns}, false, "runs no workloads"},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, false, "no RBAC escalation"},
		{authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, false, "no RBAC escalation"},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: ns}, false, "mints no tokens"},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, false, "does not change CRDs"},
		{authorizationv1.ResourceAttributes{Verb: "delete", Group: "keyport.dev", Resource: "apiclients", Namespace: ns}, false, "does not delete users' resources"},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "keyport.dev", Resource: "notificationchannels", Namespace: ns}, false, "changes no user's spec"},
		{authorizationv1.ResourceAttributes{Verb: "delete", Resource: "secrets", Namespace: ns}, false, "deletes no Secret"},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"}, false,
			"other components' leader elections and the nodes' heartbeats are not its own"},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: ns}, false, "Leases only in its own namespace"},
	}
}

// ---------------------------------------------------------------------------
// Tests

// TestKustomizeDefault renders config/default, checks it, applies it to the
// API server, and checks what its ServiceAccount may do.
func TestKustomizeDefault(t *testing.T) {
	objs := kustomize(t, root("config", "default"))

	var rest []*unstructured.Unstructured
	crds := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds[o.GetName()] = o
		} else {
			rest = append(rest, o)
		}
	}
	checkCRDs(t, "config/default", crds)

	ns := one[corev1.Namespace](t, rest, "Namespace")
	if ns.Name != "keyport-system" {
		t.Errorf("namespace %s, want keyport-system", ns.Name)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce the restricted Pod Security Standard: labels %v", ns.Name, ns.Labels)
	}
	var namespaced []*unstructured.Unstructured
	for _, o := range rest {
		if o.GetKind() != "Namespace" {
			namespaced = append(namespaced, o)
		}
	}
	if len(ofKind(objs, "ServiceMonitor")) != 0 {
		t.Error("config/default includes the ServiceMonitor, which needs the Prometheus Operator: it must stay optional")
	}
	sa, dep := checkManifests(t, namespaced, want{namespace: "keyport-system"})
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 1 {
		t.Errorf("replicas %v", dep.Spec.Replicas)
	}
	if t.Failed() {
		return
	}

	apply(t, objs)
	checkPodSecurity(t, dep)
	other := env.Namespace(t)
	checkAccess(t, sa, append([]access{
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "keyport-system"}, true, "leader election"},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: "keyport-system"}, true, "the MAC key Secret"},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, true, "a cluster-wide install watches Secrets everywhere"},
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: "keyport.dev", Resource: "apiclients", Namespace: other}, true, "reconciles every namespace"},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "keyport.dev", Resource: "apiclients", Subresource: "status", Namespace: other}, true, "writes status"},
	}, neverAllowed(other)...))
}

// TestPrometheusServiceMonitor renders the optional config/prometheus and
// checks that it scrapes the metrics Service of config/default.
func TestPrometheusServiceMonitor(t *testing.T) {
	monitors := ofKind(kustomize(t, root("config", "prometheus")), "ServiceMonitor")
	if len(monitors) != 1 {
		t.Fatalf("want one ServiceMonitor in config/prometheus, got %d", len(monitors))
	}
	svc := one[corev1.Service](t, kustomize(t, root("config", "default")), "Service")
	checkServiceMonitor(t, monitors[0], svc)
}

func checkServiceMonitor(t *testing.T, sm *unstructured.Unstructured, svc *corev1.Service) {
	t.Helper()
	if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", sm.GetAPIVersion())
	}
	if sm.GetNamespace() != svc.Namespace {
		t.Errorf("ServiceMonitor in %q, Service in %q", sm.GetNamespace(), svc.Namespace)
	}
	match, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(match) == 0 || !labels.SelectorFromSet(match).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the metrics Service (labels %v)", match, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v", endpoints)
	}
	ep, _ := endpoints[0].(map[string]any)
	if ep["port"] != "metrics" || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v, want port metrics, path /metrics", ep)
	}
}

// checkChartCRDs asserts that the chart's crds/ are byte for byte the files
// of config/crd/bases, and are valid CRDs.
func checkChartCRDs(t *testing.T, crds []chartv2.CRD) []*unstructured.Unstructured {
	t.Helper()
	want := generatedCRDs(t)
	got := map[string][]byte{}
	var objs []*unstructured.Unstructured
	for _, c := range crds {
		got[filepath.Base(c.Name)] = c.File.Data
		objs = append(objs, decode(t, c.Name, c.File.Data)...)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the chart's crds/ differ from config/crd/bases (-generated +chart); "+
			"config/helm/keyport/crds must be the symbolic link ../../crd/bases:\n%s", diff)
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byName[o.GetName()] = o
	}
	checkCRDs(t, "the Helm chart", byName)
	return objs
}

// TestHelmDefault renders the chart with its default values, checks it,
// installs it into a namespace enforcing the restricted Pod Security
// Standard and checks what its ServiceAccount may do.
func TestHelmDefault(t *testing.T) {
	ns := restrictedNamespace(t)
	r := helmTemplate(t, "keyport", ns, nil)
	crds := checkChartCRDs(t, r.crds)
	if len(ofKind(r.objs, "ServiceMonitor")) != 0 {
		t.Error("the chart renders a ServiceMonitor by default; it must be opt-in")
	}
	sa, dep := checkManifests(t, r.objs, want{namespace: ns})
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1 by default", dep.Spec.Replicas)
	}
	if t.Failed() {
		return
	}

	apply(t, append(crds, r.objs...))
	checkPodSecurity(t, dep)
	other := env.Namespace(t)
	checkAccess(t, sa, append([]access{
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: ns}, true, "leader election"},
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: ns}, true, "the MAC key Secret"},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, true, "a cluster-wide install watches Secrets everywhere"},
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: "keyport.dev", Resource: "m2mcertificates", Namespace: other}, true, "reconciles every namespace"},
		{authorizationv1.ResourceAttributes{Verb: "create", Group: "cert-manager.io", Resource: "certificates", Namespace: other}, true, "M2MCertificates"},
	}, neverAllowed(other)...))
}

// TestHelmScoped renders the chart for two watched namespaces with extra
// flags: the operator gets --watch-namespace, its role is bound only there
// and in its own namespace, and the API server refuses it Secrets anywhere
// else.
func TestHelmScoped(t *testing.T) {
	ns := restrictedNamespace(t)
	a, b, other := env.Namespace(t), env.Namespace(t), env.Namespace(t)
	extra := []string{"--apiclient-workers=3", "--zap-log-level=debug"}
	r := helmTemplate(t, "keyport-scoped", ns, map[string]any{
		"watchNamespaces": []any{a, b},
		"extraArgs":       []any{extra[0], extra[1]},
		"replicaCount":    2,
		"image":           map[string]any{"tag": "v9.9.9"},
		"metrics":         map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}},
	})
	checkChartCRDs(t, r.crds)
	sms := ofKind(r.objs, "ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("metrics.serviceMonitor.enabled rendered %d ServiceMonitors", len(sms))
	}
	if sms[0].GetLabels()["release"] != "prom" {
		t.Errorf("ServiceMonitor labels %v lack the extra label", sms[0].GetLabels())
	}
	var objs []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() != "ServiceMonitor" {
			objs = append(objs, o)
		}
	}
	sa, dep := checkManifests(t, objs, want{namespace: ns, watchNamespaces: []string{a, b}, extraArgs: extra})
	checkServiceMonitor(t, sms[0], one[corev1.Service](t, objs, "Service"))
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != "keyport-operator:v9.9.9" {
		t.Errorf("image %s, want keyport-operator:v9.9.9", got)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	if t.Failed() {
		return
	}

	// The API server has no ServiceMonitor CRD (no Prometheus Operator).
	apply(t, objs)
	checkPodSecurity(t, dep)
	var checks []access
	for _, watched := range []string{a, b} {
		checks = append(checks,
			access{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets", Namespace: watched}, true, "watched namespace"},
			access{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: watched}, true, "reads a referenced Secret's content live: only its own Secrets are cached whole"},
			access{authorizationv1.ResourceAttributes{Verb: "watch", Group: "keyport.dev", Resource: "apiclients", Namespace: watched}, true, "watched namespace"},
			access{authorizationv1.ResourceAttributes{Verb: "create", Resource: "events", Namespace: watched}, true, "events on its resources"},
		)
	}
	checks = append(checks,
		access{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: ns}, true, "leader election in its own namespace"},
		access{authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets", Namespace: ns}, true, "the MAC key Secret in its own namespace"},
		access{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: other}, false, "a namespace it does not watch"},
		access{authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, false, "Secrets cluster-wide"},
		access{authorizationv1.ResourceAttributes{Verb: "list", Group: "keyport.dev", Resource: "apiclients"}, false, "resources cluster-wide"},
		access{authorizationv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: other}, false, "Leases elsewhere"},
	)
	checkAccess(t, sa, append(checks, neverAllowed(a)...))
}

// TestHelmOptions covers the values that turn things off or rename them.
func TestHelmOptions(t *testing.T) {
	r := helmTemplate(t, "kp", "ops", map[string]any{
		"leaderElection":  map[string]any{"enabled": false},
		"metrics":         map[string]any{"enabled": false},
		"serviceAccount":  map[string]any{"create": false, "name": "existing"},
		"image":           map[string]any{"digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		"watchNamespaces": []any{"ops", "apps"},
		"nodeSelector":    map[string]any{"kubernetes.io/os": "linux"},
		"tolerations":     []any{map[string]any{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}},
	})
	if n := len(ofKind(r.objs, "ServiceAccount")); n != 0 {
		t.Errorf("serviceAccount.create=false rendered %d ServiceAccounts", n)
	}
	if n := len(ofKind(r.objs, "Service")) + len(ofKind(r.objs, "ServiceMonitor")); n != 0 {
		t.Errorf("metrics.enabled=false rendered %d Services or ServiceMonitors", n)
	}
	dep := one[appsv1.Deployment](t, r.objs, "Deployment")
	if dep.Name != "kp-keyport" {
		t.Errorf("Deployment named %s, want kp-keyport", dep.Name)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	for _, a := range []string{"--leader-elect=false", "--metrics-bind-address=0", "--mac-key-secret=ops/keyport-mac-key", "--watch-namespace=ops,apps"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args %q lack %s", c.Args, a)
		}
	}
	if pod.ServiceAccountName != "existing" {
		t.Errorf("serviceAccountName %s, want existing", pod.ServiceAccountName)
	}
	if !strings.HasPrefix(c.Image, "keyport-operator@sha256:") {
		t.Errorf("image %s, want pinned by digest", c.Image)
	}
	if pod.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Tolerations) != 1 {
		t.Errorf("nodeSelector %v, tolerations %v", pod.NodeSelector, pod.Tolerations)
	}
	// The release namespace is also watched: the ClusterRole is bound
	// there, beside the Role, under another name.
	var bindings []string
	for _, u := range ofKind(r.objs, "RoleBinding") {
		b := typed[rbacv1.RoleBinding](t, u)
		bindings = append(bindings, b.Namespace+"/"+b.Name+" "+b.RoleRef.Kind)
		if len(b.Subjects) != 1 || b.Subjects[0].Name != "existing" || b.Subjects[0].Namespace != "ops" {
			t.Errorf("RoleBinding %s/%s subjects %v, want ServiceAccount ops/existing", b.Namespace, b.Name, b.Subjects)
		}
	}
	slices.Sort(bindings)
	if want := []string{"apps/kp-keyport ClusterRole", "ops/kp-keyport ClusterRole", "ops/kp-keyport-own-namespace Role"}; !slices.Equal(bindings, want) {
		t.Errorf("RoleBindings %v, want %v", bindings, want)
	}
}
