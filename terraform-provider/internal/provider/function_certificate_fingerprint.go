package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/keyport-dev/keyport/shared/certs"
)

// NewCertificateFingerprintFunction returns provider::keyport::certificate_fingerprint.
func NewCertificateFingerprintFunction() function.Function {
	return &certificateDigest{
		name:    "certificate_fingerprint",
		summary: "SHA-256 fingerprint of a certificate",
		description: "Returns the SHA-256 fingerprint of the first certificate in a PEM string, as upper-case hex without " +
			"separators: the one `keyport_m2m_certificate.sha256_fingerprint` reports.",
		digest: certs.Fingerprint256,
	}
}
