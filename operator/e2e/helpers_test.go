package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/helmchart"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

const (
	operatorNamespace = "keyport-system"
	releaseName       = "keyport"
	operatorImage     = "keyport.dev/keyport-operator"
	workloadImage     = "keyport.dev/keyport-workload:dev"
	leaseName         = "keyport-operator.keyport.dev"
)

// restricted are the labels that make the API server enforce the
// restricted Pod Security Standard on a namespace's pods.
var restricted = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
}

// eventually polls cond until it holds, failing the test with cond's last
// explanation after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s", what, within, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := theNode.Client.Create(ctx(t), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// release is the operator's Helm release, installed through the same
// kubeconfig a person would use.
func release(t *testing.T) helmchart.Release {
	t.Helper()
	kubeconfig, err := theNode.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	return helmchart.Release{Kubeconfig: kubeconfig, Namespace: operatorNamespace, Name: releaseName}
}

func helmInstall(t *testing.T, tag string) {
	t.Helper()
	if err := release(t).Install(helmchart.ImageValues(operatorImage, tag, 2)); err != nil {
		t.Fatal(err)
	}
}

func helmUpgrade(t *testing.T, tag string) {
	t.Helper()
	if err := release(t).Upgrade(helmchart.ImageValues(operatorImage, tag, 2)); err != nil {
		t.Fatal(err)
	}
}

func helmUninstall(t *testing.T) {
	t.Helper()
	if err := release(t).Uninstall(); err != nil {
		t.Fatal(err)
	}
}

// operatorPods are the operator's pods that are not being deleted, by name.
func operatorPods(t *testing.T) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := theNode.Client.List(ctx(t), &pods, client.InNamespace(operatorNamespace),
		client.MatchingLabels{"app.kubernetes.io/component": "operator"}); err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Name < live[j].Name })
	return live
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitOperatorReady waits until the Deployment has want ready pods, all of
// them running image.
func waitOperatorReady(t *testing.T, want int, image string) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, 3*time.Minute, fmt.Sprintf("%d operator pods Ready on %s", want, image), func() (bool, string) {
		pods = operatorPods(t)
		var states []string
		ready := 0
		for _, p := range pods {
			states = append(states, fmt.Sprintf("%s %s ready=%v image=%s", p.Name, p.Status.Phase, podReady(p), p.Spec.Containers[0].Image))
			if podReady(p) && p.Spec.Containers[0].Image == image {
				ready++
			}
		}
		return ready == want && len(pods) == want, strings.Join(states, "; ")
	})
	return pods
}

// leaseHolder is the pod that holds the leader Lease: controller-runtime
// names the holder after the pod's host name, which is the pod's name.
func leaseHolder(t *testing.T) string {
	t.Helper()
	var lease coordinationv1.Lease
	if err := theNode.Client.Get(ctx(t), client.ObjectKey{Namespace: operatorNamespace, Name: leaseName}, &lease); err != nil {
		if apierrors.IsNotFound(err) {
			return ""
		}
		t.Fatal(err)
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	pod, _, _ := strings.Cut(holder, "_")
	return pod
}

// tenant makes a namespace enforcing the restricted Pod Security Standard
// with the platform's credentials and CA in it.
func tenant(t *testing.T, prefix string) string {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := theNode.Namespace(c, prefix, restricted)
	if err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "terminal-credentials"}, StringData: map[string]string{
		"client_id": clientID, "client_secret": clientSecret, "username": username, "password": password, "subscription_key": subKey,
	}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform-ca"}, Data: map[string][]byte{"ca.crt": platform.CACertPEM()}})
	return ns
}

// portCommunityClient is an ApiClient of the port community system's API
// (password grant, subscription key on every call) at the sandbox.
func portCommunityClient(ns, name string) *keyportv1.ApiClient {
	return &keyportv1.ApiClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keyportv1.ApiClientSpec{
			Preset:      keyportv1.PresetPortCommunityPassword,
			TokenURL:    platform.URL() + "/connect/token",
			Credentials: &keyportv1.CredentialsSource{SecretName: "terminal-credentials"},
			Headers: []keyportv1.HTTPHeader{{Name: "Ocp-Apim-Subscription-Key",
				ValueFrom: &keyportv1.SecretKeySelector{Name: "terminal-credentials", Key: "subscription_key"}}},
			TLS:     &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "platform-ca", Key: "ca.crt"}},
			Refresh: &keyportv1.RefreshPolicy{PropagationBudget: &metav1.Duration{Duration: propagationBudget}},
		},
	}
}

