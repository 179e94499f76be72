package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv/secretvolume"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// api records the headers of each call.
func api(t *testing.T) (*httptest.Server, func() []string) {
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("Ocp-Apim-Subscription-Key"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// mount projects a token Secret into dir as the kubelet does: a rotation
// swaps the ..data symlink.
func mount(t *testing.T, dir, token string, expires time.Time) {
	t.Helper()
	data, err := tokensecret.Render(tokensecret.Token{
		AccessToken: token, TokenType: "Bearer", ExpiresAt: expires,
		Headers: map[string]string{"Ocp-Apim-Subscription-Key": "sub"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := secretvolume.Project(dir, data); err != nil {
		t.Fatal(err)
	}
}

// TestEachCallUsesTheTokenCurrentlyMounted rotates the mounted Secret between
// two calls, as the kubelet does after Keyport updates the Secret.
func TestEachCallUsesTheTokenCurrentlyMounted(t *testing.T) {
	srv, seen := api(t)
	dir := filepath.Join(t.TempDir(), "token")
	mount(t, dir, "first", time.Now().Add(time.Hour))
	client := newClient(dir, srv.Client().Transport)
	if err := call(client, srv.URL); err != nil {
		t.Fatal(err)
	}
	mount(t, dir, "second", time.Now().Add(time.Hour))
	if err := call(client, srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := seen(); len(got) != 2 || got[0] != "Bearer first|sub" || got[1] != "Bearer second|sub" {
		t.Fatalf("the API saw %q", got)
	}
	mount(t, dir, "expired", time.Now().Add(-time.Minute))
	err := call(client, srv.URL)
	if err == nil || !strings.Contains(err.Error(), "expired at") || strings.Contains(err.Error(), "Bearer expired") {
		t.Fatalf("an expired mount was not reported (or quoted the token): %v", err)
	}
	if len(seen()) != 2 {
		t.Fatal("a request with an expired token was sent")
	}
	if err := call(newClient(filepath.Join(dir, "missing"), nil), srv.URL); err == nil {
		t.Fatal("a missing token Secret was not reported")
	}
}

// TestCallShDoesTheSame runs call.sh against the same kind of mount.
func TestCallShDoesTheSame(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("call.sh needs %s on PATH", tool)
		}
	}
	srv, seen := api(t)
	dir := filepath.Join(t.TempDir(), "token")
	run := func() (string, error) {
		cmd := exec.Command("bash", "call.sh", srv.URL)
		cmd.Env = append(os.Environ(), "TOKEN_DIR="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mount(t, dir, "first", time.Now().Add(time.Hour))
	if out, err := run(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	mount(t, dir, "second", time.Now().Add(time.Hour))
	if out, err := run(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := seen(); len(got) != 2 || got[0] != "Bearer first|sub" || got[1] != "Bearer second|sub" {
		t.Fatalf("the API saw %q", got)
	}
	mount(t, dir, "expired", time.Now().Add(-time.Minute))
	if out, err := run(); err == nil || !strings.Contains(out, "expired at") || strings.Contains(out, "Bearer expired") {
		t.Fatalf("an expired mount was not reported (or quoted the token): %v: %s", err, out)
	}
	dir = filepath.Join(dir, "missing")
	if out, err := run(); err == nil || !strings.Contains(out, "no token Secret is mounted at "+dir) {
		t.Fatalf("a missing mount was not reported: %v: %s", err, out)
	}
	if len(seen()) != 2 {
		t.Fatal("call.sh sent a request it should not have")
	}
}
