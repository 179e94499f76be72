package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// nullWithoutCertificate plans certificate_thumbprint as null when the
// configuration has no client_certificate. The operator reports a
// thumbprint only for a certificate in use, so "(known after apply)" on
// every update of a client without one would announce a change that never
// comes. With a certificate the value stays unknown on an update: the
// certificate behind the same reference may have been renewed since, and
// only the operator's answer says which one is used.
type nullWithoutCertificate struct{}

func (nullWithoutCertificate) Description(context.Context) string {
	return "null when no client_certificate is configured"
}

func (m nullWithoutCertificate) MarkdownDescription(ctx context.Context) string {
	return m.Description(ctx)
}

func (nullWithoutCertificate) PlanModifyString(ctx context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if !req.PlanValue.IsUnknown() {
		return
	}
	var cert types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("client_certificate"), &cert)...)
	if !resp.Diagnostics.HasError() && cert.IsNull() {
		resp.PlanValue = types.StringNull()
	}
}
