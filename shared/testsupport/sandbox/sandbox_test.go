package sandbox_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/token"
)

const secret = "platform-secret-1"

func start(t *testing.T, cfg sandbox.Config) (*sandbox.Sandbox, *http.Client) {
	t.Helper()
	cfg.Clients = append(cfg.Clients, sandbox.Client{ID: "app", Secret: secret, Username: "user", Password: "pw", SubscriptionKey: "sub"})
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	sb, err := sandbox.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	hc, err := outbound.NewClient(outbound.Options{CABundle: sb.CACertPEM(), Policy: &outbound.Policy{Allow: outbound.Loopback()}})
	if err != nil {
		t.Fatal(err)
	}
	return sb, hc
}

func getToken(t *testing.T, sb *sandbox.Sandbox, hc *http.Client) (*token.Token, error) {
	t.Helper()
	return token.Fetch(context.Background(), hc, token.Request{URL: sb.URL() + "/connect/token",
		GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretPost, ClientID: "app", ClientSecret: secret})
}

func call(t *testing.T, hc *http.Client, method, u, bearer string, headers map[string]string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func TestFaultsAreVisibleToClients(t *testing.T) {
	cases := []struct {
		name  string
		fault sandbox.Fault
		want  token.Kind
	}{
		{"an error rate of one answers 500", sandbox.Fault{ErrorRate: 1}, token.KindServerError},
		{"a rate limit answers 429 with Retry-After", sandbox.Fault{RateLimitRate: 1, RetryAfter: 30 * time.Second}, token.KindRateLimited},
		{"a malformed body is reported as such", sandbox.Fault{MalformedRate: 1}, token.KindMalformedResponse},
		{"an HTML body is reported as malformed", sandbox.Fault{HTMLRate: 1}, token.KindMalformedResponse},
		{"an outage answers 503", sandbox.Fault{OutageUntil: time.Now().Add(time.Minute)}, token.KindRateLimited},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb, hc := start(t, sandbox.Config{})
			sb.SetFault(sandbox.EndpointConnectToken, tc.fault)
			_, err := getToken(t, sb, hc)
			if token.KindOf(err) != tc.want {
				t.Fatalf("err = %v, want kind %v", err, tc.want)
			}
			if tc.fault.RetryAfter > 0 {
				var te *token.Error
				if !errorsAs(err, &te) || te.RetryAfter != tc.fault.RetryAfter {
					t.Errorf("Retry-After not surfaced: %v", err)
				}
			}
			if got := sb.Counters().Requests(sandbox.EndpointConnectToken, ""); got != 1 {
				t.Errorf("counted %d requests, want 1", got)
			}
			sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{})
			if _, err := getToken(t, sb, hc); err != nil {
				t.Errorf("clearing the fault did not restore service: %v", err)
			}
		})
	}
}

func TestLatencyAndClockSkew(t *testing.T) {
	sb, hc := start(t, sandbox.Config{})
	sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{Latency: 200 * time.Millisecond, ClockSkew: -10 * time.Minute})
	begin := time.Now()
	tok, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(begin) < 200*time.Millisecond {
		t.Error("latency was not injected")
	}
	if _, err := sb.Validate(tok.AccessToken); err != nil {
		t.Errorf("a token with a skewed clock but an hour of life should validate: %v", err)
	}
}

func TestRevokeOnReissue(t *testing.T) {
	sb, hc := start(t, sandbox.Config{})
	sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{RevokeOnReissue: true})
	first, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Validate(first.AccessToken); err != nil {
		t.Fatalf("first token invalid: %v", err)
	}
	second, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Validate(first.AccessToken); err == nil {
		t.Error("the previous token still validates after reissue with revoke-on-reissue")
	}
	if _, err := sb.Validate(second.AccessToken); err != nil {
		t.Errorf("the new token is invalid: %v", err)
	}
	status, _ := call(t, hc, http.MethodGet, sb.URL()+"/api/v1/visits", first.AccessToken, map[string]string{"Ocp-Apim-Subscription-Key": "sub"}, nil)
	if status != http.StatusUnauthorized {
		t.Errorf("API call with the revoked token answered %d", status)
	}
}

