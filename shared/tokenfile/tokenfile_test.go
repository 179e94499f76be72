package tokenfile

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// project writes data into dir step by step as the kubelet's AtomicWriter
// does (k8s.io/kubernetes/pkg/volume/util/atomic_writer.go, Write): a new
// timestamped folder from MkdirTemp, the payload written into it, a
// ..data_tmp symlink to it renamed over ..data, the user-visible symlinks
// key -> ..data/key created where missing, keys the new payload lacks
// removed, and the previous timestamped folder deleted.
func project(t testing.TB, dir string, data map[string][]byte) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(dir, 0o755)) // the kubelet's volume folder exists before the first write
	dataDir := filepath.Join(dir, "..data")
	oldTs, err := os.Readlink(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var stale []string
	if oldTs != "" {
		entries, err := os.ReadDir(filepath.Join(dir, oldTs))
		must(err)
		for _, e := range entries {
			if _, kept := data[e.Name()]; !kept {
				stale = append(stale, e.Name())
			}
		}
	}
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	must(err)
	must(os.Chmod(tsDir, 0o755))
	for key, value := range data {
		must(os.WriteFile(filepath.Join(tsDir, key), value, 0o644))
	}
	tmp := filepath.Join(dir, "..data_tmp")
	must(os.Symlink(filepath.Base(tsDir), tmp))
	must(os.Rename(tmp, dataDir))
	for key := range data {
		if _, err := os.Readlink(filepath.Join(dir, key)); errors.Is(err, fs.ErrNotExist) {
			must(os.Symlink(filepath.Join("..data", key), filepath.Join(dir, key)))
		}
	}
	for _, key := range stale {
		must(os.Remove(filepath.Join(dir, key)))
	}
	if oldTs != "" {
		must(os.RemoveAll(filepath.Join(dir, oldTs)))
	}
}

// secretData is what Keyport writes into a token Secret.
func secretData(t testing.TB, accessToken string, expires time.Time, headers map[string]string) map[string][]byte {
	t.Helper()
	data, err := tokensecret.Render(tokensecret.Token{AccessToken: accessToken, TokenType: "Bearer", ExpiresAt: expires, Headers: headers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// noSecretIn fails the test when err quotes one of the secret values.
func noSecretIn(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Fatalf("the error quotes a secret value: %v", err)
		}
	}
}

func TestRequestsCarryTheTokenMountedNow(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("Ocp-Apim-Subscription-Key")+"|"+r.Header.Get("X-Caller"))
	}))
	defer api.Close()
	dir := filepath.Join(t.TempDir(), "token")
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	project(t, dir, secretData(t, "first-token", expires, map[string]string{"Ocp-Apim-Subscription-Key": "sub-1"}))

	source := New(dir)
	client := &http.Client{Transport: source.RoundTripper(api.Client().Transport)}
	call := func() {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, api.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Caller", "kept")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("Authorization") != "" || len(req.Header) != 1 {
			t.Fatalf("the caller's request was modified: %v", req.Header)
		}
	}
	call()
	call()
	// Keyport rotates the token (and here the subscription key too); the
	// kubelet swaps ..data.
	project(t, dir, secretData(t, "second-token", expires.Add(time.Hour), map[string]string{"Ocp-Apim-Subscription-Key": "sub-2"}))
	call()
	want := []string{"Bearer first-token|sub-1|kept", "Bearer first-token|sub-1|kept", "Bearer second-token|sub-2|kept"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("the API saw %q, want %q", seen, want)
	}

	headers, err := source.Headers()
	if err != nil {
		t.Fatal(err)
	}
	if len(headers) != 2 || headers["Authorization"] != "Bearer second-token" || headers["Ocp-Apim-Subscription-Key"] != "sub-2" {
		t.Fatalf("Headers() = %v", headers)
	}
	headers["Authorization"] = "changed by the caller"
	if again, _ := source.Headers(); again["Authorization"] != "Bearer second-token" {
		t.Fatal("Headers() hands out the cached map")
	}
}

