package provider

import (
	"context"
	"encoding/base64"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// NewM2MCertificateResource returns keyport_m2m_certificate.
func NewM2MCertificateResource() resource.Resource {
	return &crdResource[m2mCertificateModel, *m2mCertificateModel, *keyportv1.M2MCertificate]{k: m2mCertificateKind}
}

var m2mCertificateKind = &kind[m2mCertificateModel, *m2mCertificateModel, *keyportv1.M2MCertificate]{
	typeName:   "m2m_certificate",
	name:       "M2MCertificate",
	schema:     m2mCertificateSchema,
	newObject:  func() *keyportv1.M2MCertificate { return &keyportv1.M2MCertificate{} },
	toObject:   toM2MCertificate,
	fromSpec:   m2mCertificateFromSpec,
	fromStatus: m2mCertificateFromStatus,
	terminal: map[string]bool{
		keyportv1.ReasonWrongPassphrase:        true,
		keyportv1.ReasonBundleWithoutKey:       true,
		keyportv1.ReasonInvalidCertificateData: true,
		keyportv1.ReasonCertificateExpired:     true,
		keyportv1.ReasonUnknownDriver:          true,
	},
	configValidators: []resource.ConfigValidator{
		httpsOnly{url: path.Root("registration").AtName("management_url"), allow: path.Root("registration").AtName("allow_insecure_http")},
	},
	validateConfig: m2mCertificateValidate,
	modifyPlan:     m2mCertificateModifyPlan,
	stored:         m2mCertificateStored,
}

// The three certificate sources; exactly one is set and it cannot change.
var certificateSources = []string{"cert_manager", "pkcs12", "secret_ref"}

func m2mCertificateSchema(ctx context.Context) schema.Schema {
	names := func(what string, maxItems int) schema.ListAttribute { return stringList(what, maxItems) }
	return crdSchema(ctx, "M2MCertificate",
		"An M2MCertificate: a client certificate for mutual TLS and for signing client assertions. Exactly one source: "+
			"`cert_manager` (Keyport creates and follows a cert-manager Certificate), `pkcs12` (a provider-issued bundle "+
			"and its passphrase) or `secret_ref` (an existing `kubernetes.io/tls` Secret). The operator writes a normalized "+
			"`kubernetes.io/tls` Secret (`output_secret_name`) and reports the thumbprint and validity.\n\n"+
			"A PKCS#12 bundle and its passphrase stay out of Terraform's state: `pkcs12_wo` (base64, for example from "+
			"`filebase64()`) and `passphrase_wo` are write-only. The provider writes them into the bundle Secret — by default "+
			"`<name>-pkcs12`, keys `bundle.p12` and `passphrase` — and again when their `_wo_version` changes. Switching "+
			"the source replaces the resource.",
		map[string]schema.Attribute{
			"cert_manager": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Have Keyport create and own a cert-manager Certificate and follow its renewals.",
				Attributes: map[string]schema.Attribute{
					"issuer_ref": schema.SingleNestedAttribute{Required: true,
						MarkdownDescription: "The cert-manager Issuer or ClusterIssuer that signs.",
						Attributes: map[string]schema.Attribute{
							"name": schema.StringAttribute{Required: true, Validators: objectName(), MarkdownDescription: "Name of the issuer."},
							"kind": schema.StringAttribute{Optional: true, Validators: enum("Issuer", "ClusterIssuer"),
								MarkdownDescription: "`Issuer` (same namespace, the default) or `ClusterIssuer`."},
							"group": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 253)},
								MarkdownDescription: "API group of the issuer. Default `cert-manager.io`."},
						}},
					"common_name": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 64)},
						MarkdownDescription: "Common name of the subject."},
					"organizations": names("Organizations in the subject.", 8),
					"dns_names":     names("DNS subject alternative names.", 32),
					"uris":          names("URI subject alternative names.", 32),
					"private_key": schema.SingleNestedAttribute{Optional: true,
						MarkdownDescription: "Key algorithm and size.",
						Attributes: map[string]schema.Attribute{
							"algorithm": schema.StringAttribute{Required: true, Validators: enum("RSA", "ECDSA", "Ed25519"),
								MarkdownDescription: "`RSA`, `ECDSA` or `Ed25519` (Ed25519 cannot sign RS256/PS256/ES256 assertions)."},
							"size": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.OneOf(2048, 3072, 4096, 256, 384, 521)},
								MarkdownDescription: "2048, 3072 or 4096 for RSA; 256, 384 or 521 for ECDSA."},
						}},
					"duration": schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{goDuration{}},
						MarkdownDescription: "Lifetime of each certificate, at least `1h`. cert-manager's default (90 days) when unset."},
					"renew_before": schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{goDuration{}},
						MarkdownDescription: "How long before expiry cert-manager renews, at least `5m`."},
				}},
			"pkcs12": schema.SingleNestedAttribute{Optional: true, Computed: true,
				MarkdownDescription: "Import a provider-issued PKCS#12 bundle protected by a passphrase, from Secrets in the same namespace. " +
					"Keyport cannot renew such a certificate; it warns in time. Set by the provider when `pkcs12_wo` is given.",
				Attributes: map[string]schema.Attribute{
					"secret_name": schema.StringAttribute{Optional: true, Computed: true, Validators: objectName(),
						MarkdownDescription: "Secret holding the bundle. Default `<name>-pkcs12` when the provider writes it."},
					"bundle_key": schema.StringAttribute{Optional: true, Validators: secretKey(),
						MarkdownDescription: "Key of the bundle in the Secret. Default `bundle.p12`."},
					"passphrase": schema.SingleNestedAttribute{Optional: true, Computed: true,
						MarkdownDescription: "Secret key holding the passphrase. Default key `passphrase` of the bundle Secret when the provider writes it.",
						Attributes: map[string]schema.Attribute{
							// Optional+Computed rather than Required: Terraform would
							// otherwise see a change in every plan of a computed parent.
							"name": schema.StringAttribute{Optional: true, Computed: true,
								Validators:          append(objectName(), stringvalidator.AlsoRequires(path.MatchRelative().AtParent().AtName("key"))),
								MarkdownDescription: "Name of the Secret."},
							"key": schema.StringAttribute{Optional: true, Computed: true,
								Validators:          append(secretKey(), stringvalidator.AlsoRequires(path.MatchRelative().AtParent().AtName("name"))),
								MarkdownDescription: "Key within the Secret's data."},
						}},
				}},
			"secret_ref": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Use an existing `kubernetes.io/tls` Secret in the same namespace as it is.",
				Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{Required: true, Validators: objectName(), MarkdownDescription: "Name of the Secret."},
				}},
			"pkcs12_wo": schema.StringAttribute{Optional: true, WriteOnly: true, Sensitive: true,
				Validators:          []validator.String{base64Value{}, stringvalidator.AlsoRequires(path.MatchRoot("pkcs12_wo_version"))},
				MarkdownDescription: "The PKCS#12 bundle, base64-encoded (`filebase64(\"m2m.p12\")`), written into the bundle Secret and never stored in state or plan. Write-only (Terraform 1.11 or later)."},
			"pkcs12_wo_version": schema.Int64Attribute{Optional: true,
				Validators:          []validator.Int64{int64validator.AlsoRequires(path.MatchRoot("pkcs12_wo"))},
				MarkdownDescription: "Version of `pkcs12_wo`: change it to write a new bundle."},
			"passphrase_wo": schema.StringAttribute{Optional: true, WriteOnly: true, Sensitive: true,
				Validators:          []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("passphrase_wo_version"))},
				MarkdownDescription: "Passphrase of the bundle, written into the bundle Secret and never stored in state or plan. Write-only (Terraform 1.11 or later)."},
			"passphrase_wo_version": schema.Int64Attribute{Optional: true,
				Validators:          []validator.Int64{int64validator.AlsoRequires(path.MatchRoot("passphrase_wo"))},
				MarkdownDescription: "Version of `passphrase_wo`: change it to write a new passphrase."},
			"output_secret_name": schema.StringAttribute{Optional: true, Computed: true, Validators: objectName(),
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseNonNullStateForUnknown()},
				MarkdownDescription: "The normalized `kubernetes.io/tls` Secret. Default `<name>-tls`."},
			"expiry_warning": schema.StringAttribute{Optional: true, CustomType: durationType{}, Validators: []validator.String{goDuration{}},
				MarkdownDescription: "How long before `not_after` the operator starts warning, such as `720h` (the default)."},
			"registration": platformAttribute("Register the certificate with the platform through a provider driver, where the platform supports it.", false, false),

			"sha1_thumbprint": schema.StringAttribute{Computed: true,
				MarkdownDescription: "SHA-1 thumbprint of the certificate, upper-case hex: the form platforms bind into tokens."},
			"sha256_fingerprint": schema.StringAttribute{Computed: true, MarkdownDescription: "SHA-256 fingerprint of the certificate, upper-case hex."},
			"subject":            schema.StringAttribute{Computed: true, MarkdownDescription: "Subject of the certificate."},
			"issuer":             schema.StringAttribute{Computed: true, MarkdownDescription: "Issuer of the certificate."},
			"serial_number":      schema.StringAttribute{Computed: true, MarkdownDescription: "Serial number of the certificate, hex."},
			"not_before":         schema.StringAttribute{Computed: true, MarkdownDescription: "Start of the certificate's validity (RFC 3339)."},
			"not_after":          schema.StringAttribute{Computed: true, MarkdownDescription: "End of the certificate's validity (RFC 3339)."},
			"certificate_name":   schema.StringAttribute{Computed: true, MarkdownDescription: "The cert-manager Certificate Keyport owns, if any."},
			"registration_id":    schema.StringAttribute{Computed: true, MarkdownDescription: "The platform's id of the registered certificate, if any."},
		})
}

