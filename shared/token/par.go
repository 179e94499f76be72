package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyport-dev/keyport/shared/outbound"
)

// FetchJWKS reads a JSON Web Key Set, such as a platform's jwks.json.
func FetchJWKS(ctx context.Context, hc *http.Client, jwksURL string) (*jose.JSONWebKeySet, error) {
	set, _, err := FetchJWKSCacheable(ctx, hc, jwksURL, time.Now())
	return set, err
}

// FetchJWKSCacheable reads a JSON Web Key Set, only its public keys, and
// how long the platform says it may be cached (Cache-Control max-age, or
// Expires; 0 when it says nothing or forbids caching).
func FetchJWKSCacheable(ctx context.Context, hc *http.Client, jwksURL string, now time.Time) (*jose.JSONWebKeySet, time.Duration, error) {
	u, err := url.Parse(jwksURL)
	if err != nil || u.Host == "" {
		return nil, 0, errors.New("the JWKS URL is not an absolute URL")
	}
	ctx, cancel := withTimeout(ctx, 0)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	var header http.Header
	body, status, err := doWithHeader(hc, req, &header)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS from %s: %w", u.Host, err)
	}
	if status != http.StatusOK {
		return nil, 0, fmt.Errorf("fetch JWKS from %s: HTTP %d", u.Host, status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS from %s: the response is not a JWK set", u.Host)
	}
	if len(set.Keys) == 0 {
		return nil, 0, fmt.Errorf("fetch JWKS from %s: the set holds no key", u.Host)
	}
	// A platform that published a private part by mistake must not have it
	// copied further.
	for i := range set.Keys {
		set.Keys[i] = set.Keys[i].Public()
	}
	return &set, cacheLifetime(header, now), nil
}

// cacheLifetime reads Cache-Control max-age (which wins) or Expires.
func cacheLifetime(h http.Header, now time.Time) time.Duration {
	for _, directive := range strings.Split(h.Get("Cache-Control"), ",") {
		d := strings.ToLower(strings.TrimSpace(directive))
		if d == "no-store" || d == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if secs, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64); err == nil && secs > 0 {
				return time.Duration(secs) * time.Second
			}
			return 0
		}
	}
	if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			now = date
		}
		if d := exp.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// PushedAuthorizationRequest is an RFC 9126 request, authenticated with a
// client assertion.
type PushedAuthorizationRequest struct {
	URL         string
	ClientID    string
	Scope       string
	RedirectURI string
	// Assertion signs the client_assertion; its Audience defaults to URL.
	Assertion Assertion
	// Params are further authorization request parameters; response_type
	// defaults to code.
	Params map[string]string
	// EncryptTo is the platform's encryption key (see EncryptionKey). When
	// set, the authorization parameters travel as a request object (RFC
	// 9101) signed with the assertion's key and encrypted to this key (JWE),
	// instead of as plain form fields.
	EncryptTo *jose.JSONWebKey
	// Issuer is the request object's audience, the platform's issuer
	// identifier. Default: the PAR URL's scheme and host.
	Issuer string
	// RequestObjectLifetime bounds the request object (default 60 s);
	// platforms do not let its request_uri outlive it.
	RequestObjectLifetime time.Duration
	Now                   func() time.Time
}

// EncryptionKey is the key of a platform's JWKS that request objects are
// encrypted to: the first public key marked "use": "enc", or nil.
func EncryptionKey(set *jose.JSONWebKeySet) *jose.JSONWebKey {
	if set == nil {
		return nil
	}
	for i := range set.Keys {
		k := set.Keys[i].Public()
		if set.Keys[i].Use == "enc" && k.Valid() {
			return &k
		}
	}
	return nil
}

// PushedAuthorizationResponse is the endpoint's answer.
type PushedAuthorizationResponse struct {
	RequestURI string
	ExpiresIn  time.Duration
}

