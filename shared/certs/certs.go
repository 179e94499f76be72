// Package certs decodes client certificates (PEM and PKCS#12), computes the
// identifiers platforms ask about (SHA-1 thumbprint, SHA-256 fingerprint),
// and holds a certificate that can be swapped while connections use it.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SHA-1 thumbprints are what platforms bind into tokens; not used for security here.
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Errors a person can act on. They never carry key material or passphrases.
var (
	ErrWrongPassphrase = errors.New("the PKCS#12 passphrase is wrong")
	ErrNoPrivateKey    = errors.New("the bundle holds no private key")
	ErrNoCertificate   = errors.New("no certificate found")
	ErrKeyMismatch     = errors.New("the private key does not belong to the certificate")
)

// Bundle is a client certificate with its key and chain.
type Bundle struct {
	Leaf *x509.Certificate
	// Chain holds the intermediates after the leaf, if any.
	Chain []*x509.Certificate
	// CAs are certificates from a PKCS#12 trust section, if any.
	CAs []*x509.Certificate
	Key crypto.Signer
}

// DecodePEM reads a certificate chain (leaf first) and its private key.
func DecodePEM(certPEM, keyPEM []byte) (*Bundle, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, ErrKeyMismatch
		}
		return nil, fmt.Errorf("decode PEM certificate and key: %w", sanitize(err))
	}
	b := &Bundle{Leaf: pair.Leaf}
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("decode chain certificate: %w", err)
		}
		b.Chain = append(b.Chain, c)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("the private key cannot sign")
	}
	b.Key = signer
	return b, nil
}

// DecodeCertificatesPEM reads every certificate in a PEM blob.
func DecodeCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("decode certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoCertificate
	}
	return out, nil
}

// DecodePKCS12 reads a provider-issued .p12/.pfx bundle. Legacy (RC2, 3DES)
// and modern (AES) encryptions are supported. A bundle over MaxBundleBytes
// or MaxCertificates is refused with ErrBundleTooLarge, one that asks for
// more than MaxKDFIterations with ErrBundleTooExpensive, before any key is
// derived.
func DecodePKCS12(data []byte, passphrase string) (*Bundle, error) {
	if err := checkPKCS12(data, passphrase); err != nil {
		return nil, err
	}
	key, leaf, cas, err := decodeChain(data, passphrase)
	if err != nil {
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
			// A bundle without a MAC shows a wrong passphrase as bad padding.
			return nil, ErrWrongPassphrase
		case strings.Contains(err.Error(), "private key missing"):
			return nil, ErrNoPrivateKey
		}
		return nil, fmt.Errorf("decode PKCS#12 bundle: %w", sanitize(err))
	}
	signer, ok := key.(crypto.Signer)
	if !ok || key == nil {
		return nil, ErrNoPrivateKey
	}
	if !publicKeysEqual(leaf.PublicKey, signer.Public()) {
		return nil, ErrKeyMismatch
	}
	b := &Bundle{Leaf: leaf, Key: signer}
	b.Chain, b.CAs = splitChain(leaf, cas)
	return b, nil
}

// splitChain sorts a bundle's extra certificates: the leaf's issuers, in
// order, are its chain; roots (self-signed) and unrelated certificates are
// trust anchors. An issuer is looked for among the certificates whose
// subject is the issuer name, and each is looked at once: one that did not
// sign the certificate before it is not tried again for the next, which
// bears another issuer name (unless a CA certified its own new key under its
// old name, which a client's bundle does not carry). So n certificates cost
// at most 2n signature checks, where trying every certificate at every step
// cost n² (47 s for 150 P-521 certificates).
func splitChain(leaf *x509.Certificate, cas []*x509.Certificate) (chain, anchors []*x509.Certificate) {
	bySubject := make(map[string][]int, len(cas))
	for i, c := range cas {
		bySubject[string(c.RawSubject)] = append(bySubject[string(c.RawSubject)], i)
	}
	inChain := make([]bool, len(cas))
	for cur := leaf; cur != nil; {
		candidates := bySubject[string(cur.RawIssuer)]
		var next *x509.Certificate
		for len(candidates) > 0 && next == nil {
			i := candidates[0]
			candidates = candidates[1:]
			if c := cas[i]; !c.Equal(cur) && checkSignature(cur, c) == nil && !selfSigned(c) {
				next, inChain[i] = c, true
			}
		}
		bySubject[string(cur.RawIssuer)] = candidates
		if next != nil {
			chain = append(chain, next)
		}
		cur = next
	}
	for i, c := range cas {
		if !inChain[i] {
			anchors = append(anchors, c)
		}
	}
	return chain, anchors
}

// checkSignature checks that parent signed child; a variable so that tests
// can count the checks.
var checkSignature = func(child, parent *x509.Certificate) error { return child.CheckSignatureFrom(parent) }

// CertificatePEM encodes the leaf and its chain.
func (b *Bundle) CertificatePEM() []byte {
	var out []byte
	for _, c := range append([]*x509.Certificate{b.Leaf}, b.Chain...) {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes the private key as PKCS#8.
func (b *Bundle) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// CAPEM encodes the bundle's trust anchors, empty when there are none.
func (b *Bundle) CAPEM() []byte {
	var out []byte
	for _, c := range b.CAs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// TLSCertificate is the bundle as a tls.Certificate for mutual TLS.
func (b *Bundle) TLSCertificate() *tls.Certificate {
	c := &tls.Certificate{PrivateKey: b.Key, Leaf: b.Leaf}
	c.Certificate = append(c.Certificate, b.Leaf.Raw)
	for _, ch := range b.Chain {
		c.Certificate = append(c.Certificate, ch.Raw)
	}
	return c
}

// Thumbprint is the SHA-1 of the certificate's DER, upper-case hex without
// separators: the form platforms bind into tokens.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) //nolint:gosec // an identifier, see the import.
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Fingerprint256 is the SHA-256 of the certificate's DER, upper-case hex.
func Fingerprint256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Info is what a person wants to know about a certificate; nothing secret.
type Info struct {
	Subject, Issuer, SerialNumber string
	NotBefore, NotAfter           time.Time
	SHA1Thumbprint                string
	SHA256Fingerprint             string
}

// Describe returns the certificate's Info.
func Describe(c *x509.Certificate) Info {
	return Info{
		Subject:           c.Subject.String(),
		Issuer:            c.Issuer.String(),
		SerialNumber:      strings.ToUpper(c.SerialNumber.Text(16)),
		NotBefore:         c.NotBefore,
		NotAfter:          c.NotAfter,
		SHA1Thumbprint:    Thumbprint(c),
		SHA256Fingerprint: Fingerprint256(c),
	}
}

// Holder keeps the current client certificate. Connections ask it at each
// handshake (GetClientCertificate), so Set takes effect on the next
// connection without restarting anything.
type Holder struct {
	current atomic.Pointer[tls.Certificate]
}

// Set replaces the certificate.
func (h *Holder) Set(c *tls.Certificate) { h.current.Store(c) }

// Get returns the current certificate, or an error if none was set.
func (h *Holder) Get() (*tls.Certificate, error) {
	if c := h.current.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("no client certificate has been loaded")
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && checkSignature(c, c) == nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch k := a.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k.(equaler).Equal(b)
	}
	return false
}

// sanitize drops the detail of decoder errors that could echo input bytes.
func sanitize(err error) error {
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160]
	}
	return errors.New(msg)
}
