package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestEachCallUsesTheTokenCurrentlyMounted rotates the mounted files between
// two calls, as the kubelet does after Keyport updates the Secret.
func TestEachCallUsesTheTokenCurrentlyMounted(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("Ocp-Apim-Subscription-Key"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	mount := func(token string) {
		body := `{"Authorization":"Bearer ` + token + `","Ocp-Apim-Subscription-Key":"sub"}`
		if err := os.WriteFile(filepath.Join(dir, "headers.json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mount("first")
	if err := call(srv.Client(), dir, srv.URL); err != nil {
		t.Fatal(err)
	}
	mount("second")
	if err := call(srv.Client(), dir, srv.URL); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "Bearer first|sub" || seen[1] != "Bearer second|sub" {
		t.Fatalf("the API saw %q", seen)
	}
	if err := os.Remove(filepath.Join(dir, "headers.json")); err != nil {
		t.Fatal(err)
	}
	if err := call(srv.Client(), dir, srv.URL); err == nil {
		t.Fatal("a missing token Secret was not reported")
	}
}
