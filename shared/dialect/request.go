package dialect

import (
	"crypto"
	"crypto/x509"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/token"
)

// Credentials are the values a token request carries, already read from
// wherever they are kept (a Secret for the operator, write-only or ephemeral
// arguments for the Terraform provider).
type Credentials struct {
	ClientID, ClientSecret, Username, Password string
	// Headers are static API headers with their values.
	Headers map[string]string
	// Key and Certificate sign private_key_jwt assertions; nil otherwise.
	Key         crypto.Signer
	Certificate *x509.Certificate
}

// Request turns a spec and its credentials into the shared auth code's
// request, in this dialect. The operator and the Terraform provider both
// build their requests here, so a preset means the same on either side.
func (d Dialect) Request(spec *keyportv1.ApiClientSpec, c Credentials) token.Request {
	req := token.Request{
		URL:             spec.TokenURL,
		Method:          string(d.Method),
		ClientID:        c.ClientID,
		ClientSecret:    c.ClientSecret,
		Username:        c.Username,
		Password:        c.Password,
		Scopes:          d.Scopes(spec),
		Params:          spec.ExtraParameters,
		APIHeaders:      c.Headers,
		DefaultLifetime: d.DefaultLifetime,
	}
	switch d.BodyEncoding {
	case keyportv1.BodyJSON:
		req.Encoding = token.JSON
	case keyportv1.BodyNone:
		req.Encoding = token.NoBody
	}
	switch d.GrantType {
	case keyportv1.GrantClientCredentials:
		req.GrantType = token.GrantClientCredentials
	case keyportv1.GrantPassword:
		req.GrantType = token.GrantPassword
	case keyportv1.GrantNone:
		req.GrantType = token.GrantNone
	}
	switch d.ClientAuthentication {
	case keyportv1.ClientSecretPost:
		req.ClientAuth = token.ClientSecretPost
	case keyportv1.ClientSecretBasic:
		req.ClientAuth = token.ClientSecretBasic
	case keyportv1.ClientSecretBasicRaw:
		req.ClientAuth = token.ClientSecretBasicRaw
	case keyportv1.TLSClientAuth:
		req.ClientAuth = token.TLSClientAuth
	case keyportv1.PrivateKeyJWT:
		req.ClientAuth = token.PrivateKeyJWT
	case keyportv1.NoClientAuthentication:
		req.ClientAuth = token.NoClientAuth
	}
	if c.Key != nil && d.ClientAuthentication == keyportv1.PrivateKeyJWT {
		req.Assertion = token.Assertion{Key: c.Key, Certificate: c.Certificate}
		if a := spec.Assertion; a != nil {
			req.Assertion.Audience, req.Assertion.Algorithm = a.Audience, string(a.Algorithm)
		}
	}
	return req
}
