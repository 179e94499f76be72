// Package par is for workloads: it makes a Pushed Authorization Request
// (RFC 9126), such as the SoftPOS API's enrolment step, with only what
// Keyport mounts into a pod, and returns the request_uri and when it
// expires. It is a public, stable entry point, beside shared/tokenfile.
//
// Mount the M2MCertificate's Secret (tls.crt, tls.key) and, when the
// ApiClient keeps the platform's keys (spec.jwks), its ConfigMap
// (jwks.json), as volumes:
//
//	volumes:
//	  - name: client-cert
//	    secret: {secretName: softpos-tls}
//	  - name: platform-keys
//	    configMap: {name: softpos-jwks}
//	containers:
//	  - volumeMounts:
//	      - {name: client-cert, mountPath: /var/run/keyport/cert, readOnly: true}
//	      - {name: platform-keys, mountPath: /var/run/keyport/jwks, readOnly: true}
//
// Push then presents the certificate for mutual TLS, signs the client
// assertion with its key and, when the platform's key set has an encryption
// key ("use": "enc"), sends the authorization parameters as a signed request
// object encrypted to that key. The key never leaves the process: it is not
// in any error, and the assertion is not either.
//
// Keys looks the platform's public keys up by kid in the mounted key set,
// and fetches the set from the platform itself for a kid the copy does not
// have yet (at most once a minute).
package par

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/token"
)

// Mounted names the folders (or files) Keyport's objects are mounted at.
type Mounted struct {
	// CertificateDir is the mounted M2MCertificate Secret: tls.crt and
	// tls.key are read from one version of it.
	CertificateDir string
	// JWKSDir is the mounted JWKS ConfigMap (jwks.json); optional. Without
	// it, or without an "enc" key in it, nothing is encrypted.
	JWKSDir string
	// CAFile verifies the platform's server certificate instead of the
	// system roots; optional.
	CAFile string
}

