// Package refresh holds the arithmetic of token refresh as
// pure functions: when to replace a token, and when to retry after a failed
// attempt. Time and randomness come in as arguments, so every result can be
// checked without a clock.
package refresh

import (
	"fmt"
	"time"
)

// Defaults of a refresh policy.
const (
	DefaultFraction = 0.5
	// DefaultPropagationBudget covers a Secret update reaching a mounted
	// volume: the kubelet syncs every 60–90 s, plus watch lag.
	DefaultPropagationBudget = 2 * time.Minute
	// DefaultMaxJitter caps the random early shift of a refresh, so that
	// many clients created together do not refresh together forever.
	DefaultMaxJitter = 10 * time.Second
	// MinUsableTime is the least time a token must be in use before it is
	// replaced; a policy leaving less is infeasible rather than a loop.
	MinUsableTime = 5 * time.Second
	// MinLifetime is the shortest token lifetime a refresh is planned for.
	// A platform issuing shorter tokens (expires_in: 1) is misconfigured: no
	// policy can deliver such a token to a workload, and planning by it
	// would ask the platform several times a second.
	MinLifetime = 2 * MinUsableTime
	// MinInterval is the least time between two token requests for a
	// token shorter than MinLifetime.
	MinInterval = 30 * time.Second
	// DefaultRetryMargin is the time Latest leaves for failed refreshes to
	// be retried before the propagation budget is eaten into. With the
	// default backoff (1 s doubling) a minute holds six or seven attempts
	// against a platform that refuses at once, and four against one that
	// hangs until the 15-second request timeout.
	DefaultRetryMargin = time.Minute
)

// Strategy says how a policy picks the refresh point.
type Strategy string

const (
	// Fraction replaces a token after a fraction of its lifetime, or
	// earlier when the propagation budget needs it. A platform outage of up
	// to the time left before expiry − budget is survived without a gap.
	Fraction Strategy = "Fraction"
	// Latest replaces a token as late as the propagation budget plus the
	// retry margin allow, at expiry − budget − margin: about one request
	// per lifetime for long-lived tokens, but an outage longer than the
	// retry margin eats into the budget.
	Latest Strategy = "Latest"
)

// Policy decides when a token is replaced.
type Policy struct {
	// Strategy picks the refresh point; "" means Fraction.
	Strategy Strategy
	// Fraction of the lifetime after which the token is replaced, in (0, 1).
	// Only Fraction uses it.
	Fraction float64
	// PropagationBudget is how long a replaced token must still be valid.
	PropagationBudget time.Duration
	// RetryMargin is the time Latest leaves before expiry − budget for
	// retries, taken as given (zero leaves none); Fraction ignores it.
	RetryMargin time.Duration
	// MaxJitter caps the random early shift. Zero means DefaultMaxJitter;
	// a negative value disables jitter.
	MaxJitter time.Duration
}

// DefaultPolicy is Fraction 0.5 with a 2-minute budget; the retry margin
// is DefaultRetryMargin, for when the strategy is changed to Latest.
func DefaultPolicy() Policy {
	return Policy{Strategy: Fraction, Fraction: DefaultFraction, PropagationBudget: DefaultPropagationBudget,
		RetryMargin: DefaultRetryMargin}
}

// InfeasibleError says that a token's lifetime cannot satisfy the policy: it
// would have to be replaced before it could be used at all. The policy is
// reported, never silently stretched.
type InfeasibleError struct {
	Lifetime time.Duration
	Budget   time.Duration
	// Margin is the retry margin of a Latest policy, zero for Fraction.
	Margin time.Duration
}

