package outbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// tlsServer is an HTTPS server on loopback with a certificate from its own
// CA; it answers 200 and counts requests.
func tlsServer(t *testing.T, configure func(*tls.Config)) (*httptest.Server, *certstest.CA, *atomic.Int32) {
	t.Helper()
	ca, err := certstest.NewCA("server CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("127.0.0.1", certstest.Options{Server: true})
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
	if configure != nil {
		configure(srv.TLS)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, ca, &hits
}

func get(t *testing.T, o Options, url string, header http.Header) (int, error) {
	t.Helper()
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// local lets tests reach their servers on loopback, as the operator's
// --outbound-allow-cidrs does for the sandbox.
var local = &Policy{Allow: Loopback()}

func TestPlainHTTPIsRefusedUnlessOptedIn(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	if _, err := get(t, Options{Policy: local}, srv.URL, nil); err == nil || !strings.Contains(err.Error(), "refusing plain http://") {
		t.Fatalf("want a refusal of plain http, got %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the plain-http request reached the server")
	}
	honoured := &Policy{Allow: Loopback(), HonourInsecureHTTP: true}
	if status, err := get(t, Options{AllowInsecureHTTP: true, Policy: honoured}, srv.URL, nil); err != nil || status != http.StatusOK {
		t.Fatalf("opted in: %d %v", status, err)
	}
	if _, err := get(t, Options{AllowInsecureHTTP: true, Policy: honoured}, "ftp://127.0.0.1/x", nil); err == nil {
		t.Fatal("a non-HTTP scheme was accepted")
	}
}

// TestEveryFormOfAnInternalAddressIsRefusedByDefault dials each address
// with the default Policy: loopback, link-local and the metadata services
// in every encoding that reaches them are refused before a connection is
// made. The loopback cases dial a real listener, which must see nothing.
func TestEveryFormOfAnInternalAddressIsRefusedByDefault(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tc := range []struct{ name, host string }{
		{"loopback", "127.0.0.1"},
		{"loopback, another address of 127/8", "127.0.0.2"},
		{"the unspecified address, which Linux connects to this machine", "0.0.0.0"},
		{"loopback, IPv4-mapped", "[::ffff:127.0.0.1]"},
		{"IPv6 loopback", "[::1]"},
		{"IPv6 unspecified", "[::]"},
		{"loopback as 6to4", "[2002:7f00:1::1]"},
		{"the metadata service", "169.254.169.254"},
		{"the metadata service, IPv4-mapped", "[::ffff:169.254.169.254]"},
		{"the metadata service, IPv4-mapped in hex", "[::ffff:a9fe:a9fe]"},
		{"the metadata service, IPv4-compatible", "[::169.254.169.254]"},
		{"the metadata service through NAT64", "[64:ff9b::169.254.169.254]"},
		{"the metadata service through a local-use NAT64 prefix", "[64:ff9b:1::a9fe:a9fe]"},
		{"the metadata service as 6to4", "[2002:a9fe:a9fe::1]"},
		{"the metadata service as a Teredo client", "[2001:0:4136:e378:8000:63bf:5601:5601]"},
		{"AWS ECS task credentials", "169.254.170.2"},
		{"AWS over IPv6", "[fd00:ec2::254]"},
		{"GCP over IPv6", "[fd20:ce::254]"},
		{"the Azure wireserver", "168.63.129.16"},
		{"the Azure wireserver through NAT64", "[64:ff9b::a83f:8110]"},
		{"the Azure wireserver, IPv4-mapped", "[::ffff:168.63.129.16]"},
		{"the Oracle Cloud metadata service", "192.0.0.192"},
		{"the Oracle Cloud metadata service as 6to4", "[2002:c000:c0::1]"},
		{"Alibaba Cloud's metadata service", "100.100.100.200"},
		{"IPv6 link-local", "[fe80::1]"},
		{"link-local", "169.254.1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := get(t, Options{Timeout: 2 * time.Second}, "https://"+tc.host+":"+port+"/", nil)
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Errorf("%s: want ErrForbiddenAddress, got %v", tc.host, err)
			}
		})
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the listener on loopback saw %d connections", n)
	}
}

// TestTheAdminDecidesWhatIsReached: the Policy's Allow lifts the default
// refusals (the listener is reached, in every form of its address), Deny
// adds the cluster's ranges, and the narrowest range decides.
func TestTheAdminDecidesWhatIsReached(t *testing.T) {
	srv, ca, hits := tlsServer(t, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]"} {
		if status, err := get(t, Options{CABundle: ca.CertPEM(), Policy: local}, "https://"+host+":"+port+"/", nil); err != nil || status != http.StatusOK {
			t.Errorf("%s with loopback allowed: %d %v", host, status, err)
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("the server saw %d requests, want 2", hits.Load())
	}
	denyListener := &Policy{Allow: Loopback(), Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	if _, err := get(t, Options{CABundle: ca.CertPEM(), Policy: denyListener}, srv.URL, nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("a denied /32 inside an allowed /8: want ErrForbiddenAddress, got %v", err)
	}

	serviceRange := netip.MustParsePrefix("10.96.0.0/12")
	for _, tc := range []struct {
		policy  Policy
		address string
		refused bool
	}{
		{Policy{Deny: []netip.Prefix{serviceRange}}, "10.96.0.1:443", true},
		{Policy{Deny: []netip.Prefix{serviceRange}}, "[::ffff:10.96.0.1]:443", true},
		{Policy{Deny: []netip.Prefix{serviceRange}}, "[64:ff9b::a60:1]:443", true},
		{Policy{Deny: []netip.Prefix{serviceRange}}, "10.112.0.1:443", false},
		{Policy{}, "10.96.0.1:443", false},
		{Policy{}, "198.18.0.2:443", false},
		{Policy{}, "[2001:db8::1]:443", false},
		{Policy{}, "[64:ff9b::8.8.8.8]:443", false},
		{Policy{Deny: []netip.Prefix{serviceRange}, Allow: []netip.Prefix{netip.MustParsePrefix("10.96.5.0/24")}}, "10.96.5.7:443", false},
		{Policy{Deny: []netip.Prefix{serviceRange}, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "10.96.5.7:443", true},
		{Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}, "169.254.1.1:443", false},
		{Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}, "169.254.169.254:443", true},
		{Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}, "169.254.169.254:443", false},
		{Policy{Allow: []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96")}}, "[64:ff9b::a9fe:a9fe]:443", true},
	} {
		err := tc.policy.check(tc.address, false)
		if got := errors.Is(err, ErrForbiddenAddress); got != tc.refused {
			t.Errorf("%+v, %s: refused=%v, want %v (%v)", tc.policy, tc.address, got, tc.refused, err)
		}
	}
}

// TestAResourceOptOutCountsOnlyWhereThePolicyHonoursIt: allowInsecureHTTP
// and allowLinkLocal are written by tenants; by default they change nothing.
func TestAResourceOptOutCountsOnlyWhereThePolicyHonoursIt(t *testing.T) {
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer plain.Close()
	_, err := get(t, Options{AllowInsecureHTTP: true}, plain.URL, nil)
	if err == nil || !strings.Contains(err.Error(), "refusing plain http://") {
		t.Errorf("a resource's own opt-in to plain HTTP: want the scheme refused, got %v", err)
	}
	_, err = get(t, Options{AllowLinkLocal: true, Timeout: 2 * time.Second}, "https://169.254.10.10:1/", nil)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("a resource's own opt-in to link-local: want ErrForbiddenAddress, got %v", err)
	}
	_, err = get(t, Options{AllowLinkLocal: true, Timeout: 2 * time.Second}, "https://169.254.169.254/latest/meta-data/", nil)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("a resource's own opt-in reached the metadata service: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the plain-http request reached the server")
	}
}