func TestAPICallsNeedTokenAndSubscriptionKey(t *testing.T) {
	sb, hc := start(t, sandbox.Config{})
	tok, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		bearer string
		key    string
		want   int
	}{
		"token and key":       {tok.AccessToken, "sub", 200},
		"no subscription key": {tok.AccessToken, "", 401},
		"wrong key":           {tok.AccessToken, "other", 401},
		"no token":            {"", "sub", 401},
		"a forged token":      {tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA", "sub", 401},
	} {
		t.Run(name, func(t *testing.T) {
			status, _ := call(t, hc, http.MethodGet, sb.URL()+"/api/v1/visits", tc.bearer, map[string]string{"Ocp-Apim-Subscription-Key": tc.key}, nil)
			if status != tc.want {
				t.Errorf("status %d, want %d", status, tc.want)
			}
		})
	}
}

func TestIngestionChannels(t *testing.T) {
	sb, hc := start(t, sandbox.Config{})
	tok, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := call(t, hc, http.MethodPost, sb.URL()+"/management/v1/ingestion-channels", tok.AccessToken, nil,
		map[string]string{"id": "acme-1", "customer": "acme", "messageType": "ContainerEvent", "mediaType": "application/json"})
	if status != http.StatusCreated {
		t.Fatalf("create channel: %d", status)
	}
	status, _ = call(t, hc, http.MethodPost, sb.URL()+"/management/v1/ingestion-channels", tok.AccessToken, nil,
		map[string]string{"id": "acme-1", "customer": "globex", "messageType": "ContainerEvent"})
	if status != http.StatusConflict {
		t.Errorf("claiming another customer's channel answered %d, want 409", status)
	}
	post := func(bearer, messageType, contentType string) int {
		req, _ := http.NewRequest(http.MethodPost, sb.URL()+"/ingestion/acme-1", strings.NewReader(`{"event":1}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("X-Message-Type", messageType)
		req.Header.Set("Content-Type", contentType)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(tok.AccessToken, "ContainerEvent", "application/json"); got != http.StatusAccepted {
		t.Errorf("a correct message answered %d", got)
	}
	if got := post(tok.AccessToken, "Other", "application/json"); got != http.StatusBadRequest {
		t.Errorf("a wrong message type answered %d", got)
	}
	if got := post(tok.AccessToken, "ContainerEvent", "application/xml"); got != http.StatusUnsupportedMediaType {
		t.Errorf("a wrong media type answered %d", got)
	}
	if got := post("nope", "ContainerEvent", "application/json"); got != http.StatusUnauthorized {
		t.Errorf("a bad token answered %d", got)
	}
	if n := len(sb.Messages()); n != 1 {
		t.Errorf("%d messages recorded, want 1", n)
	}
}

// receiver is a webhook receiver on loopback with its own token endpoint.
type receiver struct {
	*httptest.Server
	ca *certstest.CA

	mu       sync.Mutex
	auth     []string
	tokenReq []url.Values
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	ca, _ := certstest.NewCA("receiver CA")
	cert, _ := ca.Issue("127.0.0.1", certstest.Options{Server: true})
	r := &receiver{ca: ca}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		r.mu.Lock()
		r.tokenReq = append(r.tokenReq, req.PostForm)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"receiver-issued","token_type":"Bearer","expires_in":300}`)
	})
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	r.Server = httptest.NewUnstartedServer(mux)
	r.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
	r.StartTLS()
	t.Cleanup(r.Close)
	return r
}

