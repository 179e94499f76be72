// Package dialect resolves an ApiClient's spec into the concrete token
// request shape it stands for: a preset expanded, or the explicit fields with
// their defaults. Everything that turns an ApiClient into a token request
// goes through it, so a preset means the same thing everywhere.
package dialect

import (
	"fmt"
	"strings"
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
	// MutualTLS is set when the platform checks a client certificate
	// besides the client authentication, so spec.clientCertificate is
	// required.
	MutualTLS bool
	// Key names in the credentials Secret.
	ClientIDKey, ClientSecretKey, UsernameKey, PasswordKey string
}

// Resolve expands the spec's preset, or fills in the defaults of the
// explicit fields, and applies the spec's own overrides (key names, default
// lifetime) on top. It refuses a preset or a field value this version does
// not know, rather than guess a request the platform may half accept.
func Resolve(spec *keyportv1.ApiClientSpec) (Dialect, error) {
	var d Dialect
	if spec.Preset != "" {
		p, ok := Lookup(spec.Preset)
		if !ok {
			return Dialect{}, fmt.Errorf("preset %q is not one this version of Keyport knows (%s)", spec.Preset, strings.Join(Names(), ", "))
		}
		d = p.Dialect
	} else {
		d = Dialect{
			Method:               orDefault(spec.Method, keyportv1.MethodPOST),
			BodyEncoding:         orDefault(spec.BodyEncoding, keyportv1.BodyForm),
			GrantType:            orDefault(spec.GrantType, keyportv1.GrantClientCredentials),
			ClientAuthentication: orDefault(spec.ClientAuthentication, keyportv1.ClientSecretPost),
			ClientIDKey:          KeyClientID, ClientSecretKey: KeyClientSecret, UsernameKey: KeyUsername, PasswordKey: KeyPassword,
		}
	}
	if _, err := d.shape(); err != nil {
		return Dialect{}, err
	}
	if c := spec.Credentials; c != nil {
		d.ClientIDKey = orDefault(c.ClientIDKey, d.ClientIDKey)
		d.ClientSecretKey = orDefault(c.ClientSecretKey, d.ClientSecretKey)
		d.UsernameKey = orDefault(c.UsernameKey, d.UsernameKey)
		d.PasswordKey = orDefault(c.PasswordKey, d.PasswordKey)
	}
	if r := spec.Refresh; r != nil && r.DefaultLifetime != nil {
		d.DefaultLifetime = r.DefaultLifetime.Duration
	}
	return d, nil
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
	return clientAuths[d.ClientAuthentication].secret
}

// NeedsClientCertificate reports whether the request needs the client
// certificate: for mutual TLS or to sign an assertion.
func (d Dialect) NeedsClientCertificate(spec *keyportv1.ApiClientSpec) bool {
	// An assertion signed with a bare key from a Secret needs no certificate.
	bareKey := d.ClientAuthentication == keyportv1.PrivateKeyJWT && spec.Assertion != nil && spec.Assertion.SigningKey != nil
	return (clientAuths[d.ClientAuthentication].certificate && !bareKey) || d.MutualTLS || spec.ClientCertificate != nil
}

func orDefault[T ~string](v, def T) T {
	if v == "" {
		return def
	}
	return v
}