// token reads the token in an ApiClient's Secret; ok is false while there
// is none.
func token(t *testing.T, ns, secretName string) (tokensecret.Token, bool) {
	t.Helper()
	var s corev1.Secret
	if err := theNode.Client.Get(ctx(t), client.ObjectKey{Namespace: ns, Name: secretName}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return tokensecret.Token{}, false
		}
		t.Fatal(err)
	}
	tok, err := tokensecret.Parse(s.Data)
	return tok, err == nil
}

func waitToken(t *testing.T, ns, secretName string) tokensecret.Token {
	t.Helper()
	var tok tokensecret.Token
	eventually(t, time.Minute, "a token in "+ns+"/"+secretName, func() (bool, string) {
		var ok bool
		tok, ok = token(t, ns, secretName)
		return ok, "no token yet"
	})
	return tok
}

// tokenID is a sandbox token's id (its jti claim), read without checking
// the signature: the test only needs to tell tokens apart.
func tokenID(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.ID == "" {
		t.Fatalf("no jti claim: %v", err)
	}
	return claims.ID
}

// restrictedContainer is a container that the restricted Pod Security
// Standard admits.
func restrictedContainer(c corev1.Container) corev1.Container {
	c.ImagePullPolicy = corev1.PullNever
	c.SecurityContext = &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(int64(65532)),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	return c
}

// workloadPod runs examples/workload: it calls the platform's API every
// second with the token mounted from secretName, trusting the platform's CA.
func workloadPod(ns, name, secretName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{restrictedContainer(corev1.Container{
				Name:  "workload",
				Image: workloadImage,
				Args:  []string{"-token-dir=/var/run/keyport/token", "-url=" + platform.URL() + "/api/v1/visits", "-every=1s"},
				// Go reads extra trusted CAs from SSL_CERT_FILE.
				Env: []corev1.EnvVar{{Name: "SSL_CERT_FILE", Value: "/etc/platform-ca/ca.crt"}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "token", MountPath: "/var/run/keyport/token", ReadOnly: true},
					{Name: "platform-ca", MountPath: "/etc/platform-ca", ReadOnly: true},
				},
			})},
			Volumes: []corev1.Volume{
				{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secretName}}},
				{Name: "platform-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "platform-ca"}}},
			},
		},
	}
}

func waitPodRunning(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	eventually(t, 2*time.Minute, "pod "+pod.Name+" running", func() (bool, string) {
		if err := theNode.Client.Get(ctx(t), client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err.Error()
		}
		return pod.Status.Phase == corev1.PodRunning && podReady(*pod), fmt.Sprintf("%s %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	return pod
}

// deployment is the operator's Deployment.
func deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := theNode.Client.Get(ctx(t), client.ObjectKey{Namespace: operatorNamespace, Name: releaseName}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func formatDelays(delays []time.Duration) string {
	sorted := slices.Clone(delays)
	slices.Sort(sorted)
	return fmt.Sprintf("p50 %s, p99 %s, max %s over %d rotations",
		percentile(sorted, 0.5).Round(10*time.Millisecond), percentile(sorted, 0.99).Round(10*time.Millisecond),
		sorted[len(sorted)-1].Round(10*time.Millisecond), len(sorted))
}

// scrapeMetricsService reads /metrics through the chart's metrics Service,
// as Prometheus in the cluster would.
func scrapeMetricsService(t *testing.T) string {
	t.Helper()
	var svc corev1.Service
	if err := theNode.Client.Get(ctx(t), client.ObjectKey{Namespace: operatorNamespace, Name: releaseName + "-metrics"}, &svc); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:%d/metrics", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	resp, err := theNode.HTTPClient(nil).Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != 200 {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	return string(body)
}

// kustomizeInstall renders config/default as `kubectl apply -k` would and
// applies it with the operator image set to image, as `kustomize edit set
// image` does. It returns the applied objects.
func kustomizeInstall(t *testing.T, image string) []*unstructured.Unstructured {
	t.Helper()
	objs := testenv.Kustomize(t, filepath.Join(testenv.RepoRoot(), "config", "default"))
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			for _, c := range containers {
				c.(map[string]any)["image"] = image
				c.(map[string]any)["imagePullPolicy"] = "Never"
			}
			if err := unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range objs {
		if err := theNode.Client.Apply(ctx(t), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner("e2e-kustomize"), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	return objs
}

// kustomizeDelete removes what kustomizeInstall applied but the CRDs and the
// namespace (the users' resources live on).
func kustomizeDelete(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if k := o.GetKind(); k == "CustomResourceDefinition" || k == "Namespace" {
			continue
		}
		if err := theNode.Client.Delete(ctx(t), o); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}
