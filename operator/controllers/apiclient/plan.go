package apiclient

import (
	"time"
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
)

func (a action) String() string {
	return [...]string{"keep", "request", "wait", "suspended"}[a]
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
}

// storedToken is the part of the output Secret the plan needs.
type storedToken struct {
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
	if o.suspend {
		return decision{action: suspended, why: "spec.suspend is true"}
	}
	d := decide(o)
	if s := o.stored; s != nil && o.now.Before(s.expiresAt) {
		d.requeueAt = earliest(d.requeueAt, s.expiresAt)
	}
	return d
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
		return decision{action: request, why: why}
	case s == nil:
		why = "the output Secret holds no usable token"
	case s.inputsMAC != o.inputsMAC:
		why = "the spec or the credentials changed"
	case !o.now.Before(s.refreshAt):
		why = "the token reached its refresh time"
	default:
		return decision{action: keep, why: "the token is fresh", requeueAt: s.refreshAt}
	}
	if o.inFlight {
		// Its answer comes back by itself.
		return decision{action: wait, why: why + "; a token request is on its way"}
	}
	if !o.retryAt.IsZero() && o.now.Before(o.retryAt) && o.retryInputsMAC == o.inputsMAC {
		return decision{action: wait, why: why + "; retrying after the previous failure", requeueAt: o.retryAt}
	}
	return decision{action: request, why: why}
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