// PushAuthorizationRequest sends a Pushed Authorization Request.
func PushAuthorizationRequest(ctx context.Context, hc *http.Client, par PushedAuthorizationRequest) (*PushedAuthorizationResponse, error) {
	u, err := url.Parse(par.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("the PAR URL is not an absolute URL")
	}
	now := time.Now
	if par.Now != nil {
		now = par.Now
	}
	audience := par.Assertion.Audience
	if audience == "" {
		audience = u.String()
	}
	assertion, err := SignAssertion(par.Assertion, par.ClientID, audience, now())
	if err != nil {
		return nil, err
	}
	params := map[string]string{"response_type": "code"}
	for k, v := range par.Params {
		params[k] = v
	}
	params["client_id"] = par.ClientID
	params["scope"] = par.Scope
	params["redirect_uri"] = par.RedirectURI
	form := url.Values{}
	if par.EncryptTo != nil {
		issuer := par.Issuer
		if issuer == "" {
			issuer = u.Scheme + "://" + u.Host
		}
		request, err := encryptedRequestObject(par, params, issuer, now())
		if err != nil {
			return nil, err
		}
		form.Set("client_id", par.ClientID)
		form.Set("request", request)
	} else {
		for k, v := range params {
			form.Set(k, v)
		}
	}
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)

	ctx, cancel := withTimeout(ctx, 0)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	body, status, err := do(hc, req)
	if err != nil {
		return nil, fmt.Errorf("push authorization request to %s: %w", u.Host, err)
	}
	if status != http.StatusCreated && status != http.StatusOK {
		msg := fmt.Sprintf("HTTP %d", status)
		if oe, err := parseErrorBody(body, assertion); err == nil {
			msg += " " + oe.Error + ": " + oe.ErrorDescription
		}
		return nil, fmt.Errorf("push authorization request to %s: %s", u.Host, msg)
	}
	var r struct {
		RequestURI string          `json:"request_uri"`
		ExpiresIn  json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.RequestURI == "" {
		return nil, fmt.Errorf("push authorization request to %s: the response has no request_uri", u.Host)
	}
	expiresIn, err := parseExpiresIn(r.ExpiresIn)
	if err != nil {
		return nil, fmt.Errorf("push authorization request to %s: %w", u.Host, err)
	}
	return &PushedAuthorizationResponse{RequestURI: r.RequestURI, ExpiresIn: expiresIn}, nil
}

// encryptedRequestObject signs the authorization parameters as a request
// object and encrypts it to the platform's key: a nested JWT (JWS in JWE).
func encryptedRequestObject(par PushedAuthorizationRequest, params map[string]string, issuer string, now time.Time) (string, error) {
	signer, err := assertionSigner(par.Assertion)
	if err != nil {
		return "", err
	}
	alg := jose.KeyAlgorithm(par.EncryptTo.Algorithm)
	if alg == "" {
		switch par.EncryptTo.Key.(type) {
		case *rsa.PublicKey:
			alg = jose.RSA_OAEP_256
		case *ecdsa.PublicKey:
			alg = jose.ECDH_ES
		default:
			return "", fmt.Errorf("the platform's encryption key is a %T, not an RSA or EC key", par.EncryptTo.Key)
		}
	}
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: alg, Key: par.EncryptTo.Key, KeyID: par.EncryptTo.KeyID},
		(&jose.EncrypterOptions{}).WithType("JWT").WithContentType("JWT"))
	if err != nil {
		return "", fmt.Errorf("prepare request object encryption: %w", err)
	}
	lifetime := par.RequestObjectLifetime
	if lifetime <= 0 {
		lifetime = time.Minute
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := map[string]any{
		"iss": par.ClientID, "aud": issuer, "jti": hex.EncodeToString(jti),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(),
	}
	for k, v := range params {
		claims[k] = v
	}
	obj, err := jwt.SignedAndEncrypted(signer, enc).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign and encrypt the request object: %w", err)
	}
	return obj, nil
}

// do sends a request and reads a size-limited body.
func do(hc *http.Client, req *http.Request) ([]byte, int, error) {
	return doWithHeader(hc, req, nil)
}

// doWithHeader is do that also hands back the response's header.
func doWithHeader(hc *http.Client, req *http.Request, header *http.Header) ([]byte, int, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, scrubURLError(err)
	}
	defer resp.Body.Close()
	if header != nil {
		*header = resp.Header
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, outbound.MaxBodyBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(body) > outbound.MaxBodyBytes {
		return nil, 0, fmt.Errorf("the response body is larger than %d bytes", outbound.MaxBodyBytes)
	}
	return body, resp.StatusCode, nil
}
