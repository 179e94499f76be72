// Package dialect resolves an ApiClient's spec into the concrete token
// request shape it stands for: a preset expanded, or the explicit fields with
// their defaults. Everything that turns an ApiClient into a token request
// goes through it, so a preset means the same thing everywhere.
package dialect

import (
	"time"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// Dialect is the fully resolved shape of a token request: a preset expanded,
// or the explicit fields with their defaults filled in.
type Dialect struct {
	Method               keyportv1.HTTPMethod
	BodyEncoding         keyportv1.BodyEncoding
	GrantType            keyportv1.GrantType
	ClientAuthentication keyportv1.ClientAuthentication
	// Scopes requested when the spec names none.
	DefaultScopes []string
	// DefaultLifetime assumed when a response carries no expiry; zero means
	// none is known.
	DefaultLifetime time.Duration
	// Key names in the credentials Secret.
	ClientIDKey, ClientSecretKey, UsernameKey, PasswordKey string
}

// presets are the dialects of the platforms Keyport was built for; see the
// Preset constants in the API for the platforms behind them.
var presets = map[keyportv1.Preset]Dialect{
	keyportv1.PresetPortCommunityPassword: {
		Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyForm,
		GrantType: keyportv1.GrantPassword, ClientAuthentication: keyportv1.ClientSecretPost,
		DefaultScopes: []string{"openid"}, DefaultLifetime: time.Hour,
	},
	keyportv1.PresetOAuth2ClientCredentials: {
		Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyForm,
		GrantType: keyportv1.GrantClientCredentials, ClientAuthentication: keyportv1.ClientSecretPost,
	},
	keyportv1.PresetBankM2M: {
		Method: keyportv1.MethodGET, BodyEncoding: keyportv1.BodyNone,
		GrantType: keyportv1.GrantNone, ClientAuthentication: keyportv1.ClientSecretBasicRaw,
		DefaultLifetime: 5 * time.Minute,
		// The bank calls its Basic credentials user name and password.
		ClientIDKey: "username", ClientSecretKey: "password",
	},
	keyportv1.PresetPaymentJSON: {
		Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyJSON,
		GrantType: keyportv1.GrantClientCredentials, ClientAuthentication: keyportv1.ClientSecretPost,
		DefaultLifetime: time.Hour,
	},
	keyportv1.PresetSoftPOS: {
		Method: keyportv1.MethodPOST, BodyEncoding: keyportv1.BodyForm,
		GrantType: keyportv1.GrantClientCredentials, ClientAuthentication: keyportv1.ClientSecretPost,
		DefaultLifetime: time.Hour,
	},
}

// Resolve expands the spec's preset, or fills in the defaults of the
// explicit fields, and applies the spec's own overrides (scopes, key names,
// default lifetime) on top.
func Resolve(spec *keyportv1.ApiClientSpec) Dialect {
	d, ok := presets[spec.Preset]
	if !ok {
		d = Dialect{
			Method:               orDefault(spec.Method, keyportv1.MethodPOST),
			BodyEncoding:         orDefault(spec.BodyEncoding, keyportv1.BodyForm),
			GrantType:            orDefault(spec.GrantType, keyportv1.GrantClientCredentials),
			ClientAuthentication: orDefault(spec.ClientAuthentication, keyportv1.ClientSecretPost),
		}
	}
	if c := spec.Credentials; c != nil {
		d.ClientIDKey = orDefault(c.ClientIDKey, d.ClientIDKey)
		d.ClientSecretKey = orDefault(c.ClientSecretKey, d.ClientSecretKey)
		d.UsernameKey = orDefault(c.UsernameKey, d.UsernameKey)
		d.PasswordKey = orDefault(c.PasswordKey, d.PasswordKey)
	}
	d.ClientIDKey = orDefault(d.ClientIDKey, "client_id")
	d.ClientSecretKey = orDefault(d.ClientSecretKey, "client_secret")
	d.UsernameKey = orDefault(d.UsernameKey, "username")
	d.PasswordKey = orDefault(d.PasswordKey, "password")
	if r := spec.Refresh; r != nil && r.DefaultLifetime != nil {
		d.DefaultLifetime = r.DefaultLifetime.Duration
	}
	return d
}

// Scopes returns the scopes to request: the spec's, else the dialect's.
func (d Dialect) Scopes(spec *keyportv1.ApiClientSpec) []string {
	if len(spec.Scopes) > 0 {
		return spec.Scopes
	}
	return d.DefaultScopes
}

// NeedsClientSecret reports whether the client authentication sends a secret.
func (d Dialect) NeedsClientSecret() bool {
	switch d.ClientAuthentication {
	case keyportv1.ClientSecretPost, keyportv1.ClientSecretBasic, keyportv1.ClientSecretBasicRaw:
		return true
	}
	return false
}

// NeedsClientCertificate reports whether the request needs the client
// certificate: for mutual TLS or to sign an assertion.
func (d Dialect) NeedsClientCertificate(spec *keyportv1.ApiClientSpec) bool {
	switch {
	case d.ClientAuthentication == keyportv1.TLSClientAuth, d.ClientAuthentication == keyportv1.PrivateKeyJWT:
		return true
	case spec.Preset == keyportv1.PresetBankM2M, spec.Preset == keyportv1.PresetSoftPOS:
		return true
	}
	return spec.ClientCertificate != nil
}

func orDefault[T ~string](v, def T) T {
	if v == "" {
		return def
	}
	return v
}
