package restdriver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// fuzzBases are management URLs with and without a path of their own: a
// path right after the host is where a ".evil.example" or ":1" would change
// the host.
var fuzzBases = map[string]string{
	"https://api.platform.example:8443/base": "api.platform.example:8443",
	"https://api.platform.example":           "api.platform.example",
}

// fuzzCert is the certificate the fuzz target registers.
var fuzzCert []byte

// recorder is a transport that answers every request itself (no network)
// and remembers where each one was going.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	body := `{"id":"nc-1","items":[{"id":"nc-1","name":"n"}]}`
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// FuzzTemplates feeds the driver's user-written parameters (channels.body,
// channels.itemPath, channels.path, the create and update methods, and the
// same values as certificates.* and ingestionChannels.*) and platform-sent
// ids through the driver. It must never panic or hang; a
// rendered body is valid, bounded JSON; an id never adds a path segment or a
// query; and every request any driver call sends, carrying the platform
// token, goes to the management URL's scheme and host, without user info.
func FuzzTemplates(f *testing.F) {
	f.Add(defaultBody, "{{.Path}}/{{.ID}}", "", "POST", "nc-1", "visits")
	f.Add(`{"n":{{json .Channel.Name}},"e":{{json .Channel.EventTypes}}}`, "{{.Path}}/{{.ID}}/", "/api/v1/webhooks", "PUT", "../admin?x=1#y", "a\"b")
	f.Add(`{{ range .Channel.EventTypes }}{{ . }}{{ end }}`, "{{.ID}}", "", "", "@evil.example", "")
	f.Add(`{"x":1}`, "@evil.example/{{.ID}}", "//evil.example", "PATCH", "nc-1", "n")
	f.Add(`{"x":1}`, "{{.Path}}/{{.ID}}", "@evil.example", "POST", "nc-1", "n")
	f.Add(`{"x":1}`, ":1{{.Path}}", ".evil.example", "GET", "%2e%2e", "n")
	f.Add(`{"x":1}`, "{{.Path}}?id={{.ID}}", "/c#frag", "POST", "a/b", "n")
	f.Add(`{"x":1}`, "{{.Path}}/{{.ID}}", "/c", "GET /x HTTP/1.1\r\nHost: evil", "nc-1", "n")
	f.Add(`{"s":{{json .Channel.Auth.ClientSecret}},"h":{{json .Channel.Headers}}}`, "{{.Path}}/{{.ID}}", "", "", "x", "y")
	f.Add(`{{ range 99999999999 }}x{{ end }}`, "{{.Path}}", "", "", "x", "y")
	f.Add(`{{ define "r" }}{{ .Channel.Name }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, "{{ .Nope }}", "", "", "", "loop")
	f.Add(`[{{ range .Channel.EventTypes }}{{ range $.Channel.EventTypes }}1,{{ end }}{{ end }}1]`, "{{.Path}}/{{.ID}}", "", "", "x", "y")
	f.Add(`{{ range .Channel }}{{ end }}`, "{{.Path}}/{{.ID}}", "", "", "x", "y")
	f.Add(`{{ range slice .Channel.Auth.ClientSecret 1 }}{{ end }}`, "{{.Path}}/{{.ID}}", "", "", "x", "y")
	f.Add(`{{ range $k, $v := .Channel.Headers }}{{ range $v }}{{ end }}{{ end }}`, "{{.Path}}/{{.ID}}", "", "", "x", "y")
	f.Add(`{{`, "{{", "", "", "", "")
	f.Add(`{"x":"{{ printf "%1000000d%1000000d" 1 2 }}"}`, "{{.Path}}/{{ printf (print .ID) 1 }}", "", "", "%1000000d", "n")
	f.Add(`{{ index "" (index .Channel.Auth.ClientSecret 3) }}`, "{{ index .ID (index .ID 0) }}", "", "", "nc-1", "n")
	f.Add(`{"pem":{{json .PEM}},"t":{{json .Thumbprint}}}`, "{{.Path}}/{{.ID}}", "/certs", "POST", "x", "y")
	f.Add(`{"pem":{{ printf "%q" (slice .PEM 0 64) }}}`, "{{.Path}}/{{.ID}}/details", "", "", "../x", "y")
	cert, err := certstest.NewCA("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	fuzzCert = cert.CertPEM()
	f.Fuzz(func(t *testing.T, body, itemPath, path, method, id, name string) {
		params := map[string]string{"channels.body": body, "channels.itemPath": itemPath, "channels.path": path,
			"channels.createMethod": method, "channels.updateMethod": method,
			"certificates.body": body, "certificates.path": path, "certificates.createMethod": method,
			"ingestionChannels.itemPath": itemPath, "ingestionChannels.path": path}
		done := make(chan struct{})
		go func() {
			defer close(done)
			check(t, params, itemPath, id, name)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the driver did not finish within 10s")
		}
	})
}

func check(t *testing.T, params map[string]string, itemPath, id, name string) {
	c, err := configure(params)
	if err != nil {
		return
	}
	ch := drivers.NotificationChannel{ID: id, Name: name, EventTypes: []string{"A", "B"}, WebhookURL: "https://hooks.example/x",
		Headers: map[string]string{"X-Api-Key": "hdr-4c9e1f-secret"},
		Auth:    drivers.WebhookAuth{Type: "oauth2", ClientSecret: "cs-5d1e0a-secret", Password: "pw-8b2f7c-secret"}}
	// noSecret fails when an error quotes a credential (or a piece of one:
	// a template can slice it) that the parameters did not contain already.
	noSecret := func(err error) {
		if err == nil {
			return
		}
		for _, piece := range []string{"4c9e1f", "5d1e0a", "8b2f7c", "platform-token"} {
			if strings.Contains(err.Error(), piece) && !strings.Contains(params["channels.body"]+itemPath+params["channels.path"]+id, piece) {
				t.Errorf("the error quotes a secret: %v", err)
			}
		}
	}
	out, err := c.render(ch)
	noSecret(err)
	if err == nil && (!json.Valid(out) || len(out) > maxRendered) {
		t.Errorf("rendered %d bytes that are not bounded valid JSON", len(out))
	}
	if p, err := c.item(id); err == nil && itemPath == "{{.Path}}/{{.ID}}" &&
		(strings.Count(p, "/") != strings.Count(c.path, "/")+1 || strings.ContainsAny(p, "?#")) {
		t.Errorf("id %q changed the shape of the path: %q", id, p)
	}

	for base, host := range fuzzBases {
		rec := &recorder{}
		conn := drivers.Conn{BaseURL: base, HTTP: &http.Client{Transport: rec}, Parameters: params,
			Token: tokensecret.Token{AccessToken: "platform-token", TokenType: "Bearer"}}
		ctx := context.Background()
		d := Driver{}
		_, err := d.ListNotificationChannels(ctx, conn)
		noSecret(err)
		_, err = d.GetNotificationChannel(ctx, conn, id)
		noSecret(err)
		_, err = d.CreateNotificationChannel(ctx, conn, ch)
		noSecret(err)
		noSecret(d.UpdateNotificationChannel(ctx, conn, ch))
		noSecret(d.DeleteNotificationChannel(ctx, conn, id))
		_, err = d.RegisterCertificate(ctx, conn, fuzzCert)
		noSecret(err)
		_, err = d.GetIngestionChannel(ctx, conn, id)
		noSecret(err)
		for _, req := range rec.reqs {
			if req.URL.Scheme != "https" || req.URL.Host != host || req.URL.User != nil || req.Host != "" && req.Host != host {
				t.Errorf("base %s: a %s request with the platform token went to %s://%s (user %v, Host %q)",
					base, req.Method, req.URL.Scheme, req.URL.Host, req.URL.User, req.Host)
			}
		}
	}
}
