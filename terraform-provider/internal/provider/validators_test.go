package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/keyport-dev/keyport/shared/safetemplate"
)

func TestStringValidators(t *testing.T) {
	tests := []struct {
		name  string
		v     validator.String
		value string
		ok    bool
	}{
		{"an https URL is a URL", absoluteURL{}, "https://login.example.com/token", true},
		{"an http URL is a URL (https is checked with its opt-out)", absoluteURL{}, "http://127.0.0.1:8080/token", true},
		{"a relative path is not a URL", absoluteURL{}, "/connect/token", false},
		{"a URL without a host is refused", absoluteURL{}, "https:///token", false},
		{"another scheme is refused", absoluteURL{}, "ftp://example.com", false},
		{"2m is a duration", goDuration{}, "2m", true},
		{"1h30m is a duration", goDuration{}, "1h30m", true},
		{"1.5h is a duration", goDuration{}, "1.5h", true},
		{"microseconds are not accepted by the CRDs", goDuration{}, "10us", false},
		{"a negative duration is refused", goDuration{}, "-1m", false},
		{"words are not a duration", goDuration{}, "two minutes", false},
		{"a number without unit is not a duration", goDuration{}, "120", false},
		{"base64 is accepted", base64Value{}, "aGVsbG8=", true},
		{"an empty bundle is refused", base64Value{}, "", false},
		{"raw binary text is refused", base64Value{}, "not base64!", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &validator.StringResponse{}
			tc.v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringValue(tc.value)}, resp)
			if got := !resp.Diagnostics.HasError(); got != tc.ok {
				t.Errorf("valid = %v, want %v: %v", got, tc.ok, resp.Diagnostics)
			}
		})
	}
	t.Run("null and unknown are left to Required", func(t *testing.T) {
		for _, v := range []validator.String{absoluteURL{}, goDuration{}, base64Value{}} {
			for _, value := range []types.String{types.StringNull(), types.StringUnknown()} {
				resp := &validator.StringResponse{}
				v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: value}, resp)
				if resp.Diagnostics.HasError() {
					t.Errorf("%T refused %v", v, value)
				}
			}
		}
	})
}

// unreachableProvider points at an address where nothing listens: a plan of
// new resources must work anyway, since nothing contacts the cluster then.
const unreachableProvider = `
provider "keyport" {
  host  = "https://127.0.0.1:9"
  token = "not-used"
}
`

