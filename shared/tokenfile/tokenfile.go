// Package tokenfile is for workloads: it reads a Keyport token Secret mounted
// as a volume and hands out the current token, as an oauth2.TokenSource and
// as an http.RoundTripper that sets Authorization and the platform's extra
// headers on every request.
//
// Mount the Secret as a volume — not as environment variables and not with
// subPath: both are frozen at container start, and the token in them expires
// while the pod runs. The kubelet updates a Secret volume by writing a new
// timestamped folder and swapping the ..data symlink to it in one rename;
// Source notices the swap and re-reads the files, so a rotated token is used
// from the next request on.
package tokenfile

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// Source reads the token Secret mounted at a folder.
type Source struct {
	dir string
	now func() time.Time

	mu      sync.Mutex
	version string
	token   tokensecret.Token
}

// New returns a Source for the Secret mounted at dir.
func New(dir string) *Source {
	return &Source{dir: dir, now: time.Now}
}

// current returns the mounted token, re-reading the files only when the
// mount has changed since the last read.
func (s *Source) current() (tokensecret.Token, error) {
	version, err := s.mountVersion()
	if err != nil {
		return tokensecret.Token{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if version != s.version || version == "" {
		tok, err := s.read()
		if err != nil {
			return tokensecret.Token{}, err
		}
		s.token, s.version = tok, version
	}
	if !s.token.ExpiresAt.IsZero() && !s.now().Before(s.token.ExpiresAt) {
		return tokensecret.Token{}, fmt.Errorf("the token mounted at %s expired at %s: is the Keyport operator running, and is the Secret mounted as a volume (not env or subPath)?",
			s.dir, s.token.ExpiresAt.Format(time.RFC3339))
	}
	return s.token, nil
}

// mountVersion identifies the mount's content: the ..data symlink's target
// where the kubelet manages the folder, "" (always re-read) elsewhere.
func (s *Source) mountVersion() (string, error) {
	target, err := os.Readlink(filepath.Join(s.dir, "..data"))
	if err == nil {
		return target, nil
	}
	if _, statErr := os.Stat(s.dir); statErr != nil {
		return "", fmt.Errorf("the token Secret is not mounted at %s: %w", s.dir, statErr)
	}
	return "", nil
}

// read parses the mounted files with the Secret contract.
func (s *Source) read() (tokensecret.Token, error) {
	data := map[string][]byte{}
	for _, key := range tokensecret.StandardKeys {
		b, err := os.ReadFile(filepath.Join(s.dir, key))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return tokensecret.Token{}, fmt.Errorf("read the token Secret at %s: %w", s.dir, err)
		}
		data[key] = b
	}
	tok, err := tokensecret.Parse(data)
	if err != nil {
		return tokensecret.Token{}, fmt.Errorf("the folder %s does not hold a Keyport token Secret: %w", s.dir, err)
	}
	return tok, nil
}

// Token implements oauth2.TokenSource.
func (s *Source) Token() (*oauth2.Token, error) {
	tok, err := s.current()
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.ExpiresAt}, nil
}

// Headers are the headers every API call carries: Authorization and the
// platform's extra ones, such as a subscription key.
func (s *Source) Headers() (map[string]string, error) {
	tok, err := s.current()
	if err != nil {
		return nil, err
	}
	return tok.AllHeaders(), nil
}

// RoundTripper wraps base (http.DefaultTransport when nil) so that every
// request carries the current Headers.
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
