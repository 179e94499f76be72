package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signAssertion makes a private_key_jwt client assertion (RFC 7523 section 3):
// iss and sub are the client id, aud the token endpoint, with a unique jti
// and a short expiry.
func (r *Request) signAssertion(tokenURL *url.URL) (string, error) {
	a := r.Assertion
	audience := a.Audience
	if audience == "" {
		audience = tokenURL.String()
	}
	return SignAssertion(a, r.ClientID, audience, r.now())
}

// SignAssertion signs a client assertion for clientID and audience. It is
// also what a Pushed Authorization Request sends.
func SignAssertion(a Assertion, clientID, audience string, now time.Time) (string, error) {
	signer, err := assertionSigner(a)
	if err != nil {
		return "", err
	}
	lifetime := a.Lifetime
	if lifetime <= 0 {
		lifetime = time.Minute
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{audience},
		ID:       hex.EncodeToString(jti),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(lifetime)),
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return s, nil
}

// assertionSigner signs JWTs with the assertion's key, algorithm and key
// identifiers (kid, x5t#S256): client assertions and request objects alike.
func assertionSigner(a Assertion) (jose.Signer, error) {
	if a.Key == nil {
		return nil, errors.New("private_key_jwt needs a signing key: the client certificate's or a bare private key")
	}
	alg, err := algorithm(a)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if a.Certificate != nil {
		sum := sha256.Sum256(a.Certificate.Raw)
		opts = opts.WithHeader("x5t#S256", base64.RawURLEncoding.EncodeToString(sum[:]))
	}
	kid := a.KeyID
	if kid == "" && a.ThumbprintKeyID {
		if kid, err = KeyThumbprint(a.Key.Public()); err != nil {
			return nil, err
		}
	}
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: a.Key}, opts)
	if err != nil {
		return nil, fmt.Errorf("prepare assertion signer: %w", err)
	}
	return signer, nil
}

// KeyThumbprint is the RFC 7638 SHA-256 JWK thumbprint of a public key,
// base64url-encoded: the kid many servers register for a client's key.
func KeyThumbprint(pub crypto.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("JWK thumbprint of the assertion key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// algorithm picks the signing algorithm: the declared one if the key can do
// it, else the key type's natural one.
func algorithm(a Assertion) (jose.SignatureAlgorithm, error) {
	switch k := a.Key.Public().(type) {
	case *rsa.PublicKey:
		switch a.Algorithm {
		case "", "RS256":
			return jose.RS256, nil
		case "PS256":
			return jose.PS256, nil
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ES256 needs a P-256 key, the certificate has %s", k.Curve.Params().Name)
		}
		if a.Algorithm == "" || a.Algorithm == "ES256" {
			return jose.ES256, nil
		}
	default:
		return "", fmt.Errorf("a %T key cannot sign RS256, PS256 or ES256 assertions", k)
	}
	return "", fmt.Errorf("algorithm %s does not fit the certificate's key", a.Algorithm)
}
