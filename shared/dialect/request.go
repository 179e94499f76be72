package dialect

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"net/http"

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
	// Key signs private_key_jwt assertions; nil otherwise. Certificate, when
	// the key came with one, adds its x5t#S256.
	Key         crypto.Signer
	Certificate *x509.Certificate
}

// The API's dialect values in the shared auth code's terms, with what each
// client authentication needs. A value missing here is refused by Resolve
// and Request with an error, never sent as some default; a test checks that
// every value the CRD accepts is here.
var (
	methods = map[keyportv1.HTTPMethod]string{
		keyportv1.MethodPOST: http.MethodPost,
		keyportv1.MethodGET:  http.MethodGet,
	}
	encodings = map[keyportv1.BodyEncoding]token.Encoding{
		keyportv1.BodyForm: token.Form,
		keyportv1.BodyJSON: token.JSON,
		keyportv1.BodyNone: token.NoBody,
	}
	grants = map[keyportv1.GrantType]string{
		keyportv1.GrantClientCredentials: token.GrantClientCredentials,
		keyportv1.GrantPassword:          token.GrantPassword,
		keyportv1.GrantNone:              token.GrantNone,
	}
	clientAuths = map[keyportv1.ClientAuthentication]struct {
		auth token.ClientAuth
		// secret: it sends a client secret; certificate: it needs the
		// client certificate (mutual TLS, or to sign an assertion).
		secret, certificate bool
	}{
		keyportv1.ClientSecretPost:       {auth: token.ClientSecretPost, secret: true},
		keyportv1.ClientSecretBasic:      {auth: token.ClientSecretBasic, secret: true},
		keyportv1.ClientSecretBasicRaw:   {auth: token.ClientSecretBasicRaw, secret: true},
		keyportv1.TLSClientAuth:          {auth: token.TLSClientAuth, certificate: true},
		keyportv1.PrivateKeyJWT:          {auth: token.PrivateKeyJWT, certificate: true},
		keyportv1.NoClientAuthentication: {auth: token.NoClientAuth},
	}
)

// requestShape is a dialect in the shared auth code's terms.
type requestShape struct {
	method     string
	encoding   token.Encoding
	grantType  string
	clientAuth token.ClientAuth
}

// shape maps the dialect's values, refusing any it does not know.
func (d Dialect) shape() (requestShape, error) {
	var s requestShape
	var ok bool
	if s.method, ok = methods[d.Method]; !ok {
		return s, unsupported("method", string(d.Method))
	}
	if s.encoding, ok = encodings[d.BodyEncoding]; !ok {
		return s, unsupported("bodyEncoding", string(d.BodyEncoding))
	}
	if s.grantType, ok = grants[d.GrantType]; !ok {
		return s, unsupported("grantType", string(d.GrantType))
	}
	a, ok := clientAuths[d.ClientAuthentication]
	if !ok {
		return s, unsupported("clientAuthentication", string(d.ClientAuthentication))
	}
	s.clientAuth = a.auth
	return s, nil
}

func unsupported(field, value string) error {
	return fmt.Errorf("%s %q is not one this version of Keyport knows", field, value)
}

// Request turns a spec and its credentials into the shared auth code's
// request, in this dialect. The operator and the Terraform provider both
// build their requests here, so a preset means the same on either side.
func (d Dialect) Request(spec *keyportv1.ApiClientSpec, c Credentials) (token.Request, error) {
	shape, err := d.shape()
	if err != nil {
		return token.Request{}, err
	}
	req := token.Request{
		URL:             spec.TokenURL,
		Method:          shape.method,
		Encoding:        shape.encoding,
		GrantType:       shape.grantType,
		ClientAuth:      shape.clientAuth,
		ClientID:        c.ClientID,
		ClientSecret:    c.ClientSecret,
		Username:        c.Username,
		Password:        c.Password,
		Scopes:          d.Scopes(spec),
		Params:          spec.ExtraParameters,
		APIHeaders:      c.Headers,
		DefaultLifetime: d.DefaultLifetime,
	}
	if c.Key != nil && d.ClientAuthentication == keyportv1.PrivateKeyJWT {
		req.Assertion = token.Assertion{Key: c.Key, Certificate: c.Certificate}
		if a := spec.Assertion; a != nil {
			req.Assertion.Audience, req.Assertion.Algorithm = a.Audience, string(a.Algorithm)
			req.Assertion.KeyID, req.Assertion.ThumbprintKeyID = a.KeyID, a.KeyIDFrom == keyportv1.KeyIDThumbprint
		}
	}
	return req, nil
}
