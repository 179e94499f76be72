package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

// Tests of the operator as it is deployed: with exactly the generated RBAC,
// scoped to namespaces, and split into shards.

// generatedRoles are the roles in config/rbac/role.yaml, which `make
// manifests` generates from the code's markers: the ClusterRole of the
// controllers and the Role of what the operator does in its own namespace.
// They are created under name, the Role in namespace.
func generatedRoles(t *testing.T, name, namespace string) (*rbacv1.ClusterRole, *rbacv1.Role) {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clusterRole, role := &rbacv1.ClusterRole{}, &rbacv1.Role{}
	for _, u := range testenv.DecodeManifests(t, path, data) {
		var into any
		switch u.GetKind() {
		case "ClusterRole":
			into = clusterRole
		case "Role":
			into = role
		default:
			t.Fatalf("%s holds a %s", path, u.GetKind())
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			t.Fatal(err)
		}
	}
	if len(clusterRole.Rules) == 0 || len(role.Rules) == 0 {
		t.Fatalf("%s lacks the ClusterRole or the Role", path)
	}
	clusterRole.ObjectMeta = metav1.ObjectMeta{Name: name}
	role.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: namespace}
	create(t, clusterRole)
	create(t, role)
	return clusterRole, role
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// sandboxOnLoopback is the admin's flag that lets the operator reach the
// sandbox, which the tests run on loopback.
const sandboxOnLoopback = "--outbound-allow-cidrs=127.0.0.0/8,::1/128"

// startOperator runs the operator as main does, with cfg's identity and
// args, until the test ends.
func startOperator(t *testing.T, cfg *rest.Config, args ...string) {
	t.Helper()
	_, stop := runInProcess(t, cfg, append([]string{"--metrics-bind-address", "0", "--health-probe-bind-address", "0", sandboxOnLoopback}, args...))
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
}

// runInProcess runs the operator as main does with the flags args and
// cfg's identity, its copies in this process. stop ends it and says how:
// run's error, or that it did not stop within 30 s.
func runInProcess(tb testing.TB, cfg *rest.Config, args []string) (_ options, stop func() error) {
	tb.Helper()
	o, err := parseFlags(args)
	if err != nil {
		tb.Fatal(err)
	}
	o.inProcessCopies = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, o) }()
	return o, func() error {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("the operator stopped with %w", err)
			}
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("the operator did not stop within 30s")
		}
	}
}

// sandboxClient declares an ApiClient of the sandbox in ns, with its
// credentials Secret and the sandbox's CA.
func sandboxClient(t *testing.T, ns, name, clientID string, labels map[string]string) {
	t.Helper()
	secret := "sb-" + clientID
	sb.AddClient(sandbox.Client{ID: clientID, Secret: secret})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials", Namespace: ns},
		StringData: map[string]string{"client_id": clientID, "client_secret": secret}})
	ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}}
	if err := env.Client.Create(context.Background(), ca); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}, Spec: keyportv1.ApiClientSpec{
		TokenURL:    sb.URL() + "/connect/token",
		Credentials: &keyportv1.CredentialsSource{SecretName: name + "-credentials"},
		TLS:         &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}},
	}})
}

func waitReady(t *testing.T, ns, name string) {
	t.Helper()
	optest.Eventually(t, 30*time.Second, "ApiClient "+name+" Ready", func() (bool, string) {
		ac := &keyportv1.ApiClient{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ac); err != nil {
			return false, err.Error()
		}
		c := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue, describe(c)
	})
}

func describe(c *metav1.Condition) string {
	if c == nil {
		return "no Ready condition"
	}
	return string(c.Status) + " " + c.Reason + ": " + c.Message
}

