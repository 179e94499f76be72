package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// ErrNotAPrivateKey is returned for data that holds no usable private key.
// Like every error here it names the format, never a byte of the input.
var ErrNotAPrivateKey = errors.New("not a private key: want PEM (PKCS#8, PKCS#1 or SEC 1 EC) or a private JWK")

// DecodePrivateKey reads a bare private key, as platforms that register a
// client's public key (rather than a certificate) hand it out: PEM in
// PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC 1
// ("EC PRIVATE KEY"), or a JSON Web Key with its private part.
func DecodePrivateKey(data []byte) (crypto.Signer, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("{")) {
		return decodeJWK(trimmed)
	}
	for rest := trimmed; len(rest) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("the private key is encrypted: store it unencrypted in the Secret")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			// An "EC PARAMETERS" block precedes some EC keys; skip it.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s PEM block: %w", block.Type, sanitize(err))
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T private key cannot sign", key)
		}
		return signer, nil
	}
	return nil, ErrNotAPrivateKey
}

func decodeJWK(data []byte) (crypto.Signer, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(data, &jwk); err != nil {
		// The decoder's message can quote the input; say only what it is.
		return nil, errors.New("the JWK does not decode as a JSON Web Key")
	}
	if jwk.IsPublic() {
		return nil, errors.New("the JWK is a public key: the Secret must hold the private key")
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok {
		return nil, ErrNotAPrivateKey
	}
	return signer, nil
}