// TestPlanTimeValidation runs the real terraform binary (plan only, no
// cluster) to check that the CRD rules that matter most fail at plan time
// with a clear message, and that a valid plan needs no cluster.
func TestPlanTimeValidation(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantErr string // empty: the plan succeeds
	}{
		{name: "a valid ApiClient plans without reaching the cluster", config: `
resource "keyport_api_client" "ok" {
  name      = "ok"
  token_url = "https://login.example.com/token"
  client_id = "ok"
  client_secret_wo         = "s"
  client_secret_wo_version = 1
}`},
		{name: "a plain http token_url is refused", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "http://login.example.com/token"
  client_id = "x"
}`, wantErr: "token_url must start with https://; plain http:// is allowed only with tls.allow_insecure_http = true"},
		{name: "plain http is allowed with tls.allow_insecure_http", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "http://127.0.0.1:8080/token"
  client_id = "x"
  tls       = { allow_insecure_http = true }
}`},
		{name: "a preset excludes the dialect fields", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  preset    = "BankM2M"
  method    = "GET"
}`, wantErr: "Invalid Attribute Combination"},
		{name: "an unknown preset is refused", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  preset    = "Bank"
}`, wantErr: "value must be one of"},
		{name: "the bank's password and a client secret would be one key", config: `
resource "keyport_api_client" "x" {
  name                     = "x"
  token_url                = "https://login.example.com/token"
  preset                   = "BankM2M"
  username                 = "u"
  client_secret_wo         = "s"
  client_secret_wo_version = 1
  password_wo              = "p"
  password_wo_version      = 1
  client_certificate       = { secret_name = "c" }
}`, wantErr: `client_secret_wo and password_wo would both be written to the credentials Secret's key "password"`},
		{name: "with the password grant, client secret and password are two keys", config: `
resource "keyport_api_client" "x" {
  name                     = "x"
  token_url                = "https://login.example.com/token"
  preset                   = "PortCommunityPassword"
  client_id                = "c"
  username                 = "u"
  client_secret_wo         = "s"
  client_secret_wo_version = 1
  password_wo              = "p"
  password_wo_version      = 1
}`},
		{name: "a write-only secret needs its version", config: `
resource "keyport_api_client" "x" {
  name             = "x"
  token_url        = "https://login.example.com/token"
  client_secret_wo = "s"
}`, wantErr: "client_secret_wo_version"},
		{name: "a version needs its write-only secret", config: `
resource "keyport_api_client" "x" {
  name                = "x"
  token_url           = "https://login.example.com/token"
  password_wo_version = 1
}`, wantErr: "password_wo"},
		{name: "a client certificate is one of two kinds", config: `
resource "keyport_api_client" "x" {
  name               = "x"
  token_url          = "https://login.example.com/token"
  client_certificate = { m2m_certificate_name = "a", secret_name = "b" }
}`, wantErr: "Invalid Attribute Combination"},
		{name: "a header has one value", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  headers   = [{ name = "X-Key", value = "v", value_from = { name = "s", key = "k" } }]
}`, wantErr: "Invalid Attribute Combination"},
		{name: "Keyport writes Authorization itself", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  headers   = [{ name = "Authorization", value = "Bearer x" }]
}`, wantErr: "value must be none of"},
		{name: "a duration the CRD would refuse", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  refresh   = { propagation_budget = "2 minutes" }
}`, wantErr: "must be a duration"},
		{name: "a refresh percentage with strategy Latest, which ignores it", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  refresh   = { strategy = "Latest", refresh_at_percent = 80 }
}`, wantErr: "refresh.refresh_at_percent applies only to strategy Fraction"},
		{name: "a retry margin with the default strategy, which ignores it", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  refresh   = { retry_margin = "1m" }
}`, wantErr: "refresh.retry_margin applies only to strategy Latest"},
		{name: "an unknown refresh strategy", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  refresh   = { strategy = "Earliest" }
}`, wantErr: "value must be one of"},
		{name: "strategy Latest with a retry margin plans", config: `
resource "keyport_api_client" "x" {
  name      = "x"
  token_url = "https://login.example.com/token"
  client_id = "x"
  refresh   = { strategy = "Latest", propagation_budget = "90s", retry_margin = "30s" }
}`},
		{name: "an assertion kid both given and derived", config: `
resource "keyport_api_client" "x" {
  name                  = "x"
  token_url             = "https://login.example.com/token"
  client_id             = "x"
  client_authentication = "PrivateKeyJWT"
  assertion             = { key_id = "key-1", key_id_from = "Thumbprint", signing_key = { name = "k", key = "key.pem" } }
}`, wantErr: "Invalid Attribute Combination"},
		{name: "a bare signing key with a derived kid plans", config: `
resource "keyport_api_client" "x" {
  name                  = "x"
  token_url             = "https://login.example.com/token"
  client_id             = "x"
  client_authentication = "PrivateKeyJWT"
  assertion             = { key_id_from = "Thumbprint", signing_key = { name = "k", key = "key.json" } }
  jwks                  = { url = "https://login.example.com/jwks.json", refresh_interval = "10m" }
}`},
		{name: "an output template the CRD would refuse as too long", config: `
resource "keyport_api_client" "x" {
  name            = "x"
  token_url       = "https://login.example.com/token"
  output_template = { k = "` + strings.Repeat("x", safetemplate.MaxTextLength+1) + `" }
}`, wantErr: "character count must be at most 8192"},
		{name: "a driver parameter the CRD would refuse as too long", config: `
resource "keyport_notification_channel" "x" {
  name         = "x"
  platform     = { driver = "generic-rest", api_client_name = "a", management_url = "https://p.example.com",
                   parameters = { "channels.body" = "` + strings.Repeat("x", safetemplate.MaxTextLength+1) + `" } }
  channel_name = "c"
  webhook_url  = "https://hooks.example.com"
  authentication = { type = "None" }
}`, wantErr: "character count must be at most 8192"},
		{name: "a name Kubernetes would refuse", config: `
resource "keyport_api_client" "x" {
  name      = "Bad_Name"
  token_url = "https://login.example.com/token"
}`, wantErr: "must be a Kubernetes object name"},
		{name: "a certificate has exactly one source", config: `
resource "keyport_m2m_certificate" "x" {
  name       = "x"
  secret_ref = { name = "tls" }
  pkcs12_wo  = "aGVsbG8="
  pkcs12_wo_version = 1
}`, wantErr: "Set exactly one certificate source"},
		{name: "a certificate needs a source", config: `
resource "keyport_m2m_certificate" "x" {
  name = "x"
}`, wantErr: "Set exactly one certificate source"},
		{name: "a referenced bundle needs a passphrase", config: `
resource "keyport_m2m_certificate" "x" {
  name   = "x"
  pkcs12 = { secret_name = "bundle" }
}`, wantErr: "Missing passphrase"},
		{name: "a bundle must be base64", config: `
resource "keyport_m2m_certificate" "x" {
  name              = "x"
  pkcs12_wo         = "not base64!"
  pkcs12_wo_version = 1
  passphrase_wo         = "p"
  passphrase_wo_version = 1
}`, wantErr: "must be base64"},
		{name: "a channel has a url or a base_url, not both", config: `
resource "keyport_ingestion_channel" "x" {
  name            = "x"
  api_client_name = "a"
  customer        = "c"
  message_type    = "m"
  url             = "https://ingest.example.com/ingestion/1"
  base_url        = "https://ingest.example.com"
  channel_id      = "1"
}`, wantErr: "Invalid Attribute Combination"},
		{name: "a base_url needs its channel_id", config: `
resource "keyport_ingestion_channel" "x" {
  name            = "x"
  api_client_name = "a"
  customer        = "c"
  message_type    = "m"
  base_url        = "https://ingest.example.com"
}`, wantErr: "Invalid Attribute Combination"},
		{name: "a webhook must be https", config: `
resource "keyport_notification_channel" "x" {
  name         = "x"
  platform     = { driver = "generic-rest", api_client_name = "a", management_url = "https://p.example.com" }
  channel_name = "c"
  webhook_url  = "http://hooks.example.com"
  authentication = { type = "None" }
}`, wantErr: "webhook_url must start with https://"},
		{name: "the receiver's token endpoint must be https, with no opt-out", config: `
resource "keyport_notification_channel" "x" {
  name         = "x"
  platform     = { driver = "generic-rest", api_client_name = "a", management_url = "https://p.example.com" }
  channel_name = "c"
  webhook_url  = "https://hooks.example.com"
  allow_insecure_http = true
  authentication = {
    type   = "OAuth2ClientCredentials"
    oauth2 = { token_url = "http://auth.example.com/token", client_id = "c" }
    generated_secret_name = "g"
  }
}`, wantErr: "authentication.oauth2.token_url must start with https://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := resource.TestStep{Config: unreachableProvider + tc.config, PlanOnly: true, ExpectNonEmptyPlan: true}
			if tc.wantErr != "" {
				step.ExpectError = wrapped(tc.wantErr)
			}
			resource.UnitTest(t, resource.TestCase{ProtoV6ProviderFactories: newFactories(), Steps: []resource.TestStep{step}})
		})
	}
}
