package dialect

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// Preset is one row of the preset table: a platform's dialect and what a
// user must know about it. Everything else that names presets is generated
// from this table (the Preset type and its enum in api/v1alpha1, so the CRD
// and `kubectl explain`; the README's preset table; the Terraform provider's
// validator and schema text) or checked against it by a test (the CRD's
// certificate rule).
type Preset struct {
	Name keyportv1.Preset
	// Platform the preset was made for, as the docs name it.
	Platform string
	Dialect  Dialect
	// Note is what else a user of the preset should know, in a sentence.
	// A spec field is named in braces, {headers}, so that each doc can name
	// it as its reader knows it.
	Note string
}

// Standard credentials key names, used unless a preset or the spec names
// others.
const (
	KeyClientID     = "client_id"
	KeyClientSecret = "client_secret"
	KeyUsername     = "username"
	KeyPassword     = "password"
)

// Presets is the preset table, in the order the docs list them. Adding a
// preset is adding a row here and running `make manifests generate docs`
// (the API's enum, the CRD, the README table, the provider's docs). Three
// tests then fail until the preset has its case: its literal request and
// default lifetime in dialect_test.go, a token through the operator in
// operator/controllers/apiclient (TestEveryPresetGetsAValidTokenIntoItsSecret)
// and through Terraform in the provider (TestAccApiClient_EveryPresetGetsAToken).
// Both ask the sandbox for the token, so a request it does not yet speak
// needs a sandbox endpoint too.
var Presets = []Preset{
	{
		Name:     "PortCommunityPassword",
		Platform: "the port community system's API",
		Dialect: Dialect{
			Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyForm,
			GrantType: keyportv1.GrantPassword, ClientAuthentication: keyportv1.ClientSecretPost,
			DefaultScopes: []string{"openid"}, DefaultLifetime: time.Hour,
			ClientIDKey: KeyClientID, ClientSecretKey: KeyClientSecret, UsernameKey: KeyUsername, PasswordKey: KeyPassword,
		},
		Note: "Its API calls also need an Ocp-Apim-Subscription-Key header: declare it in {headers}.",
	},
	{
		Name:     "OAuth2ClientCredentials",
		Platform: "a standard OAuth 2.0 or OpenID Connect issuer, such as the data-sharing platform's",
		Dialect: Dialect{
			Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyForm,
			GrantType: keyportv1.GrantClientCredentials, ClientAuthentication: keyportv1.ClientSecretPost,
			ClientIDKey: KeyClientID, ClientSecretKey: KeyClientSecret, UsernameKey: KeyUsername, PasswordKey: KeyPassword,
		},
		Note: "For HTTP Basic, a certificate or a signed assertion instead, leave {preset} out and set {clientAuthentication}.",
	},
	{
		Name:     "BankM2M",
		Platform: "the bank's M2M API",
		Dialect: Dialect{
			Method: keyportv1.MethodGET, BodyEncoding: keyportv1.BodyNone,
			GrantType: keyportv1.GrantNone, ClientAuthentication: keyportv1.ClientSecretBasicRaw,
			DefaultLifetime: 5 * time.Minute, MutualTLS: true,
			// The bank calls its Basic credentials user name and password.
			ClientIDKey: KeyUsername, ClientSecretKey: KeyPassword, UsernameKey: KeyUsername, PasswordKey: KeyPassword,
		},
		Note: "Its mutual TLS takes the certificate the bank issued; its expires_in is a string, which Keyport reads as seconds.",
	},
	{
		Name:     "PaymentJSON",
		Platform: "the payment API",
		Dialect: Dialect{
			Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyJSON,
			GrantType: keyportv1.GrantClientCredentials, ClientAuthentication: keyportv1.ClientSecretPost,
			DefaultLifetime: time.Hour,
			ClientIDKey:     KeyClientID, ClientSecretKey: KeyClientSecret, UsernameKey: KeyUsername, PasswordKey: KeyPassword,
		},
		Note: "Its answers carry status_code and request_id besides the token.",
	},
	{
		Name:     "SoftPOS",
		Platform: "the SoftPOS API",
		Dialect: Dialect{
			Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyForm,
			GrantType: keyportv1.GrantClientCredentials, ClientAuthentication: keyportv1.ClientSecretPost,
			DefaultLifetime: time.Hour, MutualTLS: true,
			ClientIDKey: KeyClientID, ClientSecretKey: KeyClientSecret, UsernameKey: KeyUsername, PasswordKey: KeyPassword,
		},
		Note: "Its mutual TLS takes the developer certificate the SoftPOS API issued.",
	},
}

