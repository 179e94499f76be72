package apiclient

import (
	"errors"
	"time"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/refresh"
)

// action is what a reconcile does to the token.
type action int

const (
	// keep the current token; look again at the planned time.
	keep action = iota
	// request a new token now.
	request
	// wait: a refresh is due but the backoff after a failure has not
	// passed, or the request for it is on its way.
	wait
	// suspended: the user paused refreshing; touch nothing.
	suspended
	// store the token a request brought, to be replaced at refreshAt.
	store
	// retry after a failed request at retryAt, keeping the current token.
	retry
)

func (a action) String() string {
	return [...]string{"keep", "request", "wait", "suspended", "store", "retry"}[a]
}

// observation is everything the plan depends on, gathered by the reconciler.
type observation struct {
	now time.Time
	// stored is the token in the output Secret, nil when there is none or it
	// cannot be trusted (deleted, edited, unreadable).
	stored *storedToken
	// inputsMAC identifies the spec and credential values the next token
	// request would use; a change means the credentials were rotated.
	inputsMAC string
	// forceRefresh is the value of the keyport.dev/refresh annotation; a
	// value different from stored.handledForce asks for a refresh.
	forceRefresh string
	suspend      bool
	// retryAt is when a failed refresh may be retried; zero when the last
	// attempt succeeded.
	retryAt time.Time
	// retryInputsMAC is the inputsMAC the failure happened with; new inputs
	// (a fixed secret) are tried at once instead of waiting out the backoff.
	retryInputsMAC string
	// inFlight says that a token request for this ApiClient is on its way;
	// its answer queues the ApiClient again.
	inFlight bool

	// policy is the refresh policy with its defaults, backoff the
	// operator's backoff after failures, jitter a random value in [0, 1)
	// that spreads refresh and retry times of many ApiClients.
	policy  refresh.Policy
	backoff refresh.Backoff
	jitter  float64

	// At most one of fresh and failure is set: the outcome of a token
	// request that came back.
	fresh   *tokenTimes
	failure *attemptFailure
}

// tokenTimes are a new token's times, as the platform gave them.
type tokenTimes struct {
	issuedAt, expiresAt time.Time
}

// attemptFailure is a failed attempt to get a token, reduced to what the
// choice of backoff depends on.
type attemptFailure struct {
	// consecutive counts this failure and those since the last success.
	consecutive int
	// invalidCredentials: the platform refused the credentials.
	invalidCredentials bool
	// passing: a failure that may pass by itself (an outage, a rate limit),
	// unlike a refused request that needs a change.
	passing bool
	// retryAfter is the platform's Retry-After, zero when it sent none.
	retryAfter time.Duration
}

// storedToken is the part of the output Secret the plan needs.
type storedToken struct {
	issuedAt  time.Time
	expiresAt time.Time
	refreshAt time.Time
	inputsMAC string
	// handledForce is the forceRefresh value this token already answered.
	handledForce string
}

// decision says what to do and when to reconcile next if nothing else
// happens. A zero requeueAt means "no timed requeue".
type decision struct {
	action    action
	why       string
	requeueAt time.Time

	// urgent (request): no valid token is left or it is inside its
	// propagation budget, so the request goes ahead of others to its host.
	urgent bool
	// refreshAt (store) is when the new token is to be replaced.
	refreshAt time.Time
	// retryAt (retry) is when the failed request may be made again.
	retryAt time.Time
	// reason and problem (keep, store) say why the refresh policy cannot be
	// met for the token, which is then replaced at half-life; "" when it can.
	reason, problem string
}

// plan is the pure heart of the ApiClient controller: it decides whether the
// token in the Secret can be kept. It never requests a token for a still-fresh
// Secret written with the same inputs, which is what makes restarts, leader
// changes and resyncs free (one token request per token lifetime).
//
// Whatever it decides, it looks again no later than the stored token's
// expiry, so that Ready turns False when that token expires even while a
// request hangs or waits for a slot at the platform.
func plan(o observation) decision {
	var d decision
	switch {
	case o.suspend:
		return decision{action: suspended, why: "spec.suspend is true"}
	case o.failure != nil:
		d = planRetry(o)
	case o.fresh != nil:
		d = decision{action: store, why: "a request brought a new token"}
		d.refreshAt, d.reason, d.problem = schedule(*o.fresh, o.policy, o.jitter)
		// Looked at again at its refresh time, or when it expires if that
		// comes first (a token shorter than refresh.MinLifetime), so that
		// Ready turns False on time.
		d.requeueAt = earliest(d.refreshAt, o.fresh.expiresAt)
		return d
	default:
		d = decide(o)
	}
	if s := o.stored; s != nil && o.now.Before(s.expiresAt) {
		d.requeueAt = earliest(d.requeueAt, s.expiresAt)
	}
	return d
}