func TestAnHonouredOptOutLiftsLinkLocalButNeverMetadata(t *testing.T) {
	honoured := &Policy{HonourLinkLocal: true}
	_, err := get(t, Options{AllowLinkLocal: true, Policy: honoured, Timeout: time.Second}, "https://169.254.10.10:1/", nil)
	if errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("an honoured opt-in did not lift the link-local refusal: %v", err)
	}
	for _, url := range []string{"https://169.254.169.254/", "https://[fd00:ec2::254]/", "https://[::ffff:169.254.169.254]/"} {
		if _, err := get(t, Options{AllowLinkLocal: true, Policy: honoured}, url, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s with an honoured link-local opt-in: want ErrForbiddenAddress, got %v", url, err)
		}
	}
	if _, err := get(t, Options{AllowLinkLocal: true, Policy: &Policy{}}, "https://169.254.10.10/", nil); err == nil ||
		!strings.Contains(err.Error(), "does not let resources opt into link-local") {
		t.Errorf("a refused opt-in does not say why: %v", err)
	}
}

// TestAnAnswerThatIsNotHTTPIsNotQuoted: whatever a URL points at, what it
// sends does not reach an error (net/http quotes the first line of an
// answer it cannot parse).
func TestAnAnswerThatIsNotHTTPIsNotQuoted(t *testing.T) {
	const banner = "SSH-2.0-internal-secret-banner"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, banner+"\r\n\r\n")
			c.Close()
		}
	}()
	honoured := &Policy{Allow: Loopback(), HonourInsecureHTTP: true}
	_, err = get(t, Options{AllowInsecureHTTP: true, Policy: honoured}, "http://"+l.Addr().String()+"/", nil)
	if err == nil || strings.Contains(err.Error(), "internal-secret") {
		t.Fatalf("want an error that does not quote the answer, got %v", err)
	}
	if !errors.Is(err, ErrNotHTTP) {
		t.Errorf("want ErrNotHTTP, got %v", err)
	}
}