// m2mCertificateValidate checks the source rules of the CRD that involve
// the write-only arguments, which the API server never sees.
func m2mCertificateValidate(ctx context.Context, cfg tfsdk.Config, diags *diag.Diagnostics) {
	var sources []string
	for _, name := range certificateSources {
		var v types.Object
		diags.Append(cfg.GetAttribute(ctx, path.Root(name), &v)...)
		if !v.IsNull() {
			sources = append(sources, name)
		}
	}
	var bundle, passphrase types.String
	diags.Append(cfg.GetAttribute(ctx, path.Root("pkcs12_wo"), &bundle)...)
	diags.Append(cfg.GetAttribute(ctx, path.Root("passphrase_wo"), &passphrase)...)
	if diags.HasError() {
		return
	}
	usesPKCS12 := !bundle.IsNull() || !passphrase.IsNull()
	if usesPKCS12 && !contains(sources, "pkcs12") {
		sources = append(sources, "pkcs12")
	}
	if len(sources) != 1 {
		diags.AddAttributeError(path.Root("cert_manager"), "Exactly one certificate source",
			"Set exactly one certificate source: cert_manager, pkcs12 (or pkcs12_wo) or secret_ref.")
		return
	}
	if sources[0] != "pkcs12" {
		return
	}
	var secretName types.String
	var passphraseRef types.Object
	diags.Append(cfg.GetAttribute(ctx, path.Root("pkcs12").AtName("secret_name"), &secretName)...)
	diags.Append(cfg.GetAttribute(ctx, path.Root("pkcs12").AtName("passphrase"), &passphraseRef)...)
	if bundle.IsNull() && secretName.IsNull() {
		diags.AddAttributeError(path.Root("pkcs12").AtName("secret_name"), "Missing bundle",
			"Set pkcs12.secret_name to a Secret holding the bundle, or give the bundle as pkcs12_wo.")
	}
	if passphrase.IsNull() && passphraseRef.IsNull() {
		diags.AddAttributeError(path.Root("pkcs12").AtName("passphrase"), "Missing passphrase",
			"Set pkcs12.passphrase to a Secret key holding the passphrase, or give it as passphrase_wo.")
	}
}

