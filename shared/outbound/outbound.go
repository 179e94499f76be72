// Package outbound builds the HTTP clients Keyport uses to reach partner
// platforms, with its safety rules built in: TLS 1.2 at least, an optional
// custom CA bundle and client certificate, https only, no redirects, a
// timeout on every call, and a Policy on which addresses may be dialled
// (checked on the resolved address when dialling, so DNS rebinding cannot
// get around it). The URLs come from resources that tenants write; what
// they may reach is decided by whoever runs the process, through the
// Policy.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// DefaultTimeout bounds one whole call when Options.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// MaxBodyBytes is the largest response body Keyport reads from a platform.
const MaxBodyBytes = 1 << 20

// Options shape a client.
type Options struct {
	// CABundle, PEM, replaces the system roots when set.
	CABundle []byte
	// ClientCertificate returns the certificate for mutual TLS; it is called
	// for every handshake, so a rotated certificate is used without a new
	// client. Nil means no client certificate.
	ClientCertificate func() (*tls.Certificate, error)
	// AllowInsecureHTTP and AllowLinkLocal are a resource's own opt-outs
	// (plain http:// URLs; link-local addresses). They count only where
	// the Policy honours them: a tenant cannot lift the operator's rules.
	AllowInsecureHTTP bool
	AllowLinkLocal    bool
	// Policy decides which addresses may be dialled; nil means the
	// process's default (SetDefaultPolicy).
	Policy *Policy
	// Timeout bounds a whole call, body included. Default DefaultTimeout.
	Timeout time.Duration
}

// ErrRedirect is returned for any redirect: token requests carry
// credentials, which must never be replayed to wherever a response points.
var ErrRedirect = errors.New("the endpoint answered with a redirect, which Keyport does not follow with credentials")

// NewClient returns an HTTP client that applies the options. Each client has
// its own transport, so its connections (and client certificate) are not
// shared with other platforms.
func NewClient(o Options) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(o.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CABundle) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	if o.ClientCertificate != nil {
		get := o.ClientCertificate
		tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return get()
		}
	}
	policy := DefaultPolicy()
	if o.Policy != nil {
		policy = *o.Policy
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			return policy.check(address, o.AllowLinkLocal)
		}}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	guard := schemeGuard{allowHTTP: o.AllowInsecureHTTP && policy.HonourInsecureHTTP, next: transport}
	guard.refusedOptIn = o.AllowInsecureHTTP && !guard.allowHTTP
	return &http.Client{
		Timeout:   timeout,
		Transport: guard,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}, nil
}

// schemeGuard refuses plain http unless allowed, on every request the client
// makes, so no caller can forget the check; and it keeps what the server
// sent out of the errors it returns.
type schemeGuard struct {
	allowHTTP bool
	// refusedOptIn: the resource opted into plain http, the Policy did not
	// honour it; the refusal says so.
	refusedOptIn bool
	next         http.RoundTripper
}

func (g schemeGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := CheckURL(r.URL, g.allowHTTP); err != nil {
		if g.refusedOptIn {
			err = fmt.Errorf("%w; the operator does not let resources opt into plain HTTP", err)
		}
		return nil, err
	}
	resp, err := g.next.RoundTrip(r)
	if cause := context.Cause(r.Context()); err != nil && (cause == nil || !errors.Is(err, cause)) {
		// A call its caller ended keeps the caller's reason; any other
		// error is checked for what the server sent.
		err = scrub(err)
	}
	return resp, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport, so callers can force new handshakes (after a certificate
// rotation, say).
func (g schemeGuard) CloseIdleConnections() {
	if c, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// CheckURL accepts https URLs, and http URLs when allowHTTP is set.
func CheckURL(u *url.URL, allowHTTP bool) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowHTTP:
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("refusing plain http:// to %s: use https://", u.Host)
	}
	return fmt.Errorf("refusing URL scheme %q: only https:// is supported", u.Scheme)
}
