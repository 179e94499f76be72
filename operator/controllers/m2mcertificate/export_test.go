package m2mcertificate

import "github.com/keyport-dev/keyport/shared/certs"

// SetPKCS12Decoder makes r decode PKCS#12 bundles with decode.
func SetPKCS12Decoder(r *Reconciler, decode func(data []byte, passphrase string) (*certs.Bundle, error)) {
	r.decodePKCS12 = decode
}
