// Package e2e runs Keyport as users run it: the operator image installed by
// its Helm chart (and, in another test, by the kustomize overlay) on a node
// with a real kubelet, containerd and runc, and workloads as pods that read
// their token through a Secret volume the kubelet keeps up to date. The
// partner platform is the sandbox, listening on the node's address so that
// the operator's and the workloads' pods reach it as they would reach a
// platform outside the cluster.
//
// The node's kubelet resyncs every syncFrequency instead of every minute to
// keep `make test` short; the ApiClients get a propagation budget that fits.
// RELIABILITY.md has the delays measured with the kubelet's defaults.
package e2e

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/node"
)

// The test node's kubelet resyncs every syncFrequency (10 s unless
// KEYPORT_E2E_KUBELET_SYNC says otherwise, e.g. 1m, the kubelet's default):
// a changed Secret reaches a pod's volume within about 1.5 times that. The
// propagation budget leaves the kubelet twice that, and tokens live long
// enough for the budget (refresh at half the lifetime, or earlier).
var (
	syncFrequency     = envDuration("KEYPORT_E2E_KUBELET_SYNC", 10*time.Second)
	propagationBudget = 2 * syncFrequency
	tokenLifetime     = max(48*time.Second, 5*syncFrequency)
)

const (
	clientID     = "terminal-app"
	clientSecret = "client-secret-Hy72!x"
	username     = "api-user@terminal.example"
	password     = "user-password-Lm39?q"
	subKey       = "subscription-key-5151"
)

func envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		fmt.Fprintf(os.Stderr, "e2e: %s=%q is not a positive duration\n", name, v)
		os.Exit(2)
	}
	return d
}

var (
	theNode  *node.Node
	platform *sandbox.Sandbox
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	if err := node.CanRun(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: these tests run Keyport on a real node, and this machine cannot run one: %v\n", err)
		return 1
	}
	var err error
	theNode, err = node.Start(node.Options{
		// A fixed folder: a run that was killed is cleaned up by the next.
		StateDir:      filepath.Join(testenv.RepoRoot(), "bin", "node-state", "e2e"),
		SyncFrequency: syncFrequency,
		Images:        []string{"keyport-operator.tar", "keyport-workload.tar"},
		Log:           os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start the node:", err)
		return 1
	}
	stop := func() error {
		err := theNode.Stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop the node:", err)
		}
		return err
	}
	// A node that leaves something behind fails the run.
	defer func() {
		if stop() != nil {
			code = 1
		}
	}()
	// Ctrl-C stops the node too, instead of leaving it to the next run.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-interrupted
		fmt.Fprintln(os.Stderr, "e2e: interrupted, stopping the node")
		_ = stop()
		os.Exit(1)
	}()
	ln, err := theNode.Listen("tcp", node.NodeIP+":0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: listen on the node's address:", err)
		return 1
	}
	platform, err = sandbox.Start(sandbox.Config{
		Listener: ln, Hosts: []string{node.NodeIP}, TokenLifetime: tokenLifetime,
		Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret, Username: username, Password: password, SubscriptionKey: subKey}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start the sandbox:", err)
		return 1
	}
	defer platform.Close()
	return m.Run()
}
