package provider

import (
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// The models of the API types shared by several resources, and the
// conversions between Terraform values and Go values. The rule for every
// optional field: an omitted (zero) Go value is null in Terraform, and a
// null Terraform value is omitted, so that what the API server returns
// reads back as what the user wrote.

// baseModel holds the attributes every Keyport resource has.
type baseModel struct {
	ID           types.String   `tfsdk:"id"`
	Name         types.String   `tfsdk:"name"`
	Namespace    types.String   `tfsdk:"namespace"`
	WaitForReady types.Bool     `tfsdk:"wait_for_ready"`
	Timeouts     timeouts.Value `tfsdk:"timeouts"`
}

func (b *baseModel) base() *baseModel { return b }

func (b *baseModel) objectMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: b.Name.ValueString(), Namespace: b.Namespace.ValueString()}
}

// secretKeySelectorModel mirrors keyportv1.SecretKeySelector.
type secretKeySelectorModel struct {
	Name types.String `tfsdk:"name"`
	Key  types.String `tfsdk:"key"`
}

func toSecretKeySelector(m *secretKeySelectorModel) *keyportv1.SecretKeySelector {
	if m == nil {
		return nil
	}
	return &keyportv1.SecretKeySelector{Name: m.Name.ValueString(), Key: m.Key.ValueString()}
}

func fromSecretKeySelector(s *keyportv1.SecretKeySelector) *secretKeySelectorModel {
	if s == nil {
		return nil
	}
	return &secretKeySelectorModel{Name: types.StringValue(s.Name), Key: types.StringValue(s.Key)}
}

// headerModel mirrors keyportv1.HTTPHeader.
type headerModel struct {
	Name      types.String            `tfsdk:"name"`
	Value     types.String            `tfsdk:"value"`
	ValueFrom *secretKeySelectorModel `tfsdk:"value_from"`
}

func toHeaders(in []headerModel) []keyportv1.HTTPHeader {
	if len(in) == 0 {
		return nil
	}
	out := make([]keyportv1.HTTPHeader, 0, len(in))
	for _, h := range in {
		out = append(out, keyportv1.HTTPHeader{Name: h.Name.ValueString(), Value: h.Value.ValueStringPointer(), ValueFrom: toSecretKeySelector(h.ValueFrom)})
	}
	return out
}

func fromHeaders(in []keyportv1.HTTPHeader) []headerModel {
	if len(in) == 0 {
		return nil
	}
	out := make([]headerModel, 0, len(in))
	for _, h := range in {
		out = append(out, headerModel{Name: types.StringValue(h.Name), Value: types.StringPointerValue(h.Value), ValueFrom: fromSecretKeySelector(h.ValueFrom)})
	}
	return out
}

// platformModel mirrors keyportv1.PlatformReference.
type platformModel struct {
	Driver            types.String `tfsdk:"driver"`
	ApiClientName     types.String `tfsdk:"api_client_name"`
	ManagementURL     types.String `tfsdk:"management_url"`
	AllowInsecureHTTP types.Bool   `tfsdk:"allow_insecure_http"`
	Parameters        types.Map    `tfsdk:"parameters"`
}

func toPlatform(m *platformModel) *keyportv1.PlatformReference {
	if m == nil {
		return nil
	}
	return &keyportv1.PlatformReference{
		Driver:            m.Driver.ValueString(),
		ApiClientName:     m.ApiClientName.ValueString(),
		ManagementURL:     m.ManagementURL.ValueString(),
		AllowInsecureHTTP: m.AllowInsecureHTTP.ValueBool(),
		Parameters:        toStringMap(m.Parameters),
	}
}

func fromPlatform(p *keyportv1.PlatformReference) *platformModel {
	if p == nil {
		return nil
	}
	return &platformModel{
		Driver:            types.StringValue(p.Driver),
		ApiClientName:     types.StringValue(p.ApiClientName),
		ManagementURL:     types.StringValue(p.ManagementURL),
		AllowInsecureHTTP: types.BoolValue(p.AllowInsecureHTTP),
		Parameters:        fromStringMap(p.Parameters),
	}
}

// declaredOr keeps a name the user declared and otherwise takes the one the
// operator reports (such as the output Secret it defaulted).
func declaredOr(declared types.String, reported string) types.String {
	if declared.IsNull() || declared.IsUnknown() {
		return optString(reported)
	}
	return declared
}

// optString maps an omitted string to null.
func optString(v string) types.String {
	if v == "" {
		return types.StringNull()
	}
	return types.StringValue(v)
}

func toStrings(l types.List) []string {
	return stringValues(l.Elements())
}

func toStringSet(s types.Set) []string {
	out := stringValues(s.Elements())
	sort.Strings(out)
	return out
}

func stringValues(elems []attr.Value) []string {
	if len(elems) == 0 {
		return nil
	}
	out := make([]string, 0, len(elems))
	for _, v := range elems {
		if s, ok := v.(types.String); ok && !s.IsNull() && !s.IsUnknown() {
			out = append(out, s.ValueString())
		}
	}
	return out
}

func fromStrings(in []string) types.List {
	if len(in) == 0 {
		return types.ListNull(types.StringType)
	}
	elems := make([]attr.Value, 0, len(in))
	for _, s := range in {
		elems = append(elems, types.StringValue(s))
	}
	return types.ListValueMust(types.StringType, elems)
}

func fromStringSet(in []string) types.Set {
	if len(in) == 0 {
		return types.SetNull(types.StringType)
	}
	elems := make([]attr.Value, 0, len(in))
	for _, s := range in {
		elems = append(elems, types.StringValue(s))
	}
	return types.SetValueMust(types.StringType, elems)
}

func toStringMap(m types.Map) map[string]string {
	if len(m.Elements()) == 0 {
		return nil
	}
	out := make(map[string]string, len(m.Elements()))
	for k, v := range m.Elements() {
		if s, ok := v.(types.String); ok && !s.IsNull() && !s.IsUnknown() {
			out[k] = s.ValueString()
		}
	}
	return out
}

func fromStringMap(in map[string]string) types.Map {
	if len(in) == 0 {
		return types.MapNull(types.StringType)
	}
	elems := make(map[string]attr.Value, len(in))
	for k, v := range in {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}

func toInt32(v types.Int64) *int32 {
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	i := int32(v.ValueInt64())
	return &i
}

func fromInt32(v *int32) types.Int64 {
	if v == nil {
		return types.Int64Null()
	}
	return types.Int64Value(int64(*v))
}

// fromTime renders a status time as RFC 3339 in UTC, or null.
func fromTime(t *metav1.Time) types.String {
	if t == nil || t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339))
}
