package outbound

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/certs/certstest"
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

func TestPlainHTTPIsRefusedUnlessOptedIn(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	if _, err := get(t, Options{}, srv.URL, nil); err == nil || !strings.Contains(err.Error(), "refusing plain http://") {
		t.Fatalf("want a refusal of plain http, got %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the plain-http request reached the server")
	}
	if status, err := get(t, Options{AllowInsecureHTTP: true}, srv.URL, nil); err != nil || status != http.StatusOK {
		t.Fatalf("opted in: %d %v", status, err)
	}
	if _, err := get(t, Options{AllowInsecureHTTP: true}, "ftp://127.0.0.1/x", nil); err == nil {
		t.Fatal("a non-HTTP scheme was accepted")
	}
}

func TestLinkLocalAndMetadataTargetsAreRefused(t *testing.T) {
	for _, url := range []string{"https://169.254.169.254/latest/meta-data/", "https://100.100.100.200/latest/meta-data/",
		"https://[fe80::1]/", "https://[fd00:ec2::254]/latest/meta-data/", "https://[::ffff:169.254.169.254]/", "http://169.254.169.254/"} {
		_, err := get(t, Options{AllowInsecureHTTP: strings.HasPrefix(url, "http:")}, url, nil)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: want ErrForbiddenAddress, got %v", url, err)
		}
	}
	// Opting in lets the dial proceed (and fail or not on its own).
	_, err := get(t, Options{AllowLinkLocal: true}, "https://169.254.169.254:1/", nil)
	if errors.Is(err, ErrForbiddenAddress) {
		t.Error("AllowLinkLocal did not lift the refusal")
	}
}

// TestTheCheckIsOnTheDialledAddress: the guard runs as the dialer's Control
// hook, which sees the address after DNS resolution, so a name that
// resolves (or is rebound) to a metadata address is refused just the same.
func TestTheCheckIsOnTheDialledAddress(t *testing.T) {
	for address, forbidden := range map[string]bool{
		"169.254.169.254:443":          true,
		"[fe80::1]:443":                true,
		"[::ffff:169.254.169.254]:443": true,
		"[fd00:ec2::254]:443":          true,
		"100.100.100.200:443":          true,
		"127.0.0.1:443":                false,
		"10.1.2.3:443":                 false,
		"[2001:db8::1]:443":            false,
	} {
		err := refuseLinkLocal("tcp", address, nil)
		if got := errors.Is(err, ErrForbiddenAddress); got != forbidden {
			t.Errorf("%s: forbidden=%v, want %v (err %v)", address, got, forbidden, err)
		}
	}
	if !IsForbidden(netip.MustParseAddr("ff02::1")) {
		t.Error("link-local multicast is allowed")
	}
}

func TestRedirectsAreNotFollowedWithCredentials(t *testing.T) {
	elsewhere, elsewhereCA, elsewhereHits := tlsServer(t, nil)
	redirector := httptest.NewUnstartedServer(http.RedirectHandler(elsewhere.URL+"/steal", http.StatusTemporaryRedirect))
	redirector.TLS = elsewhere.TLS
	redirector.StartTLS()
	defer redirector.Close()
	_, err := get(t, Options{CABundle: elsewhereCA.CertPEM()}, redirector.URL+"/token", http.Header{"Authorization": {"Bearer secret-value"}})
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("want ErrRedirect, got %v", err)
	}
	if elsewhereHits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestTLSBelow12IsRefused(t *testing.T) {
	srv, ca, hits := tlsServer(t, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 })
	if _, err := get(t, Options{CABundle: ca.CertPEM()}, srv.URL, nil); err == nil {
		t.Fatal("a TLS 1.1 server was accepted")
	}
	if hits.Load() != 0 {
		t.Fatal("a request went over TLS 1.1")
	}
}

func TestTheCABundleDecidesWhomToTrust(t *testing.T) {
	srv, ca, _ := tlsServer(t, nil)
	if status, err := get(t, Options{CABundle: ca.CertPEM()}, srv.URL, nil); err != nil || status != http.StatusOK {
		t.Fatalf("with the server's CA: %d %v", status, err)
	}
	other, _ := certstest.NewCA("some other CA")
	if _, err := get(t, Options{CABundle: other.CertPEM()}, srv.URL, nil); err == nil {
		t.Fatal("a server outside the CA bundle was trusted")
	}
	if _, err := get(t, Options{}, srv.URL, nil); err == nil {
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
	c, err := NewClient(Options{CABundle: serverCA.CertPEM(), ClientCertificate: func() (*tls.Certificate, error) {
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
	noCert, _ := NewClient(Options{CABundle: serverCA.CertPEM()})
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
	if _, err := get(t, Options{CABundle: ca.CertPEM(), Timeout: 300 * time.Millisecond}, srv.URL, nil); err == nil {
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
	c, err := NewClient(Options{CABundle: ca.CertPEM()})
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
