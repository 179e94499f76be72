package provider

import (
	"context"
	"crypto/x509"

	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/keyport-dev/keyport/shared/certs"
)

// NewCertificateThumbprintFunction returns provider::keyport::certificate_thumbprint.
func NewCertificateThumbprintFunction() function.Function {
	return &certificateDigest{
		name:    "certificate_thumbprint",
		summary: "SHA-1 thumbprint of a certificate",
		description: "Returns the SHA-1 thumbprint of the first certificate in a PEM string, as upper-case hex without " +
			"separators: the form platforms (such as a bank's M2M API) bind into tokens, and the one " +
			"`keyport_m2m_certificate.sha1_thumbprint` reports.",
		digest: certs.Thumbprint,
	}
}

// certificateDigest is a function from a PEM certificate to a digest of its
// first certificate, computed by shared/certs like everywhere else in Keyport.
type certificateDigest struct {
	name, summary, description string
	digest                     func(*x509.Certificate) string
}

func (f *certificateDigest) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = f.name
}

func (f *certificateDigest) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary:             f.summary,
		MarkdownDescription: f.description,
		Parameters: []function.Parameter{function.StringParameter{Name: "pem",
			MarkdownDescription: "PEM-encoded certificate or chain; the first `CERTIFICATE` block counts."}},
		Return: function.StringReturn{},
	}
}

func (f *certificateDigest) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var pem string
	resp.Error = function.ConcatFuncErrors(resp.Error, req.Arguments.Get(ctx, &pem))
	if resp.Error != nil {
		return
	}
	list, err := certs.DecodeCertificatesPEM([]byte(pem))
	if err != nil {
		resp.Error = function.NewArgumentFuncError(0, "pem holds no certificate: "+err.Error())
		return
	}
	resp.Error = function.ConcatFuncErrors(resp.Error, resp.Result.Set(ctx, f.digest(list[0])))
}