func TestNotificationChannelsAreRegisteredAndDelivered(t *testing.T) {
	recv := newReceiver(t)
	sb, hc := start(t, sandbox.Config{WebhookCAs: recv.ca.CertPEM()})
	tok, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		channel  sandbox.NotificationChannel
		wantAuth string
		wantForm url.Values
	}{
		{"no authentication", sandbox.NotificationChannel{Authentication: sandbox.WebhookAuth{Type: "None"}}, "", nil},
		{"a static Authorization header", sandbox.NotificationChannel{Headers: map[string]string{"Authorization": "Bearer static-1"},
			Authentication: sandbox.WebhookAuth{Type: "None"}}, "Bearer static-1", nil},
		{"OAuth2 client credentials against the receiver", sandbox.NotificationChannel{Authentication: sandbox.WebhookAuth{
			Type: "OAuth2ClientCredentials", TokenURL: recv.URL + "/token", ClientID: "platform", ClientSecret: "rs", Scopes: []string{"hooks"}}},
			"Bearer receiver-issued", url.Values{"grant_type": {"client_credentials"}, "client_id": {"platform"}, "client_secret": {"rs"}, "scope": {"hooks"}}},
		{"OAuth2 password against the receiver", sandbox.NotificationChannel{Authentication: sandbox.WebhookAuth{
			Type: "OAuth2Password", TokenURL: recv.URL + "/token", ClientID: "platform", ClientSecret: "rs", Username: "u", Password: "p"}},
			"Bearer receiver-issued", url.Values{"grant_type": {"password"}, "client_id": {"platform"}, "client_secret": {"rs"}, "username": {"u"}, "password": {"p"}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.channel
			ch.Name, ch.WebhookURL = "ch", recv.URL+"/hook"
			ch.EventTypes = []string{"event-" + string(rune('a'+i))}
			status, body := call(t, hc, http.MethodPost, sb.URL()+"/management/v1/notification-channels", tok.AccessToken, nil, ch)
			if status != http.StatusCreated {
				t.Fatalf("register: %d %s", status, body)
			}
			var created sandbox.NotificationChannel
			_ = json.Unmarshal(body, &created)
			deliveries := sb.Notify(context.Background(), ch.EventTypes[0], map[string]int{"n": i})
			if len(deliveries) != 1 || deliveries[0].Error != "" || deliveries[0].ChannelID != created.ID {
				t.Fatalf("deliveries %+v", deliveries)
			}
			recv.mu.Lock()
			defer recv.mu.Unlock()
			if got := recv.auth[len(recv.auth)-1]; got != tc.wantAuth {
				t.Errorf("webhook saw Authorization %q, want %q", got, tc.wantAuth)
			}
			if tc.wantForm != nil {
				got := recv.tokenReq[len(recv.tokenReq)-1]
				for k := range tc.wantForm {
					if got.Get(k) != tc.wantForm.Get(k) {
						t.Errorf("token request %s = %q, want %q", k, got.Get(k), tc.wantForm.Get(k))
					}
				}
			}
		})
	}

	t.Run("update, read and delete", func(t *testing.T) {
		_, body := call(t, hc, http.MethodPost, sb.URL()+"/management/v1/notification-channels", tok.AccessToken, nil,
			sandbox.NotificationChannel{Name: "x", WebhookURL: recv.URL + "/hook"})
		var c sandbox.NotificationChannel
		_ = json.Unmarshal(body, &c)
		c.Name = "renamed"
		if status, _ := call(t, hc, http.MethodPut, sb.URL()+"/management/v1/notification-channels/"+c.ID, tok.AccessToken, nil, c); status != 200 {
			t.Fatalf("update: %d", status)
		}
		status, body := call(t, hc, http.MethodGet, sb.URL()+"/management/v1/notification-channels/"+c.ID, tok.AccessToken, nil, nil)
		if status != 200 || !strings.Contains(string(body), "renamed") {
			t.Fatalf("read after update: %d %s", status, body)
		}
		if status, _ := call(t, hc, http.MethodDelete, sb.URL()+"/management/v1/notification-channels/"+c.ID, tok.AccessToken, nil, nil); status != 204 {
			t.Fatalf("delete: %d", status)
		}
		if status, _ := call(t, hc, http.MethodGet, sb.URL()+"/management/v1/notification-channels/"+c.ID, tok.AccessToken, nil, nil); status != 404 {
			t.Fatalf("read after delete: %d", status)
		}
	})

	t.Run("a plain http webhook is refused", func(t *testing.T) {
		status, _ := call(t, hc, http.MethodPost, sb.URL()+"/management/v1/notification-channels", tok.AccessToken, nil,
			sandbox.NotificationChannel{Name: "x", WebhookURL: "http://127.0.0.1/hook"})
		if status != http.StatusUnprocessableEntity {
			t.Errorf("status %d, want 422", status)
		}
	})
}

