// Package tokenfile is for workloads: it reads a Keyport token Secret mounted
// as a volume and hands out the current token, as an oauth2.TokenSource and
// as an http.RoundTripper that sets Authorization and the platform's extra
// headers (headers.json) on every request.
//
// Mount the Secret as a volume, not as environment variables and not with
// subPath: those are copied once at container start and never updated, so
// the token in them expires while the pod runs (Keyport rotates it at half
// its lifetime). A Secret volume is updated in place by the kubelet, 1–2
// minutes after Keyport writes the Secret:
//
//	volumes:
//	  - name: token
//	    secret: {secretName: cpu-uat-token}
//	containers:
//	  - volumeMounts: [{name: token, mountPath: /var/run/keyport/token, readOnly: true}]
//
// The kubelet never rewrites a file in place. Each key is a symlink
// key -> ..data/key, ..data is a symlink to a timestamped folder, and an
// update writes a new timestamped folder, renames a new ..data symlink over
// the old one and deletes the old folder. So a Source only has to read the
// ..data link on each call to know whether anything changed, and it reads the
// files from the timestamped folder that link names, which never changes
// while it exists: every token it returns comes from one version of the
// Secret, never the access_token of one and the authorization of the next.
package tokenfile

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// dataLink is the symlink the kubelet's atomic writer swaps on each update.
const dataLink = "..data"

// readAttempts bounds how often a read is retried because the mount changed
// while it was being read.
const readAttempts = 5

// racyWindow: in a folder without ..data, files modified this recently are
// read again on every call, because an update within the file system's
// timestamp resolution can keep both size and modification time.
const racyWindow = 2 * time.Second

// ErrExpired is wrapped by the error a Source returns when the mounted token
// has expired: Keyport has not refreshed it (is the operator running, is the
// ApiClient Ready?) or the pod does not see the updates (an env or subPath
// mount).
var ErrExpired = errors.New("the mounted token has expired")

// Source reads the token Secret mounted at a folder. It is safe for
// concurrent use; create one per mount and keep it.
type Source struct {
	dir string
	now func() time.Time

	mu sync.Mutex
	// version identifies the mount's content token was read from: the
	// ..data target, or the files' sizes and times. "" caches nothing.
	version string
	token   tokensecret.Token
}

var _ oauth2.TokenSource = (*Source)(nil)

// New returns a Source for the token Secret mounted at dir. It reads
// nothing yet: a missing or broken mount is reported by each call until it
// is fixed.
func New(dir string) *Source {
	return &Source{dir: dir, now: time.Now}
}

// Token implements oauth2.TokenSource. It re-reads the mount when the
// kubelet has updated it, and fails with ErrExpired rather than return a
// token past its expiry.
//
// Use the Source itself as the token source, for example in
// oauth2.Transport{Source: s}. Do not wrap it in oauth2.ReuseTokenSource
// (which oauth2.NewClient does): that keeps the first token until it is
// about to expire and so misses every rotation.
func (s *Source) Token() (*oauth2.Token, error) {
	tok, err := s.current()
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.ExpiresAt}, nil
}

// Headers are the headers every API call carries: Authorization and the
// platform's extra static ones from headers.json, such as a subscription
// key. The map is the caller's to keep or change.
func (s *Source) Headers() (map[string]string, error) {
	tok, err := s.current()
	if err != nil {
		return nil, err
	}
	return tok.AllHeaders(), nil
}

// RoundTripper wraps base (http.DefaultTransport when nil) so that every
// request carries the current Headers. The caller's request is not
// modified; when the mount cannot be read or the token has expired, the
// request fails without being sent.
func (s *Source) RoundTripper(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{source: s, base: base}
}

