package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// durationType is a string attribute holding a duration such as 2m or 1h30m.
// Two spellings of the same duration (2m, 120s, and the API server's
// 2m0s) are semantically equal, so that neither a read nor an import shows
// a change the user did not make.
type durationType struct{ basetypes.StringType }

var (
	_ basetypes.StringTypable                    = durationType{}
	_ basetypes.StringValuableWithSemanticEquals = durationValue{}
)

func (t durationType) String() string { return "durationType" }

func (t durationType) Equal(o attr.Type) bool {
	_, ok := o.(durationType)
	return ok
}

func (t durationType) ValueType(context.Context) attr.Value { return durationValue{} }

func (t durationType) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	return durationValue{StringValue: in}, nil
}

func (t durationType) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	v, err := t.StringType.ValueFromTerraform(ctx, in)
	if err != nil {
		return nil, err
	}
	s, ok := v.(basetypes.StringValue)
	if !ok {
		return nil, fmt.Errorf("unexpected value type %T", v)
	}
	return durationValue{StringValue: s}, nil
}

// durationValue is a value of durationType.
type durationValue struct{ basetypes.StringValue }

func (v durationValue) Type(context.Context) attr.Type { return durationType{} }

func (v durationValue) Equal(o attr.Value) bool {
	other, ok := o.(durationValue)
	return ok && v.StringValue.Equal(other.StringValue)
}

func (v durationValue) StringSemanticEquals(_ context.Context, o basetypes.StringValuable) (bool, diag.Diagnostics) {
	other, ok := o.(durationValue)
	if !ok {
		return false, nil
	}
	a, errA := time.ParseDuration(v.ValueString())
	b, errB := time.ParseDuration(other.ValueString())
	return errA == nil && errB == nil && a == b, nil
}

func durationNull() durationValue { return durationValue{StringValue: basetypes.NewStringNull()} }

// toDuration parses a duration the validators have already checked.
func toDuration(v durationValue) *metav1.Duration {
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	d, err := time.ParseDuration(v.ValueString())
	if err != nil {
		return nil
	}
	return &metav1.Duration{Duration: d}
}

// fromDuration renders a duration the short way a person writes it: 2m,
// 1h30m, 720h rather than Go's 2m0s, 1h30m0s, 720h0m0s.
func fromDuration(d *metav1.Duration) durationValue {
	if d == nil {
		return durationNull()
	}
	return durationValue{StringValue: basetypes.NewStringValue(shortDuration(d.Duration))}
}

func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
