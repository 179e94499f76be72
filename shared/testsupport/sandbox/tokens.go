package sandbox

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyport-dev/keyport/shared/certs"
)

// Claims of the sandbox's access tokens.
type Claims struct {
	jwt.Claims
	// Thumbprint is the SHA-1 thumbprint of the client certificate the token
	// was issued over, as the bank's M2M API binds it.
	Thumbprint string `json:"thumbprint,omitempty"`
	Scope      string `json:"scope,omitempty"`
}

const audience = "keyport-sandbox"

// issue signs a token for a client.
func (s *Sandbox) issue(endpoint, clientID, scope string, lifetime time.Duration, cert *x509.Certificate) (string, time.Duration, error) {
	f := s.fault(endpoint)
	now := time.Now().Add(f.ClockSkew)
	jti := randomHex(12)
	claims := Claims{
		Claims: jwt.Claims{
			Issuer: s.url, Subject: clientID, Audience: jwt.Audience{audience}, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry: jwt.NewNumericDate(now.Add(lifetime)),
		},
		Scope: scope,
	}
	if cert != nil {
		claims.Thumbprint = certs.Thumbprint(cert)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.signKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "sandbox-1"))
	if err != nil {
		return "", 0, err
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.latest[clientID]; ok && f.RevokeOnReissue {
		t := s.tokens[prev]
		t.revoked = true
		s.tokens[prev] = t
	}
	s.tokens[jti] = issued{clientID: clientID, expires: now.Add(lifetime)}
	s.latest[clientID] = jti
	return raw, lifetime, nil
}

// Validate checks a bearer token the sandbox issued: signature, expiry and
// revocation. It returns the token's claims.
func (s *Sandbox) Validate(raw string) (*Claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, errors.New("not a sandbox token")
	}
	var c Claims
	if err := tok.Claims(&s.signKey.PublicKey, &c); err != nil {
		return nil, errors.New("bad token signature")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.url, AnyAudience: jwt.Audience{audience}, Time: time.Now()}, 0); err != nil {
		return nil, fmt.Errorf("token rejected: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens[c.ID].revoked {
		return nil, errors.New("token revoked")
	}
	return &c, nil
}

// bearer validates the request's bearer token.
func (s *Sandbox) bearer(r *http.Request) (*Claims, error) {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return nil, errors.New("missing bearer token")
	}
	c, err := s.Validate(strings.TrimPrefix(h, "Bearer "))
	if err == nil {
		s.mu.Lock()
		if _, seen := s.firstUse[c.ID]; !seen {
			s.firstUse[c.ID] = time.Now()
		}
		s.mu.Unlock()
	}
	return c, err
}

// FirstUses are the times each token (by its id, the jti claim) was first
// presented and accepted: with the time a token reached its Secret, how
// long the token took to reach the workloads that use it.
func (s *Sandbox) FirstUses() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.firstUse))
	for id, t := range s.firstUse {
		out[id] = t
	}
	return out
}

// authenticateClient implements every client authentication method of the
// generic token endpoint and returns the client and its certificate (for
// mTLS-bound tokens).
func (s *Sandbox) authenticateClient(r *http.Request, form url.Values) (Client, *x509.Certificate, error) {
	if user, pass, ok := r.BasicAuth(); ok {
		// Accept both the RFC 6749 form-encoded and the raw variant, as real
		// endpoints differ; the raw form is tried first.
		if c, ok := s.client(user); ok && c.Secret == pass {
			return c, nil, nil
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 == nil && err2 == nil {
			if c, ok := s.client(id); ok && c.Secret == secret {
				return c, nil, nil
			}
		}
		return Client{}, nil, errInvalidClient
	}
	id := form.Get("client_id")
	c, ok := s.client(id)
	if !ok {
		return Client{}, nil, errInvalidClient
	}
	switch {
	case form.Get("client_assertion") != "":
		if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return Client{}, nil, errInvalidClient
		}
		if err := s.verifyAssertion(form.Get("client_assertion"), id, s.url+r.URL.Path); err != nil {
			return Client{}, nil, err
		}
		return c, nil, nil
	case form.Has("client_secret"):
		if form.Get("client_secret") != c.Secret {
			return Client{}, nil, errInvalidClient
		}
		return c, nil, nil
	default:
		// tls_client_auth: the certificate is the credential.
		cert, err := s.verifyClientCert(r, id)
		if err != nil {
			return Client{}, nil, errInvalidClient
		}
		if cert.Subject.CommonName != id && !s.store.certificateRegistered(id, cert) {
			return Client{}, nil, errInvalidClient
		}
		return c, cert, nil
	}
}

var errInvalidClient = errors.New("invalid_client")

// verifyAssertion checks a private_key_jwt client assertion against the
// client's registered certificates.
func (s *Sandbox) verifyAssertion(raw, clientID, tokenURL string) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256})
	if err != nil {
		return errInvalidClient
	}
	for _, cert := range s.store.certificatesOf(clientID) {
		var c jwt.Claims
		if err := tok.Claims(cert.PublicKey, &c); err != nil {
			continue
		}
		if err := c.ValidateWithLeeway(jwt.Expected{Issuer: clientID, Subject: clientID,
			AnyAudience: jwt.Audience{tokenURL, s.url}, Time: time.Now()}, 30*time.Second); err != nil {
			return errInvalidClient
		}
		if c.ID == "" || c.Expiry == nil {
			return errInvalidClient
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, replay := s.seenJTI[c.ID]; replay {
			return errInvalidClient
		}
		s.seenJTI[c.ID] = c.Expiry.Time()
		return nil
	}
	return errInvalidClient
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// rawBasic reads Basic credentials without any unescaping.
func rawBasic(r *http.Request) (string, string, bool) {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Basic ") {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	if err != nil {
		return "", "", false
	}
	user, pass, ok := strings.Cut(string(b), ":")
	return user, pass, ok
}
