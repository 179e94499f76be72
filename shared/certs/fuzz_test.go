package certs_test

import (
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/certs/certstest"
)

// FuzzDecodePKCS12 must never panic, and a bundle it accepts has a key that
// belongs to its leaf.
func FuzzDecodePKCS12(f *testing.F) {
	ca, _ := certstest.NewCA("ca")
	leaf, _ := ca.Issue("fuzz", certstest.Options{})
	for _, enc := range []*pkcs12.Encoder{pkcs12.LegacyRC2, pkcs12.LegacyDES, pkcs12.Modern} {
		data, _ := enc.Encode(leaf.Key, leaf.Cert, nil, "pass")
		f.Add(data, "pass")
	}
	f.Add([]byte("not a bundle"), "")
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		b, err := certs.DecodePKCS12(data, pass)
		if err != nil {
			return
		}
		if b.Leaf == nil || b.Key == nil {
			t.Fatal("accepted a bundle without leaf or key")
		}
		if _, err := certs.DecodePEM(b.CertificatePEM(), mustKeyPEM(t, b)); err != nil {
			t.Fatalf("an accepted bundle does not normalize: %v", err)
		}
	})
}

// FuzzDecodePEM must never panic on arbitrary certificate and key input.
func FuzzDecodePEM(f *testing.F) {
	ca, _ := certstest.NewCA("ca")
	leaf, _ := ca.Issue("fuzz", certstest.Options{})
	f.Add(leaf.CertPEM(), leaf.KeyPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		if b, err := certs.DecodePEM(certPEM, keyPEM); err == nil && (b.Leaf == nil || b.Key == nil) {
			t.Fatal("accepted PEM without leaf or key")
		}
		_, _ = certs.DecodeCertificatesPEM(certPEM)
	})
}

func mustKeyPEM(t *testing.T, b *certs.Bundle) []byte {
	t.Helper()
	k, err := b.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
