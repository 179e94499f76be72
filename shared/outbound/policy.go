package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Policy is what outbound calls may reach. The URLs come from resources
// that tenants write, so the operator takes the Policy from its own flags,
// set by the cluster admin, and not from those resources.
//
// Refused unless allowed: loopback and unspecified addresses, link-local
// ranges, cloud metadata addresses, and Deny. An address is checked as
// dialled and, where it is an IPv6 form of an IPv4 address (IPv4-mapped,
// IPv4-compatible, NAT64, 6to4, Teredo), as that IPv4 address too. The
// narrowest range that holds an address decides; between ranges of the same
// size, the allowed one wins. So Allow 127.0.0.0/8 lifts the loopback
// refusal, Allow 169.254.0.0/16 lifts link-local but not the metadata
// addresses in it (each is a range of one), and Allow 10.0.0.0/8 does not
// lift Deny 10.244.0.0/16.
//
// The zero Policy refuses all of that and honours no resource's opt-out.
type Policy struct {
	// Deny adds ranges to the refused ones: the cluster's Pod and Service
	// ranges, so that a resource cannot make the operator call in-cluster
	// services and read their answers.
	Deny []netip.Prefix
	// Allow lifts refusals of ranges as wide as these or wider.
	Allow []netip.Prefix
	// HonourInsecureHTTP lets a resource's Options.AllowInsecureHTTP take
	// effect.
	HonourInsecureHTTP bool
	// HonourLinkLocal lets a resource's Options.AllowLinkLocal lift the
	// link-local refusal; never that of the metadata addresses.
	HonourLinkLocal bool
}

var defaultPolicy atomic.Pointer[Policy]

// SetDefaultPolicy sets the Policy of clients whose Options name none. The
// operator sets it from its flags before it makes any client.
func SetDefaultPolicy(p Policy) { defaultPolicy.Store(&p) }

// DefaultPolicy is the Policy of clients whose Options name none: the zero
// Policy until SetDefaultPolicy is called.
func DefaultPolicy() Policy {
	if p := defaultPolicy.Load(); p != nil {
		return *p
	}
	return Policy{}
}

// Loopback returns the loopback ranges, for Policy.Allow where the platform
// runs on the same machine: the sandbox in tests and demos, a port-forward.
func Loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// ParseRanges reads a comma-separated list of CIDR ranges; a bare address
// is a range of one.
func ParseRanges(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range such as 10.96.0.0/12", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ErrForbiddenAddress is returned when the dialled address is one the
// Policy refuses.
var ErrForbiddenAddress = errors.New("refusing to connect")

type refusedRange struct {
	prefix netip.Prefix
	why    string
}

func refused(why string, cidrs ...string) []refusedRange {
	out := make([]refusedRange, len(cidrs))
	for i, c := range cidrs {
		out[i] = refusedRange{netip.MustParsePrefix(c), why}
	}
	return out
}

// refusedByDefault is what no resource reaches unless the Policy allows it.
var refusedByDefault = concat(
	refused("a loopback address", "127.0.0.0/8", "::1/128"),
	refused("the unspecified address, which reaches this machine", "0.0.0.0/32", "::/128"),
	refused(linkLocalWhy, "169.254.0.0/16", "fe80::/10"),
	// Each a range of one, so that lifting link-local does not lift them.
	refused("a cloud metadata address",
		"169.254.169.254/32", // AWS, GCP, Azure, OpenStack, Oracle and most others
		"169.254.170.2/32",   // AWS ECS task credentials
		"169.254.170.23/32",  // AWS EKS Pod Identity
		"168.63.129.16/32",   // Azure wireserver
		"100.100.100.200/32", // Alibaba Cloud
		"192.0.0.192/32",     // Oracle Cloud
		"fd00:ec2::254/128",  // AWS over IPv6
		"fd00:ec2::23/128",   // AWS EKS Pod Identity over IPv6
		"fd20:ce::254/128"),  // GCP over IPv6
)

const linkLocalWhy = "a link-local address"

// linkLocal is what a resource's honoured AllowLinkLocal lifts.
var linkLocal = []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}

