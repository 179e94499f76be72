package apiclient_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// TestRefreshStrategyLatestSchedulesAtExpiryMinusBudgetAndMargin: an
// ApiClient with strategy Latest gets one token from the sandbox and plans
// its refresh at expiry − propagationBudget − retryMargin, moved earlier by
// the jitter and never later; the Secret's annotation and the status say so.
// A Fraction client beside it keeps half-life. Nothing waits for a refresh:
// the plan is read as soon as the first token is in.
func TestRefreshStrategyLatestSchedulesAtExpiryMinusBudgetAndMargin(t *testing.T) {
	ns := setup(t)
	// Half of the 10-second jitter cap: 5 s earlier than the unjittered point.
	const jitter = 5 * time.Second
	startOperator(t, ns, func(r *apiclient.Reconciler) { r.Jitter = func() float64 { return 0.5 } })
	latest := func(budget, margin *metav1.Duration) *keyportv1.RefreshPolicy {
		return &keyportv1.RefreshPolicy{Strategy: keyportv1.RefreshLatest, PropagationBudget: budget, RetryMargin: margin}
	}
	clientCert := &keyportv1.ClientCertificateReference{SecretName: "client-tls"}
	cases := []struct {
		name     string
		spec     keyportv1.ApiClientSpec
		endpoint string
		lifetime time.Duration
		// lead is how long before expiry the refresh is planned.
		lead time.Duration
	}{
		{"latest-1h-defaults", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token", Refresh: latest(nil, nil)},
			sandbox.EndpointConnectToken, time.Hour, 2*time.Minute + time.Minute + jitter},
		{"latest-1h-own-margin", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token",
			Refresh: latest(&metav1.Duration{Duration: 90 * time.Second}, &metav1.Duration{Duration: 20 * time.Second})},
			sandbox.EndpointConnectToken, time.Hour, 90*time.Second + 20*time.Second + jitter},
		{"latest-bank-5m", keyportv1.ApiClientSpec{Preset: keyportv1.PresetBankM2M, TokenURL: sb.URL() + "/m2m/token",
			ClientCertificate: clientCert, Refresh: latest(nil, nil)},
			sandbox.EndpointM2MToken, 5 * time.Minute, 2*time.Minute + time.Minute + jitter},
		{"fraction-1h", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token"},
			sandbox.EndpointConnectToken, time.Hour, 30*time.Minute + jitter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := sb.Counters().Succeeded(tc.endpoint, clientID)
			create(t, newApiClient(ns, tc.name, tc.spec))
			ac := waitReady(t, ns, tc.name)
			tok, secret, ok := tokenIn(t, ns, tc.name+"-token")
			if !ok {
				t.Fatal("the output Secret holds no token")
			}
			if lifetime := time.Until(tok.ExpiresAt); lifetime > tc.lifetime || lifetime < tc.lifetime-time.Minute {
				t.Fatalf("token expires in %v, want about %v", lifetime, tc.lifetime)
			}
			refreshAt, err := time.Parse(time.RFC3339, secret.Annotations[keyportv1.AnnotationRefreshAt])
			if err != nil {
				t.Fatalf("refresh-at annotation: %v", err)
			}
			// Both annotations are whole seconds.
			want := tok.ExpiresAt.Add(-tc.lead)
			if d := refreshAt.Sub(want); d < -time.Second || d > time.Second {
				t.Errorf("refresh planned %v before expiry, want %v", tok.ExpiresAt.Sub(refreshAt), tc.lead)
			}
			if next := ac.Status.NextRefreshTime; next == nil || !next.Time.Equal(refreshAt) {
				t.Errorf("status nextRefreshTime %v, Secret says %v", next, refreshAt)
			}
			if _, reason, _ := condition(ac, keyportv1.ConditionDegraded); reason == keyportv1.ReasonPolicyInfeasible {
				t.Errorf("the policy was reported infeasible: %s", describe(ac))
			}
			if n := sb.Counters().Succeeded(tc.endpoint, clientID) - before; n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}
}

// TestRefreshStrategyLatestReportsAnInfeasibleMargin: a 5-minute token
// cannot keep a 3-minute budget plus a 2-minute margin. The token is still
// delivered, the ApiClient says what to change, and the refresh falls back
// to half-life rather than a loop.
func TestRefreshStrategyLatestReportsAnInfeasibleMargin(t *testing.T) {
	ns := setup(t)
	startOperator(t, ns, nil)
	create(t, newApiClient(ns, "bank-tight", keyportv1.ApiClientSpec{Preset: keyportv1.PresetBankM2M, TokenURL: sb.URL() + "/m2m/token",
		ClientCertificate: &keyportv1.ClientCertificateReference{SecretName: "client-tls"},
		Refresh: &keyportv1.RefreshPolicy{Strategy: keyportv1.RefreshLatest,
			PropagationBudget: &metav1.Duration{Duration: 3 * time.Minute}, RetryMargin: &metav1.Duration{Duration: 2 * time.Minute}}}))
	var ac *keyportv1.ApiClient
	eventually(t, 20*time.Second, "Degraded PolicyInfeasible", func() (bool, string) {
		ac = get(t, ns, "bank-tight", &keyportv1.ApiClient{})
		status, reason, _ := condition(ac, keyportv1.ConditionDegraded)
		return status == metav1.ConditionTrue && reason == keyportv1.ReasonPolicyInfeasible, describe(ac)
	})
	for _, c := range ac.Status.Conditions {
		if c.Type == keyportv1.ConditionDegraded && !strings.Contains(c.Message, "lower refresh.propagationBudget plus refresh.retryMargin below 4m55s, or use refresh.strategy Fraction") {
			t.Errorf("the message does not say what to change: %s", c.Message)
		}
	}
	tok, secret, ok := tokenIn(t, ns, "bank-tight-token")
	if !ok || !time.Now().Before(tok.ExpiresAt) {
		t.Fatal("the token was not delivered")
	}
	refreshAt, err := time.Parse(time.RFC3339, secret.Annotations[keyportv1.AnnotationRefreshAt])
	if err != nil {
		t.Fatal(err)
	}
	if lead := tok.ExpiresAt.Sub(refreshAt); lead < 150*time.Second-time.Second || lead > 150*time.Second+time.Second {
		t.Errorf("refresh planned %v before expiry, want half-life (2m30s)", lead)
	}
}
