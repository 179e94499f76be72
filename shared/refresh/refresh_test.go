package refresh

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyport-dev/keyport/shared/outbound"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestAt(t *testing.T) {
	cases := []struct {
		name     string
		lifetime time.Duration
		policy   Policy
		jitter   float64
		want     time.Duration // after issue
	}{
		{"a 5-minute token with the default policy is replaced at half its life", 5 * time.Minute, DefaultPolicy(), 0, 150 * time.Second},
		{"a 1-hour token with the default policy is replaced at 30 minutes", time.Hour, DefaultPolicy(), 0, 30 * time.Minute},
		{"the budget wins when it is the earlier bound", 5 * time.Minute, Policy{Fraction: 0.8, PropagationBudget: 2 * time.Minute}, 0, 3 * time.Minute},
		{"a 5-minute token with a 4-minute budget is replaced after 1 minute", 5 * time.Minute, Policy{Fraction: 0.5, PropagationBudget: 4 * time.Minute}, 0, time.Minute},
		{"jitter moves the refresh earlier by at most MaxJitter", time.Hour, DefaultPolicy(), 0.5, 30*time.Minute - 5*time.Second},
		{"jitter never exceeds a tenth of the time to the refresh point", time.Minute, Policy{Fraction: 0.5, PropagationBudget: 0}, 0.999999, 30*time.Second - 3*time.Second + 3},
		{"a fraction outside (0,1) falls back to one half", 10 * time.Minute, Policy{Fraction: 1.5, PropagationBudget: time.Second, MaxJitter: -1}, 0.9, 5 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := At(t0, t0.Add(tc.lifetime), tc.policy, tc.jitter)
			if err != nil {
				t.Fatal(err)
			}
			if d := got.Sub(t0); d.Round(time.Millisecond) != tc.want.Round(time.Millisecond) {
				t.Fatalf("refresh %v after issue, want %v", d, tc.want)
			}
			if !got.Before(t0.Add(tc.lifetime)) {
				t.Fatal("refresh planned at or after expiry")
			}
		})
	}
}

func TestAtReportsInfeasiblePolicies(t *testing.T) {
	cases := []struct {
		name     string
		lifetime time.Duration
		budget   time.Duration
	}{
		{"a budget as long as the token", 5 * time.Minute, 5 * time.Minute},
		{"a budget longer than the token", 5 * time.Minute, 10 * time.Minute},
		{"a budget leaving under five seconds of use", 5 * time.Minute, 4*time.Minute + 57*time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := At(t0, t0.Add(tc.lifetime), Policy{Fraction: 0.5, PropagationBudget: tc.budget}, 0)
			var infeasible *InfeasibleError
			if !errors.As(err, &infeasible) {
				t.Fatalf("err = %v, want an InfeasibleError", err)
			}
			if infeasible.Lifetime != tc.lifetime || infeasible.Budget != tc.budget {
				t.Errorf("error names lifetime %v budget %v", infeasible.Lifetime, infeasible.Budget)
			}
		})
	}
	if _, err := At(t0, t0, DefaultPolicy(), 0); err == nil {
		t.Error("a token that expires when issued was scheduled")
	}
}

func TestTokensShorterThanTheFloorAreAskedForRarely(t *testing.T) {
	cases := []struct {
		name         string
		lifetime     time.Duration
		wantTooShort bool
		wantNext     time.Duration // after issue, from Fallback
	}{
		{"a one-second token is too short and replaced no sooner than MinInterval", time.Second, true, MinInterval},
		{"a token just under the floor is too short", MinLifetime - time.Millisecond, true, MinInterval},
		{"a token at the floor is merely infeasible with a long budget, replaced at half-life", MinLifetime, false, MinLifetime / 2},
		{"a 20-second token is replaced at half-life", 20 * time.Second, false, 10 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := At(t0, t0.Add(tc.lifetime), DefaultPolicy(), 0)
			var tooShort *TooShortError
			if errors.As(err, &tooShort) != tc.wantTooShort {
				t.Fatalf("err = %v, want a TooShortError: %v", err, tc.wantTooShort)
			}
			var infeasible *InfeasibleError
			if !tc.wantTooShort && !errors.As(err, &infeasible) {
				t.Fatalf("err = %v, want an InfeasibleError with a 2-minute budget", err)
			}
			if tc.wantTooShort && strings.Contains(err.Error(), "propagationBudget") {
				t.Errorf("the message advises a budget no policy can have: %s", err)
			}
			if got := Fallback(t0, t0.Add(tc.lifetime)).Sub(t0); got != tc.wantNext {
				t.Errorf("next request %v after issue, want %v", got, tc.wantNext)
			}
		})
	}
}