// Request is the authorization request to push.
type Request struct {
	// Endpoint is the platform's PAR endpoint.
	Endpoint    string
	ClientID    string
	Scope       string
	RedirectURI string
	// Params are further authorization request parameters; response_type
	// defaults to code.
	Params map[string]string
	// KeyID or ThumbprintKeyID set the assertion's kid, as the platform
	// registered the key (see token.Assertion).
	KeyID           string
	ThumbprintKeyID bool
	// Issuer is the platform's issuer identifier, the request object's
	// audience; default the endpoint's scheme and host.
	Issuer string
	// RequestObjectLifetime bounds an encrypted request object (default
	// 60 s), and with it the request_uri.
	RequestObjectLifetime time.Duration
	// HTTPClient replaces the client Push builds (mutual TLS with the
	// mounted certificate, CAFile, Keyport's outbound rules); it must then
	// present the certificate itself if the platform wants mutual TLS.
	HTTPClient *http.Client
	// Policy decides which addresses may be dialled; nil means the
	// process's default (outbound.SetDefaultPolicy).
	Policy *outbound.Policy
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Result is the platform's answer.
type Result struct {
	RequestURI string
	// ExpiresAt is when the request_uri stops working (expires_in after
	// the request was sent).
	ExpiresAt time.Time
	// Encrypted reports whether the parameters went as an encrypted
	// request object.
	Encrypted bool
}

// Push sends the Pushed Authorization Request with the mounted files.
func Push(ctx context.Context, m Mounted, r Request) (*Result, error) {
	files, err := readProjected(m.CertificateDir, "tls.crt", "tls.key")
	if err != nil {
		return nil, err
	}
	mat := Material{CertPEM: files["tls.crt"], KeyPEM: files["tls.key"]}
	if m.JWKSDir != "" {
		if mat.JWKS, err = ReadJWKS(m.JWKSDir); err != nil {
			return nil, err
		}
	}
	if m.CAFile != "" {
		if mat.CAPEM, err = os.ReadFile(m.CAFile); err != nil {
			return nil, fmt.Errorf("read the platform's CA bundle: %w", err)
		}
	}
	res, err := PushMaterial(ctx, mat, r)
	if err != nil && errors.Is(err, errCertificate) {
		return nil, fmt.Errorf("the mounted certificate in %s %w", m.CertificateDir, err)
	}
	return res, err
}

// Material is what Push reads from the mounts, for a caller that already
// holds it (kubectl keyport par reads it from the cluster). It holds a
// private key: never print or log it.
type Material struct {
	CertPEM, KeyPEM []byte
	// CAPEM verifies the platform instead of the system roots; optional.
	CAPEM []byte
	// JWKS is the platform's key set; optional.
	JWKS *jose.JSONWebKeySet
}

var errCertificate = errors.New("cannot be used")

// PushMaterial sends the Pushed Authorization Request with material in
// memory.
func PushMaterial(ctx context.Context, mat Material, r Request) (*Result, error) {
	bundle, err := certs.DecodePEM(mat.CertPEM, mat.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCertificate, err)
	}
	encryptTo := token.EncryptionKey(mat.JWKS)
	hc := r.HTTPClient
	if hc == nil {
		o := outbound.Options{CABundle: mat.CAPEM, Policy: r.Policy,
			ClientCertificate: func() (*tls.Certificate, error) { return bundle.TLSCertificate(), nil }}
		if hc, err = outbound.NewClient(o); err != nil {
			return nil, err
		}
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	sent := now()
	resp, err := token.PushAuthorizationRequest(ctx, hc, token.PushedAuthorizationRequest{
		URL: r.Endpoint, ClientID: r.ClientID, Scope: r.Scope, RedirectURI: r.RedirectURI, Params: r.Params,
		Assertion: token.Assertion{Key: bundle.Key, Certificate: bundle.Leaf, KeyID: r.KeyID, ThumbprintKeyID: r.ThumbprintKeyID},
		EncryptTo: encryptTo, Issuer: r.Issuer, RequestObjectLifetime: r.RequestObjectLifetime,
		Now: func() time.Time { return sent },
	})
	if err != nil {
		return nil, err
	}
	return &Result{RequestURI: resp.RequestURI, ExpiresAt: sent.Add(resp.ExpiresIn), Encrypted: encryptTo != nil}, nil
}

// ReadJWKS reads jwks.json from a mounted JWKS ConfigMap (or a file path).
func ReadJWKS(dirOrFile string) (*jose.JSONWebKeySet, error) {
	var data []byte
	if st, err := os.Stat(dirOrFile); err == nil && st.IsDir() {
		files, err := readProjected(dirOrFile, JWKSKey)
		if err != nil {
			return nil, err
		}
		data = files[JWKSKey]
	} else if data, err = os.ReadFile(dirOrFile); err != nil {
		return nil, fmt.Errorf("read the platform's JWKS: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil || len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s holds no JSON Web Key Set", dirOrFile)
	}
	return &set, nil
}

// JWKSKey is the ConfigMap key the platform's key set is kept under.
const JWKSKey = "jwks.json"

// readProjected reads keys of a mounted Secret or ConfigMap from one version
// of it: the kubelet swaps the ..data link to a new folder on each update,
// so reading through the link once keeps a certificate and its key together.
func readProjected(dir string, keys ...string) (map[string][]byte, error) {
	if dir == "" {
		return nil, errors.New("no mounted folder given")
	}
	base := dir
	if target, err := os.Readlink(filepath.Join(dir, "..data")); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		base = target
	}
	out := map[string][]byte{}
	for _, k := range keys {
		b, err := os.ReadFile(filepath.Join(base, k))
		if err != nil {
			return nil, fmt.Errorf("read %s from the mount at %s: %w", k, dir, errors.Unwrap(err))
		}
		out[k] = b
	}
	return out, nil
}
