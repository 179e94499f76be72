package apiclient

import (
	"errors"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/shared/token"
)

// The report step: pure functions that turn what a reconcile found and
// decided into the ApiClient's status (conditions, failure count, token
// and retry times). They read no clock and call nothing; the reconciler
// writes the status once at the end and sets the metrics (observe).

// issue is what keeps an ApiClient with a valid token from being all well
// (an infeasible policy, a revoking platform): the condition reason and
// what to tell. A zero issue is none.
type issue struct{ reason, problem string }

// reportSuccess sets status and conditions after a token was written or
// confirmed.
func reportSuccess(ac *keyportv1.ApiClient, t issuedToken, refreshed, omitTimes bool, is issue) {
	reason, problem := is.reason, is.problem
	if refreshed {
		ac.Status.ConsecutiveFailures = 0
		ac.Status.RetryAt = nil
	}
	msg := "the output Secret holds a valid token; its " + keyportv1.AnnotationExpiresAt + " annotation says until when"
	if omitTimes {
		ac.Status.TokenExpiresAt, ac.Status.LastRefreshTime, ac.Status.NextRefreshTime = nil, nil, nil
	} else {
		ac.Status.TokenExpiresAt = &metav1.Time{Time: t.token.ExpiresAt}
		ac.Status.LastRefreshTime = &metav1.Time{Time: t.issuedAt}
		ac.Status.NextRefreshTime = &metav1.Time{Time: t.refreshAt}
		msg = fmt.Sprintf("token valid until %s, next refresh at %s", t.token.ExpiresAt.UTC().Format(time.RFC3339), t.refreshAt.UTC().Format(time.RFC3339))
	}
	if ac.Status.ConsecutiveFailures != 0 {
		return
	}
	if problem == "" {
		setCondition(ac, keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, msg)
		setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionFalse, keyportv1.ReasonTokenRefreshed, "the last refresh succeeded")
		return
	}
	// Ready's reason names the problem, as it does while a refresh fails:
	// `kubectl get` shows Ready and its reason, and a client that works but
	// not as declared must not read as all well. The message has no token
	// times, so that it changes only when the problem does.
	setCondition(ac, keyportv1.ConditionReady, metav1.ConditionTrue, reason, "the output Secret holds a valid token, but "+problem)
	setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionTrue, reason, problem)
}

// reportRetry sets status and conditions after the consecutive-th failed
// request, retried at retryAt, and returns the reason it reported.
func reportRetry(ac *keyportv1.ApiClient, stored *issuedToken, now time.Time, err error, consecutive int, retryAt time.Time) string {
	ac.Status.ConsecutiveFailures = int32(consecutive)
	ac.Status.RetryAt = &metav1.Time{Time: retryAt}
	ac.Status.NextRefreshTime = &metav1.Time{Time: retryAt}
	var te *token.Error
	errors.As(err, &te)
	reason, message := failureReason(err)
	reportFailure(ac, stored, now, reason, message+nextAttempt(ac, te, now, retryAt, stored))
	return reason
}

// reportFailure sets conditions after a failure: the ApiClient stays Ready
// while the previous token is still valid, and is Degraded either way.
func reportFailure(ac *keyportv1.ApiClient, stored *issuedToken, now time.Time, reason, message string) {
	valid := tokenValid(stored, now)
	readyMsg := message
	if valid == metav1.ConditionTrue {
		readyMsg = fmt.Sprintf("the current token stays valid until %s; %s", stored.token.ExpiresAt.UTC().Format(time.RFC3339), message)
		ac.Status.TokenExpiresAt = &metav1.Time{Time: stored.token.ExpiresAt}
	}
	setCondition(ac, keyportv1.ConditionReady, valid, reason, readyMsg)
	setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionTrue, reason, message)
}

// reportWaiting keeps the conditions true while a retry waits out its
// backoff: once the token the Secret holds has expired, the ApiClient is no
// longer Ready, for the reason the last attempt failed.
func reportWaiting(ac *keyportv1.ApiClient, stored *issuedToken, now time.Time) {
	if tokenValid(stored, now) == metav1.ConditionTrue {
		return
	}
	ready := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return
	}
	reason, message := keyportv1.ReasonTokenEndpointUnreachable, "no new token could be obtained"
	if degraded := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionDegraded); degraded != nil && degraded.Status == metav1.ConditionTrue {
		reason, message = degraded.Reason, degraded.Message
	}
	expired := "the output Secret holds no token"
	if stored != nil {
		expired = "the token in the output Secret expired at " + stored.token.ExpiresAt.UTC().Format(time.RFC3339)
	}
	setCondition(ac, keyportv1.ConditionReady, metav1.ConditionFalse, reason, expired+"; retrying: "+message)
}

// failureReason maps an error to a condition reason and a message with no
// secret in it (token errors are built that way).
func failureReason(err error) (string, string) {
	var ie *inputError
	if errors.As(err, &ie) {
		return ie.reason, ie.message
	}
	switch token.KindOf(err) {
	case token.KindInvalidCredentials:
		return keyportv1.ReasonInvalidCredentials, err.Error()
	case token.KindRateLimited:
		return keyportv1.ReasonRateLimited, err.Error()
	case token.KindMalformedResponse:
		return keyportv1.ReasonMalformedTokenResponse, err.Error()
	case token.KindUnknownLifetime:
		return keyportv1.ReasonUnknownTokenLifetime, err.Error() + "; set spec.refresh.defaultLifetime"
	case token.KindRejected, token.KindRefused, token.KindTLS:
		return keyportv1.ReasonTokenEndpointRejected, err.Error()
	}
	return keyportv1.ReasonTokenEndpointUnreachable, err.Error()
}

// nextAttempt says when the same request is tried again where the retry
// does not simply back off: refused credentials wait for a change, and a
// Retry-After is cut short so that a client is not left without a token.
func nextAttempt(ac *keyportv1.ApiClient, te *token.Error, now, retryAt time.Time, stored *issuedToken) string {
	at := retryAt.UTC().Format(time.RFC3339)
	switch {
	case te == nil:
		return ""
	case te.Kind == token.KindInvalidCredentials:
		changed := "the credentials"
		if c := ac.Spec.Credentials; c != nil {
			changed = fmt.Sprintf("the credentials (Secret %q)", c.SecretName)
		}
		return fmt.Sprintf("; not tried again until %s or the spec change, or at %s", changed, at)
	case te.RetryAfter > 0 && retryAt.Before(now.Add(te.RetryAfter)):
		if tokenValid(stored, now) == metav1.ConditionTrue {
			return fmt.Sprintf("; retrying at %s, sooner than the platform asked, before the current token runs out", at)
		}
		return fmt.Sprintf("; retrying at %s, sooner than the platform asked, since no valid token is left", at)
	}
	return ""
}

func tokenValid(t *issuedToken, now time.Time) metav1.ConditionStatus {
	if t != nil && now.Before(t.token.ExpiresAt) {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

func setCondition(ac *keyportv1.ApiClient, condType string, status metav1.ConditionStatus, reason, message string) {
	conditions.Set(&ac.Status.Conditions, ac.Generation, condType, status, reason, message)
}
