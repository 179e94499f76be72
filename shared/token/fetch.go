package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyport-dev/keyport/shared/outbound"
)

// Fetch requests a token. hc should come from outbound.NewClient, which
// applies TLS, mutual TLS and the outbound safety rules.
func Fetch(ctx context.Context, hc *http.Client, req Request) (*Token, error) {
	u, err := url.Parse(req.URL)
	if err != nil || u.Host == "" {
		return nil, &Error{Kind: KindRefused, Host: "(invalid URL)", Err: errors.New("the token URL is not an absolute URL")}
	}
	host := u.Host
	secrets := req.secrets()

	ctx, cancel := withTimeout(ctx, req.Timeout)
	defer cancel()
	httpReq, assertion, err := req.build(ctx, u)
	if err != nil {
		return nil, &Error{Kind: KindRefused, Host: host, Err: err}
	}
	if assertion != "" {
		secrets = append(secrets, assertion)
	}
	issued := req.now()
	resp, err := hc.Do(httpReq)
	if err != nil {
		return nil, transportError(host, scrubURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, outbound.MaxBodyBytes+1))
	if err == nil && ctx.Err() != nil {
		// The deadline cut the body off; whatever arrived is not the answer.
		err = ctx.Err()
	}
	if err != nil {
		return nil, transportError(host, fmt.Errorf("read response: %w", scrubURLError(err)))
	}
	if len(body) > outbound.MaxBodyBytes {
		return nil, &Error{Kind: KindMalformedResponse, Host: host, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("the response body is larger than %d bytes", outbound.MaxBodyBytes)}
	}
	return interpret(resp, body, issued, host, req, secrets)
}

// interpret turns a response into a token or a typed error.
func interpret(resp *http.Response, body []byte, issued time.Time, host string, req Request, secrets []string) (*Token, error) {
	status := resp.StatusCode
	if status < 200 || status > 299 {
		e := &Error{Host: host, StatusCode: status, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), req.now())}
		// Only the RFC 6749 error fields are read out of an error answer.
		if oe, err := parseErrorBody(body, secrets...); err == nil {
			e.ErrorCode, e.Description = oe.Error, oe.ErrorDescription
		} else if len(body) > 0 {
			e.Body = describeBody(resp, body)
		}
		e.Kind = kindForStatus(status, e.ErrorCode)
		if status >= 300 && status < 400 {
			e.Kind, e.Err = KindRefused, outbound.ErrRedirect
		}
		return nil, e
	}
	// A 2xx body is quoted nowhere, not even in part: an answer of an
	// unexpected shape ({"token": ...}, a form) holds a real token.
	malformed := func(err error) error {
		return &Error{Kind: KindMalformedResponse, Host: host, StatusCode: status, Err: err, Body: describeBody(resp, body)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mediaType, _, err := mime.ParseMediaType(ct); err != nil || !isJSONMediaType(mediaType) {
			// Some endpoints mislabel JSON; accept it if it parses, but a
			// labelled HTML page is a login or error page, and a form is
			// what some endpoints send a token as when not asked for JSON.
			switch mediaType {
			case "text/html":
				return nil, malformed(errors.New("the response is an HTML page, not JSON"))
			case "application/x-www-form-urlencoded":
				return nil, malformed(fmt.Errorf("%w: it is form-encoded", ErrNotJSON))
			}
		}
	}
	t, err := ParseResponse(body, issued, req.DefaultLifetime)
	if err != nil {
		if errors.Is(err, ErrNoExpiry) {
			return nil, &Error{Kind: KindUnknownLifetime, Host: host, StatusCode: status, Err: err}
		}
		return nil, malformed(err)
	}
	if len(req.APIHeaders) > 0 {
		t.Headers = maps.Clone(req.APIHeaders)
	}
	return t, nil
}

func isJSONMediaType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// build makes the HTTP request for the declared dialect. It returns the
// client assertion too, so that errors can redact it.
func (r *Request) build(ctx context.Context, u *url.URL) (*http.Request, string, error) {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	params := map[string]string{}
	maps.Copy(params, r.Params)
	if r.GrantType != GrantNone {
		params["grant_type"] = r.GrantType
	}
	if len(r.Scopes) > 0 {
		params["scope"] = strings.Join(r.Scopes, " ")
	}
	if r.GrantType == GrantPassword {
		params["username"], params["password"] = r.Username, r.Password
	}
	var assertion string
	switch r.ClientAuth {
	case ClientSecretPost:
		params["client_id"], params["client_secret"] = r.ClientID, r.ClientSecret
	case ClientSecretBasic, ClientSecretBasicRaw:
		// In the Authorization header, set below.
	case TLSClientAuth, NoClientAuth:
		params["client_id"] = r.ClientID
	case PrivateKeyJWT:
		a, err := r.signAssertion(u)
		if err != nil {
			return nil, "", err
		}
		assertion = a
		params["client_id"] = r.ClientID
		params["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
		params["client_assertion"] = a
	default:
		// Never fall back to some method: a request the platform half
		// accepts is harder to diagnose than this.
		return nil, "", fmt.Errorf("unknown client authentication %d", r.ClientAuth)
	}

	var body io.Reader
	contentType := ""
	switch r.Encoding {
	case Form:
		form := url.Values{}
		for k, v := range params {
			form.Set(k, v)
		}
		body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case JSON:
		b, err := json.Marshal(params)
		if err != nil {
			return nil, "", fmt.Errorf("encode JSON body: %w", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case NoBody:
		if len(params) > 0 && r.ClientAuth != ClientSecretBasic && r.ClientAuth != ClientSecretBasicRaw {
			return nil, "", errors.New("a request without a body cannot carry the client's parameters: use Basic authentication")
		}
	default:
		return nil, "", fmt.Errorf("unknown body encoding %d", r.Encoding)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, "", errors.New("build the token request")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "keyport")
	switch r.ClientAuth {
	case ClientSecretBasic:
		// RFC 6749 section 2.3.1: form-encode id and secret before Basic.
		req.SetBasicAuth(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret))
	case ClientSecretBasicRaw:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(r.ClientID+":"+r.ClientSecret)))
	}
	return req, assertion, nil
}

// secrets are the request's values that must never appear in an error,
// with the Basic credentials built from them (package redact finds the
// secrets' own encodings).
func (r *Request) secrets() []string {
	secrets := []string{r.ClientSecret, r.Password}
	if r.ClientSecret != "" {
		basic := func(id, secret string) string { return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret)) }
		secrets = append(secrets, basic(r.ClientID, r.ClientSecret), basic(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret)))
	}
	return secrets
}

// scrubURLError drops the URL from *url.Error: a URL may carry a query with
// a secret, and the host is already in *Error.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