func TestRetryAt(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Minute}
	far := t0.Add(24 * time.Hour)
	cases := []struct {
		name       string
		failures   int
		retryAfter time.Duration
		expires    time.Time
		budget     time.Duration
		jitter     float64
		want       time.Duration
	}{
		{"the first failure retries within a second", 1, 0, far, 0, 0, 500 * time.Millisecond},
		{"the delay doubles with each failure", 4, 0, far, 0, 0, 4 * time.Second},
		{"jitter spreads the delay over its upper half", 4, 0, far, 0, 0.5, 6 * time.Second},
		{"the delay stops growing at Max", 30, 0, far, 0, 0, 150 * time.Second},
		{"Retry-After is honoured when longer", 1, 90 * time.Second, far, 0, 0, 90 * time.Second},
		{"a retry never waits past the point the current token can still propagate", 30, 0, t0.Add(3 * time.Minute), 2 * time.Minute, 0.9, time.Minute},
		{"Retry-After is bounded by the current token as well", 1, 10 * time.Minute, t0.Add(5 * time.Minute), 2 * time.Minute, 0, 3 * time.Minute},
		{"inside the budget retries come at a quarter of the remaining life", 30, 0, t0.Add(time.Minute), 2 * time.Minute, 0, 15 * time.Second},
		{"and at least a second apart", 30, 0, t0.Add(2 * time.Second), 2 * time.Minute, 0, time.Second},
		{"without a token the backoff alone decides", 30, 0, time.Time{}, 2 * time.Minute, 0, 150 * time.Second},
		{"after expiry the backoff alone decides", 30, 0, t0.Add(-time.Minute), 2 * time.Minute, 0, 150 * time.Second},
		{"a Retry-After of a day waits 5 minutes once no token is left", 1, 24 * time.Hour, time.Time{}, 2 * time.Minute, 0, 5 * time.Minute},
		{"and the same after the token expired", 1, 24 * time.Hour, t0.Add(-time.Second), 2 * time.Minute, 0, 5 * time.Minute},
		{"a Retry-After of a day is bounded by the valid token's life", 1, 24 * time.Hour, t0.Add(10 * time.Minute), 2 * time.Minute, 0, 8 * time.Minute},
	}
	outage := b.WithoutToken()
	if d := outage.RetryAt(t0, 30, 0, time.Time{}, 0, 0.99).Sub(t0); d > 5*time.Second || d < 2*time.Second {
		t.Errorf("without a token, an outage's retries come within 5s; got %v", d)
	}
	if d := outage.RetryAt(t0, 1, 0, time.Time{}, 0, 0).Sub(t0); d != 500*time.Millisecond {
		t.Errorf("without a token, the first retry still comes quickly; got %v", d)
	}
	if d := outage.RetryAt(t0, 30, time.Minute, time.Time{}, 0, 0).Sub(t0); d != time.Minute {
		t.Errorf("without a token, Retry-After is still honoured; got %v", d)
	}
	if d := (Backoff{MaxRetryAfter: 3 * time.Second}).WithoutToken().RetryAt(t0, 1, 24*time.Hour, time.Time{}, 0, 0).Sub(t0); d != 3*time.Second {
		t.Errorf("MaxRetryAfter caps Retry-After without a token; got %v", d)
	}
	if got := (Backoff{Max: 5 * time.Second}).WithoutToken().Max; got != 5*time.Second {
		t.Errorf("a Max below the cap stays; got %v", got)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := b.RetryAt(t0, tc.failures, tc.retryAfter, tc.expires, tc.budget, tc.jitter)
			if d := got.Sub(t0); d != tc.want {
				t.Fatalf("retry after %v, want %v", d, tc.want)
			}
		})
	}
}

