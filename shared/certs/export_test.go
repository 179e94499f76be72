package certs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// Decoded records the bundles that reach go-pkcs12 until the test ends.
func Decoded(t testing.TB) *[][]byte {
	var seen [][]byte
	was := decodeChain
	decodeChain = func(data []byte, password string) (any, *x509.Certificate, []*x509.Certificate, error) {
		seen = append(seen, data)
		return was(data, password)
	}
	t.Cleanup(func() { decodeChain = was })
	return &seen
}

// SignatureChecks counts the signature checks of chain building until the
// test ends.
func SignatureChecks(t testing.TB) *int {
	n := 0
	was := checkSignature
	checkSignature = func(child, parent *x509.Certificate) error {
		n++
		return was(child, parent)
	}
	t.Cleanup(func() { checkSignature = was })
	return &n
}

// KeyInsideEncryptedSafe is a bundle with a valid MAC whose only safe is
// encrypted (PBES2, 2,048 iterations) and holds leaf and a shrouded key
// whose derivation asks for keyIterations. The key's ciphertext is noise:
// a decoder that derives its key finds bad padding, after paying for it.
func KeyInsideEncryptedSafe(t testing.TB, leaf *x509.Certificate, password string, keyIterations int) []byte {
	t.Helper()
	der := func(v any) []byte {
		t.Helper()
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	explicit := func(b []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: b}
	}
	// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, salt and IV alike.
	pbes2 := func(salt []byte, iterations int) pkix.AlgorithmIdentifier {
		kdf := pbkdf2Params{Iterations: iterations, PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256}}
		kdf.Salt.FullBytes = der(salt)
		return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: der(pbes2Params{
			KDF:    pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: der(kdf)}},
			Scheme: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, Parameters: asn1.RawValue{FullBytes: der(salt)}},
		})}}
	}

	certBag := der(struct {
		ID   asn1.ObjectIdentifier
		Data []byte `asn1:"tag:0,explicit"`
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}, leaf.Raw})
	key := der(encryptedKeyInfo{Algorithm: pbes2(make([]byte, 16), keyIterations), Encrypted: make([]byte, 32)})
	safe := der([]safeBag{{ID: oidCertBag, Value: explicit(certBag)}, {ID: oidShroudedKey, Value: explicit(key)}})

	iv := make([]byte, aes.BlockSize)
	_, _ = rand.Read(iv)
	aesKey, err := pbkdf2.Key(sha256.New, password, iv, 2048, 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(safe)%aes.BlockSize
	for range pad {
		safe = append(safe, byte(pad))
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(safe, safe)
	var ed encryptedData
	ed.Content.ContentType = oidData
	ed.Content.Algorithm = pbes2(iv, 2048)
	ed.Content.Encrypted = safe

	authSafe := der([]contentInfo{{ContentType: oidEncryptedData, Content: explicit(der(ed))}})
	pfx := pfxPDU{Version: 3, AuthSafe: contentInfo{ContentType: oidData, Content: explicit(der(authSafe))}}
	if pfx.MacData, err = pbmac1(authSafe, password); err != nil {
		t.Fatal(err)
	}
	return der(pfx)
}
