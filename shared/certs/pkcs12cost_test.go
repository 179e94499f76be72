package certs_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// The iteration count of a bundle that cost 0.7 s before its passphrase was
// found wrong; the cost grows with the count.
const hostileIterations = 4_194_303

func TestExpensiveDerivationsAreRefusedBeforeAnyKeyIsDerived(t *testing.T) {
	ca, _ := certstest.NewCA("provider")
	leaf, _ := ca.Issue("m2m-user", certstest.Options{})
	cases := []struct {
		name string
		enc  *pkcs12.Encoder
		d    certstest.Derivation
	}{
		{"a MAC of HMAC-SHA-256", pkcs12.Modern2023, certstest.MAC},
		{"a PBMAC1 MAC", pkcs12.Modern2026, certstest.MAC},
		{"a legacy MAC", pkcs12.LegacyDES, certstest.MAC},
		{"an AES certificate safe", pkcs12.Modern2023, certstest.CertificateSafe},
		{"an RC2 certificate safe", pkcs12.LegacyRC2, certstest.CertificateSafe},
		{"an AES private key", pkcs12.Modern2023, certstest.PrivateKey},
		{"a 3DES private key", pkcs12.LegacyDES, certstest.PrivateKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := certstest.PKCS12WithIterations(tc.enc, leaf, passphrase, tc.d, hostileIterations)
			if err != nil {
				t.Fatal(err)
			}
			decoded := certs.Decoded(t)
			_, err = certs.DecodePKCS12(data, passphrase)
			if !errors.Is(err, certs.ErrBundleTooExpensive) {
				t.Fatalf("err = %v, want ErrBundleTooExpensive", err)
			}
			if len(*decoded) != 0 {
				t.Errorf("the bundle reached the decoder %d times: refused only after deriving keys", len(*decoded))
			}
			if !strings.Contains(err.Error(), fmt.Sprint(hostileIterations)) || strings.Contains(err.Error(), passphrase) {
				t.Errorf("the error should name the count and nothing secret: %v", err)
			}
		})
	}
}

func TestAKeyInsideAnEncryptedSafeIsRefusedWithoutDerivingIt(t *testing.T) {
	ca, _ := certstest.NewCA("provider")
	leaf, _ := ca.Issue("m2m-user", certstest.Options{})
	// Deriving this key would take hours: the test ends because it never is.
	data := certs.KeyInsideEncryptedSafe(t, leaf.Cert, passphrase, 1<<40)
	decoded := certs.Decoded(t)
	_, err := certs.DecodePKCS12(data, passphrase)
	if !errors.Is(err, certs.ErrBundleTooExpensive) {
		t.Fatalf("err = %v, want ErrBundleTooExpensive", err)
	}
	for _, d := range *decoded {
		if bytes.Equal(d, data) {
			t.Error("the bundle itself reached the decoder")
		}
	}
}

// chainBundle is a bundle of a leaf under n intermediates, which it lists
// from the root down: the reverse of chain order, the worst for a search
// that tries every certificate at every step.
func chainBundle(t testing.TB, n int, key certstest.KeyType) (data []byte, leaf *certstest.Cert, chain []*x509.Certificate) {
	t.Helper()
	root, err := certstest.NewCA("provider root")
	if err != nil {
		t.Fatal(err)
	}
	issuer := root
	for i := range n {
		if issuer, err = issuer.IntermediateWithKey(fmt.Sprintf("provider CA %d", i), key); err != nil {
			t.Fatal(err)
		}
		chain = append([]*x509.Certificate{issuer.Cert}, chain...)
	}
	if leaf, err = issuer.Issue("m2m-user", certstest.Options{}); err != nil {
		t.Fatal(err)
	}
	listed := []*x509.Certificate{root.Cert}
	for i := len(chain) - 1; i >= 0; i-- {
		listed = append(listed, chain[i])
	}
	if data, err = pkcs12.Modern.Encode(leaf.Key, leaf.Cert, listed, passphrase); err != nil {
		t.Fatal(err)
	}
	return data, leaf, chain
}

func TestBundlesOverTheLimitsAreRefusedBeforeTheirChainIsBuilt(t *testing.T) {
	many, _, _ := chainBundle(t, 149, certstest.ECDSA) // 150 CA certificates
	big := make([]byte, certs.MaxBundleBytes+1)
	for name, data := range map[string][]byte{"150 CA certificates": many, "a bundle over 256 KiB": big} {
		t.Run(name, func(t *testing.T) {
			checks := certs.SignatureChecks(t)
			decoded := certs.Decoded(t)
			_, err := certs.DecodePKCS12(data, passphrase)
			if !errors.Is(err, certs.ErrBundleTooLarge) {
				t.Fatalf("err = %v, want ErrBundleTooLarge", err)
			}
			if *checks != 0 {
				t.Errorf("%d signatures checked for a refused bundle", *checks)
			}
			for _, d := range *decoded {
				if bytes.Equal(d, data) {
					t.Error("the bundle itself reached the decoder")
				}
			}
		})
	}
}

