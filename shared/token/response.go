package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/keyport-dev/keyport/shared/redact"
)

// MaxLifetime is the longest lifetime Keyport believes; anything longer is
// a broken response, not a token to keep for years.
const MaxLifetime = 366 * 24 * time.Hour

// Parse errors, wrapped in *Error by Fetch.
var (
	ErrNotJSON          = errors.New("the response is not a JSON object")
	ErrNoAccessToken    = errors.New("the response has no usable access_token")
	ErrBadExpiresIn     = errors.New("the response's expires_in is not a positive number of seconds")
	ErrAbsurdLifetime   = errors.New("the response's token lifetime is longer than a year")
	ErrNoExpiry         = errors.New("the token's lifetime is unknown: the response has no expires_in, the token is not a JWT with exp, and no default lifetime is declared")
	ErrAlreadyExpired   = errors.New("the token is already expired")
	ErrUnsupportedType  = errors.New("the response's token_type is not a usable Authorization scheme")
	errNotAnErrorObject = errors.New("not an error object")
)

// response is a token response. Fields unknown to Keyport are ignored.
type response struct {
	AccessToken json.RawMessage `json:"access_token"`
	TokenType   json.RawMessage `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// ParseResponse reads a successful token response body. issued is when the
// request was sent (a token's life starts no later than that), and
// defaultLifetime applies when neither expires_in nor a JWT exp says more.
func ParseResponse(body []byte, issued time.Time, defaultLifetime time.Duration) (*Token, error) {
	// Errors say what is wrong with the shape, never what the body holds.
	var r response
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil || dec.More() {
		if json.Valid(body) {
			return nil, fmt.Errorf("%w: it is a JSON %s", ErrNotJSON, jsonType(body))
		}
		return nil, ErrNotJSON
	}
	var access string
	switch {
	case len(r.AccessToken) == 0 || string(r.AccessToken) == "null":
		return nil, fmt.Errorf("%w: the field is missing", ErrNoAccessToken)
	case json.Unmarshal(r.AccessToken, &access) != nil:
		return nil, fmt.Errorf("%w: it is a JSON %s, not a string", ErrNoAccessToken, jsonType(r.AccessToken))
	case strings.TrimSpace(access) == "":
		return nil, fmt.Errorf("%w: it is empty", ErrNoAccessToken)
	case strings.ContainsAny(access, " \t\r\n"):
		return nil, fmt.Errorf("%w: it holds whitespace", ErrNoAccessToken)
	}
	tokenType, err := parseTokenType(r.TokenType)
	if err != nil {
		return nil, err
	}
	t := &Token{AccessToken: access, TokenType: tokenType, IssuedAt: issued}
	switch {
	case len(r.ExpiresIn) > 0 && string(r.ExpiresIn) != "null":
		lifetime, err := parseExpiresIn(r.ExpiresIn)
		if err != nil {
			return nil, err
		}
		t.ExpiresAt, t.ExpirySource = issued.Add(lifetime), "expires_in"
	default:
		if exp, ok := jwtExpiry(access); ok {
			if !exp.After(issued) {
				return nil, ErrAlreadyExpired
			}
			if exp.Sub(issued) > MaxLifetime {
				return nil, ErrAbsurdLifetime
			}
			t.ExpiresAt, t.ExpirySource = exp, "jwt exp"
		} else if defaultLifetime > 0 {
			t.ExpiresAt, t.ExpirySource = issued.Add(defaultLifetime), "default lifetime"
		} else {
			return nil, ErrNoExpiry
		}
	}
	return t, nil
}

// parseExpiresIn accepts a number, a decimal, or either as a string ("300",
// 3599.0, "3599.5"), as real endpoints send all of them.
func parseExpiresIn(raw json.RawMessage) (time.Duration, error) {
	s := string(raw)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, ErrBadExpiresIn
		}
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs <= 0 {
		return 0, ErrBadExpiresIn
	}
	if secs > MaxLifetime.Seconds() {
		return 0, ErrAbsurdLifetime
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// parseTokenType defaults to Bearer and normalizes its case; other schemes
// (DPoP, MAC) are kept as the server spelled them.
func parseTokenType(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "Bearer", nil
	}
	var tt string
	if err := json.Unmarshal(raw, &tt); err != nil {
		return "", ErrUnsupportedType
	}
	tt = strings.TrimSpace(tt)
	switch {
	case tt == "":
		return "Bearer", nil
	case strings.EqualFold(tt, "bearer"):
		return "Bearer", nil
	case strings.ContainsAny(tt, " \t\r\n\","):
		return "", ErrUnsupportedType
	}
	return tt, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it: the token is
// the client's own, only its lifetime is wanted here.
func jwtExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 || exp > float64(math.MaxInt32)*4 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(exp)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// jsonType names the type of a JSON value.
func jsonType(raw []byte) string {
	switch v := bytes.TrimSpace(raw); {
	case len(v) == 0:
		return "nothing"
	case v[0] == '{':
		return "object"
	case v[0] == '[':
		return "array"
	case v[0] == '"':
		return "string"
	case v[0] == 't' || v[0] == 'f':
		return "boolean"
	case v[0] == 'n':
		return "null"
	}
	return "number"
}

// errorResponse is an RFC 6749 section 5.2 error body: the fields error and
// error_description.
type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// parseErrorBody reads an RFC 6749 error body, if the body is one, and
// returns its fields redacted of secrets and short.
func parseErrorBody(body []byte, secrets ...string) (errorResponse, error) {
	var e errorResponse
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		return e, errNotAnErrorObject
	}
	// error is ASCII per RFC 6749; keep it and the description short.
	e.Error = redact.Clip(e.Error, 64, secrets...)
	e.ErrorDescription = redact.Clip(e.ErrorDescription, 200, secrets...)
	return e, nil
}