// m2mCertificateModifyPlan plans the bundle Secret for the write-only
// arguments and replaces the resource when its source changes kind.
func m2mCertificateModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var p *pkcs12Model
	var bundle, passphrase, name types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("pkcs12"), &p)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("pkcs12_wo"), &bundle)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("passphrase_wo"), &passphrase)...)
	resp.Diagnostics.Append(resp.Plan.GetAttribute(ctx, path.Root("name"), &name)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !bundle.IsNull() || !passphrase.IsNull() {
		if p == nil {
			p = &pkcs12Model{SecretName: types.StringNull(), BundleKey: types.StringNull()}
		}
		if p.SecretName.IsNull() {
			p.SecretName = suffixed(name, "-pkcs12")
		}
		if p.Passphrase == nil && !passphrase.IsNull() {
			p.Passphrase = &secretKeySelectorModel{Name: p.SecretName, Key: types.StringValue("passphrase")}
		}
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("pkcs12"), p)...)
	if req.State.Raw.IsNull() {
		return
	}
	// The CRD forbids switching the source: plan a replacement instead.
	for _, name := range certificateSources {
		var before, after types.Object
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root(name), &before)...)
		resp.Diagnostics.Append(resp.Plan.GetAttribute(ctx, path.Root(name), &after)...)
		if before.IsNull() != after.IsNull() && !after.IsUnknown() {
			resp.RequiresReplace.Append(path.Root(name))
		}
	}
}