func TestRangesParse(t *testing.T) {
	got, err := ParseRanges(" 10.96.0.0/12, 10.244.1.7/16,fd00::/8,192.0.2.1,::ffff:10.0.0.0/104")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.96.0.0/12", "10.244.0.0/16", "fd00::/8", "192.0.2.1/32", "10.0.0.0/8"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseRanges = %v, want %v", got, want)
	}
	if _, err := ParseRanges("10.0.0.0/33"); err == nil {
		t.Error("an invalid range was accepted")
	}
	if got, err := ParseRanges(""); err != nil || len(got) != 0 {
		t.Errorf("an empty list: %v %v", got, err)
	}
}

func TestRedirectsAreNotFollowedWithCredentials(t *testing.T) {
	elsewhere, elsewhereCA, elsewhereHits := tlsServer(t, nil)
	redirector := httptest.NewUnstartedServer(http.RedirectHandler(elsewhere.URL+"/steal", http.StatusTemporaryRedirect))
	redirector.TLS = elsewhere.TLS
	redirector.StartTLS()
	defer redirector.Close()
	_, err := get(t, Options{CABundle: elsewhereCA.CertPEM(), Policy: local}, redirector.URL+"/token", http.Header{"Authorization": {"Bearer secret-value"}})
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("want ErrRedirect, got %v", err)
	}
	if elsewhereHits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestTLSBelow12IsRefused(t *testing.T) {
	srv, ca, hits := tlsServer(t, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 })
	if _, err := get(t, Options{CABundle: ca.CertPEM(), Policy: local}, srv.URL, nil); err == nil {
		t.Fatal("a TLS 1.1 server was accepted")
	}
	if hits.Load() != 0 {
		t.Fatal("a request went over TLS 1.1")
	}
}

func TestTheCABundleDecidesWhomToTrust(t *testing.T) {
	srv, ca, _ := tlsServer(t, nil)
	if status, err := get(t, Options{CABundle: ca.CertPEM(), Policy: local}, srv.URL, nil); err != nil || status != http.StatusOK {
		t.Fatalf("with the server's CA: %d %v", status, err)
	}
	other, _ := certstest.NewCA("some other CA")
	if _, err := get(t, Options{CABundle: other.CertPEM(), Policy: local}, srv.URL, nil); err == nil {
		t.Fatal("a server outside the CA bundle was trusted")
	}
	if _, err := get(t, Options{Policy: local}, srv.URL, nil); err == nil {
		t.Fatal("a private CA was trusted through the system roots")
	}
	if _, err := NewClient(Options{CABundle: []byte("not PEM")}); err == nil {
		t.Fatal("a CA bundle without certificates was accepted")
	}
}

