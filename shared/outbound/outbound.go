// Package outbound builds the HTTP clients Keyport uses to reach partner
// platforms, with the safety rules of ARCHITECTURE §5 built in: TLS 1.2 at
// least, an optional custom CA bundle and client certificate, https only
// unless a resource opts out, no link-local or cloud-metadata targets unless
// allowed (checked on the resolved address when dialling, so DNS rebinding
// cannot get around it), no redirects, and a timeout on every call.
package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
	// AllowInsecureHTTP permits http:// URLs (local testing only).
	AllowInsecureHTTP bool
	// AllowLinkLocal permits link-local and cloud metadata addresses.
	AllowLinkLocal bool
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
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowLinkLocal {
		dialer.Control = refuseLinkLocal
	}
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
	allowHTTP := o.AllowInsecureHTTP
	return &http.Client{
		Timeout:   timeout,
		Transport: schemeGuard{allowHTTP: allowHTTP, next: transport},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}, nil
}

// schemeGuard refuses plain http unless allowed, on every request the client
// makes, so no caller can forget the check.
type schemeGuard struct {
	allowHTTP bool
	next      http.RoundTripper
}

func (g schemeGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := CheckURL(r.URL, g.allowHTTP); err != nil {
		return nil, err
	}
	return g.next.RoundTrip(r)
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
		return fmt.Errorf("refusing plain http:// to %s: use https://, or opt into plain HTTP for local testing", u.Host)
	}
	return fmt.Errorf("refusing URL scheme %q: only https:// is supported", u.Scheme)
}

// metadataAddresses are cloud metadata endpoints outside the link-local
// ranges.
var metadataAddresses = []netip.Addr{
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
}

// ErrForbiddenAddress is returned when a target resolves to a link-local or
// metadata address.
var ErrForbiddenAddress = errors.New("refusing to connect to a link-local or cloud metadata address")

// refuseLinkLocal runs after DNS resolution, on the address actually dialled.
func refuseLinkLocal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if IsForbidden(ip) {
		return fmt.Errorf("%w (%s)", ErrForbiddenAddress, ip)
	}
	return nil
}

// IsForbidden reports whether ip is link-local (169.254.0.0/16, fe80::/10,
// which hold most clouds' metadata services) or another metadata address.
func IsForbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
		return true
	}
	for _, m := range metadataAddresses {
		if ip == m {
			return true
		}
	}
	return false
}