func (e *InfeasibleError) Error() string {
	if e.Margin == 0 {
		return fmt.Sprintf("a %v token cannot keep a %v propagation budget: it would be replaced less than %v after it was issued; lower refresh.propagationBudget below %v",
			e.Lifetime, e.Budget, MinUsableTime, e.Lifetime-MinUsableTime)
	}
	msg := fmt.Sprintf("a %v token cannot keep a %v propagation budget plus a %v retry margin: it would be replaced less than %v after it was issued; lower refresh.propagationBudget plus refresh.retryMargin below %v",
		e.Lifetime, e.Budget, e.Margin, MinUsableTime, e.Lifetime-MinUsableTime)
	if e.Budget < e.Lifetime-MinUsableTime {
		msg += ", or use refresh.strategy Fraction"
	}
	return msg
}

// TooShortError says that the platform issued a token shorter than
// MinLifetime: no refresh policy can serve it, only the platform can.
type TooShortError struct {
	Lifetime time.Duration
}

func (e *TooShortError) Error() string {
	return fmt.Sprintf("the platform issued a token valid for only %v, less than the %v Keyport needs to deliver a token; "+
		"a new one is requested at most every %v: ask the platform for longer-lived tokens", e.Lifetime, MinLifetime, MinInterval)
}

// At returns when a token issued at issued and expiring at expires should be
// replaced: with Fraction the earlier of issued + fraction×lifetime and
// expires − budget, with Latest expires − budget − retry margin; either is
// moved earlier by jitter (a value in [0, 1) scaled to MaxJitter, but never
// more than a tenth of the time before the unjittered point). A token
// shorter than MinLifetime gives a *TooShortError, one that leaves less than
// MinUsableTime of use an *InfeasibleError; Fallback says when to replace
// those.
func At(issued, expires time.Time, p Policy, jitter float64) (time.Time, error) {
	lifetime := expires.Sub(issued)
	if lifetime <= 0 {
		return time.Time{}, fmt.Errorf("token expires at %v, not after it was issued at %v", expires, issued)
	}
	if lifetime < MinLifetime {
		return time.Time{}, &TooShortError{Lifetime: lifetime}
	}
	var at time.Time
	var margin time.Duration
	switch p.Strategy {
	case Latest:
		margin = p.RetryMargin
		at = expires.Add(-p.PropagationBudget - margin)
	default:
		fraction := p.Fraction
		if fraction <= 0 || fraction >= 1 {
			fraction = DefaultFraction
		}
		at = issued.Add(time.Duration(fraction * float64(lifetime)))
		if byBudget := expires.Add(-p.PropagationBudget); byBudget.Before(at) {
			at = byBudget
		}
	}
	if at.Sub(issued) < MinUsableTime {
		return time.Time{}, &InfeasibleError{Lifetime: lifetime, Budget: p.PropagationBudget, Margin: margin}
	}
	maxJitter := p.MaxJitter
	if maxJitter == 0 {
		maxJitter = DefaultMaxJitter
	}
	if maxJitter > 0 {
		if limit := at.Sub(issued) / 10; maxJitter > limit {
			maxJitter = limit
		}
		at = at.Add(-time.Duration(clamp01(jitter) * float64(maxJitter)))
	}
	return at, nil
}

// RequestsPerLifetime is how many tokens p asks for during one lifetime of
// a token valid for lifetime, when every request succeeds at once: the
// lifetime divided by the time from issue to refresh, without jitter (which
// adds at most MaxJitter to a refresh's lead). A policy the lifetime cannot
// meet gives At's error; Fallback then replaces at half-life, 2.0.
func RequestsPerLifetime(lifetime time.Duration, p Policy) (float64, error) {
	var issued time.Time
	at, err := At(issued, issued.Add(lifetime), p, 0)
	if err != nil {
		return 0, err
	}
	return float64(lifetime) / float64(at.Sub(issued)), nil
}

// Fallback is when to replace a token for which At reported a
// *TooShortError or an *InfeasibleError: at half its life, so that the
// Secret stays valid, but never sooner than MinInterval after the previous
// request for a token shorter than MinLifetime, so that such a platform is
// not asked twice a second forever.
func Fallback(issued, expires time.Time) time.Time {
	lifetime := expires.Sub(issued)
	if lifetime < MinLifetime {
		return issued.Add(MinInterval)
	}
	return issued.Add(lifetime / 2)
}

