package restdriver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// platform is a management API on loopback HTTPS whose handler a test
// writes; it records each request as "METHOD path?query" and the bodies.
type platform struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []string
	bodies   []string
}

func newPlatform(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body string)) *platform {
	p := &platform{}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.requests = append(p.requests, r.Method+" "+r.URL.RequestURI())
		p.bodies = append(p.bodies, string(body))
		p.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer platform-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r, string(body))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) conn(params map[string]string) drivers.Conn {
	return drivers.Conn{BaseURL: p.srv.URL + "/api", HTTP: p.srv.Client(), Parameters: params,
		Token: tokensecret.Token{AccessToken: "platform-token", TokenType: "Bearer"}}
}

func (p *platform) sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// leafAndChain is a client certificate with its intermediate, as PEM, and
// the leaf's thumbprint.
func leafAndChain(t *testing.T) ([]byte, string) {
	t.Helper()
	root, err := certstest.NewCA("platform root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate("platform intermediate")
	if err != nil {
		t.Fatal(err)
	}
	c, err := inter.Issue("client", certstest.Options{NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pem := c.CertPEM()
	list, err := certs.DecodeCertificatesPEM(pem)
	if err != nil || len(list) < 2 {
		t.Fatalf("the test certificate has %d certificates (%v), want a leaf and its chain", len(list), err)
	}
	return pem, certs.Thumbprint(list[0])
}

// TestCertificatesAreRegisteredByConfiguration registers a certificate at
// a platform whose API has its own shape, described only by parameters:
// the registration body carries the chain and the thumbprint, and a
// certificate the platform already has (on the second page of its list,
// its thumbprint in lower case with colons) is not registered again.
func TestCertificatesAreRegisteredByConfiguration(t *testing.T) {
	pem, thumb := leafAndChain(t)
	var (
		mu         sync.Mutex
		registered []map[string]string
	)
	p := newPlatform(t, func(w http.ResponseWriter, r *http.Request, body string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path != "/api/partners/me/certs":
			w.WriteHeader(http.StatusNotFound)
		case r.Method == http.MethodGet && r.URL.Query().Get("cursor") == "":
			_, _ = io.WriteString(w, `{"data":{"certs":[{"uid":"other","fingerprint":"00:11"}]},"paging":{"cursor":"2"}}`)
		case r.Method == http.MethodGet:
			var items []string
			for _, reg := range registered {
				items = append(items, `{"uid":"`+reg["uid"]+`","fingerprint":"`+colons(strings.ToLower(reg["thumbprint"]))+`"}`)
			}
			_, _ = io.WriteString(w, `{"data":{"certs":[`+strings.Join(items, ",")+`]}}`)
		case r.Method == http.MethodPut:
			var reg map[string]string
			if err := json.Unmarshal([]byte(body), &reg); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			reg["uid"] = "crt-7"
			registered = append(registered, reg)
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"uid":"crt-7"}`)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	conn := p.conn(map[string]string{
		"certificates.path":           "/partners/me/certs",
		"certificates.createMethod":   "PUT",
		"certificates.body":           `{"certificate":{{json .PEM}},"thumbprint":{{json .Thumbprint}}}`,
		"certificates.idPath":         "uid",
		"certificates.itemsPath":      "data.certs",
		"certificates.pageTokenPath":  "paging.cursor",
		"certificates.pageTokenParam": "cursor",
		"certificates.thumbprintPath": "fingerprint",
	})

	id, err := Driver{}.RegisterCertificate(context.Background(), conn, pem)
	if err != nil || id != "crt-7" {
		t.Fatalf("registered as %q (%v), want crt-7; requests %v", id, err, p.sent())
	}
	if len(registered) != 1 || registered[0]["certificate"] != string(pem) || registered[0]["thumbprint"] != thumb {
		t.Fatalf("the platform received %v, want the whole chain and the leaf's thumbprint %s", registered, thumb)
	}
	before := len(p.sent())
	id, err = Driver{}.RegisterCertificate(context.Background(), conn, pem)
	if err != nil || id != "crt-7" || len(registered) != 1 {
		t.Fatalf("the second registration returned %q (%v) and the platform holds %d, want crt-7 found in the list", id, err, len(registered))
	}
	if got := p.sent()[before:]; len(got) != 2 || got[1] != "GET /api/partners/me/certs?cursor=2" {
		t.Errorf("the second registration sent %v, want the two pages of the list and nothing else", got)
	}
}

// TestCertificateDefaultsFitAConventionalAPI: without parameters the
// driver lists GET /management/v1/certificates and registers with POST
// {"pem": ...}, reading id and thumbprint.
func TestCertificateDefaultsFitAConventionalAPI(t *testing.T) {
	pem, thumb := leafAndChain(t)
	p := newPlatform(t, func(w http.ResponseWriter, r *http.Request, body string) {
		switch r.Method + " " + r.URL.Path {
		case "GET /api/management/v1/certificates":
			_, _ = io.WriteString(w, `{"items":[{"id":"cert-0","thumbprint":"AAAA"}]}`)
		case "POST /api/management/v1/certificates":
			var reg struct{ PEM string }
			if json.Unmarshal([]byte(body), &reg) != nil || reg.PEM != string(pem) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				return
			}
			_, _ = io.WriteString(w, `{"id":"cert-1","thumbprint":"`+thumb+`"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	id, err := Driver{}.RegisterCertificate(context.Background(), p.conn(nil), pem)
	if err != nil || id != "cert-1" {
		t.Fatalf("registered as %q (%v), want cert-1; requests %v", id, err, p.sent())
	}
}

// TestACertificateIsNotRegisteredWhenTheListCannotBeRead: registering
// without having read the whole list could register the certificate twice;
// the error says why and quotes nothing the platform sent.
func TestACertificateIsNotRegisteredWhenTheListCannotBeRead(t *testing.T) {
	pem, _ := leafAndChain(t)
	for name, list := range map[string]string{
		"refused":        "",
		"link elsewhere": `{"items":[],"next":"https://evil.example/api/certs?page=2"}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := newPlatform(t, func(w http.ResponseWriter, r *http.Request, _ string) {
				if r.Method != http.MethodGet {
					w.WriteHeader(http.StatusCreated)
					_, _ = io.WriteString(w, `{"id":"registered-anyway"}`)
					return
				}
				if list == "" {
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = io.WriteString(w, "<html>stack trace of the platform</html>")
					return
				}
				_, _ = io.WriteString(w, list)
			})
			id, err := Driver{}.RegisterCertificate(context.Background(), p.conn(map[string]string{"certificates.nextPath": "next"}), pem)
			if err == nil || id != "" || strings.Contains(err.Error(), "stack trace") || strings.Contains(err.Error(), "evil.example") {
				t.Fatalf("got %q, %v; want an error that quotes nothing the platform sent", id, err)
			}
			for _, req := range p.sent() {
				if !strings.HasPrefix(req, "GET ") {
					t.Errorf("sent %s after a list that could not be read", req)
				}
			}
		})
	}
}

func TestARegistrationAnswerWithoutAnIDIsAnError(t *testing.T) {
	pem, _ := leafAndChain(t)
	p := newPlatform(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, `{"items":[]}`)
			return
		}
		_, _ = io.WriteString(w, `{"certificate":{"id":"c-1"}}`)
	})
	id, err := Driver{}.RegisterCertificate(context.Background(), p.conn(nil), pem)
	if err == nil || !strings.Contains(err.Error(), "certificates.idPath") {
		t.Fatalf("registered as %q (%v), want an error that points at certificates.idPath", id, err)
	}
}

// TestIngestionChannelsAreReadByConfiguration reads a channel from an API
// with its own item path and field names; the id the tenant gave stays one
// path segment, and a channel the platform does not know is ErrNotFound.
func TestIngestionChannelsAreReadByConfiguration(t *testing.T) {
	p := newPlatform(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		switch r.URL.EscapedPath() {
		case "/api/datasharing/channels/ch%2F..%2F1%3Fx/details":
			_, _ = io.WriteString(w, `{"channel":{"key":"ch/../1?x","owner":{"name":"acme"},"format":{"type":"ContainerEvent","media":"application/xml"}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	conn := p.conn(map[string]string{
		"ingestionChannels.path":            "/datasharing/channels",
		"ingestionChannels.itemPath":        "{{.Path}}/{{.ID}}/details",
		"ingestionChannels.idPath":          "channel.key",
		"ingestionChannels.customerPath":    "channel.owner.name",
		"ingestionChannels.messageTypePath": "channel.format.type",
		"ingestionChannels.mediaTypePath":   "channel.format.media",
	})
	got, err := Driver{}.GetIngestionChannel(context.Background(), conn, "ch/../1?x")
	if err != nil {
		t.Fatalf("%v; requests %v", err, p.sent())
	}
	want := drivers.IngestionChannel{ID: "ch/../1?x", Customer: "acme", MessageType: "ContainerEvent", MediaType: "application/xml"}
	if *got != want {
		t.Errorf("read %+v, want %+v", *got, want)
	}
	if _, err := (Driver{}).GetIngestionChannel(context.Background(), conn, "unknown"); !errors.Is(err, drivers.ErrNotFound) {
		t.Errorf("an unknown channel: %v, want ErrNotFound", err)
	}
}

func TestIngestionChannelDefaultsFitAConventionalAPI(t *testing.T) {
	p := newPlatform(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.URL.Path != "/api/management/v1/ingestion-channels/ch-1" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, `{"customer":"acme","messageType":"ContainerEvent","mediaType":"application/json"}`)
	})
	got, err := Driver{}.GetIngestionChannel(context.Background(), p.conn(nil), "ch-1")
	want := drivers.IngestionChannel{ID: "ch-1", Customer: "acme", MessageType: "ContainerEvent", MediaType: "application/json"}
	if err != nil || *got != want {
		t.Fatalf("read %+v (%v), want %+v: an answer without an id is the channel asked for", got, err, want)
	}
}

func TestBadManagementParametersNameTheParameter(t *testing.T) {
	pem, _ := leafAndChain(t)
	p := newPlatform(t, func(w http.ResponseWriter, _ *http.Request, _ string) { _, _ = io.WriteString(w, `{"items":[]}`) })
	for param, value := range map[string]string{
		"certificates.body":          "{{ .PEM ",
		"certificates.path":          "certs?x=1",
		"certificates.pageTokenPath": "cursor",
		"ingestionChannels.path":     "/channels#x",
		"ingestionChannels.itemPath": "{{ .Nope",
	} {
		conn := p.conn(map[string]string{param: value})
		var err error
		if strings.HasPrefix(param, "certificates.") {
			_, err = Driver{}.RegisterCertificate(context.Background(), conn, pem)
		} else {
			_, err = Driver{}.GetIngestionChannel(context.Background(), conn, "ch-1")
		}
		if err == nil || !strings.Contains(err.Error(), param) {
			t.Errorf("%s=%q: %v, want an error naming the parameter", param, value, err)
		}
	}
	if got := p.sent(); len(got) != 0 {
		t.Errorf("sent %v with parameters that do not configure", got)
	}
}

func colons(hex string) string {
	var parts []string
	for i := 0; i+2 <= len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}
