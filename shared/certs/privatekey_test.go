package certs_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/certs"
)

func TestDecodePrivateKeyReadsEveryFormPlatformsHandOut(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: ec})
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	params := block("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	for name, tc := range map[string]struct {
		data []byte
		want any
	}{
		"PKCS#8":                    {block("PRIVATE KEY", pkcs8), rsaKey.Public()},
		"PKCS#1":                    {block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), rsaKey.Public()},
		"SEC 1 EC after parameters": {append(params, block("EC PRIVATE KEY", sec1)...), ec.Public()},
		"a private JWK":             {append([]byte("\n  "), jwk...), ec.Public()},
	} {
		t.Run(name, func(t *testing.T) {
			k, err := certs.DecodePrivateKey(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.want) {
				t.Error("decoded another key")
			}
		})
	}

	publicJWK, _ := json.Marshal(jose.JSONWebKey{Key: ec.Public()})
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"a public JWK":      {publicJWK, "the JWK is a public key"},
		"an encrypted key":  {block("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "encrypted"},
		"a certificate":     {block("CERTIFICATE", []byte{1, 2, 3}), "not a private key"},
		"a truncated key":   {block("PRIVATE KEY", pkcs8[:40]), "decode PRIVATE KEY PEM block"},
		"JSON that is none": {[]byte(`{"kty": "oct", "k": "c2VjcmV0"}`), "not a private key"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := certs.DecodePrivateKey(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
