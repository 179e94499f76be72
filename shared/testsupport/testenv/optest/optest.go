// Package optest runs Keyport's controllers in a test process the way the
// operator binary does: one manager, leader election on, scoped to the
// test's namespace, against a testenv control plane.
package optest

import (
	"context"
	"sync"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keyport-dev/keyport/operator/secretcache"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

// Operator is a running manager.
type Operator struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// SandboxOnLoopback is the outbound policy of an operator under test: the
// operator's defaults, plus loopback, where the tests run the sandbox. It
// is what --outbound-allow-cidrs=127.0.0.0/8,::1/128 gives the binary.
var SandboxOnLoopback = outbound.Policy{Allow: outbound.Loopback()}

// Start runs a manager for namespace ns with the controllers that setup
// registers, until the test ends or Stop is called. Like the operator's
// main, it sets the process's outbound policy: SandboxOnLoopback.
func Start(t testing.TB, env *testenv.Env, ns string, setup func(ctrl.Manager) error) *Operator {
	t.Helper()
	outbound.SetDefaultPolicy(SandboxOnLoopback)
	skip := true
	opts := ctrl.Options{
		Scheme:                        env.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              "keyport-test-" + ns,
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr(4 * time.Second),
		RenewDeadline:                 ptr(3 * time.Second),
		RetryPeriod:                   ptr(500 * time.Millisecond),
		// Each test starts its own manager with the same controller names.
		Controller: ctrlconfig.Controller{SkipNameValidation: &skip},
		// As --watch-namespace does.
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
	}
	// As the operator's main: full Secrets cached only for Keyport's own.
	secretcache.Configure(&opts)
	mgr, err := ctrl.NewManager(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := setup(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	op := &Operator{cancel: cancel, done: make(chan error, 1)}
	go func() { op.done <- mgr.Start(ctx) }()
	t.Cleanup(op.Stop)
	return op
}

// Stop stops the manager and waits for it; calling it again is a no-op.
func (o *Operator) Stop() {
	o.once.Do(func() {
		o.cancel()
		select {
		case <-o.done:
		case <-time.After(30 * time.Second):
		}
	})
}

// Eventually polls cond until it holds or the bound passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not happen within %v; last seen: %s", what, within, last)
}

func ptr[T any](v T) *T { return &v }
