package certs

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// What decoding a PKCS#12 bundle may cost. A bundle names its own work:
// each key derivation (the MAC key, the key of each encrypted safe, the key
// of the shrouded private key) runs as many iterations as the file says,
// before the passphrase is known to be right, and go-pkcs12 runs them as
// asked. So the counts are read from the ASN.1 and checked before anything
// is derived.
const (
	// MaxKDFIterations bounds each key derivation. Tools write 2,048
	// (OpenSSL 1.1 and 3, go-pkcs12), 2,000 (Windows), 10,000 (Java 12 and
	// later) and at most 100,000 (the MAC of Java 8 and 11); .NET refuses
	// more than 300,000 by default (Pkcs12LoaderLimits), and so does
	// Keyport. At that count a derivation takes about 50 ms of one core,
	// and a bundle needs at most six of them (see checkPKCS12).
	MaxKDFIterations = 300_000
	// MaxCertificates bounds the certificates of a bundle: a client
	// certificate comes with a few intermediates and perhaps a root, not
	// with a CA store.
	MaxCertificates = 100
	// MaxBundleBytes bounds the bundle itself: MaxCertificates large
	// certificates fit with room to spare.
	MaxBundleBytes = 256 << 10
)

// Errors for bundles refused for what they would cost. Their messages say
// which limit and by how much, never what the bundle holds.
var (
	ErrBundleTooLarge     = errors.New("the PKCS#12 bundle is too large")
	ErrBundleTooExpensive = errors.New("the PKCS#12 bundle asks for more key-derivation work than Keyport allows")
)

// The library's decoder, a variable so that tests can see whether a bundle
// reached it.
var decodeChain = pkcs12.DecodeChain

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidHMACSHA256    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	// The PKCS#12 PBE schemes go-pkcs12 decrypts: 3DES, 128- and 40-bit RC2.
	legacyPBE = []asn1.ObjectIdentifier{
		{1, 2, 840, 113549, 1, 12, 1, 3}, {1, 2, 840, 113549, 1, 12, 1, 5}, {1, 2, 840, 113549, 1, 12, 1, 6},
	}
	// The MAC digests go-pkcs12 verifies with the PKCS#12 KDF.
	legacyMAC = []asn1.ObjectIdentifier{
		{1, 3, 14, 3, 2, 26}, {2, 16, 840, 1, 101, 3, 4, 2, 1}, {2, 16, 840, 1, 101, 3, 4, 2, 3},
	}
)