func TestChainBuildingChecksEachCertificateAtMostTwice(t *testing.T) {
	root, _ := certstest.NewCA("provider root")
	var chain []*x509.Certificate
	issuer := root
	for i := range 60 {
		issuer, _ = issuer.Intermediate(fmt.Sprintf("provider CA %d", i))
		chain = append([]*x509.Certificate{issuer.Cert}, chain...)
	}
	leaf, _ := issuer.Issue("m2m-user", certstest.Options{})
	// Decoys bear the name of an intermediate without its key, listed
	// before it; the rest of the chain follows in reverse, then the root.
	var listed []*x509.Certificate
	for range certs.MaxCertificates - 62 {
		decoy, _ := root.Intermediate("provider CA 30")
		listed = append(listed, decoy.Cert)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		listed = append(listed, chain[i])
	}
	listed = append(listed, root.Cert)
	data, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, listed, passphrase)
	if err != nil {
		t.Fatal(err)
	}

	checks := certs.SignatureChecks(t)
	b, err := certs.DecodePKCS12(data, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Chain) != len(chain) {
		t.Fatalf("chain of %d certificates, want %d", len(b.Chain), len(chain))
	}
	for i := range chain {
		if !b.Chain[i].Equal(chain[i]) {
			t.Fatalf("chain[%d] is %s, want %s", i, b.Chain[i].Subject, chain[i].Subject)
		}
	}
	if len(b.CAs) != len(listed)-len(chain) {
		t.Errorf("%d trust anchors, want the root and the decoys (%d)", len(b.CAs), len(listed)-len(chain))
	}
	if *checks == 0 || *checks > 2*len(listed) {
		t.Errorf("%d signature checks for %d certificates, want at most %d", *checks, len(listed), 2*len(listed))
	}
}

func TestBundlesAsToolsWriteThemDecode(t *testing.T) {
	ca, _ := certstest.NewCA("provider")
	leaf, _ := ca.Issue("m2m-user", certstest.Options{})
	cases := []struct {
		name       string
		enc        *pkcs12.Encoder
		passphrase string
	}{
		{"100,000 iterations, as Java 8 and 11 write their MAC", pkcs12.Modern2023.WithIterations(100_000), passphrase},
		{"iterations at the limit", pkcs12.LegacyDES.WithIterations(certs.MaxKDFIterations), passphrase},
		{"an empty passphrase", pkcs12.Modern2023, ""},
		{"a passphrase beyond ASCII", pkcs12.Modern2026, "Päßwort-€-42"},
		{"a passphrase that is not UTF-8", pkcs12.Modern2023, "pass\xffword"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.enc.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Cert}, tc.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			b, err := certs.DecodePKCS12(data, tc.passphrase)
			if err != nil {
				t.Fatalf("DecodePKCS12: %v", err)
			}
			if !b.Leaf.Equal(leaf.Cert) || len(b.CAs) != 1 {
				t.Errorf("leaf %s, %d trust anchors", b.Leaf.Subject, len(b.CAs))
			}
		})
	}
}

// BenchmarkDecodePKCS12Chain decodes bundles of n P-521 intermediates listed
// in reverse chain order: linear in n now, where it took 47 s for 150.
func BenchmarkDecodePKCS12Chain(b *testing.B) {
	for _, n := range []int{10, 50, certs.MaxCertificates - 2} {
		b.Run(fmt.Sprintf("intermediates=%d", n), func(b *testing.B) {
			data, _, _ := chainBundle(b, n, certstest.P521)
			checks := certs.SignatureChecks(b)
			b.ResetTimer()
			for b.Loop() {
				if _, err := certs.DecodePKCS12(data, passphrase); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(*checks)/float64(b.N), "sigchecks/op")
		})
	}
}

// BenchmarkDecodePKCS12AtTheIterationLimit is the most a bundle's key
// derivations can cost: every one at MaxKDFIterations.
func BenchmarkDecodePKCS12AtTheIterationLimit(b *testing.B) {
	ca, _ := certstest.NewCA("provider")
	leaf, _ := ca.Issue("m2m-user", certstest.Options{})
	for name, enc := range map[string]*pkcs12.Encoder{"legacy 3DES": pkcs12.LegacyDES, "AES": pkcs12.Modern2023, "AES PBMAC1": pkcs12.Modern2026} {
		b.Run(name, func(b *testing.B) {
			data, err := enc.WithIterations(certs.MaxKDFIterations).Encode(leaf.Key, leaf.Cert, nil, passphrase)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := certs.DecodePKCS12(data, passphrase); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