// TestRejectedCredentialsAreRetriedRarely: against a password grant that
// locks accounts, refused credentials are tried again minutes later, never
// faster than once a minute, and never faster as the current token runs out
// (RetryAt is given no expiry for them).
func TestRejectedCredentialsAreRetriedRarely(t *testing.T) {
	b := RejectedCredentials()
	cases := []struct {
		name     string
		failures int
		jitter   float64
		want     time.Duration
	}{
		{"the first retry with the least jitter is minutes away", 1, 0, 150 * time.Second},
		{"the first retry with the most jitter", 1, 0.999999, 5 * time.Minute},
		{"the delay doubles", 2, 0, 5 * time.Minute},
		{"and stops at half an hour", 30, 0.999999, 30 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := b.RetryAt(t0, tc.failures, 0, time.Time{}, 0, tc.jitter).Sub(t0)
			if got.Round(time.Second) != tc.want {
				t.Fatalf("retry after %v, want %v", got, tc.want)
			}
			if got < time.Minute {
				t.Fatalf("retry after %v: faster than once a minute", got)
			}
		})
	}
}

func TestAtLatest(t *testing.T) {
	latest := func(budget, margin time.Duration) Policy {
		return Policy{Strategy: Latest, PropagationBudget: budget, RetryMargin: margin}
	}
	defaults := DefaultPolicy()
	defaults.Strategy = Latest
	cases := []struct {
		name     string
		lifetime time.Duration
		policy   Policy
		jitter   float64
		want     time.Duration // after issue
	}{
		{"a 5-minute token is replaced 3 minutes before expiry, earlier than at half-life", 5 * time.Minute, defaults, 0, 2 * time.Minute},
		{"a 1-hour token is replaced 3 minutes before expiry", time.Hour, defaults, 0, 57 * time.Minute},
		{"the fraction plays no part", time.Hour, Policy{Strategy: Latest, Fraction: 0.1, PropagationBudget: 2 * time.Minute, RetryMargin: time.Minute}, 0, 57 * time.Minute},
		{"budget and margin add up", 24 * time.Hour, latest(5*time.Minute, 10*time.Minute), 0, 24*time.Hour - 15*time.Minute},
		{"a zero margin refreshes exactly when the budget starts", time.Hour, latest(2*time.Minute, 0), 0, 58 * time.Minute},
		{"jitter only moves the refresh earlier, by at most MaxJitter", time.Hour, defaults, 0.5, 57*time.Minute - 5*time.Second},
		{"full jitter on a 1-hour token", time.Hour, defaults, 0.999999, 57*time.Minute - 10*time.Second + 10},
		{"jitter stays within a tenth of a short token's time to refresh", 20 * time.Second, latest(4*time.Second, 3*time.Second), 0.999999, 13*time.Second - 1300*time.Millisecond + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := At(t0, t0.Add(tc.lifetime), tc.policy, tc.jitter)
			if err != nil {
				t.Fatal(err)
			}
			if d := got.Sub(t0); d.Round(time.Millisecond) != tc.want.Round(time.Millisecond) {
				t.Fatalf("refresh %v after issue, want %v", d, tc.want)
			}
			if latestUseful := t0.Add(tc.lifetime - tc.policy.PropagationBudget - tc.policy.RetryMargin); got.After(latestUseful) {
				t.Fatalf("refresh at %v, after expiry − budget − margin %v", got, latestUseful)
			}
		})
	}
}

func TestAtLatestReportsInfeasiblePolicies(t *testing.T) {
	cases := []struct {
		name           string
		lifetime       time.Duration
		budget, margin time.Duration
		// suggestFraction: Fraction would meet the budget alone.
		suggestFraction bool
	}{
		{"budget and margin together as long as the token", 5 * time.Minute, 2 * time.Minute, 3 * time.Minute, true},
		{"budget and margin leaving under five seconds of use", 5 * time.Minute, 2 * time.Minute, 2*time.Minute + 57*time.Second, true},
		{"the margin alone longer than the token", time.Minute, 0, 2 * time.Minute, true},
		{"a budget no strategy can meet", 5 * time.Minute, 5 * time.Minute, time.Minute, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Strategy: Latest, PropagationBudget: tc.budget, RetryMargin: tc.margin}
			_, err := At(t0, t0.Add(tc.lifetime), p, 0)
			var infeasible *InfeasibleError
			if !errors.As(err, &infeasible) {
				t.Fatalf("err = %v, want an InfeasibleError", err)
			}
			if infeasible.Lifetime != tc.lifetime || infeasible.Budget != tc.budget || infeasible.Margin != tc.margin {
				t.Errorf("error names lifetime %v budget %v margin %v", infeasible.Lifetime, infeasible.Budget, infeasible.Margin)
			}
			msg := err.Error()
			if want := "lower refresh.propagationBudget plus refresh.retryMargin below " + (tc.lifetime - MinUsableTime).String(); !strings.Contains(msg, want) {
				t.Errorf("the message does not say what to change (%q): %s", want, msg)
			}
			if strings.Contains(msg, "strategy Fraction") != tc.suggestFraction {
				t.Errorf("suggests strategy Fraction: %v, want %v: %s", !tc.suggestFraction, tc.suggestFraction, msg)
			}
			// The same budget with Fraction is feasible exactly when the
			// message suggested it.
			fraction := Policy{Fraction: 0.5, PropagationBudget: tc.budget}
			if _, err := At(t0, t0.Add(tc.lifetime), fraction, 0); (err == nil) != tc.suggestFraction {
				t.Errorf("Fraction with the same budget: err = %v", err)
			}
		})
	}
}