func TestCertificateRegistrationEnablesMutualTLS(t *testing.T) {
	sb, hc := start(t, sandbox.Config{})
	tok, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	// A self-signed client certificate the sandbox CA never saw.
	ca, _ := certstest.NewCA("own CA")
	own, _ := ca.Issue("app", certstest.Options{})
	ownTLS := own.TLS()
	mtls, _ := outbound.NewClient(outbound.Options{CABundle: sb.CACertPEM(), Policy: &outbound.Policy{Allow: outbound.Loopback()},
		ClientCertificate: func() (*tls.Certificate, error) { return &ownTLS, nil }})
	tlsAuth := token.Request{URL: sb.URL() + "/connect/token", GrantType: token.GrantClientCredentials, ClientAuth: token.TLSClientAuth, ClientID: "app"}
	if _, err := token.Fetch(context.Background(), mtls, tlsAuth); token.KindOf(err) != token.KindInvalidCredentials {
		t.Fatalf("an unregistered certificate was accepted: %v", err)
	}
	status, body := call(t, hc, http.MethodPost, sb.URL()+"/management/v1/certificates", tok.AccessToken, nil, map[string]string{"pem": string(own.CertPEM())})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	if _, err := token.Fetch(context.Background(), mtls, tlsAuth); err != nil {
		t.Fatalf("a registered certificate was refused: %v", err)
	}
}

func TestAdminAPI(t *testing.T) {
	sb, hc := start(t, sandbox.Config{})
	if status, _ := call(t, hc, http.MethodPut, sb.URL()+"/admin/faults/connect-token", "", nil, sandbox.Fault{ErrorRate: 1}); status != 204 {
		t.Fatalf("set fault: %d", status)
	}
	if _, err := getToken(t, sb, hc); token.KindOf(err) != token.KindServerError {
		t.Fatalf("fault set over the admin API was not applied: %v", err)
	}
	_, body := call(t, hc, http.MethodGet, sb.URL()+"/admin/counters", "", nil, nil)
	var counters sandbox.Counters
	if err := json.Unmarshal(body, &counters); err != nil || counters.Requests(sandbox.EndpointConnectToken, "") != 1 {
		t.Fatalf("counters over the admin API: %s", body)
	}
	call(t, hc, http.MethodPost, sb.URL()+"/admin/counters/reset", "", nil, nil)
	if n := sb.Counters().Requests(sandbox.EndpointConnectToken, ""); n != 0 {
		t.Errorf("reset left %d requests", n)
	}
}

func errorsAs(err error, target **token.Error) bool {
	te, ok := err.(*token.Error)
	if ok {
		*target = te
	}
	return ok
}

// TestNotificationChannelsAreListedInLinkedPages: the list comes in pages
// of PageSize in the order of creation, each linking to the next; a channel
// updated on the way keeps its place.
func TestNotificationChannelsAreListedInLinkedPages(t *testing.T) {
	sb, hc := start(t, sandbox.Config{PageSize: 2})
	tok, err := getToken(t, sb, hc)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, name := range []string{"e", "d", "c", "b", "a"} {
		_, body := call(t, hc, http.MethodPost, sb.URL()+"/management/v1/notification-channels", tok.AccessToken, nil,
			sandbox.NotificationChannel{Name: name, WebhookURL: "https://hooks.example/" + name})
		var c sandbox.NotificationChannel
		_ = json.Unmarshal(body, &c)
		want = append(want, c.ID)
		if name == "c" {
			c.WebhookURL = "https://hooks.example/changed"
			call(t, hc, http.MethodPut, sb.URL()+"/management/v1/notification-channels/"+c.ID, tok.AccessToken, nil, c)
		}
	}
	var got []string
	pages := 0
	for next := "/management/v1/notification-channels"; next != ""; pages++ {
		status, body := call(t, hc, http.MethodGet, sb.URL()+next, tok.AccessToken, nil, nil)
		var page struct {
			Items []sandbox.NotificationChannel `json:"items"`
			Next  string                        `json:"next"`
		}
		if err := json.Unmarshal(body, &page); status != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %s", next, status, body)
		}
		for _, c := range page.Items {
			got = append(got, c.ID)
		}
		next = page.Next
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%d pages listing %v, want 3 pages listing %v", pages, got, want)
	}
}
