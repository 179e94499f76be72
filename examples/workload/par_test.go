package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/secretvolume"
)

// `workload par` with a certificate Secret projected as the kubelet does
// prints the request_uri the sandbox issued and nothing of the key; with a
// certificate the platform never registered it fails without printing one.
func TestPARModePrintsTheRequestURIFromTheMountedCertificate(t *testing.T) {
	// The sandbox listens on loopback, which the outbound rules refuse
	// unless allowed; in a pod the platform is elsewhere.
	outbound.SetDefaultPolicy(outbound.Policy{Allow: outbound.Loopback()})
	t.Cleanup(func() { outbound.SetDefaultPolicy(outbound.Policy{}) })
	const clientID = "softpos-merchant"
	sb, err := sandbox.Start(sandbox.Config{Clients: []sandbox.Client{{ID: clientID}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	mount := func(register bool) (dir string, keyPEM []byte) {
		issue := sb.IssueClientCert
		if register {
			issue = sb.IssueRegisteredClientCert
		}
		certPEM, keyPEM, err := issue(clientID)
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(t.TempDir(), "cert")
		if err := secretvolume.Project(dir, map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": sb.CACertPEM()}); err != nil {
			t.Fatal(err)
		}
		return dir, keyPEM
	}
	run := func(dir string) (int, string) {
		var out bytes.Buffer
		code := runPAR([]string{"-cert-dir", dir, "-ca-file", filepath.Join(dir, "ca.crt"),
			"-endpoint", sb.URL() + "/softpos/as/par", "-client-id", clientID,
			"-redirect-uri", "https://merchant.example.com/cb", "-scope", "enrolment"}, &out, &out)
		return code, out.String()
	}

	dir, keyPEM := mount(true)
	code, out := run(dir)
	m := regexp.MustCompile(`^request_uri=(\S+) expires_in=(\d+)\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("exit %d, output %q", code, out)
	}
	if !slices.ContainsFunc(sb.PushedRequests(), func(p sandbox.PushedRequest) bool {
		return p.ClientID == clientID && p.RequestURI == m[1]
	}) {
		t.Errorf("printed request_uri %s is not one the sandbox issued to %s", m[1], clientID)
	}
	if m[2] != "90" {
		t.Errorf("expires_in=%s, the sandbox's request_uri lives 90 s", m[2])
	}
	noKeyIn(t, out, keyPEM)

	other, otherKey := mount(false)
	code, out = run(other)
	if code != 1 || strings.Contains(out, "request_uri=") || !strings.Contains(out, "invalid_client") {
		t.Errorf("unregistered certificate: exit %d, output %q", code, out)
	}
	noKeyIn(t, out, otherKey)
}

// noKeyIn fails when out carries any line of a PEM key.
func noKeyIn(t *testing.T, out string, keyPEM []byte) {
	t.Helper()
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(out, line) {
			t.Fatalf("the output carries the private key: %q", out)
		}
	}
}
