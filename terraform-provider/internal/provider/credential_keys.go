package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/dialect"
)

// credentialKeys are the keys of the credentials Secret that the provider
// writes username, client_secret_wo and password_wo to: the keys the
// operator reads them from in the ApiClient's dialect, as shared/dialect
// resolves it, so that what Terraform writes is what the operator finds.
// Without the password grant a user name and password can only be the HTTP
// Basic credentials, that is the client id and secret (the bank's M2M API
// calls them so).
type credentialKeys struct{ username, clientSecret, password string }

func credentialKeysOf(spec *keyportv1.ApiClientSpec) (credentialKeys, error) {
	d, err := dialect.Resolve(spec)
	if err != nil {
		return credentialKeys{}, err
	}
	if d.GrantType == keyportv1.GrantPassword {
		return credentialKeys{username: d.UsernameKey, clientSecret: d.ClientSecretKey, password: d.PasswordKey}, nil
	}
	return credentialKeys{username: d.ClientIDKey, clientSecret: d.ClientSecretKey, password: d.ClientSecretKey}, nil
}

// oneValuePerKey stops at plan a configuration whose client_secret_wo and
// password_wo would land on one key of the credentials Secret (both are the
// client secret without the password grant): one would silently win.
type oneValuePerKey struct{}

var _ resource.ConfigValidator = oneValuePerKey{}

func (oneValuePerKey) Description(context.Context) string {
	return "client_secret_wo and password_wo must go to different keys of the credentials Secret"
}
func (v oneValuePerKey) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (oneValuePerKey) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var secret, password types.String
	var spec keyportv1.ApiClientSpec
	var cred *credentialsModel
	for attr, into := range map[string]any{"client_secret_wo": &secret, "password_wo": &password, "credentials": &cred} {
		if d := req.Config.GetAttribute(ctx, path.Root(attr), into); d.HasError() {
			return
		}
	}
	if secret.IsNull() || password.IsNull() {
		return
	}
	for attr, into := range map[string]*string{"preset": (*string)(&spec.Preset), "method": (*string)(&spec.Method),
		"body_encoding": (*string)(&spec.BodyEncoding), "grant_type": (*string)(&spec.GrantType),
		"client_authentication": (*string)(&spec.ClientAuthentication)} {
		var v types.String
		if d := req.Config.GetAttribute(ctx, path.Root(attr), &v); d.HasError() || v.IsUnknown() {
			return
		}
		*into = v.ValueString()
	}
	if cred != nil {
		if cred.ClientSecretKey.IsUnknown() || cred.PasswordKey.IsUnknown() {
			return
		}
		spec.Credentials = &keyportv1.CredentialsSource{ClientSecretKey: cred.ClientSecretKey.ValueString(), PasswordKey: cred.PasswordKey.ValueString()}
	}
	keys, err := credentialKeysOf(&spec)
	if err != nil || keys.clientSecret != keys.password {
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root("password_wo"), "Two credentials for one key",
		fmt.Sprintf("client_secret_wo and password_wo would both be written to the credentials Secret's key %q: "+
			"without the password grant the password is the client secret. Set only one of them.", keys.clientSecret))
}

// presetsDescription is the preset attribute's doc, from the preset table.
func presetsDescription() string {
	var b strings.Builder
	b.WriteString("A known platform dialect, which fixes `method`, `body_encoding`, `grant_type` and `client_authentication` " +
		"(so it excludes them), the default scopes and token lifetime, the keys read from the credentials Secret and " +
		"whether `client_certificate` is required. One of:\n")
	for _, p := range dialect.Presets {
		b.WriteString("\n  - " + p.Summary(terraformName))
	}
	return b.String()
}

// terraformName is the provider's name of an ApiClient spec field.
func terraformName(apiField string) string {
	var b strings.Builder
	for _, r := range apiField {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return "`" + b.String() + "`"
}

// The credentials keys, by their standard names, and where a dialect keeps
// each.
var (
	keyClientID     = credentialKey{dialect.KeyClientID, func(d dialect.Dialect) string { return d.ClientIDKey }}
	keyClientSecret = credentialKey{dialect.KeyClientSecret, func(d dialect.Dialect) string { return d.ClientSecretKey }}
	keyUsername     = credentialKey{dialect.KeyUsername, func(d dialect.Dialect) string { return d.UsernameKey }}
	keyPassword     = credentialKey{dialect.KeyPassword, func(d dialect.Dialect) string { return d.PasswordKey }}
)

type credentialKey struct {
	standard string
	of       func(dialect.Dialect) string
}

// defaultKey documents the default of a credentials key: the standard name,
// and the presets that read another.
func defaultKey(k credentialKey) string {
	s := fmt.Sprintf("Default `%s`", k.standard)
	var others []string
	for _, p := range dialect.Presets {
		if key := k.of(p.Dialect); key != k.standard {
			others = append(others, fmt.Sprintf("`%s` for `%s`", key, p.Name))
		}
	}
	if len(others) > 0 {
		s += " (" + strings.Join(others, ", ") + ")"
	}
	return s + "."
}
