package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/keyport-dev/keyport/shared/certs"
)

// NewCertificateThumbprintFunction returns provider::keyport::certificate_thumbprint.
func NewCertificateThumbprintFunction() function.Function { return &certificateThumbprint{} }

type certificateThumbprint struct{}

func (f *certificateThumbprint) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "certificate_thumbprint"
}

func (f *certificateThumbprint) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary:             "SHA-1 thumbprint of a certificate",
		MarkdownDescription: "Returns the SHA-1 thumbprint (upper-case hex, no separators) of the first certificate in a PEM string: the form platforms bind into tokens.",
		Parameters:          []function.Parameter{function.StringParameter{Name: "pem", MarkdownDescription: "PEM-encoded certificate (chain)."}},
		Return:              function.StringReturn{},
	}
}

func (f *certificateThumbprint) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
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
	resp.Error = function.ConcatFuncErrors(resp.Error, resp.Result.Set(ctx, certs.Thumbprint(list[0])))
}
