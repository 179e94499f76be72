// Package oidcpeer runs oidc-provider, an OpenID Certified authorization
// server from the npm registry, over HTTPS on loopback for tests in any
// package, so that Keyport's own sandbox is not the only judge of its OAuth
// code. The server is shared/token/testdata/oidc/server.mjs; `make oidc-deps`
// installs its dependencies.
package oidcpeer

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// Config is what the server is started with.
type Config struct {
	// Clients are oidc-provider client metadata objects.
	Clients []map[string]any
	// ClientCA verifies client certificates for tls_client_auth; optional.
	ClientCA *certstest.CA
	// Keys are the server's own private keys (one "sig" key at least when
	// set); a key with use "enc" lets clients encrypt request objects to it.
	Keys []jose.JSONWebKey
	// RequireKid lists clients whose assertions must carry a kid, as many
	// platforms require (oidc-provider alone would try every key).
	RequireKid []string
}

// Peer is a running server.
type Peer struct {
	Issuer                string `json:"issuer"`
	TokenEndpoint         string `json:"token_endpoint"`
	PAREndpoint           string `json:"par_endpoint"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	// CAPEM verifies the server's certificate.
	CAPEM []byte `json:"-"`
}

// Start runs the server until the test ends. It fails the test when node or
// oidc-provider is missing: the tests that use it are not optional.
func Start(t testing.TB, cfg Config) *Peer {
	t.Helper()
	dir := serverDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		t.Fatalf("oidc-provider is not installed in %s: run `make oidc-deps` (needs node and the npm registry)", dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH; it is needed to run oidc-provider")
	}
	serverCA, err := certstest.NewCA("oidc peer server CA")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := serverCA.Issue("127.0.0.1", certstest.Options{Server: true})
	if err != nil {
		t.Fatal(err)
	}
	clientCA := cfg.ClientCA
	if clientCA == nil {
		if clientCA, err = certstest.NewCA("oidc peer client CA"); err != nil {
			t.Fatal(err)
		}
	}
	config := map[string]any{
		"cert":     string(serverCert.CertPEM()),
		"key":      string(serverCert.KeyPEM()),
		"clientCA": string(clientCA.CertPEM()),
		"clients":  cfg.Clients,
	}
	if len(cfg.Keys) > 0 {
		config["jwks"] = jose.JSONWebKeySet{Keys: cfg.Keys}
	}
	if len(cfg.RequireKid) > 0 {
		config["requireKid"] = cfg.RequireKid
	}
	configFile := filepath.Join(t.TempDir(), "config.json")
	data, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"), configFile)
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the server exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	p := &Peer{CAPEM: serverCA.CertPEM()}
	select {
	case line := <-ready:
		if err := json.Unmarshal([]byte(line), p); err != nil || p.Issuer == "" {
			t.Fatalf("oidc-provider did not start: %q %s", line, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("oidc-provider did not start within 30s: %s", stderr.String())
	}
	return p
}

// serverDir is shared/token/testdata/oidc in this checkout.
func serverDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "token", "testdata", "oidc")
}
