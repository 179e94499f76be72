// Package token obtains OAuth 2.0 access tokens from partner platforms in
// every dialect Keyport knows: form or JSON bodies, GET with Basic
// credentials, client secrets in the body or in Basic (RFC-encoded or raw),
// TLS client certificates (RFC 8705) and private_key_jwt assertions
// (RFC 7523). It also fetches JWKS documents and pushes authorization
// requests (RFC 9126).
//
// A workload that wants a token in a few lines:
//
//	hc, _ := outbound.NewClient(outbound.Options{})
//	tok, err := token.Fetch(ctx, hc, token.Request{
//		URL:          "https://login.example.com/oauth2/token",
//		GrantType:    token.GrantClientCredentials,
//		ClientAuth:   token.ClientSecretBasic,
//		ClientID:     id,
//		ClientSecret: secret,
//	})
//	req.Header.Set("Authorization", tok.Authorization())
//
// The HTTP client is passed in (build it with package outbound), so mutual
// TLS, CA bundles and the outbound safety rules are decided in one place.
// Errors never contain a secret: not the client secret, password, assertion
// or token. They quote no part of a successful response (one of an
// unexpected shape may hold a token), and of an error response only its
// RFC 6749 error and error_description, redacted.
package token

import (
	"context"
	"crypto"
	"crypto/x509"
	"time"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	// GrantNone sends no grant_type: the endpoint issues a token to the
	// authenticated client (the bank M2M API's GET with Basic credentials).
	GrantNone = ""
)

// ClientAuth is how the client authenticates to the token endpoint.
type ClientAuth int

const (
	// ClientSecretPost puts client_id and client_secret in the body.
	ClientSecretPost ClientAuth = iota
	// ClientSecretBasic sends HTTP Basic with id and secret form-encoded
	// first (RFC 6749 section 2.3.1).
	ClientSecretBasic
	// ClientSecretBasicRaw sends HTTP Basic with the raw id and secret, as
	// many providers expect.
	ClientSecretBasicRaw
	// TLSClientAuth relies on the TLS client certificate (RFC 8705) and sends
	// only client_id.
	TLSClientAuth
	// PrivateKeyJWT sends a signed client assertion (RFC 7523).
	PrivateKeyJWT
	// NoClientAuth sends only client_id.
	NoClientAuth
)

// Encoding of the request body.
type Encoding int

const (
	// Form is application/x-www-form-urlencoded.
	Form Encoding = iota
	// JSON is a JSON object with the same parameter names.
	JSON
	// NoBody sends no body, for GET token requests.
	NoBody
)

// Request declares one token request.
type Request struct {
	// URL of the token endpoint.
	URL string
	// Method is POST (default) or GET.
	Method   string
	Encoding Encoding
	// GrantType is GrantClientCredentials, GrantPassword or GrantNone.
	GrantType  string
	ClientAuth ClientAuth

	ClientID, ClientSecret string
	Username, Password     string

	Scopes []string
	// Params are extra parameters such as audience or resource.
	Params map[string]string

	// Assertion signs private_key_jwt assertions.
	Assertion Assertion

	// APIHeaders are static headers every API call with this token needs
	// (a subscription key, say). They are returned in Token.Headers; the
	// token request itself does not carry them.
	APIHeaders map[string]string

	// DefaultLifetime applies when the response has no expires_in and the
	// token is not a JWT with an exp claim.
	DefaultLifetime time.Duration

	// Timeout bounds the call even when ctx has no deadline. Default 15 s.
	Timeout time.Duration

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Assertion configures private_key_jwt.
type Assertion struct {
	// Key signs the assertion; Certificate (optional) adds x5t#S256.
	Key         crypto.Signer
	Certificate *x509.Certificate
	// Algorithm is RS256, PS256 or ES256; default from the key type.
	Algorithm string
	// Audience defaults to the token URL.
	Audience string
	// Lifetime of the assertion. Default 60 s.
	Lifetime time.Duration
	// KeyID is sent as the JWT header kid, which servers holding several
	// keys for a client use to pick the one that verifies. ThumbprintKeyID
	// sends the key's RFC 7638 SHA-256 JWK thumbprint instead.
	KeyID           string
	ThumbprintKeyID bool
}

// Token is an access token and what a request needs to use it.
type Token struct {
	AccessToken string
	// TokenType is the Authorization scheme, normalized ("Bearer").
	TokenType string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Headers are the static API headers from the Request.
	Headers map[string]string
	// ExpirySource says where ExpiresAt came from: "expires_in", "jwt exp"
	// or "default lifetime".
	ExpirySource string
}

// Authorization is the value of the Authorization header.
func (t *Token) Authorization() string {
	return t.TokenType + " " + t.AccessToken
}

// Lifetime is how long the token was issued for.
func (t *Token) Lifetime() time.Duration {
	return t.ExpiresAt.Sub(t.IssuedAt)
}

func (r *Request) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = 15 * time.Second
	}
	return context.WithTimeout(ctx, d)
}
