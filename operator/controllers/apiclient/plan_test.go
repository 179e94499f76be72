package apiclient

import (
	"testing"
	"time"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/refresh"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	fresh := &storedToken{expiresAt: now.Add(4 * time.Minute), refreshAt: now.Add(time.Minute), inputsMAC: "mac-1"}
	due := &storedToken{expiresAt: now.Add(2 * time.Minute), refreshAt: now.Add(-time.Second), inputsMAC: "mac-1"}
	forced := &storedToken{expiresAt: now.Add(4 * time.Minute), refreshAt: now.Add(time.Minute), inputsMAC: "mac-1", handledForce: "1"}
	// A one-second token, replaced no sooner than refresh.MinInterval.
	tooShort := &storedToken{expiresAt: now.Add(time.Second), refreshAt: now.Add(30 * time.Second), inputsMAC: "mac-1"}
	expiredTooShort := &storedToken{expiresAt: now.Add(-time.Second), refreshAt: now.Add(28 * time.Second), inputsMAC: "mac-1"}

	cases := []struct {
		name       string
		obs        observation
		wantAction action
		wantAt     time.Time
	}{
		{
			name:       "a fresh token written with the same inputs is kept until its refresh time",
			obs:        observation{now: now, stored: fresh, inputsMAC: "mac-1"},
			wantAction: keep, wantAt: fresh.refreshAt,
		},
		{
			name:       "a missing token is requested at once",
			obs:        observation{now: now, inputsMAC: "mac-1"},
			wantAction: request,
		},
		{
			name:       "a token at its refresh time is replaced, and looked at again when it expires",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1"},
			wantAction: request, wantAt: due.expiresAt,
		},
		{
			name:       "rotated credentials replace a fresh token",
			obs:        observation{now: now, stored: fresh, inputsMAC: "mac-2"},
			wantAction: request, wantAt: fresh.expiresAt,
		},
		{
			name:       "a new refresh annotation value replaces a fresh token",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "2"},
			wantAction: request, wantAt: forced.expiresAt,
		},
		{
			name:       "a refresh annotation already answered changes nothing",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "1"},
			wantAction: keep, wantAt: forced.refreshAt,
		},
		{
			name:       "a forced refresh overrides the backoff",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "2", retryAt: now.Add(time.Minute), retryInputsMAC: "mac-1"},
			wantAction: request, wantAt: forced.expiresAt,
		},
		{
			name:       "a forced refresh waits for the request already on its way",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "2", inFlight: true},
			wantAction: wait, wantAt: forced.expiresAt,
		},
		{
			name:       "a due refresh with its request on its way waits, and looks again when the token expires",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", inFlight: true},
			wantAction: wait, wantAt: due.expiresAt,
		},
		{
			name:       "a missing token with its request on its way waits for the answer alone",
			obs:        observation{now: now, inputsMAC: "mac-1", inFlight: true},
			wantAction: wait,
		},
		{
			name:       "a backoff past the expiry still looks again when the token expires",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", retryAt: now.Add(time.Hour), retryInputsMAC: "mac-1"},
			wantAction: wait, wantAt: due.expiresAt,
		},
		{
			name:       "a token that expires before the platform may be asked again is kept, and looked at again when it expires",
			obs:        observation{now: now, stored: tooShort, inputsMAC: "mac-1"},
			wantAction: keep, wantAt: tooShort.expiresAt,
		},
		{
			name:       "once it expired, it is still not replaced before its refresh time",
			obs:        observation{now: now, stored: expiredTooShort, inputsMAC: "mac-1"},
			wantAction: keep, wantAt: expiredTooShort.refreshAt,
		},
		{
			name:       "a due refresh waits out the backoff after a failure",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", retryAt: now.Add(20 * time.Second), retryInputsMAC: "mac-1"},
			wantAction: wait, wantAt: now.Add(20 * time.Second),
		},
		{
			name:       "a due refresh goes ahead once the backoff has passed",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", retryAt: now.Add(-time.Second), retryInputsMAC: "mac-1"},
			wantAction: request, wantAt: due.expiresAt,
		},
		{
			name:       "fixed credentials are tried without waiting out the backoff of the old ones",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-2", retryAt: now.Add(time.Minute), retryInputsMAC: "mac-1"},
			wantAction: request, wantAt: due.expiresAt,
		},
		{
			name:       "a suspended client does nothing, even without a token",
			obs:        observation{now: now, inputsMAC: "mac-1", suspend: true},
			wantAction: suspended,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(tc.obs)
			if got.action != tc.wantAction {
				t.Fatalf("action = %v (%s), want %v", got.action, got.why, tc.wantAction)
			}
			if !got.requeueAt.Equal(tc.wantAt) {
				t.Errorf("requeueAt = %v, want %v", got.requeueAt, tc.wantAt)
			}
			if got.why == "" {
				t.Error("the decision gives no reason")
			}
		})
	}
}

