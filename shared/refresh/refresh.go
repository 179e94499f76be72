// Package refresh holds the arithmetic of token refresh (ARCHITECTURE §3) as
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
)

// Policy decides when a token is replaced.
type Policy struct {
	// Fraction of the lifetime after which the token is replaced, in (0, 1).
	Fraction float64
	// PropagationBudget is how long a replaced token must still be valid.
	PropagationBudget time.Duration
	// MaxJitter caps the random early shift. Zero means DefaultMaxJitter;
	// a negative value disables jitter.
	MaxJitter time.Duration
}

// DefaultPolicy is fraction 0.5 with a 2-minute budget.
func DefaultPolicy() Policy {
	return Policy{Fraction: DefaultFraction, PropagationBudget: DefaultPropagationBudget}
}

// InfeasibleError says that a token's lifetime cannot satisfy the policy: it
// would have to be replaced before it could be used at all. The policy is
// reported, never silently stretched.
type InfeasibleError struct {
	Lifetime time.Duration
	Budget   time.Duration
}

func (e *InfeasibleError) Error() string {
	return fmt.Sprintf("a %v token cannot keep a %v propagation budget: it would be replaced less than %v after it was issued; lower refresh.propagationBudget below %v",
		e.Lifetime, e.Budget, MinUsableTime, e.Lifetime-MinUsableTime)
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
// replaced: the earlier of issued + fraction×lifetime and expires − budget,
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
	fraction := p.Fraction
	if fraction <= 0 || fraction >= 1 {
		fraction = DefaultFraction
	}
	byFraction := issued.Add(time.Duration(fraction * float64(lifetime)))
	byBudget := expires.Add(-p.PropagationBudget)
	at := byFraction
	if byBudget.Before(at) {
		at = byBudget
	}
	if at.Sub(issued) < MinUsableTime {
		return time.Time{}, &InfeasibleError{Lifetime: lifetime, Budget: p.PropagationBudget}
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
