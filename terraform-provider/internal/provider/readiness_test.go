package provider

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

func TestJudge(t *testing.T) {
	cond := func(typ string, status metav1.ConditionStatus, reason string, gen int64) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: "the operator says " + reason, ObservedGeneration: gen}
	}
	status := func(observed int64, conds ...metav1.Condition) statusView {
		raw := map[string]any{"observedGeneration": observed, "n": len(conds)}
		for _, c := range conds {
			raw[c.Type] = c.Reason
		}
		return statusView{ObservedGeneration: observed, Conditions: conds, raw: raw}
	}
	terminal := map[string]bool{keyportv1.ReasonInvalidCredentials: true, keyportv1.ReasonPolicyInfeasible: true}
	readyTrue := cond(keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, 3)

	tests := []struct {
		name        string
		st          statusView
		baseline    *statusView
		want        outcome
		wantDetail  string
		wantWarning string
	}{
		{name: "no status yet is pending", st: statusView{}, want: pending, wantDetail: "not observed generation 3"},
		{name: "a Ready=True of an older generation is ignored",
			st: status(2, cond(keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, 2)), want: pending},
		{name: "a Ready=True of this generation with status.observedGeneration behind is ignored",
			st: status(2, readyTrue), want: pending},
		{name: "a Ready of an older generation beside a current observedGeneration is ignored",
			st: status(3, cond(keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, 2)), want: pending, wantDetail: "no Ready condition for generation 3"},
		{name: "Ready=True of this generation ends the wait", st: status(3, readyTrue), want: ready},
		{name: "Ready=True of a later generation ends the wait too", st: status(4, cond(keyportv1.ConditionReady, metav1.ConditionTrue, "TokenRefreshed", 4)), want: ready},
		{name: "Ready=False with a terminal reason fails with the operator's words",
			st:   status(3, cond(keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonInvalidCredentials, 3)),
			want: failed, wantDetail: "InvalidCredentials: the operator says InvalidCredentials"},
		{name: "a terminal reason of an older generation is ignored",
			st: status(3, cond(keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonInvalidCredentials, 2)), want: pending},
		{name: "Ready=False with a passing reason keeps waiting",
			st: status(3, cond(keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonTokenEndpointUnreachable, 3)), want: pending,
			wantDetail: "TokenEndpointUnreachable"},
		{name: "Ready=True but Degraded with a terminal reason fails",
			st:   status(3, readyTrue, cond(keyportv1.ConditionDegraded, metav1.ConditionTrue, keyportv1.ReasonPolicyInfeasible, 3)),
			want: failed, wantDetail: "PolicyInfeasible"},
		{name: "Ready=True and Degraded for another reason succeeds with a warning",
			st:   status(3, readyTrue, cond(keyportv1.ConditionDegraded, metav1.ConditionTrue, keyportv1.ReasonTokenRevokedOnReissue, 3)),
			want: ready, wantWarning: "TokenRevokedOnReissue"},
		{name: "Degraded=False is no warning",
			st:   status(3, readyTrue, cond(keyportv1.ConditionDegraded, metav1.ConditionFalse, keyportv1.ReasonPolicyInfeasible, 3)),
			want: ready},
		{name: "with a baseline, an unchanged status is pending even when Ready",
			st: status(3, readyTrue), baseline: ptr(status(3, readyTrue)), want: pending, wantDetail: "changed credentials"},
		{name: "with a baseline, a moved status is judged",
			st:       status(3, cond(keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonInvalidCredentials, 3), cond(keyportv1.ConditionDegraded, metav1.ConditionTrue, keyportv1.ReasonInvalidCredentials, 3)),
			baseline: ptr(status(3, readyTrue)), want: failed, wantDetail: "InvalidCredentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(3, tc.st, tc.baseline, terminal)
			if v.outcome != tc.want {
				t.Fatalf("outcome %d, want %d (%s)", v.outcome, tc.want, v.detail)
			}
			if !strings.Contains(v.detail, tc.wantDetail) {
				t.Errorf("detail %q does not say %q", v.detail, tc.wantDetail)
			}
			if (tc.wantWarning == "") != (v.warning == "") || !strings.Contains(v.warning, tc.wantWarning) {
				t.Errorf("warning %q, want one saying %q", v.warning, tc.wantWarning)
			}
		})
	}
}
