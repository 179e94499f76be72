package token

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/redact"
)

// Kind sorts failures by what a person (or a retry loop) should do next.
type Kind int

const (
	// KindUnreachable: the endpoint could not be reached or did not answer
	// in time. Retry.
	KindUnreachable Kind = iota + 1
	// KindInvalidCredentials: the endpoint refused the client or the user
	// (invalid_client, invalid_grant, unauthorized_client, 401). Retrying
	// does not help until the credentials change.
	KindInvalidCredentials
	// KindRateLimited: 429 or 503, usually with Retry-After. Retry later.
	KindRateLimited
	// KindServerError: 5xx other than 503 and 501. Retry.
	KindServerError
	// KindRejected: any other refusal (400 invalid_scope, 404, 501...).
	KindRejected
	// KindMalformedResponse: a success status with a body that is not a
	// usable token response. Retry, it may be a broken deployment.
	KindMalformedResponse
	// KindUnknownLifetime: no expires_in, no JWT exp and no default lifetime.
	KindUnknownLifetime
	// KindTLS: the server's certificate could not be verified. Never
	// retried automatically: it needs a CA bundle fix or is an attack.
	KindTLS
	// KindRefused: Keyport itself refused the call (plain http, a metadata
	// address, a redirect).
	KindRefused
)

var kindNames = map[Kind]string{
	KindUnreachable:        "Unreachable",
	KindInvalidCredentials: "InvalidCredentials",
	KindRateLimited:        "RateLimited",
	KindServerError:        "ServerError",
	KindRejected:           "Rejected",
	KindMalformedResponse:  "MalformedResponse",
	KindUnknownLifetime:    "UnknownLifetime",
	KindTLS:                "TLS",
	KindRefused:            "Refused",
}

func (k Kind) String() string { return kindNames[k] }

// Error is a failed token request. Like golang.org/x/oauth2's RetrieveError
// it carries the RFC 6749 section 5.2 error fields; inspect it with errors.As.
// Nothing in it is secret.
type Error struct {
	Kind Kind
	// Host is the endpoint's host:port.
	Host string
	// StatusCode is the HTTP status, 0 when there was no response.
	StatusCode int
	// ErrorCode and Description are the response's error and
	// error_description.
	ErrorCode   string
	Description string
	// RetryAfter is the endpoint's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Body describes an unusable body by its size and media type. It holds
	// none of it: a 2xx body is a token or was meant to be one, and any
	// body may be the answer of a service the URL should not point at.
	Body string
	// Err is the underlying cause, if any (already free of secrets).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "request token from %s: ", e.Host)
	switch {
	case e.ErrorCode != "":
		fmt.Fprintf(&b, "HTTP %d %s", e.StatusCode, e.ErrorCode)
		if e.Description != "" {
			fmt.Fprintf(&b, ": %s", e.Description)
		}
	case e.StatusCode != 0 && e.Kind != KindMalformedResponse:
		fmt.Fprintf(&b, "HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Err != nil {
		if e.ErrorCode != "" || (e.StatusCode != 0 && e.Kind != KindMalformedResponse) {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	if e.Body != "" {
		fmt.Fprintf(&b, " (body: %s)", e.Body)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again later may succeed. Certificate
// verification failures, refused calls and bad credentials are not.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindUnreachable, KindRateLimited, KindServerError, KindMalformedResponse:
		return true
	}
	return false
}

// KindOf returns the Kind of err, or 0 when err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// kindForStatus maps an HTTP error status and RFC 6749 error code.
func kindForStatus(status int, code string) Kind {
	switch code {
	case "invalid_client", "invalid_grant", "unauthorized_client", "access_denied":
		return KindInvalidCredentials
	case "temporarily_unavailable":
		return KindRateLimited
	case "server_error":
		return KindServerError
	}
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return KindInvalidCredentials
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return KindRateLimited
	case status == http.StatusNotImplemented:
		return KindRejected
	case status >= 500:
		return KindServerError
	}
	return KindRejected
}

// transportError classifies a failure before any response arrived.
func transportError(host string, err error) *Error {
	e := &Error{Host: host, Kind: KindUnreachable, Err: err}
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalidCert      x509.CertificateInvalidError
		hostnameErr      x509.HostnameError
		verifyErr        *tls.CertificateVerificationError
		recordErr        tls.RecordHeaderError
		alertErr         tls.AlertError
	)
	switch {
	case errors.Is(err, outbound.ErrRedirect), errors.Is(err, outbound.ErrForbiddenAddress),
		strings.Contains(err.Error(), "refusing"):
		e.Kind = KindRefused
	case errors.As(err, &unknownAuthority), errors.As(err, &invalidCert), errors.As(err, &hostnameErr),
		errors.As(err, &verifyErr):
		e.Kind = KindTLS
	case errors.Is(err, outbound.ErrNotHTTP):
		e.Kind = KindMalformedResponse
	case errors.As(err, &recordErr), errors.As(err, &alertErr),
		strings.Contains(err.Error(), "protocol version"):
		e.Kind = KindTLS
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		e.Err = fmt.Errorf("timed out: %w", err)
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// describeBody says what a body is without quoting any of it.
func describeBody(resp *http.Response, body []byte) string {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		return fmt.Sprintf("%d bytes without a Content-Type", len(body))
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("%d bytes with an unreadable Content-Type", len(body))
	}
	return fmt.Sprintf("%d bytes of %s", len(body), redact.Clip(mediaType, 64))
}