// m2mCertificateStored lists what the provider keeps in the bundle Secret.
func m2mCertificateStored(ctx context.Context, m *m2mCertificateModel, cfg *tfsdk.Config) ([]storedValue, diag.Diagnostics) {
	var diags diag.Diagnostics
	p := m.PKCS12
	if p == nil {
		return nil, diags
	}
	var out []storedValue
	if !m.PKCS12WOVersion.IsNull() {
		v := storedValue{id: "bundle", secret: p.SecretName.ValueString(), key: firstOf(p.BundleKey.ValueString(), "bundle.p12"),
			version: strconv.FormatInt(m.PKCS12WOVersion.ValueInt64(), 10)}
		if cfg != nil {
			var encoded types.String
			diags.Append(cfg.GetAttribute(ctx, path.Root("pkcs12_wo"), &encoded)...)
			raw, err := base64.StdEncoding.DecodeString(encoded.ValueString())
			if err != nil {
				diags.AddAttributeError(path.Root("pkcs12_wo"), "Invalid pkcs12_wo", "pkcs12_wo must be base64, for example filebase64(\"m2m.p12\").")
			}
			v.value = raw
		}
		out = append(out, v)
	}
	if !m.PassphraseWOVersion.IsNull() && p.Passphrase != nil {
		v := storedValue{id: "passphrase", secret: p.Passphrase.Name.ValueString(), key: p.Passphrase.Key.ValueString(),
			version: strconv.FormatInt(m.PassphraseWOVersion.ValueInt64(), 10)}
		if cfg != nil {
			var value types.String
			diags.Append(cfg.GetAttribute(ctx, path.Root("passphrase_wo"), &value)...)
			v.value = []byte(value.ValueString())
		}
		out = append(out, v)
	}
	return out, diags
}

// base64Value accepts standard base64.
type base64Value struct{}

func (base64Value) Description(context.Context) string {
	return "must be base64, for example filebase64(\"m2m.p12\")"
}
func (v base64Value) MarkdownDescription(ctx context.Context) string {
	return "must be base64, for example `filebase64(\"m2m.p12\")`"
}

func (v base64Value) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := base64.StdEncoding.DecodeString(req.ConfigValue.ValueString()); err != nil || req.ConfigValue.ValueString() == "" {
		// The value is secret: say what is wrong, never what it is.
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid base64", req.Path.String()+" "+v.Description(ctx))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