type transport struct {
	source *Source
	base   http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	headers, err := t.source.Headers()
	if err != nil {
		// A RoundTripper must close the body, even on errors.
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	// A RoundTripper must not modify the caller's request.
	out := req.Clone(req.Context())
	for name, value := range headers {
		out.Header.Set(name, value)
	}
	return t.base.RoundTrip(out)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach base.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// current returns the mounted token unless it has expired.
func (s *Source) current() (tokensecret.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, err := s.load()
	if err != nil {
		return tokensecret.Token{}, err
	}
	if now := s.now(); !now.Before(tok.ExpiresAt) {
		return tokensecret.Token{}, fmt.Errorf("the token mounted at %s expired at %s (%s ago): %w; check that the Keyport operator is running and that the Secret is mounted as a volume, not as environment variables or with subPath",
			s.dir, tok.ExpiresAt.UTC().Format(time.RFC3339), now.Sub(tok.ExpiresAt).Round(time.Second), ErrExpired)
	}
	return tok, nil
}

// mountState is what the mount looks like right now.
type mountState struct {
	version   string // "" when the content cannot be identified cheaply
	folder    string // where to read the keys from
	cacheable bool
}

// load returns the mounted token: the cached one while the mount is
// unchanged, else a fresh read. Called with s.mu held.
func (s *Source) load() (tokensecret.Token, error) {
	for range readAttempts {
		before, err := s.state()
		if err != nil {
			return tokensecret.Token{}, err
		}
		if before.cacheable && before.version == s.version {
			return s.token, nil
		}
		data, err := readKeys(before.folder)
		if err != nil {
			return tokensecret.Token{}, fmt.Errorf("read the token Secret mounted at %s: %w", s.dir, err)
		}
		after, err := s.state()
		if err != nil {
			return tokensecret.Token{}, err
		}
		if after.version != before.version {
			continue // updated while being read (and the old folder may be gone): read the new version
		}
		tok, err := tokensecret.Parse(data)
		if err != nil {
			s.version = ""
			// Parse names keys, never values.
			return tokensecret.Token{}, fmt.Errorf("the folder %s does not hold a Keyport token Secret: %w", s.dir, err)
		}
		s.token, s.version = tok, ""
		if before.cacheable {
			s.version = before.version
		}
		return tok, nil
	}
	return tokensecret.Token{}, fmt.Errorf("the token Secret mounted at %s changed during each of %d reads; is something besides the kubelet writing to it?", s.dir, readAttempts)
}

// state identifies the mount's content cheaply: by the ..data link where
// the kubelet manages the folder, else by the sizes and modification times
// of the token's files.
func (s *Source) state() (mountState, error) {
	if target, err := os.Readlink(filepath.Join(s.dir, dataLink)); err == nil {
		folder := target
		if !filepath.IsAbs(folder) {
			folder = filepath.Join(s.dir, target)
		}
		return mountState{version: dataLink + "->" + target, folder: folder, cacheable: true}, nil
	}
	info, err := os.Stat(s.dir)
	if err != nil {
		return mountState{}, fmt.Errorf("no token Secret is mounted at %s: %w", s.dir, err)
	}
	if !info.IsDir() {
		return mountState{}, fmt.Errorf("no token Secret is mounted at %s: it is a file, not a folder", s.dir)
	}
	var version strings.Builder
	cacheable := true
	recent := time.Now().Add(-racyWindow)
	for _, key := range tokensecret.StandardKeys {
		fi, err := os.Stat(filepath.Join(s.dir, key))
		if err != nil {
			fmt.Fprintf(&version, "%s:-;", key)
			continue
		}
		fmt.Fprintf(&version, "%s:%d:%d;", key, fi.Size(), fi.ModTime().UnixNano())
		if fi.ModTime().After(recent) {
			cacheable = false
		}
	}
	return mountState{version: version.String(), folder: s.dir, cacheable: cacheable}, nil
}

// readKeys reads the token Secret's keys from folder, leaving out the
// missing ones for Parse to name.
func readKeys(folder string) (map[string][]byte, error) {
	data := make(map[string][]byte, len(tokensecret.StandardKeys))
	for _, key := range tokensecret.StandardKeys {
		b, err := os.ReadFile(filepath.Join(folder, key))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err // names the file, not its content
		}
		data[key] = b
	}
	return data, nil
}