func TestSourceIsAnOAuth2TokenSource(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "token")
	expires := time.Date(2099, 11, 23, 7, 30, 0, 0, time.UTC)
	project(t, dir, secretData(t, "oauth-token", expires, nil))

	var ts oauth2.TokenSource = New(dir)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "oauth-token" || tok.Type() != "Bearer" || !tok.Expiry.Equal(expires) || !tok.Valid() {
		t.Fatalf("got token %q of type %q expiring %v", tok.AccessToken, tok.Type(), tok.Expiry)
	}

	// oauth2.Transport uses the Source directly (it sets Authorization only).
	var got string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") }))
	defer api.Close()
	resp, err := (&http.Client{Transport: &oauth2.Transport{Source: ts, Base: api.Client().Transport}}).Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "Bearer oauth-token" {
		t.Fatalf("oauth2.Transport sent %q", got)
	}
}

func TestTheMountIsReadAgainOnlyAfterASwap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "token")
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	project(t, dir, secretData(t, "cached-token", expires, nil))
	source := New(dir)
	if tok, err := source.Token(); err != nil || tok.AccessToken != "cached-token" {
		t.Fatalf("got %v, %v", tok, err)
	}
	// Corrupt the current timestamped folder in place, which the kubelet
	// never does: the Source must not notice, because ..data did not move.
	target, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, target, tokensecret.KeyAccessToken), []byte("not-read"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tok, err := source.Token(); err != nil || tok.AccessToken != "cached-token" {
		t.Fatalf("without a swap the Source read the files again: %v, %v", tok, err)
	}
	project(t, dir, secretData(t, "swapped-token", expires, nil))
	if tok, err := source.Token(); err != nil || tok.AccessToken != "swapped-token" {
		t.Fatalf("after a swap: %v, %v", tok, err)
	}
}

func TestAnExpiredMountIsReportedWithoutTheToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "token")
	expired := time.Now().Add(-90 * time.Second).Truncate(time.Second)
	project(t, dir, secretData(t, "stale-token-value", expired, map[string]string{"Ocp-Apim-Subscription-Key": "sub-key-value"}))
	source := New(dir)

	tok, err := source.Token()
	if tok != nil || !errors.Is(err, ErrExpired) {
		t.Fatalf("want ErrExpired and no token, got %v, %v", tok, err)
	}
	for _, part := range []string{dir, "expired at " + expired.UTC().Format(time.RFC3339)} {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("the error %q does not say %q", err, part)
		}
	}
	noSecretIn(t, err, "stale-token-value", "sub-key-value")
	if h, err := source.Headers(); h != nil || !errors.Is(err, ErrExpired) {
		t.Fatalf("Headers() = %v, %v", h, err)
	}

	// The RoundTripper fails before anything is sent.
	hits := 0
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer api.Close()
	_, err = (&http.Client{Transport: source.RoundTripper(api.Client().Transport)}).Get(api.URL)
	if !errors.Is(err, ErrExpired) || hits != 0 {
		t.Fatalf("a request with an expired token was sent (err %v, hits %d)", err, hits)
	}
	noSecretIn(t, err, "stale-token-value", "sub-key-value")

	// Once Keyport has written a fresh token, the same Source recovers.
	project(t, dir, secretData(t, "fresh-token", time.Now().Add(time.Hour), nil))
	if tok, err := source.Token(); err != nil || tok.AccessToken != "fresh-token" {
		t.Fatalf("after the refresh: %v, %v", tok, err)
	}
}

func TestACachedTokenIsNotHandedOutPastItsExpiry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "token")
	expires := time.Now().Add(time.Minute).Truncate(time.Second)
	project(t, dir, secretData(t, "short-lived-token", expires, nil))
	source := New(dir)
	if _, err := source.Token(); err != nil {
		t.Fatal(err)
	}
	source.now = func() time.Time { return expires } // the mount never changed
	_, err := source.Token()
	if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), expires.UTC().Format(time.RFC3339)) {
		t.Fatalf("want an expiry error at %v, got %v", expires, err)
	}
	noSecretIn(t, err, "short-lived-token")
}

