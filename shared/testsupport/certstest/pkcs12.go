package certstest

import (
	"bytes"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// Derivation names one key derivation of a bundle go-pkcs12 writes.
type Derivation int

const (
	// CertificateSafe derives the key of the encrypted safe of certificates.
	CertificateSafe Derivation = iota
	// PrivateKey derives the key of the shrouded private key.
	PrivateKey
	// MAC derives the MAC key.
	MAC
)

// PKCS12WithIterations encodes c and its chain as enc does, except that
// derivation d asks for n iterations (32,768 to 8,388,607), as a hostile
// bundle does; the others ask for 32,768. The MAC no longer matches: the
// bundle is for checking what a decoder does before it derives anything.
func PKCS12WithIterations(enc *pkcs12.Encoder, c *Cert, password string, d Derivation, n int) ([]byte, error) {
	if n < 1<<15 || n >= 1<<23 {
		return nil, fmt.Errorf("%d iterations do not fit the three bytes of the placeholder count", n)
	}
	// 32,768 is the smallest count DER writes in three bytes, so it can be
	// replaced in place by any count up to 2^23-1.
	data, err := enc.WithIterations(1<<15).Encode(c.Key, c.Cert, c.Chain, password)
	if err != nil {
		return nil, err
	}
	placeholder := []byte{0x02, 0x03, 0x00, 0x80, 0x00} // INTEGER 32768
	var at []int
	for i := 0; ; {
		j := bytes.Index(data[i:], placeholder)
		if j < 0 {
			break
		}
		at = append(at, i+j)
		i += j + 1
	}
	// go-pkcs12 writes the certificate safe, then the key, then the MAC.
	if len(at) != 3 {
		return nil, fmt.Errorf("found %d iteration counts, want 3", len(at))
	}
	copy(data[at[d]:], []byte{0x02, 0x03, byte(n >> 16), byte(n >> 8), byte(n)})
	return data, nil
}
