package restdriver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

var sample = drivers.NotificationChannel{
	Name: "visits", ChannelType: "HTTPSWebhook", Method: "POST", WebhookURL: "https://hooks.example.com/v",
	Headers: map[string]string{"X-Env": "uat"}, EventTypes: []string{"VisitCreated", `Quote"d`},
	Auth: drivers.WebhookAuth{Type: "OAuth2ClientCredentials", TokenURL: "https://auth.example.com/t", ClientID: "platform",
		ClientSecret: "s3cret", Scopes: []string{"hooks"}},
}

func TestTheDefaultBodyRoundTripsThroughTheDefaultFields(t *testing.T) {
	c, err := configure(nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.render(sample)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	got := c.decode(doc)
	if got.Name != sample.Name || got.WebhookURL != sample.WebhookURL || got.Auth.ClientSecret != "s3cret" ||
		len(got.EventTypes) != 2 || got.EventTypes[1] != `Quote"d` || got.Headers["X-Env"] != "uat" || got.Auth.Scopes[0] != "hooks" {
		t.Errorf("decoded %+v", got)
	}
}

func TestCustomShapesAreMappedByParameters(t *testing.T) {
	c, err := configure(map[string]string{
		"channels.body":      `{"hook": {"target": {{json .Channel.WebhookURL}}, "label": {{json .Channel.Name}}}}`,
		"channels.idPath":    "data.uid",
		"field.webhookURL":   "hook.target",
		"field.name":         "hook.label",
		"channels.itemPath":  "/hooks/{{.ID}}/config",
		"channels.itemsPath": "data.hooks",
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.render(sample)
	if err != nil || !strings.Contains(string(body), `"target": "https://hooks.example.com/v"`) {
		t.Fatalf("body %s, err %v", body, err)
	}
	var resp any
	_ = json.Unmarshal([]byte(`{"data":{"uid":"h-42"},"hook":{"target":"https://x.example.com","label":"visits"}}`), &resp)
	if id := asString(lookup(resp, c.idPath)); id != "h-42" {
		t.Errorf("id %q", id)
	}
	if got := c.decode(resp); got.WebhookURL != "https://x.example.com" || got.Name != "visits" {
		t.Errorf("decoded %+v", got)
	}
	if p, _ := c.item("h-42"); p != "/hooks/h-42/config" {
		t.Errorf("item path %q", p)
	}
}

func TestBadConfigurationIsReportedWithoutSecrets(t *testing.T) {
	if _, err := configure(map[string]string{"channels.body": "{{ .Channel.Name "}); err == nil {
		t.Error("a broken template was accepted")
	}
	for _, path := range []string{"#", "/hooks?x=1", "hooks"} {
		if _, err := configure(map[string]string{"channels.path": path}); err == nil || !strings.Contains(err.Error(), "channels.path") {
			t.Errorf("channels.path %q: %v, want an error naming the parameter", path, err)
		}
	}
	c, _ := configure(map[string]string{"channels.body": `{"secret": {{.Channel.Auth.ClientSecret}}`})
	_, err := c.render(sample)
	if err == nil {
		t.Fatal("a body that is not JSON was accepted")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error quotes the secret: %v", err)
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestTemplatesCannotExhaustTheOperatorsMemory: printf widths in
// channels.body or channels.itemPath used to make the operator allocate
// hundreds of megabytes per render before the output limit was checked.
// They are now refused when the parameters are read, naming the parameter
// and the limit.
func TestTemplatesCannotExhaustTheOperatorsMemory(t *testing.T) {
	wide := `{{ printf "` + strings.Repeat("%1000000d", 40) + `"` + strings.Repeat(" 1", 40) + ` }}`
	for param, value := range map[string]string{
		"channels.body":     `{"x": "` + wide + `"}`,
		"channels.itemPath": "{{.Path}}/" + wide,
	} {
		t.Run(param, func(t *testing.T) {
			var err error
			n := allocated(func() {
				var c *config
				if c, err = configure(map[string]string{param: value}); err == nil {
					if _, err = c.render(sample); err == nil {
						_, err = c.item("nc-1")
					}
				}
			})
			if n > 16<<20 {
				t.Errorf("allocated %d MiB", n>>20)
			}
			if err == nil || !strings.Contains(err.Error(), param) || !strings.Contains(err.Error(), "may be at most 64, and not *") {
				t.Errorf("want %s refused, naming the limit; got %v", param, err)
			}
		})
	}
}

// TestTemplateErrorsDoNotRebuildSecrets: an error used to print the value
// its action failed on, so that `index "" (index .Channel.Auth.ClientSecret
// N)` put the secret's byte N into the NotificationChannel's status. The
// error is now the same whatever the secret, and whatever the id the
// platform sent for channels.itemPath.
func TestTemplateErrorsDoNotRebuildSecrets(t *testing.T) {
	a, b := sample, sample
	a.Auth.ClientSecret, b.Auth.ClientSecret = "s3cret-7f3a9c", "XXXXXXXXXXXXX"
	for n := range len(a.Auth.ClientSecret) {
		c, err := configure(map[string]string{
			"channels.body":     fmt.Sprintf(`{{ index "" (index .Channel.Auth.ClientSecret %d) }}`, n),
			"channels.itemPath": fmt.Sprintf(`{{ index "" (index .ID %d) }}`, n),
		})
		if err != nil {
			t.Fatal(err)
		}
		_, errA := c.render(a)
		_, errB := c.render(b)
		if errA == nil || errB == nil || errA.Error() != errB.Error() {
			t.Fatalf("channels.body: the error depends on the secret:\n%v\n%v", errA, errB)
		}
		_, errA = c.item(a.Auth.ClientSecret)
		_, errB = c.item(b.Auth.ClientSecret)
		if errA == nil || errB == nil || errA.Error() != errB.Error() {
			t.Fatalf("channels.itemPath: the error depends on the id:\n%v\n%v", errA, errB)
		}
	}
}

// pages is a platform whose channel list comes in pages. Each page is
// answered by the function for its number (from the query's page
// parameter), and every request is counted.
type pages struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []string
}

func newPages(t *testing.T, page func(n int, srv string) string) *pages {
	p := &pages{}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.URL.RequestURI())
		p.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer platform-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if r.URL.Query().Get("pageToken") != "" {
			n, _ = strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("pageToken"), "tok-"))
		}
		_, _ = io.WriteString(w, page(n, p.srv.URL))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pages) list(params map[string]string) ([]drivers.NotificationChannel, error) {
	conn := drivers.Conn{BaseURL: p.srv.URL + "/api", HTTP: p.srv.Client(), Parameters: params,
		Token: tokensecret.Token{AccessToken: "platform-token", TokenType: "Bearer"}}
	return Driver{}.ListNotificationChannels(context.Background(), conn)
}

func names(list []drivers.NotificationChannel) string {
	var out []string
	for _, c := range list {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

func TestListsAreReadToTheirLastPage(t *testing.T) {
	// Three pages linked as platforms link them: a path, an absolute URL,
	// a reference relative to the page.
	p := newPages(t, func(n int, srv string) string {
		switch n {
		case 0:
			return `{"items":[{"id":"1","name":"a"}],"links":{"next":"/api/hooks?page=1"}}`
		case 1:
			return `{"items":[{"id":"2","name":"b"}],"links":{"next":"` + srv + `/api/hooks?page=2"}}`
		case 2:
			return `{"items":[{"id":"3","name":"c"}],"links":{"next":"hooks?page=3"}}`
		}
		return `{"items":[{"id":"4","name":"d"}],"links":{"next":null}}`
	})
	got, err := p.list(map[string]string{"channels.path": "/hooks", "channels.nextPath": "links.next"})
	if err != nil || names(got) != "a,b,c,d" {
		t.Fatalf("listed %q (%v), want a,b,c,d from four pages; requests %v", names(got), err, p.requests)
	}

	tokens := newPages(t, func(n int, _ string) string {
		if n < 2 {
			return fmt.Sprintf(`{"items":[{"id":"%d","name":"p%d"}],"nextPageToken":"tok-%d"}`, n, n, n+1)
		}
		return `{"items":[{"id":"2","name":"p2"}]}`
	})
	got, err = tokens.list(map[string]string{"channels.path": "/hooks", "channels.pageTokenPath": "nextPageToken", "channels.pageTokenParam": "pageToken"})
	if err != nil || names(got) != "p0,p1,p2" {
		t.Fatalf("listed %q (%v), want p0,p1,p2 through page tokens; requests %v", names(got), err, tokens.requests)
	}
}

func TestAListThatNeverEndsIsAnErrorNotAShortList(t *testing.T) {
	p := newPages(t, func(n int, _ string) string {
		return fmt.Sprintf(`{"items":[{"id":"%d","name":"n"}],"next":"/api/hooks?page=%d"}`, n, n+1)
	})
	got, err := p.list(map[string]string{"channels.path": "/hooks", "channels.nextPath": "next"})
	if err == nil || len(p.requests) != maxPages {
		t.Fatalf("listed %d channels (%v) in %d requests, want an error after %d pages", len(got), err, len(p.requests), maxPages)
	}
}

func TestANextLinkOutsideTheManagementURLIsNotFollowed(t *testing.T) {
	for _, link := range []string{"https://evil.example/api/hooks?page=1", "/elsewhere/hooks?page=1", "//evil.example/x", "../admin"} {
		p := newPages(t, func(int, string) string {
			return `{"items":[{"id":"1","name":"a"}],"next":"` + link + `"}`
		})
		_, err := p.list(map[string]string{"channels.path": "/hooks", "channels.nextPath": "next"})
		if err == nil || len(p.requests) != 1 || strings.Contains(err.Error(), link) {
			t.Errorf("next %q: %v after %v, want an error that does not quote the link, and no second request", link, err, p.requests)
		}
	}
}

func TestPageTokenParametersGoTogether(t *testing.T) {
	for _, params := range []map[string]string{
		{"channels.pageTokenPath": "nextPageToken"},
		{"channels.pageTokenParam": "pageToken"},
		{"channels.pageTokenPath": "t", "channels.pageTokenParam": "p", "channels.nextPath": "next"},
	} {
		if _, err := configure(params); err == nil {
			t.Errorf("%v was accepted", params)
		}
	}
}
