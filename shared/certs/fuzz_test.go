package certs_test

import (
	"crypto/x509"
	"fmt"
	"runtime"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
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

// What one decode may cost, whatever the bundle. A bundle at the limits
// decodes in about a quarter of a second and allocates about 70 MiB, nearly
// all of it the short-lived garbage of go-pkcs12's legacy key derivation
// (BenchmarkDecodePKCS12AtTheIterationLimit), twice that with a second
// encrypted safe. The budgets leave room for a busy machine and catch work
// that grows with what a bundle says rather than with the limits.
const (
	decodeTimeBudget = 2 * time.Second
	decodeByteBudget = 256 << 20
)

// FuzzDecodePKCS12Cost fails when decoding one bundle takes longer than
// decodeTimeBudget or allocates more than decodeByteBudget.
func FuzzDecodePKCS12Cost(f *testing.F) {
	root, _ := certstest.NewCA("root")
	inter, _ := root.Intermediate("intermediate")
	leaf, _ := inter.Issue("fuzz", certstest.Options{})
	// One iteration each, so that mutants that still decode are cheap and
	// the fuzzer spends its time on what a bundle's structure costs; the
	// hostile counts come below. Small bundles, because the fuzzer
	// minimizes each new input, in time that grows with its square.
	for _, enc := range []*pkcs12.Encoder{pkcs12.LegacyRC2, pkcs12.LegacyDES, pkcs12.Modern2023, pkcs12.Modern2026} {
		data, _ := enc.WithIterations(1).Encode(leaf.Key, leaf.Cert, nil, "pass")
		f.Add(data, "pass")
	}
	chain, _ := pkcs12.Modern2023.WithIterations(1).Encode(leaf.Key, leaf.Cert, []*x509.Certificate{root.Cert, inter.Cert}, "pass")
	f.Add(chain, "pass")
	for _, d := range []certstest.Derivation{certstest.MAC, certstest.PrivateKey} {
		data, _ := certstest.PKCS12WithIterations(pkcs12.LegacyDES, leaf, "pass", d, hostileIterations)
		f.Add(data, "pass")
	}
	f.Add(certs.KeyInsideEncryptedSafe(f, leaf.Cert, "pass", 2048), "pass")
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		// A decode that never ends would never fail the test: a watchdog
		// crashes the fuzzing process, which keeps the input.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(decodeTimeBudget):
				panic(fmt.Sprintf("one decode took over the budget of %v", decodeTimeBudget))
			}
		}()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _ = certs.DecodePKCS12(data, pass)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > decodeByteBudget {
			t.Errorf("one decode allocated %d MiB, over the budget of %d MiB", alloc>>20, decodeByteBudget>>20)
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