func TestMissingAndForeignMountsAreNamedWithoutTheirValues(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	_, err := New(missing).Headers()
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no token Secret is mounted at "+missing) {
		t.Fatalf("want an error naming %s, got %v", missing, err)
	}
	_, err = (&http.Client{Transport: New(missing).RoundTripper(nil)}).Get("http://127.0.0.1:1/")
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("the RoundTripper said %v", err)
	}

	good := secretData(t, "good-token-value", time.Now().Add(time.Hour), map[string]string{"X-Key": "header-secret"})
	for name, tc := range map[string]struct {
		data map[string][]byte
		says string
	}{
		"another Secret": {map[string][]byte{"password": []byte("hunter2")}, `has no "access_token"`},
		"authorization edited by hand": {
			withKey(good, tokensecret.KeyAuthorization, "Bearer hand-edited-value"), `"authorization" does not match`,
		},
		"broken headers.json": {
			withKey(good, tokensecret.KeyHeaders, `{"X-Key": "header-secret"`), `unreadable "headers.json"`,
		},
		"broken expires_at": {withKey(good, tokensecret.KeyExpiresAt, "tomorrow"), `unreadable "expires_at"`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "token")
			project(t, dir, tc.data)
			_, err := New(dir).Token()
			if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("want an error naming %s and saying %s, got %v", dir, tc.says, err)
			}
			noSecretIn(t, err, "hunter2", "good-token-value", "hand-edited-value", "header-secret")
		})
	}
}

func withKey(data map[string][]byte, key, value string) map[string][]byte {
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		out[k] = v
	}
	out[key] = []byte(value)
	return out
}

// TestReadsDuringSwapsAreNeverMixed swaps the mount continuously while
// requests run: each read must see one whole version of the Secret, never the
// access_token of one and the authorization of the next, and never fail
// because the kubelet deleted the previous folder mid-read.
func TestReadsDuringSwapsAreNeverMixed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "token")
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	project(t, dir, secretData(t, "token-0", expires, map[string]string{"X-Version": "0"}))
	source := New(dir)

	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				h, err := source.Headers()
				if err != nil {
					errs <- err
					return
				}
				if !strings.HasPrefix(h["Authorization"], "Bearer token-") || h["X-Version"] != strings.TrimPrefix(h["Authorization"], "Bearer token-") {
					errs <- fmt.Errorf("mixed versions: %v", h)
					return
				}
			}
		})
	}
	for n := 1; n <= 300; n++ {
		v := fmt.Sprint(n)
		project(t, dir, secretData(t, "token-"+v, expires, map[string]string{"X-Version": v}))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A plain folder (a test, a copy of the mount, a CSI driver without ..data)
// is read again whenever a file's size or modification time changes.
func TestAPlainFolderIsReadAgainWhenAFileChanges(t *testing.T) {
	dir := t.TempDir()
	write := func(accessToken string, mtime time.Time) {
		t.Helper()
		for key, value := range secretData(t, accessToken, time.Now().Add(time.Hour), nil) {
			path := filepath.Join(dir, key)
			if err := os.WriteFile(path, value, 0o644); err != nil {
				t.Fatal(err)
			}
			if !mtime.IsZero() {
				if err := os.Chtimes(path, mtime, mtime); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	source := New(dir)
	read := func() string {
		t.Helper()
		tok, err := source.Token()
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	// Files written just now are read again on every call: within the file
	// system's timestamp resolution (a second on some) an update can keep
	// both size and modification time, as simulated here.
	now := time.Now().Truncate(time.Second)
	write("aaaa-1", now)
	if got := read(); got != "aaaa-1" {
		t.Fatal(got)
	}
	write("aaaa-2", now) // same sizes, same times
	if got := read(); got != "aaaa-2" {
		t.Fatalf("a rewrite within the timestamp resolution was missed: %s", got)
	}
	// Files written long ago are cached until they change.
	hourAgo := time.Now().Add(-time.Hour)
	write("aaaa-3", hourAgo)
	if got := read(); got != "aaaa-3" {
		t.Fatal(got)
	}
	write("aaaa-4", hourAgo.Add(time.Second))
	if got := read(); got != "aaaa-4" {
		t.Fatalf("a changed modification time was missed: %s", got)
	}
}
