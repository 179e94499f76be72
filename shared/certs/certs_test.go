package certs_test

import (
	"crypto/sha1" //nolint:gosec // the test recomputes the thumbprint independently.
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

const passphrase = "Pr0vider-issued passphrase!"

func TestDecodePKCS12InEveryEncryption(t *testing.T) {
	root, _ := certstest.NewCA("root")
	inter, _ := root.Intermediate("intermediate")
	leaf, err := inter.Issue("m2m-user", certstest.Options{KeyType: certstest.RSA})
	if err != nil {
		t.Fatal(err)
	}
	encoders := map[string]*pkcs12.Encoder{
		"legacy RC2":  pkcs12.LegacyRC2,
		"legacy 3DES": pkcs12.LegacyDES,
		"modern AES":  pkcs12.Modern2023,
		"modern 2026": pkcs12.Modern2026,
	}
	for name, enc := range encoders {
		t.Run(name, func(t *testing.T) {
			data, err := enc.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{inter.Cert, root.Cert}, passphrase)
			if err != nil {
				t.Fatal(err)
			}
			b, err := certs.DecodePKCS12(data, passphrase)
			if err != nil {
				t.Fatalf("DecodePKCS12: %v", err)
			}
			if !b.Leaf.Equal(leaf.Cert) {
				t.Error("wrong leaf")
			}
			if len(b.Chain) != 1 || !b.Chain[0].Equal(inter.Cert) {
				t.Errorf("chain should hold the intermediate only, got %d certificates", len(b.Chain))
			}
			if len(b.CAs) != 1 || !b.CAs[0].Equal(root.Cert) {
				t.Errorf("the root should be a trust anchor, got %d", len(b.CAs))
			}
			// The normalized output round-trips through PEM.
			keyPEM, err := b.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			again, err := certs.DecodePEM(b.CertificatePEM(), keyPEM)
			if err != nil {
				t.Fatalf("normalized PEM does not decode: %v", err)
			}
			if len(again.Chain) != 1 {
				t.Error("the chain was lost in PEM")
			}
		})
	}
}

func TestDecodePKCS12Failures(t *testing.T) {
	ca, _ := certstest.NewCA("ca")
	leaf, _ := ca.Issue("m2m-user", certstest.Options{})
	other, _ := ca.Issue("other", certstest.Options{})
	good, _ := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, passphrase)
	legacy, _ := pkcs12.LegacyRC2.Encode(leaf.Key, leaf.Cert, nil, passphrase)
	trustOnly, _ := pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{leaf.Cert}, passphrase)
	mismatched, _ := pkcs12.Modern.Encode(other.Key, leaf.Cert, nil, passphrase)

	cases := []struct {
		name string
		data []byte
		pass string
		want error
	}{
		{"a wrong passphrase on a modern bundle", good, "wrong", certs.ErrWrongPassphrase},
		{"a wrong passphrase on a legacy bundle", legacy, "wrong", certs.ErrWrongPassphrase},
		{"a bundle without a private key", trustOnly, passphrase, certs.ErrNoPrivateKey},
		{"a key that belongs to another certificate", mismatched, passphrase, certs.ErrKeyMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := certs.DecodePKCS12(tc.data, tc.pass)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), passphrase) {
				t.Fatal("the error quotes the passphrase")
			}
		})
	}
	t.Run("garbage is an error, not a panic", func(t *testing.T) {
		if _, err := certs.DecodePKCS12([]byte("not a bundle"), passphrase); err == nil {
			t.Fatal("garbage decoded")
		}
	})
}

func TestExpiredCertificateDecodesAndSaysSo(t *testing.T) {
	ca, _ := certstest.NewCA("ca")
	leaf, _ := ca.Issue("old", certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	data, _ := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, passphrase)
	b, err := certs.DecodePKCS12(data, passphrase)
	if err != nil {
		t.Fatalf("an expired bundle should still decode so that its expiry can be reported: %v", err)
	}
	if info := certs.Describe(b.Leaf); !info.NotAfter.Before(time.Now()) {
		t.Errorf("NotAfter %v is not in the past", info.NotAfter)
	}
}

func TestThumbprintsAreUpperCaseHexOfTheDER(t *testing.T) {
	ca, _ := certstest.NewCA("ca")
	leaf, _ := ca.Issue("m2m-user", certstest.Options{})
	sum1 := sha1.Sum(leaf.Cert.Raw) //nolint:gosec
	sum256 := sha256.Sum256(leaf.Cert.Raw)
	if got, want := certs.Thumbprint(leaf.Cert), fmt.Sprintf("%X", sum1); got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
	if got, want := certs.Fingerprint256(leaf.Cert), fmt.Sprintf("%X", sum256); got != want {
		t.Errorf("Fingerprint256 = %s, want %s", got, want)
	}
	info := certs.Describe(leaf.Cert)
	if info.Subject != "CN=m2m-user" || !strings.Contains(info.Issuer, "CN=ca") || info.SerialNumber == "" {
		t.Errorf("Describe = %+v", info)
	}
}

func TestDecodePEMRejectsAMismatchedKey(t *testing.T) {
	ca, _ := certstest.NewCA("ca")
	a, _ := ca.Issue("a", certstest.Options{})
	b, _ := ca.Issue("b", certstest.Options{})
	if _, err := certs.DecodePEM(a.CertPEM(), b.KeyPEM()); !errors.Is(err, certs.ErrKeyMismatch) {
		t.Fatalf("err = %v, want ErrKeyMismatch", err)
	}
}

// TestHolderRotatesWithoutANewClient proves that a server sees the new client
// certificate on the next connection after Holder.Set, with the same client.
func TestHolderRotatesWithoutANewClient(t *testing.T) {
	ca, _ := certstest.NewCA("ca")
	serverCert, _ := ca.Issue("127.0.0.1", certstest.Options{Server: true})
	first, _ := ca.Issue("first", certstest.Options{})
	second, _ := ca.Issue("second", certstest.Options{})

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert.TLS()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	srv.StartTLS()
	defer srv.Close()

	var holder certs.Holder
	c1 := first.TLS()
	holder.Set(&c1)
	hc, err := outbound.NewClient(outbound.Options{CABundle: ca.CertPEM(), Policy: &outbound.Policy{Allow: outbound.Loopback()}, ClientCertificate: holder.Get})
	if err != nil {
		t.Fatal(err)
	}
	seen := func() string {
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := seen(); got != "first" {
		t.Fatalf("server saw %q", got)
	}
	c2 := second.TLS()
	holder.Set(&c2)
	hc.CloseIdleConnections() // a rotation applies from the next handshake
	if got := seen(); got != "second" {
		t.Fatalf("after rotation the server saw %q, want second", got)
	}
}
