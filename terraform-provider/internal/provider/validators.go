package provider

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/dialect"
)

// Plan-time validators for the CRD rules a user most often trips over:
// https-only URLs, names Kubernetes accepts, durations in the API's form
// and enums. The API server's CEL rules stay the authority: anything they
// reject that is not checked here fails the apply with their message.

var (
	// dnsSubdomainPattern is an object name (RFC 1123 subdomain).
	dnsSubdomainPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	// dnsLabelPattern is a namespace name (RFC 1123 label).
	dnsLabelPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// secretKeyPattern is a key of a Secret's data.
	secretKeyPattern = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	// durationPattern is the form the CRDs accept (what Go prints, without
	// the units smaller than a millisecond).
	durationPattern = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`)
	// headerNamePattern is an HTTP token.
	headerNamePattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

func objectName() []validator.String {
	return []validator.String{
		stringvalidator.LengthBetween(1, 253),
		stringvalidator.RegexMatches(dnsSubdomainPattern, "must be a Kubernetes object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"),
	}
}

func namespaceName() []validator.String {
	return []validator.String{
		stringvalidator.LengthBetween(1, 63),
		stringvalidator.RegexMatches(dnsLabelPattern, "must be a Kubernetes namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit"),
	}
}

func secretKey() []validator.String {
	return []validator.String{
		stringvalidator.LengthBetween(1, 253),
		stringvalidator.RegexMatches(secretKeyPattern, "must be a Secret key: letters, digits, '-', '_' and '.'"),
	}
}

func nonEmpty() []validator.String {
	return []validator.String{stringvalidator.LengthAtLeast(1)}
}

// presetNames are the values of an ApiClient's preset, from the preset table.
func presetNames() []string {
	return dialect.Names()
}

func enum(values ...string) []validator.String {
	return []validator.String{stringvalidator.OneOf(values...)}
}

// absoluteURL mirrors the CRDs' isURL rule: an absolute http(s) URL with a
// host. Whether plain http is allowed is the job of httpsOnly.
type absoluteURL struct{}

func (absoluteURL) Description(context.Context) string {
	return "must be an absolute URL such as https://api.example.com/path"
}
func (v absoluteURL) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v absoluteURL) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if problem := urlProblem(req.ConfigValue.ValueString()); problem != "" {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid URL", fmt.Sprintf("%s %s", req.Path, problem))
	}
}

func urlProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "must be an absolute URL such as https://api.example.com/path"
	}
	return ""
}

// goDuration accepts the durations the CRDs accept, such as 90s, 2m or 1h30m.
type goDuration struct{}

func (goDuration) Description(context.Context) string {
	return "must be a duration such as 90s, 2m or 1h30m (units ms, s, m, h)"
}
func (v goDuration) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v goDuration) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if _, err := time.ParseDuration(s); err != nil || !durationPattern.MatchString(s) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration", fmt.Sprintf("%s %s, got %q", req.Path, v.Description(ctx), s))
	}
}

// httpsOnly is a resource-level validator: the URL at url must start with
// https:// unless the bool at allow is true. It mirrors the CRDs' rule, so
// that the mistake shows at plan time rather than at apply.
type httpsOnly struct {
	url path.Path
	// allow is the opt-out for local testing; empty when there is none.
	allow path.Path
}

var _ resource.ConfigValidator = httpsOnly{}

func (v httpsOnly) Description(context.Context) string {
	if len(v.allow.Steps()) == 0 {
		return fmt.Sprintf("%s must start with https://", v.url)
	}
	return fmt.Sprintf("%s must start with https:// unless %s is true", v.url, v.allow)
}
func (v httpsOnly) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v httpsOnly) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var u types.String
	if diags := req.Config.GetAttribute(ctx, v.url, &u); diags.HasError() || u.IsNull() || u.IsUnknown() {
		return
	}
	if strings.HasPrefix(u.ValueString(), "https://") {
		return
	}
	if len(v.allow.Steps()) > 0 {
		var allow types.Bool
		if diags := req.Config.GetAttribute(ctx, v.allow, &allow); diags.HasError() || allow.IsUnknown() {
			return
		}
		if allow.ValueBool() {
			return
		}
		resp.Diagnostics.AddAttributeError(v.url, "URL must use https",
			fmt.Sprintf("%s must start with https://; plain http:// is allowed only with %s = true, for local testing", v.url, v.allow))
		return
	}
	resp.Diagnostics.AddAttributeError(v.url, "URL must use https", fmt.Sprintf("%s must start with https://", v.url))
}

// refreshStrategyFields mirrors the CRD's rules that refresh_at_percent
// belongs to strategy Fraction and retry_margin to strategy Latest: a field
// the chosen strategy ignores is a misunderstanding worth stopping at plan.
type refreshStrategyFields struct{}

var _ resource.ConfigValidator = refreshStrategyFields{}

func (refreshStrategyFields) Description(context.Context) string {
	return "refresh.refresh_at_percent applies only to strategy Fraction, refresh.retry_margin only to strategy Latest"
}
func (v refreshStrategyFields) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (refreshStrategyFields) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var r *refreshModel
	if diags := req.Config.GetAttribute(ctx, path.Root("refresh"), &r); diags.HasError() || r == nil || r.Strategy.IsUnknown() {
		return
	}
	latest := r.Strategy.ValueString() == string(keyportv1.RefreshLatest)
	if at := path.Root("refresh").AtName("refresh_at_percent"); latest && !r.RefreshAtPercent.IsNull() {
		resp.Diagnostics.AddAttributeError(at, "Setting ignored by the refresh strategy",
			fmt.Sprintf("%s applies only to strategy Fraction: remove it, or set strategy to \"Fraction\"", at))
	}
	if at := path.Root("refresh").AtName("retry_margin"); !latest && !r.RetryMargin.IsNull() {
		resp.Diagnostics.AddAttributeError(at, "Setting ignored by the refresh strategy",
			fmt.Sprintf("%s applies only to strategy Latest: remove it, or set strategy to \"Latest\"", at))
	}
}