// TestScopedOperatorWorksWithTheGeneratedRoleAndNoMore binds the generated
// ClusterRole to a fresh user only in the watched namespace, and the Role
// in the operator's own, the way a namespace-scoped install does, and runs
// the operator as that user: tokens arrive, nothing it asks is refused, and
// Secrets elsewhere stay out of its reach.
func TestScopedOperatorWorksWithTheGeneratedRoleAndNoMore(t *testing.T) {
	watched, system, other := env.Namespace(t), env.Namespace(t), env.Namespace(t)
	user := "keyport-operator-" + watched
	clusterRole, role := generatedRoles(t, user, system)
	for ns, ref := range map[string]rbacv1.RoleRef{
		watched: {APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		system:  {APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
	} {
		create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "keyport-operator", Namespace: ns},
			RoleRef: ref, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
	}
	cfg, err := env.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	probe := rest.CopyConfig(cfg) // the test's own requests, refused below
	uses := &apiUses{used: map[apiUse]bool{}}
	cfg.Wrap(uses.wrap)
	t.Cleanup(func() {
		uses.mu.Lock()
		defer uses.mu.Unlock()
		for _, f := range uses.forbidden {
			t.Errorf("the API server refused the scoped operator: %s", f)
		}
	})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: other}, StringData: map[string]string{"password": "x"}})

	startOperator(t, cfg, "--watch-namespace", watched, "--leader-election-namespace", system, "--mac-key-secret", system+"/keyport-mac-key")
	sandboxClient(t, watched, "scoped", "scoped-app", nil)
	waitReady(t, watched, "scoped")

	as, err := client.New(probe, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	err = as.Get(context.Background(), types.NamespacedName{Namespace: other, Name: "someone-elses"}, &corev1.Secret{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("the scoped operator's identity read a Secret in a namespace it does not manage: %v", err)
	}
	if err := as.List(context.Background(), &corev1.SecretList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the scoped operator's identity listed Secrets cluster-wide: %v", err)
	}
}

// TestShardsSplitTheResourcesAndNeverShareOne runs two operators with
// --shard a and --shard b side by side: each reconciles its own labelled
// resources, a resource is served by exactly one of them (one token
// request, not two), and a resource labelled for no running shard is left
// alone.
func TestShardsSplitTheResourcesAndNeverShareOne(t *testing.T) {
	ns := env.Namespace(t)
	for _, shard := range []string{"a", "b"} {
		// The API server names whoever writes an object in its
		// managedFields, from the user agent: that is how the test tells
		// which operator acted.
		cfg := rest.CopyConfig(env.Config)
		cfg.UserAgent = "keyport-shard-" + shard
		startOperator(t, cfg, "--shard", shard, "--watch-namespace", ns, "--leader-election-namespace", ns, "--mac-key-secret", ns+"/keyport-mac-key")
	}
	clients := map[string]string{"in-a-1": "a", "in-a-2": "a", "in-b-1": "b", "in-c": "c"}
	for name, shard := range clients {
		sandboxClient(t, ns, name, ns+"-"+name, map[string]string{keyportv1.LabelShard: shard})
	}
	for name, shard := range clients {
		if shard != "c" {
			waitReady(t, ns, name)
		}
	}
	// Give a second operator every chance to act on the same resources.
	time.Sleep(3 * time.Second)
	for name, shard := range clients {
		ac := &keyportv1.ApiClient{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ac); err != nil {
			t.Fatal(err)
		}
		token := &corev1.Secret{}
		_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name + "-token"}, token)
		for _, mf := range append(ac.ManagedFields, token.ManagedFields...) {
			if strings.HasPrefix(mf.Manager, "keyport-shard-") && mf.Manager != "keyport-shard-"+shard {
				t.Errorf("%s (shard %s) was written by %s", name, shard, mf.Manager)
			}
		}
		if shard != "c" && !slices.ContainsFunc(ac.ManagedFields, func(mf metav1.ManagedFieldsEntry) bool { return mf.Manager == "keyport-shard-"+shard }) {
			t.Errorf("%s: its own shard's operator does not appear among its writers", name)
		}
	}
	counters := sb.Counters()
	for name, shard := range clients {
		got := counters.Requests(sandbox.EndpointConnectToken, ns+"-"+name)
		want := 1
		if shard == "c" {
			want = 0
		}
		if got != want {
			t.Errorf("%s (shard %s): %d token requests, want %d", name, shard, got, want)
		}
	}
	ac := &keyportv1.ApiClient{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "in-c"}, ac); err != nil {
		t.Fatal(err)
	}
	if len(ac.Status.Conditions) != 0 {
		t.Errorf("a resource of a shard nobody runs was reconciled: %+v", ac.Status.Conditions)
	}
}