// Backoff limits retries after failed refreshes.
type Backoff struct {
	// Initial delay after the first failure. Default 1 s.
	Initial time.Duration
	// Max delay between attempts. Default 5 min.
	Max time.Duration
	// MaxWithoutToken caps the delay once no valid token is left and the
	// failure may pass (an outage, not bad credentials): the workloads fail
	// already, so the first moment the platform is back counts; the
	// per-endpoint rate limit still protects the platform. Default 5 s.
	MaxWithoutToken time.Duration
	// MaxRetryAfter caps the platform's Retry-After once no valid token is
	// left: a platform asking for a day would otherwise leave the client
	// without a token for a day after it is back. While a token is valid,
	// its remaining life bounds every retry instead. Default 5 min.
	MaxRetryAfter time.Duration
}

// WithoutToken is the backoff to use while no valid token is left after a
// failure that may pass.
func (b Backoff) WithoutToken() Backoff {
	limit := b.MaxWithoutToken
	if limit <= 0 {
		limit = 5 * time.Second
	}
	if b.Max <= 0 || b.Max > limit {
		b.Max = limit
	}
	return b
}

// RetryAt returns when to try again after the given number of consecutive
// failures (1 for the first). The delay doubles per failure up to Max, with
// full jitter in its upper half; retryAfter, when the endpoint sent one, is
// honoured up to MaxRetryAfter once no valid token is left. While a
// still-valid token exists (expires is not zero and in the
// future), the retry is never planned past the point where that token still
// has budget left to propagate (and, past that, comes at a quarter of the
// token's remaining life), so a backoff never makes Keyport sit idle while
// the current token runs out.
func (b Backoff) RetryAt(now time.Time, failures int, retryAfter time.Duration, expires time.Time, budget time.Duration, jitter float64) time.Time {
	initial, maxDelay := b.Initial, b.Max
	if initial <= 0 {
		initial = time.Second
	}
	if maxDelay <= 0 {
		maxDelay = 5 * time.Minute
	}
	delay := initial
	for i := 1; i < failures && delay < maxDelay; i++ {
		delay *= 2
	}
	if delay > maxDelay {
		delay = maxDelay
	}
	// Full jitter over the upper half keeps retries of many clients apart
	// while still growing.
	delay = delay/2 + time.Duration(clamp01(jitter)*float64(delay/2))
	if expires.IsZero() || !now.Before(expires) {
		retryAfter = min(retryAfter, b.maxRetryAfter())
	}
	if retryAfter > delay {
		delay = retryAfter
	}
	at := now.Add(delay)
	if !expires.IsZero() && now.Before(expires) {
		// Latest useful retry: a new token written then still reaches the
		// pods before the current one expires.
		latest := expires.Add(-budget)
		if latest.After(now) {
			if at.After(latest) {
				at = latest
			}
			return at
		}
		// Past that point the current token is about to run out: retry
		// often, at a quarter of the life it has left (at least a second),
		// so that the first moment the platform answers again is used.
		soon := max(expires.Sub(now)/4, time.Second)
		if at.After(now.Add(soon)) {
			at = now.Add(soon)
		}
	}
	return at
}

func (b Backoff) maxRetryAfter() time.Duration {
	if b.MaxRetryAfter <= 0 {
		return 5 * time.Minute
	}
	return b.MaxRetryAfter
}

// RejectedCredentials is the backoff after the platform said the
// credentials are wrong (invalid_client, invalid_grant, 401): the same
// credentials are tried again only minutes later (changed ones at once, which
// is the caller's to see). Callers pass no expiry to RetryAt with it, so that
// retries never come faster as the current token runs out: a password grant
// locks the account after a few failed attempts, and a lock outlasts any
// token.
func RejectedCredentials() Backoff {
	return Backoff{Initial: 5 * time.Minute, Max: 30 * time.Minute}
}

func clamp01(x float64) float64 {
	switch {
	case x < 0:
		return 0
	case x >= 1:
		return 0.999999
	}
	return x
}
