package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/keyport-dev/keyport/operator/internal/mackey"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

var (
	env *testenv.Env
	sb  *sandbox.Sandbox
)

func TestMain(m *testing.M) {
	var err error
	if sb, err = sandbox.Start(sandbox.Config{Seed: 5}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.Main(m, &env)
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !o.leaderElect || o.metricsAddr != ":8080" || o.probeAddr != ":8081" || len(o.watchNamespaces) != 0 || o.omitTokenTimes {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseFlags([]string{"--leader-elect=false", "--watch-namespace", "a, b", "--mac-key-secret", "ns/key"})
	if err != nil {
		t.Fatal(err)
	}
	if o.leaderElect || len(o.watchNamespaces) != 2 || o.watchNamespaces[1] != "b" {
		t.Errorf("parsed: %+v", o)
	}
	if o.endpointRate != 20 || o.endpointBurst != 50 {
		t.Errorf("per-host token request limit: %v/s burst %d", o.endpointRate, o.endpointBurst)
	}
	if _, err := parseFlags([]string{"--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline", "5s"}); err == nil {
		t.Error("a renew deadline longer than the lease was accepted")
	}
	if _, err := parseFlags([]string{"--shard", "not a label value!"}); err == nil {
		t.Error("a shard that is not a label value was accepted")
	}
	if _, err := parseFlags([]string{"--mac-key-secret", "no-namespace"}); err == nil {
		t.Error("a MAC key Secret without a namespace was accepted")
	}
	if o, err := parseFlags([]string{"--status-token-times", "omit"}); err != nil || !o.omitTokenTimes {
		t.Errorf("--status-token-times omit: %v, omit=%v", err, o.omitTokenTimes)
	}
	if _, err := parseFlags([]string{"--status-token-times", "sometimes"}); err == nil {
		t.Error("an unknown --status-token-times was accepted")
	}
}

func TestParseFlagsCertificates(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.m2mCertificateWorkers != 4 || len(o.allowedClusterIssuers) != 0 {
		t.Errorf("defaults: %d M2MCertificate workers, ClusterIssuers %q; want 4 and none", o.m2mCertificateWorkers, o.allowedClusterIssuers)
	}
	o, err = parseFlags([]string{"--allowed-cluster-issuers", " internal-ca, issuers.example.com/vault ,", "--m2mcertificate-workers=2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"internal-ca", "issuers.example.com/vault"}; !slices.Equal(o.allowedClusterIssuers, want) || o.m2mCertificateWorkers != 2 {
		t.Errorf("parsed ClusterIssuers %q, workers %d; want %q and 2", o.allowedClusterIssuers, o.m2mCertificateWorkers, want)
	}
}

// TestOperatorRunsAgainstARealAPIServer starts the operator as main does,
// with leader election on, and checks what an administrator would: the
// probes answer, metrics are served, it holds the Lease, it created its MAC
// key Secret, and it stops cleanly.
func TestOperatorRunsAgainstARealAPIServer(t *testing.T) {
	ns := env.Namespace(t)
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	o, stop := runInProcess(t, env.Config, []string{
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr,
		"--leader-election-namespace", ns, "--watch-namespace", ns, "--mac-key-secret", ns + "/keyport-mac-key",
	})

	expectOK := func(url string) string {
		t.Helper()
		var body string
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get(url)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
				if resp.StatusCode == http.StatusOK {
					return body
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not answer 200 within 20s (last: %v %s)", url, err, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	expectOK("http://" + probeAddr + "/healthz")
	expectOK("http://" + probeAddr + "/readyz")
	if metrics := expectOK("http://" + metricsAddr + "/metrics"); !strings.Contains(metrics, "controller_runtime_") {
		t.Errorf("/metrics does not serve Prometheus text")
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		lease := &coordinationv1.Lease{}
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: o.leaderElectionID}, lease)
		if err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the operator did not take the leader Lease: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	key := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "keyport-mac-key"}, key); err != nil || len(key.Data["key"]) < 32 {
		t.Errorf("the MAC key Secret was not created: %v", err)
	}

	if err := stop(); err != nil {
		t.Errorf("a clean stop: %v", err)
	}
	// Released on shutdown, so a successor need not wait out the lease.
	lease := &coordinationv1.Lease{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: o.leaderElectionID}, lease); err == nil &&
		lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		t.Errorf("the Lease is still held by %q after shutdown", *lease.Spec.HolderIdentity)
	}
}

func TestMACKeyIsStableAcrossRestarts(t *testing.T) {
	ns := env.Namespace(t)
	first, err := loadKey(t, ns)
	if err != nil {
		t.Fatal(err)
	}
	second, err := loadKey(t, ns)
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Fatal("a restart would get a new MAC key, and request a new token for every ApiClient")
	}
}

func loadKey(t *testing.T, ns string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return mackey.Load(ctx, env.Config, ns, "keyport-mac-key")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr())
}