func TestAttemptDeadlineLeavesTimeForARetry(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		validUntil time.Time
		want       time.Time
	}{
		{"no valid token: only the client timeout applies", time.Time{}, time.Time{}},
		{"half of the remaining life", now.Add(20 * time.Second), now.Add(10 * time.Second)},
		{"at least minAttempt", now.Add(3 * time.Second), now.Add(minAttempt)},
		{"never past the expiry", now.Add(time.Second), now.Add(time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := attemptDeadline(now, c.validUntil); !got.Equal(c.want) {
				t.Errorf("attemptDeadline(now, now+%v) = now+%v, want now+%v", c.validUntil.Sub(now), got.Sub(now), c.want.Sub(now))
			}
		})
	}
}

// TestPlanDecidesUrgency: a request is urgent when no valid token is left
// or the current one is inside its propagation budget; the per-host limiter
// lets urgent requests go first.
func TestPlanDecidesUrgency(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	p := refresh.DefaultPolicy()
	p.PropagationBudget = 30 * time.Second
	cases := []struct {
		name   string
		stored *storedToken
		want   bool
	}{
		{"no token", nil, true},
		{"due, outside the budget", &storedToken{expiresAt: now.Add(time.Minute), refreshAt: now.Add(-time.Second), inputsMAC: "m"}, false},
		{"due, inside the budget", &storedToken{expiresAt: now.Add(20 * time.Second), refreshAt: now.Add(-time.Second), inputsMAC: "m"}, true},
		{"expired", &storedToken{expiresAt: now.Add(-time.Second), refreshAt: now.Add(-time.Minute), inputsMAC: "m"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := plan(observation{now: now, stored: c.stored, inputsMAC: "m", policy: p})
			if d.action != request || d.urgent != c.want {
				t.Fatalf("action %v urgent %v, want request urgent %v", d.action, d.urgent, c.want)
			}
		})
	}
}

// TestPlanSchedulesANewTokenWithTheHalfLifeFallback: a new token is
// replaced where the policy says; one the policy cannot be met for is
// replaced at half-life (no sooner than refresh.MinInterval for a very short
// one), and the decision says why, for the conditions.
func TestPlanSchedulesANewTokenWithTheHalfLifeFallback(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	budget := func(d time.Duration) refresh.Policy {
		p := refresh.DefaultPolicy()
		p.PropagationBudget = d
		return p
	}
	cases := []struct {
		name       string
		lifetime   time.Duration
		policy     refresh.Policy
		wantAt     time.Time
		wantReason string
	}{
		{"a feasible policy", time.Hour, budget(time.Minute), mustAt(t, now, time.Hour, budget(time.Minute)), ""},
		{"a budget the lifetime cannot meet: half-life", 20 * time.Second, budget(18 * time.Second), now.Add(10 * time.Second), keyportv1.ReasonPolicyInfeasible},
		{"a token shorter than the minimum lifetime: the minimum interval", time.Second, budget(0), now.Add(refresh.MinInterval), keyportv1.ReasonTokenLifetimeTooShort},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := plan(observation{now: now, inputsMAC: "m", policy: c.policy,
				fresh: &tokenTimes{issuedAt: now, expiresAt: now.Add(c.lifetime)}})
			if d.action != store || !d.refreshAt.Equal(c.wantAt) {
				t.Fatalf("action %v refreshAt %v, want store at %v", d.action, d.refreshAt, c.wantAt)
			}
			if want := earliest(c.wantAt, now.Add(c.lifetime)); !d.requeueAt.Equal(want) {
				t.Errorf("looked at again at %v, want %v (the refresh time or the expiry)", d.requeueAt, want)
			}
			if d.reason != c.wantReason || (c.wantReason != "") != (d.problem != "") {
				t.Errorf("reason %q problem %q, want reason %q", d.reason, d.problem, c.wantReason)
			}
		})
	}
	// A kept token reports the same problem as when it arrived.
	kept := plan(observation{now: now, inputsMAC: "m", policy: budget(18 * time.Second),
		stored: &storedToken{issuedAt: now, expiresAt: now.Add(20 * time.Second), refreshAt: now.Add(10 * time.Second), inputsMAC: "m"}})
	if kept.action != keep || kept.reason != keyportv1.ReasonPolicyInfeasible {
		t.Errorf("kept token: action %v reason %q, want keep with %s", kept.action, kept.reason, keyportv1.ReasonPolicyInfeasible)
	}
}