// schedule is when a token is to be replaced under the policy. A policy the
// token's lifetime cannot meet is not met: the token is replaced at
// half-life (refresh.Fallback), so that the Secret stays valid and such a
// platform is not asked twice a second, and reason and problem say why.
func schedule(t tokenTimes, p refresh.Policy, jitter float64) (refreshAt time.Time, reason, problem string) {
	at, err := refresh.At(t.issuedAt, t.expiresAt, p, jitter)
	var infeasible *refresh.InfeasibleError
	var tooShort *refresh.TooShortError
	switch {
	case errors.As(err, &tooShort):
		return refresh.Fallback(t.issuedAt, t.expiresAt), keyportv1.ReasonTokenLifetimeTooShort, tooShort.Error()
	case errors.As(err, &infeasible):
		return refresh.Fallback(t.issuedAt, t.expiresAt), keyportv1.ReasonPolicyInfeasible, infeasible.Error()
	case err != nil:
		// A token that expires before it was issued is refused as
		// malformed when it arrives (requestToken); one read back from a
		// Secret is replaced at once.
		return t.issuedAt, "", ""
	}
	return at, "", ""
}

// planRetry chooses the backoff after a failed request. Refused
// credentials wait minutes, however soon the current token expires:
// retrying faster as it runs out is how a password grant locks the account.
// A failure that may pass retries within seconds once no valid token is
// left. Otherwise the operator's backoff applies, bounded by the current
// token's expiry and propagation budget.
func planRetry(o observation) decision {
	f := o.failure
	valid := o.stored != nil && o.now.Before(o.stored.expiresAt)
	backoff, expires := o.backoff, time.Time{}
	if valid {
		expires = o.stored.expiresAt
	}
	switch {
	case f.invalidCredentials:
		backoff, expires = refresh.RejectedCredentials(), time.Time{}
	case f.passing && !valid:
		backoff = backoff.WithoutToken()
	}
	at := backoff.RetryAt(o.now, f.consecutive, f.retryAfter, expires, o.policy.PropagationBudget, o.jitter)
	// Look again when the current token expires, if that comes first (a
	// Retry-After past it, say), so that Ready turns False on time.
	return decision{action: retry, why: "the request failed", retryAt: at, requeueAt: at}
}

func decide(o observation) decision {
	var why string
	switch s := o.stored; {
	case s != nil && o.forceRefresh != "" && o.forceRefresh != s.handledForce:
		// A person asked; that overrides the backoff.
		why = "a refresh was requested with the keyport.dev/refresh annotation"
		if o.inFlight {
			return decision{action: wait, why: why + "; a token request is on its way"}
		}
		return decision{action: request, why: why, urgent: urgent(o)}
	case s == nil:
		why = "the output Secret holds no usable token"
	case s.inputsMAC != o.inputsMAC:
		why = "the spec or the credentials changed"
	case !o.now.Before(s.refreshAt):
		why = "the token reached its refresh time"
	default:
		d := decision{action: keep, why: "the token is fresh", requeueAt: s.refreshAt}
		_, d.reason, d.problem = schedule(tokenTimes{s.issuedAt, s.expiresAt}, o.policy, 0)
		return d
	}
	if o.inFlight {
		// Its answer comes back by itself.
		return decision{action: wait, why: why + "; a token request is on its way"}
	}
	if !o.retryAt.IsZero() && o.now.Before(o.retryAt) && o.retryInputsMAC == o.inputsMAC {
		return decision{action: wait, why: why + "; retrying after the previous failure", requeueAt: o.retryAt}
	}
	return decision{action: request, why: why, urgent: urgent(o)}
}

// urgent: no valid token is left, or the current one is inside its
// propagation budget; the per-host limiter lets such requests go first.
func urgent(o observation) bool {
	return o.stored == nil || !o.now.Before(o.stored.expiresAt.Add(-o.policy.PropagationBudget))
}

// minAttempt is the shortest time a token request is given while a valid
// token remains; shorter would fail platforms that are merely slow.
const minAttempt = 2 * time.Second

// attemptDeadline is when a token request started at now is given up, given
// that the current token is valid until validUntil (zero: no valid token,
// and only the client's own timeout applies). A request gets half of the
// token's remaining life, at least minAttempt and never past the expiry: a
// platform that hangs (answers after the client timeout) must not use up the
// whole remaining life, or the retry that follows starts after the token has
// expired even though the platform answers again by then.
func attemptDeadline(now, validUntil time.Time) time.Time {
	if validUntil.IsZero() {
		return time.Time{}
	}
	d := max(validUntil.Sub(now)/2, minAttempt)
	return earliest(now.Add(d), validUntil)
}
