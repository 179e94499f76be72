// Package soak runs Keyport for a fixed time under every fault it must
// survive (token endpoint errors, rate limits, timeouts, malformed answers,
// revocation on reissue, platform outages, killed replicas, an unreachable
// API server, a restarted etcd; see faults_test.go) and measures what users
// would notice: seconds a Secret held an expired token while the platform
// was up, lost Secrets, duplicate registrations, token requests per issued
// token, recovery after each fault, conditions that contradicted the
// Secrets, and secrets leaking into logs, events, statuses or metrics.
//
// `make test` runs a short pass (every fault once, a few dozen clients);
// `make soak` a long one whose report goes into RELIABILITY.md:
//
//	KEYPORT_SOAK_CLIENTS     ApiClients (default 30)
//	KEYPORT_SOAK_LIFETIME    token lifetime at the sandbox (default 60s: with 30s, a 10s API
//	                         outage on a loaded CI machine can outlast the refresh margin)
//	KEYPORT_SOAK_DURATION    keep cycling through the faults this long (default: one pass)
//	KEYPORT_SOAK_REPORT      also write the Markdown report to this file
//	KEYPORT_SOAK_FAULTS      only the faults whose names contain one of these comma-separated words
//	KEYPORT_SOAK_KEEP        keep the operator logs and etcd data in this folder
//
// Everything runs on loopback: the real kube-apiserver and etcd, cert-manager's
// controllers in-process, two operator replicas as real processes (built from
// ./operator) behind a TCP proxy to the API server, and the sandbox.
package soak

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/operatorproc"
)

const (
	namespace       = "soak"
	systemNamespace = "keyport-system"
)

var (
	env         *testenv.Env
	sb          *sandbox.Sandbox
	operatorBin string
	workDir     string
)

type config struct {
	clients  int
	lifetime time.Duration
	duration time.Duration
	report   string
	only     []string
}

func configFromEnv() (config, error) {
	c := config{clients: 30, lifetime: 60 * time.Second, report: os.Getenv("KEYPORT_SOAK_REPORT")}
	if v := os.Getenv("KEYPORT_SOAK_FAULTS"); v != "" {
		c.only = strings.Split(v, ",")
	}
	if v := os.Getenv("KEYPORT_SOAK_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 {
			return c, fmt.Errorf("KEYPORT_SOAK_CLIENTS must be a number of at least 3, got %q", v)
		}
		c.clients = n
	}
	for name, dst := range map[string]*time.Duration{"KEYPORT_SOAK_LIFETIME": &c.lifetime, "KEYPORT_SOAK_DURATION": &c.duration} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c, fmt.Errorf("%s: %w", name, err)
			}
			*dst = d
		}
	}
	if c.lifetime < 30*time.Second {
		return c, fmt.Errorf("KEYPORT_SOAK_LIFETIME must be at least 30s (the shortest lifetime an ApiClient accepts)")
	}
	return c, nil
}

// TestMain builds the operator binary and starts a control plane whose etcd
// keeps its data in a known folder, so that the soak can restart etcd.
func TestMain(m *testing.M) {
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		code = 1
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	var err error
	if keep := os.Getenv("KEYPORT_SOAK_KEEP"); keep != "" {
		workDir = keep
		if err := os.MkdirAll(workDir, 0o700); err != nil {
			return 1, err
		}
	} else {
		if workDir, err = os.MkdirTemp("", "keyport-soak-"); err != nil {
			return 1, err
		}
		defer os.RemoveAll(workDir)
	}
	if operatorBin, err = operatorproc.Build(workDir); err != nil {
		return 1, err
	}
	if env, err = testenv.StartWith(testenv.Options{DataDir: filepath.Join(workDir, "etcd")}); err != nil {
		return 1, err
	}
	defer func() { _ = env.Stop() }()
	return m.Run(), nil
}

func TestSoak(t *testing.T) {
	cfg, err := configFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, cfg)
	h.setUp()
	h.runFaults()
	h.finish()
}