// Lookup finds a preset by name.
func Lookup(name keyportv1.Preset) (Preset, bool) {
	for _, p := range Presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// Names lists the presets' names, in table order.
func Names() []string {
	names := make([]string, len(Presets))
	for i, p := range Presets {
		names[i] = string(p.Name)
	}
	return names
}

// CredentialKey is one key a dialect reads from the credentials Secret.
type CredentialKey struct {
	Key string
	// Holds is what the key holds, named by its standard key: KeyClientID,
	// KeyClientSecret, KeyUsername or KeyPassword.
	Holds string
}

// String is the key, with what it holds when that is not the standard key.
func (k CredentialKey) String() string {
	if k.Key == k.Holds {
		return k.Key
	}
	what := map[string]string{KeyClientID: "client id", KeyClientSecret: "client secret", KeyUsername: "user name", KeyPassword: "password"}
	return fmt.Sprintf("%s (the %s)", k.Key, what[k.Holds])
}

// CredentialKeys are the keys the operator reads from the credentials
// Secret for this dialect (the client id's only when spec.clientID is not
// set), in the order client id, client secret, user name, password.
func (d Dialect) CredentialKeys() []CredentialKey {
	keys := []CredentialKey{{d.ClientIDKey, KeyClientID}}
	if d.NeedsClientSecret() {
		keys = append(keys, CredentialKey{d.ClientSecretKey, KeyClientSecret})
	}
	if d.GrantType == keyportv1.GrantPassword {
		keys = append(keys, CredentialKey{d.UsernameKey, KeyUsername}, CredentialKey{d.PasswordKey, KeyPassword})
	}
	return keys
}

// Fields describes the request as the explicit spec fields it stands for,
// such as "method POST, bodyEncoding Form, grantType Password,
// clientAuthentication ClientSecretPost, scopes openid". name turns the
// API's field names into those the reader knows (the Terraform provider's);
// nil keeps them.
func (p Preset) Fields(name func(apiField string) string) string {
	if name == nil {
		name = func(f string) string { return f }
	}
	d := p.Dialect
	s := fmt.Sprintf("%s %s, %s %s, %s %s, %s %s", name("method"), d.Method, name("bodyEncoding"), d.BodyEncoding,
		name("grantType"), d.GrantType, name("clientAuthentication"), d.ClientAuthentication)
	if len(d.DefaultScopes) > 0 {
		s += ", " + name("scopes") + " " + strings.Join(d.DefaultScopes, " ")
	}
	return s
}

// Keys lists the credentials keys the preset reads, such as "username (the
// client id), password (the client secret)".
func (p Preset) Keys() string {
	var keys []string
	for _, k := range p.Dialect.CredentialKeys() {
		keys = append(keys, k.String())
	}
	return strings.Join(keys, ", ")
}

// Lifetime is the default lifetime as the docs say it.
func (p Preset) Lifetime() string {
	if p.Dialect.DefaultLifetime == 0 {
		return "none (the answer's expires_in or the token's exp)"
	}
	return shortDuration(p.Dialect.DefaultLifetime)
}

// Certificate says whether the preset needs spec.clientCertificate.
func (p Preset) Certificate() string {
	if p.Dialect.MutualTLS {
		return "required (mutual TLS)"
	}
	return "not needed"
}

// Summary is the preset's meaning in one paragraph, as `kubectl explain`
// and the Terraform docs show it; name is as for Fields.
func (p Preset) Summary(name func(apiField string) string) string {
	s := fmt.Sprintf("%s: %s. Same as %s; credentials keys %s; default lifetime %s; client certificate %s.",
		p.Name, p.Platform, p.Fields(name), p.Keys(), p.Lifetime(), p.Certificate())
	if note := p.NoteFor(name); note != "" {
		s += " " + note
	}
	return s
}

var fieldInBraces = regexp.MustCompile(`\{(\w+)\}`)

// NoteFor is the note with its spec fields named by name, as for Fields.
func (p Preset) NoteFor(name func(apiField string) string) string {
	if name == nil {
		name = func(f string) string { return f }
	}
	return fieldInBraces.ReplaceAllStringFunc(p.Note, func(m string) string { return name(m[1 : len(m)-1]) })
}

// shortDuration prints 1h rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
