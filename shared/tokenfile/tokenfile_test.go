package tokenfile

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/testenv/secretvolume"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// mount projects a token Secret into dir as the kubelet does.
func mount(t *testing.T, dir, accessToken string, expires time.Time, headers map[string]string) {
	t.Helper()
	data, err := tokensecret.Render(tokensecret.Token{AccessToken: accessToken, TokenType: "Bearer", ExpiresAt: expires, Headers: headers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := secretvolume.Project(dir, data); err != nil {
		t.Fatal(err)
	}
}

func TestRequestsCarryTheTokenMountedNow(t *testing.T) {
	var seen []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("Ocp-Apim-Subscription-Key"))
	}))
	defer api.Close()
	dir := filepath.Join(t.TempDir(), "token")
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	sub := map[string]string{"Ocp-Apim-Subscription-Key": "sub-1"}
	mount(t, dir, "first", expires, sub)

	source := New(dir)
	client := &http.Client{Transport: source.RoundTripper(nil)}
	call := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("Authorization") != "" {
			t.Fatal("the caller's request was modified")
		}
	}
	call()
	mount(t, dir, "second", expires.Add(time.Hour), sub) // the kubelet swaps ..data
	call()
	if len(seen) != 2 || seen[0] != "Bearer first|sub-1" || seen[1] != "Bearer second|sub-1" {
		t.Fatalf("the API saw %q", seen)
	}
	tok, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "second" || !tok.Expiry.Equal(expires.Add(time.Hour)) || tok.Type() != "Bearer" {
		t.Fatalf("oauth2 token %q expiring %v", tok.AccessToken, tok.Expiry)
	}
}

func TestAnExpiredMountIsReportedWithoutTheToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "token")
	mount(t, dir, "stale-token-value", time.Now().Add(-time.Minute), nil)
	_, err := New(dir).Token()
	if err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("want an expiry error, got %v", err)
	}
	if strings.Contains(err.Error(), "stale-token-value") {
		t.Fatal("the error quotes the token")
	}
	// The request fails before it is sent.
	hits := 0
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer api.Close()
	if _, err := (&http.Client{Transport: New(dir).RoundTripper(nil)}).Get(api.URL); err == nil || hits != 0 {
		t.Fatalf("a request with an expired token was sent (err %v, hits %d)", err, hits)
	}
}

func TestMissingOrForeignMountsAreNamed(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	if _, err := New(missing).Headers(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("want an error naming %s, got %v", missing, err)
	}
	foreign := t.TempDir()
	if err := secretvolume.Project(foreign, map[string][]byte{"password": []byte("hunter2")}); err != nil {
		t.Fatal(err)
	}
	_, err := New(foreign).Headers()
	if err == nil || !strings.Contains(err.Error(), "does not hold a Keyport token Secret") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v", err)
	}
}