// The structures of RFC 7292 as go-pkcs12 reads them.
type (
	pfxPDU struct {
		Version  int
		AuthSafe contentInfo
		MacData  macData `asn1:"optional"`
	}
	contentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
	}
	macData struct {
		Mac struct {
			Algorithm pkix.AlgorithmIdentifier
			Digest    []byte
		}
		MacSalt    []byte
		Iterations int `asn1:"optional,default:1"`
	}
	encryptedData struct {
		Version int
		Content struct {
			ContentType asn1.ObjectIdentifier
			Algorithm   pkix.AlgorithmIdentifier
			Encrypted   []byte `asn1:"tag:0,optional"`
		}
	}
	safeBag struct {
		ID         asn1.ObjectIdentifier
		Value      asn1.RawValue `asn1:"tag:0,explicit"`
		Attributes []attribute   `asn1:"set,optional"`
	}
	attribute struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"set"`
	}
	encryptedKeyInfo struct {
		Algorithm pkix.AlgorithmIdentifier
		Encrypted []byte
	}
	pbeParams struct {
		Salt       []byte
		Iterations int
	}
	pbes2Params struct {
		KDF, Scheme pkix.AlgorithmIdentifier
	}
	pbkdf2Params struct {
		Salt       asn1.RawValue
		Iterations int
		KeyLength  int                      `asn1:"optional"`
		PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
	}
	pbmac1Params struct {
		KDF, MAC pkix.AlgorithmIdentifier
	}
)

// checkPKCS12 refuses a bundle whose decoding would cost more than the
// limits allow, before any key is derived. It reads the iteration count of
// every derivation it can see: the MAC's, each encrypted safe's and each
// shrouded key's in an unencrypted safe. A key inside an encrypted safe is
// seen only once that safe is decrypted, so each encrypted safe is first
// decrypted on its own (see probeSafe) and refused if it holds a key. That
// bounds decoding at six derivations: the MAC, each of at most two safes
// twice, and one key.
func checkPKCS12(data []byte, passphrase string) error {
	if len(data) > MaxBundleBytes {
		return fmt.Errorf("%w: %d bytes, at most %d are read", ErrBundleTooLarge, len(data), MaxBundleBytes)
	}
	var pfx pfxPDU
	if err := unmarshal(data, &pfx); err != nil {
		return err
	}
	if err := checkMAC(pfx.MacData); err != nil {
		return err
	}
	var authSafe asn1.RawValue
	var safes []contentInfo
	if err := unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return err
	}
	if err := unmarshal(authSafe.Bytes, &safes); err != nil {
		return err
	}
	if len(safes) > 2 {
		// go-pkcs12 reads a key and its certificates from at most two.
		return fmt.Errorf("decode PKCS#12 bundle: %d safes, at most 2 are read", len(safes))
	}
	// Everything visible first, so that a bundle refused for it costs
	// nothing; then the encrypted safes, one at a time.
	certificates := 0
	var encrypted []contentInfo
	for _, safe := range safes {
		switch {
		case safe.ContentType.Equal(oidData):
			n, err := checkPlainSafe(safe)
			if err != nil {
				return err
			}
			certificates += n
		case safe.ContentType.Equal(oidEncryptedData):
			var ed encryptedData
			if err := unmarshal(safe.Content.Bytes, &ed); err != nil {
				return err
			}
			if err := checkEncryption("an encrypted safe", ed.Content.Algorithm); err != nil {
				return err
			}
			encrypted = append(encrypted, safe)
		}
	}
	for _, safe := range encrypted {
		n, err := probeSafe(safe, passphrase)
		if err != nil {
			return err
		}
		certificates += n
	}
	if certificates > MaxCertificates {
		return fmt.Errorf("%w: %d certificates, at most %d are read", ErrBundleTooLarge, certificates, MaxCertificates)
	}
	return nil
}

func checkMAC(m macData) error {
	alg := m.Mac.Algorithm
	switch {
	case len(alg.Algorithm) == 0:
		return nil // no MAC, nothing derived
	case alg.Algorithm.Equal(oidPBMAC1):
		var p pbmac1Params
		if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
			return err
		}
		return checkPBKDF2("the MAC", p.KDF)
	case oneOf(alg.Algorithm, legacyMAC):
		return checkIterations("the MAC", m.Iterations)
	}
	return fmt.Errorf("decode PKCS#12 bundle: MAC algorithm %s is not supported", alg.Algorithm)
}

// checkEncryption checks the derivation of a PBE scheme's key.
func checkEncryption(what string, alg pkix.AlgorithmIdentifier) error {
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var p pbes2Params
		if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
			return err
		}
		return checkPBKDF2(what, p.KDF)
	case oneOf(alg.Algorithm, legacyPBE):
		var p pbeParams
		if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
			return err
		}
		return checkIterations(what, p.Iterations)
	}
	return fmt.Errorf("decode PKCS#12 bundle: encryption %s is not supported", alg.Algorithm)
}

func checkPBKDF2(what string, kdf pkix.AlgorithmIdentifier) error {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return fmt.Errorf("decode PKCS#12 bundle: key derivation %s is not supported", kdf.Algorithm)
	}
	var p pbkdf2Params
	if err := unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
		return err
	}
	return checkIterations(what, p.Iterations)
}

func checkIterations(what string, n int) error {
	if n > MaxKDFIterations {
		return fmt.Errorf("%w: %s asks for %d iterations, at most %d are run; export the bundle with the tool's default count",
			ErrBundleTooExpensive, what, n, MaxKDFIterations)
	}
	return nil
}

// checkPlainSafe checks the shrouded keys of an unencrypted safe and counts
// its certificates.
func checkPlainSafe(safe contentInfo) (certificates int, err error) {
	var content []byte
	var bags []safeBag
	if err := unmarshal(safe.Content.Bytes, &content); err != nil {
		return 0, err
	}
	if err := unmarshal(content, &bags); err != nil {
		return 0, err
	}
	for _, bag := range bags {
		switch {
		case bag.ID.Equal(oidCertBag):
			certificates++
		case bag.ID.Equal(oidShroudedKey):
			var k encryptedKeyInfo
			if err := unmarshal(bag.Value.Bytes, &k); err != nil {
				return 0, err
			}
			if err := checkEncryption("the private key", k.Algorithm); err != nil {
				return 0, err
			}
		}
	}
	return certificates, nil
}

// probeSafe decodes one encrypted safe on its own, to count its
// certificates and make sure it holds no key, whose derivation could not be
// checked beforehand. The safe goes behind a placeholder key: go-pkcs12
// decodes a bundle's bags in order and stops at a second key before
// deriving anything for it, so a key in the safe is refused, never derived.
// The probe bundle carries its own MAC, computed here with one iteration.
//
// A safe that does not decrypt (most often a wrong passphrase) is left to
// the decoder: it checks the bundle's MAC first and otherwise fails on the
// same safe before it decodes any bag.
func probeSafe(safe contentInfo, passphrase string) (certificates int, err error) {
	probe, err := probeBundle(safe, passphrase)
	if err != nil {
		return 0, err
	}
	_, _, cas, err := decodeChain(probe, passphrase)
	var syntax asn1.SyntaxError
	var structural asn1.StructuralError
	switch {
	case err == nil:
		return 1 + len(cas), nil
	case strings.Contains(err.Error(), "certificate missing"):
		return 0, nil
	case errors.Is(err, pkcs12.ErrDecryption), errors.As(err, &syntax), errors.As(err, &structural):
		return 0, nil
	case strings.Contains(err.Error(), "expected exactly one key bag"):
		return 0, fmt.Errorf("%w: the private key is inside an encrypted safe, where its cost cannot be checked before it is paid; "+
			"export the bundle as OpenSSL, Java and Windows do, with the key in a safe of its own", ErrBundleTooExpensive)
	}
	return 0, fmt.Errorf("decode PKCS#12 bundle: %w", sanitize(err))
}

// placeholderKey is any valid PKCS#8 key: the probe's first key bag.
var placeholderKey = func() []byte {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return der
}()

// probeBundle is a bundle of two safes, the placeholder key's and safe,
// with a PBMAC1 MAC of one iteration.
func probeBundle(safe contentInfo, passphrase string) ([]byte, error) {
	explicit := func(der []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
	}
	bags, err := asn1.Marshal([]safeBag{{ID: oidKeyBag, Value: explicit(placeholderKey)}})
	if err != nil {
		return nil, err
	}
	if bags, err = asn1.Marshal(bags); err != nil { // an OCTET STRING
		return nil, err
	}
	authSafe, err := asn1.Marshal([]contentInfo{{ContentType: oidData, Content: explicit(bags)}, safe})
	if err != nil {
		return nil, err
	}
	var pfx pfxPDU
	pfx.Version = 3
	if pfx.MacData, err = pbmac1(authSafe, passphrase); err != nil {
		return nil, err
	}
	octets, err := asn1.Marshal(authSafe)
	if err != nil {
		return nil, err
	}
	pfx.AuthSafe = contentInfo{ContentType: oidData, Content: explicit(octets)}
	return asn1.Marshal(pfx)
}

// pbmac1 is the MAC of RFC 9579 over message with PBKDF2-HMAC-SHA256, one
// iteration, and HMAC-SHA256. The passphrase is what go-pkcs12 makes of it
// (each invalid UTF-8 byte becomes U+FFFD).
func pbmac1(message []byte, passphrase string) (macData, error) {
	var m macData
	salt := make([]byte, 16)
	key, err := pbkdf2.Key(sha256.New, string([]rune(passphrase)), salt, 1, sha256.Size)
	if err != nil {
		return m, err
	}
	kdf := pbkdf2Params{Iterations: 1, KeyLength: sha256.Size, PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256}}
	if kdf.Salt.FullBytes, err = asn1.Marshal(salt); err != nil {
		return m, err
	}
	params := pbmac1Params{KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2}, MAC: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256}}
	if params.KDF.Parameters.FullBytes, err = asn1.Marshal(kdf); err != nil {
		return m, err
	}
	m.Mac.Algorithm.Algorithm = oidPBMAC1
	if m.Mac.Algorithm.Parameters.FullBytes, err = asn1.Marshal(params); err != nil {
		return m, err
	}
	h := hmac.New(sha256.New, key)
	h.Write(message)
	m.Mac.Digest = h.Sum(nil)
	m.Iterations = 1
	return m, nil
}

// unmarshal reads exactly one DER value, as go-pkcs12 does.
func unmarshal(der []byte, out any) error {
	rest, err := asn1.Unmarshal(der, out)
	if err == nil && len(rest) > 0 {
		err = errors.New("trailing data")
	}
	if err != nil {
		return fmt.Errorf("decode PKCS#12 bundle: %w", sanitize(err))
	}
	return nil
}

func oneOf(oid asn1.ObjectIdentifier, set []asn1.ObjectIdentifier) bool {
	for _, o := range set {
		if oid.Equal(o) {
			return true
		}
	}
	return false
}
