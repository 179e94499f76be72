package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/dialect"
)

// TestProviderWritesTheKeysTheOperatorReads: for every preset, each key
// the provider writes username, client_secret_wo and password_wo to is one
// the operator reads for that preset.
func TestProviderWritesTheKeysTheOperatorReads(t *testing.T) {
	for _, p := range dialect.Presets {
		spec := keyportv1.ApiClientSpec{Preset: p.Name}
		keys, err := credentialKeysOf(&spec)
		if err != nil {
			t.Fatal(err)
		}
		read := map[string]bool{}
		for _, k := range p.Dialect.CredentialKeys() {
			read[k.Key] = true
		}
		for what, key := range map[string]string{"username": keys.username, "client_secret_wo": keys.clientSecret, "password_wo": keys.password} {
			if !read[key] {
				t.Errorf("preset %s: the provider writes %s to key %q, which the operator does not read (it reads %v)",
					p.Name, what, key, p.Dialect.CredentialKeys())
			}
		}
	}
}

// TestPresetDocsComeFromTheTable: the schema text a Terraform user reads
// about presets and key names says what the preset table says.
func TestPresetDocsComeFromTheTable(t *testing.T) {
	s := apiClientSchema(context.Background())
	doc := s.Attributes["preset"].GetMarkdownDescription()
	for _, p := range dialect.Presets {
		if summary := p.Summary(terraformName); !strings.Contains(doc, summary) {
			t.Errorf("the preset doc lacks %q", summary)
		}
	}
	if !strings.Contains(doc, "`body_encoding` Form") || !strings.Contains(doc, "leave `preset` out and set `client_authentication`") {
		t.Errorf("the preset doc names the API's fields, not the provider's: %s", doc)
	}
	keys := s.Attributes["credentials"].(schema.SingleNestedAttribute).Attributes
	for attr, want := range map[string]string{
		"client_id_key":     "Default `client_id` (`username` for `BankM2M`).",
		"client_secret_key": "Default `client_secret` (`password` for `BankM2M`).",
		"username_key":      "Default `username`.",
	} {
		if got := keys[attr].GetMarkdownDescription(); !strings.HasSuffix(got, want) {
			t.Errorf("%s: %q, want it to end %q", attr, got, want)
		}
	}
}
