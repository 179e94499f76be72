package restdriver

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyport-dev/keyport/shared/drivers"
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