func mustAt(t *testing.T, issued time.Time, lifetime time.Duration, p refresh.Policy) time.Time {
	t.Helper()
	at, err := refresh.At(issued, issued.Add(lifetime), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestPlanChoosesTheBackoff: after a failure, refused credentials wait
// minutes whatever the token has left; a failure that may pass retries
// within seconds once no valid token is left; otherwise the operator's
// backoff applies, bounded by the token's budget, and the plan looks again
// when the token expires.
func TestPlanChoosesTheBackoff(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	p := refresh.DefaultPolicy()
	p.PropagationBudget = 10 * time.Second
	valid := &storedToken{expiresAt: now.Add(time.Minute), refreshAt: now.Add(-time.Second), inputsMAC: "m"}
	expired := &storedToken{expiresAt: now.Add(-time.Second), refreshAt: now.Add(-time.Minute), inputsMAC: "m"}
	long := refresh.Backoff{Initial: 10 * time.Minute, Max: 10 * time.Minute}
	cases := []struct {
		name               string
		stored             *storedToken
		failure            attemptFailure
		backoff            refresh.Backoff
		minRetry, maxRetry time.Duration
		wantRequeue        time.Duration // zero: the retry time
	}{
		{"refused credentials wait minutes though the token runs out in one", valid,
			attemptFailure{consecutive: 1, invalidCredentials: true}, refresh.Backoff{}, 150 * time.Second, 5 * time.Minute, time.Minute},
		{"an outage without a valid token retries within seconds", expired,
			attemptFailure{consecutive: 9, passing: true}, long, 0, 5 * time.Second, 0},
		{"an outage with a valid token retries before its budget", valid,
			attemptFailure{consecutive: 1, passing: true}, long, 50 * time.Second, 50 * time.Second, 0},
		{"a refused request without a token keeps the full backoff", expired,
			attemptFailure{consecutive: 1}, long, 5 * time.Minute, 10 * time.Minute, 0},
		{"a Retry-After is honoured while it fits", valid,
			attemptFailure{consecutive: 1, passing: true, retryAfter: 20 * time.Second}, refresh.Backoff{}, 20 * time.Second, 20 * time.Second, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.failure
			d := plan(observation{now: now, stored: c.stored, inputsMAC: "m", policy: p, backoff: c.backoff, jitter: 0.5, failure: &f})
			if d.action != retry {
				t.Fatalf("action %v, want retry", d.action)
			}
			if in := d.retryAt.Sub(now); in < c.minRetry || in > c.maxRetry {
				t.Errorf("retry in %v, want between %v and %v", in, c.minRetry, c.maxRetry)
			}
			want := d.retryAt
			if c.wantRequeue > 0 {
				want = now.Add(c.wantRequeue)
			}
			if !d.requeueAt.Equal(want) {
				t.Errorf("requeue in %v, want %v", d.requeueAt.Sub(now), want.Sub(now))
			}
		})
	}
}