// TestTheClientCertificateIsAskedForOnEveryHandshake: mutual TLS works, and
// a rotated certificate is used for the next connection without a new
// client.
func TestTheClientCertificateIsAskedForOnEveryHandshake(t *testing.T) {
	clientCA, _ := certstest.NewCA("client CA")
	srv, serverCA, _ := tlsServer(t, func(c *tls.Config) {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = clientCA.Pool()
	})
	first, _ := clientCA.Issue("client-1", certstest.Options{})
	second, _ := clientCA.Issue("client-2", certstest.Options{})
	var current atomic.Pointer[tls.Certificate]
	cert := first.TLS()
	current.Store(&cert)
	var asked atomic.Int32
	c, err := NewClient(Options{CABundle: serverCA.CertPEM(), Policy: local, ClientCertificate: func() (*tls.Certificate, error) {
		asked.Add(1)
		return current.Load(), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	call := func() {
		t.Helper()
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	call()
	cert2 := second.TLS()
	current.Store(&cert2)
	c.CloseIdleConnections()
	call()
	if asked.Load() != 2 {
		t.Fatalf("the certificate was asked for %d times over two handshakes", asked.Load())
	}
	noCert, _ := NewClient(Options{CABundle: serverCA.CertPEM(), Policy: local})
	if resp, err := noCert.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("a server requiring mutual TLS accepted a client without a certificate")
	}
}

// TestProxySettingsDoNotBypassTheGuard: the transport ignores HTTPS_PROXY.
// Were it to honour it, the guard would check the proxy's address and the
// proxy would then connect to the metadata service on Keyport's behalf.
// http.ProxyFromEnvironment reads the environment once per process, so the
// behavioural half below only bites when it runs first; the structural half
// (no Proxy on the transport) holds whatever the order.
func TestProxySettingsDoNotBypassTheGuard(t *testing.T) {
	c, err := NewClient(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr := c.Transport.(schemeGuard).next.(*http.Transport); tr.Proxy != nil || tr.DialTLSContext != nil {
		t.Fatal("the transport uses a proxy or a dialler the link-local guard does not see")
	}
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	_, err = get(t, Options{}, "https://169.254.169.254/latest/meta-data/", nil)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("want ErrForbiddenAddress, got %v", err)
	}
	if proxied.Load() != 0 {
		t.Error("the request went through the proxy from the environment")
	}
}

// TestEveryCallHasATimeout: a server that never answers does not hold a
// call past Options.Timeout, and a zero Timeout means DefaultTimeout.
func TestEveryCallHasATimeout(t *testing.T) {
	release := make(chan struct{})
	srv, ca, _ := tlsServer(t, nil)
	srv.Config.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	start := time.Now()
	if _, err := get(t, Options{CABundle: ca.CertPEM(), Policy: local, Timeout: 300 * time.Millisecond}, srv.URL, nil); err == nil {
		t.Fatal("a server that never answers answered")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the call took %v with a 300ms timeout", took)
	}
	c, err := NewClient(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != DefaultTimeout {
		t.Fatalf("default timeout %v, want %v", c.Timeout, DefaultTimeout)
	}
}

// TestTheClientDoesNotCapBodies documents where MaxBodyBytes is enforced:
// not here but by every reader of a response (shared/token's Fetch, the PAR
// and JWKS calls; shared/drivers' Conn.Do reads at most 1 MiB), tested in
// shared/token's hostile endpoint tests. The client hands the body over as
// is, so the cap is the caller's job.
func TestTheClientDoesNotCapBodies(t *testing.T) {
	srv, ca, _ := tlsServer(t, nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(make([]byte, MaxBodyBytes+10))
	})
	c, err := NewClient(Options{CABundle: ca.CertPEM(), Policy: local})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil || n != MaxBodyBytes+1 {
		t.Fatalf("read %d bytes (%v); a caller reading MaxBodyBytes+1 must be able to tell the body is too large", n, err)
	}
}