// TestTheRetryMarginHoldsSeveralRetries: the default margin lets the default
// backoff try several times before the propagation budget is eaten into,
// whether the platform refuses at once or hangs until the request timeout.
func TestTheRetryMarginHoldsSeveralRetries(t *testing.T) {
	p := DefaultPolicy()
	p.Strategy = Latest
	expires := t0.Add(time.Hour)
	refreshAt, err := At(t0, expires, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	budgetStarts := expires.Add(-p.PropagationBudget)
	cases := []struct {
		name    string
		attempt time.Duration // how long a failing attempt takes
		want    int
	}{
		{"a platform that refuses at once", 0, 6},
		{"a platform that hangs until the request timeout", outbound.DefaultTimeout, 4},
	}
	for _, tc := range cases {
		for _, jitter := range []float64{0, 0.999999} {
			t.Run(fmt.Sprintf("%s, jitter %v", tc.name, jitter), func(t *testing.T) {
				attempts := 0
				for now := refreshAt; now.Before(budgetStarts); attempts++ {
					failedAt := now.Add(tc.attempt)
					now = Backoff{}.RetryAt(failedAt, attempts+1, 0, expires, p.PropagationBudget, jitter)
				}
				if attempts < tc.want {
					t.Fatalf("%d attempts before the budget starts, want at least %d", attempts, tc.want)
				}
			})
		}
	}
}

func TestRequestsPerLifetime(t *testing.T) {
	for _, tc := range requestsPerLifetimeTable {
		t.Run(tc.name, func(t *testing.T) {
			for i, lifetime := range tableLifetimes {
				got, err := RequestsPerLifetime(lifetime, tc.policy)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprintf("%.2f", got) != tc.want[i] {
					t.Errorf("%v tokens: %.4f requests per lifetime, want %s", lifetime, got, tc.want[i])
				}
			}
		})
	}
	p := DefaultPolicy()
	p.PropagationBudget = 5 * time.Minute
	if _, err := RequestsPerLifetime(5*time.Minute, p); err == nil {
		t.Error("an infeasible policy was given a figure")
	}
}

// The README's and BENCHMARKS.md's tables of requests per lifetime are the
// one this table checks, so the figures users read are computed, not copied
// by hand.
var tableLifetimes = []time.Duration{5 * time.Minute, time.Hour}

var requestsPerLifetimeTable = []struct {
	name   string
	row    string // as the README names it
	policy Policy
	want   []string // per tableLifetimes
}{
	{"the default Fraction 50 %", "`Fraction`, `refreshAtPercent: 50` (default)", DefaultPolicy(), []string{"2.00", "2.00"}},
	{"Latest with the default budget and margin", "`Latest`, budget 2m, margin 1m (defaults)",
		Policy{Strategy: Latest, PropagationBudget: DefaultPropagationBudget, RetryMargin: DefaultRetryMargin}, []string{"2.50", "1.05"}},
}

func TestTheDocsQuoteTheRequestsPerLifetime(t *testing.T) {
	for _, doc := range []string{"README.md", "BENCHMARKS.md"} {
		text, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range requestsPerLifetimeTable {
			row := fmt.Sprintf("| %s | %s |", tc.row, strings.Join(tc.want, " | "))
			if !strings.Contains(string(text), row) {
				t.Errorf("%s lacks the row\n%s", doc, row)
			}
		}
	}
}