// BenchmarkShardSplit runs N ApiClients labelled round-robin for two shards
// and two operators started with --shard a and --shard b, and prints how the
// work split: ApiClients served, token requests and token Secret writes per
// shard (attributed through the API server's managedFields, by user agent).
// make bench runs it; KEYPORT_BENCH_SHARD_N sets N (default 400).
func BenchmarkShardSplit(b *testing.B) {
	n := 400
	if v := os.Getenv("KEYPORT_BENCH_SHARD_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 {
			b.Fatalf("KEYPORT_BENCH_SHARD_N must be a number of at least 2, got %q", v)
		}
	}
	ns := env.Namespace(b)
	shards := []string{"a", "b"}
	for _, shard := range shards {
		cfg := rest.CopyConfig(env.Config)
		cfg.UserAgent = "keyport-shard-" + shard
		_, stop := runInProcess(b, cfg, []string{"--metrics-bind-address", "0", "--health-probe-bind-address", "0", sandboxOnLoopback, "--shard", shard,
			"--watch-namespace", ns, "--leader-election-namespace", ns, "--mac-key-secret", ns + "/keyport-mac-key"})
		b.Cleanup(func() {
			if err := stop(); err != nil {
				b.Error(err)
			}
		})
	}
	ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}}
	if err := env.Client.Create(context.Background(), ca); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		name, id := fmt.Sprintf("c-%04d", i), fmt.Sprintf("%s-%04d", ns, i)
		sb.AddClient(sandbox.Client{ID: id, Secret: "s-" + id})
		objs := []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials", Namespace: ns},
				StringData: map[string]string{"client_id": id, "client_secret": "s-" + id}},
			&keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{keyportv1.LabelShard: shards[i%2]}},
				Spec: keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token", Credentials: &keyportv1.CredentialsSource{SecretName: name + "-credentials"},
					TLS: &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}}}},
		}
		for _, o := range objs {
			if err := env.Client.Create(context.Background(), o); err != nil {
				b.Fatal(err)
			}
		}
	}
	ready := func() int {
		var list corev1.SecretList
		_ = env.Client.List(context.Background(), &list, client.InNamespace(ns), client.HasLabels{keyportv1.LabelApiClient})
		return len(list.Items)
	}
	for deadline := time.Now().Add(5 * time.Minute); ready() < n; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d token Secrets after 5 minutes", ready(), n)
		}
	}
	elapsed := time.Since(start)
	served := map[string]int{}
	requests := map[string]int{}
	var list corev1.SecretList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns), client.HasLabels{keyportv1.LabelApiClient}); err != nil {
		b.Fatal(err)
	}
	for _, s := range list.Items {
		for _, mf := range s.ManagedFields {
			if shard, ok := strings.CutPrefix(mf.Manager, "keyport-shard-"); ok {
				served[shard]++
			}
		}
	}
	counters := sb.Counters()
	for i := range n {
		requests[shards[i%2]] += counters.Requests(sandbox.EndpointConnectToken, fmt.Sprintf("%s-%04d", ns, i))
	}
	fmt.Printf("\nShard split: %d ApiClients, 2 operators (--shard a, --shard b), all tokens in %v\n", n, elapsed.Round(100*time.Millisecond))
	fmt.Printf("| shard | ApiClients labelled | token Secrets written by it | token requests |\n|---|---|---|---|\n")
	for i, shard := range shards {
		labelled := n / 2
		if i == 0 {
			labelled = n - n/2
		}
		fmt.Printf("| %s | %d | %d | %d |\n", shard, labelled, served[shard], requests[shard])
	}
	b.ReportMetric(float64(served["a"]), "secrets-shard-a")
	b.ReportMetric(float64(served["b"]), "secrets-shard-b")
}