func concat(lists ...[]refusedRange) []refusedRange {
	var out []refusedRange
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// check runs as the dialer's Control hook, after DNS resolution, on the
// address actually dialled. linkLocalOptIn is the resource's AllowLinkLocal.
func (p Policy) check(address string, linkLocalOptIn bool) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	ip = ip.WithZone("").Unmap()
	allowLinkLocal := linkLocalOptIn && p.HonourLinkLocal
	why := p.refusal(ip, allowLinkLocal)
	if v4, ok := embeddedIPv4(ip); ok && why == "" {
		if why = p.refusal(v4, allowLinkLocal); why != "" {
			why = fmt.Sprintf("a form of %s, %s", v4, why)
		}
	}
	switch {
	case why == "":
		return nil
	case strings.HasSuffix(why, linkLocalWhy) && linkLocalOptIn && !allowLinkLocal:
		why += "; the operator does not let resources opt into link-local addresses"
	}
	return fmt.Errorf("%w to %s: %s", ErrForbiddenAddress, ip, why)
}

// refusal says why a is refused, or "" when it may be dialled.
func (p Policy) refusal(a netip.Addr, allowLinkLocal bool) string {
	bits, why := -1, ""
	consider := func(r netip.Prefix, reason string) {
		if r.Contains(a) && (r.Bits() > bits || r.Bits() == bits && reason == "") {
			bits, why = r.Bits(), reason
		}
	}
	for _, r := range refusedByDefault {
		consider(r.prefix, r.why)
	}
	for _, r := range p.Deny {
		consider(r, "in a range the operator refuses")
	}
	if allowLinkLocal {
		for _, r := range linkLocal {
			consider(r, "")
		}
	}
	for _, r := range p.Allow {
		consider(r, "")
	}
	return why
}

// embeddings are IPv6 ranges whose addresses carry an IPv4 address that a
// translator or a tunnel connects to, at byte offset at.
var embeddings = []struct {
	prefix netip.Prefix
	at     int
	invert bool
}{
	{netip.MustParsePrefix("::/96"), 12, false},          // IPv4-compatible (RFC 4291)
	{netip.MustParsePrefix("64:ff9b::/96"), 12, false},   // NAT64 well-known prefix (RFC 6052)
	{netip.MustParsePrefix("64:ff9b:1::/48"), 12, false}, // NAT64 local-use prefix (RFC 8215), as a /96
	{netip.MustParsePrefix("2002::/16"), 2, false},       // 6to4 (RFC 3056)
	{netip.MustParsePrefix("2001::/32"), 12, true},       // Teredo client (RFC 4380), bits inverted
}

// embeddedIPv4 returns the IPv4 address an IPv6 address stands for, if it
// is one of the forms above. IPv4-mapped addresses are unmapped before.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	for _, e := range embeddings {
		if e.prefix.Contains(ip) {
			var v4 [4]byte
			copy(v4[:], b[e.at:e.at+4])
			if e.invert {
				for i := range v4 {
					v4[i] ^= 0xff
				}
			}
			return netip.AddrFrom4(v4), true
		}
	}
	return netip.Addr{}, false
}

// ErrNotHTTP replaces transport errors that would quote the server's bytes.
var ErrNotHTTP = errors.New("the server did not answer with an HTTP response Keyport can read")

// scrub keeps a transport error that says what went wrong on the way (the
// network, TLS, a timeout, a refusal) and replaces any other: net/http's
// parse errors quote what the server sent (malformed HTTP response
// "<first line>"), and a URL that points at some other service must not
// read that service's answer into a status.
func scrub(err error) error {
	var (
		netErr    net.Error
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr), errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		errors.As(err, &authority), errors.As(err, &invalid), errors.As(err, &hostname),
		strings.HasPrefix(err.Error(), "tls: "),
		err.Error() == "http: server gave HTTP response to HTTPS client":
		return err
	}
	return ErrNotHTTP
}
