// Package apiclient is the ApiClient controller: it keeps a valid token in
// each ApiClient's output Secret, requesting a new one once per token
// lifetime and never throwing a valid token away because of an error.
//
// The decision of what to do is the pure function plan; this file gathers
// what plan needs, carries out its decision and reports the outcome.
package apiclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/conditions"
	"github.com/keyport-dev/keyport/operator/internal/ownedsecret"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/refresh"
	"github.com/keyport-dev/keyport/shared/token"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// Reconciler reconciles ApiClients.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// MACKey keys the change-detection MACs; it must be the same for every
	// replica and restart (see operator/internal/mackey).
	MACKey []byte

	// Now and Jitter are the clock and the randomness; nil means real ones.
	Now    func() time.Time
	Jitter func() float64
	// Backoff after failed refreshes. Zero means 1 s doubling to 5 min.
	Backoff refresh.Backoff
	// EndpointRate and EndpointBurst limit token requests per token host.
	// Zero means 20 per second with a burst of 50.
	EndpointRate  float64
	EndpointBurst int
	// Workers is how many ApiClients are reconciled at once. Token requests
	// run off the workers (see tokenCalls); the workers wait on the API
	// server only. Zero means 8.
	Workers int
	// OmitTokenTimes leaves the current token's times out of the status
	// (see StatusTimes in status.go). False keeps them exact.
	OmitTokenTimes bool

	once     sync.Once
	clients  *httpClients
	limiter  *endpointLimiter
	calls    tokenCalls
	failures sync.Map // types.UID → failureState
	issued   sync.Map // types.UID → issuedToken, to repair a deleted Secret
	revoked  sync.Map // types.UID → string, why the last reissue revoked the previous token
	written  sync.Map // types.NamespacedName → writtenStatus, the status this process wrote last
}

// failureState remembers which inputs the last failure happened with.
type failureState struct {
	retryAt   time.Time
	inputsMAC string
}

func (r *Reconciler) init() {
	r.once.Do(func() {
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.Jitter == nil {
			r.Jitter = rand.Float64
		}
		lim, burst := r.EndpointRate, r.EndpointBurst
		if lim <= 0 {
			lim = 20
		}
		if burst <= 0 {
			burst = 50
		}
		r.limiter = &endpointLimiter{limit: rateLimit(lim), burst: burst}
		r.clients = &httpClients{key: r.MACKey}
	})
}

// +kubebuilder:rbac:groups=keyport.dev,resources=apiclients,verbs=list;watch
// +kubebuilder:rbac:groups=keyport.dev,resources=apiclients/status,verbs=patch
// +kubebuilder:rbac:groups=keyport.dev,resources=apiclients/finalizers,verbs=update
// +kubebuilder:rbac:groups=keyport.dev,resources=m2mcertificates,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=list;watch;create;update

// Reconcile brings one ApiClient's Secret and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.init()
	ac := &keyportv1.ApiClient{}
	if err := r.Client.Get(ctx, req.NamespacedName, ac); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
			r.written.Delete(req.NamespacedName)
			r.calls.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ac.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(ac, keyportv1.FinalizerInUse) {
		// The output Secret is owned by the ApiClient and goes with it.
		return ctrl.Result{}, nil
	}
	// Deleted but still used by a NotificationChannel, which needs a valid
	// token to remove its registration: the token is kept fresh until the
	// ApiClient goes.
	before := ac.Status.DeepCopy()
	result, err := r.reconcile(ctx, ac)
	if statusErr := r.writeStatus(ctx, ac, before); statusErr != nil {
		err = errors.Join(err, statusErr)
	}
	return result, err
}

// reconcile does the work; the caller writes the status once at the end.
func (r *Reconciler) reconcile(ctx context.Context, ac *keyportv1.ApiClient) (ctrl.Result, error) {
	now := r.Now()
	key := client.ObjectKeyFromObject(ac)

	stored, err := r.readOutput(ctx, ac)
	var conflict *outputConflictError
	if errors.As(err, &conflict) {
		// Nothing is requested for a Secret that cannot be written. The
		// Secret watch brings the ApiClient back when that Secret goes;
		// until then it is looked at rarely.
		r.reportFailure(ac, nil, now, keyportv1.ReasonOutputSecretConflict, conflict.Error())
		return ctrl.Result{RequeueAfter: conflictRecheck}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if stored != nil {
		// The status names the Secret only once it holds a token, so that
		// kubectl never points a workload at a Secret that is not there.
		ac.Status.OutputSecretName = outputSecretName(ac)
	}
	in, err := gatherInputs(ctx, r.Client, ac)
	if err != nil {
		var ie *inputError
		if !errors.As(err, &ie) {
			return ctrl.Result{}, err
		}
		// Without inputs nothing can be requested; the token already in the
		// Secret stays until it expires. A watch on the referenced objects
		// brings the ApiClient back as soon as they appear.
		r.reportFailure(ac, stored, now, ie.reason, ie.message)
		return requeueAt(now, expiryOf(stored)), nil
	}
	inputsMAC := in.mac(r.MACKey, &ac.Spec)
	stored = r.recoverFromMemory(ac, stored, inputsMAC, now)

	answer, inFlight := r.calls.take(key, ac.UID, inputsMAC)
	if answer != nil && !ac.Spec.Suspend {
		return r.settle(ctx, ac, stored, inputsMAC, answer)
	}
	failure, _ := r.failures.Load(ac.UID)
	fs, _ := failure.(failureState)
	d := plan(observation{
		now: now, stored: storedView(stored), inputsMAC: inputsMAC,
		forceRefresh: ac.Annotations[keyportv1.AnnotationRefresh], suspend: ac.Spec.Suspend,
		retryAt: fs.retryAt, retryInputsMAC: fs.inputsMAC, inFlight: inFlight,
	})
	log.FromContext(ctx).V(1).Info("planned", "action", d.action.String(), "why", d.why)

	switch d.action {
	case suspended:
		setCondition(ac, keyportv1.ConditionReady, tokenValid(stored, now), keyportv1.ReasonSuspended,
			"refreshing is suspended (spec.suspend); the Secret keeps its last token until it expires")
		setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionFalse, keyportv1.ReasonSuspended, "suspended by the user")
		return ctrl.Result{}, nil
	case wait:
		r.reportWaiting(ac, stored, now)
		return requeueAt(now, d.requeueAt), nil
	case keep:
		if err := r.ensureSecret(ctx, ac, *stored); err != nil {
			return ctrl.Result{}, err
		}
		if tokenValid(stored, now) == metav1.ConditionTrue {
			r.reportSuccess(ac, *stored, now, false)
		} else {
			// The token expired before the platform may be asked again
			// (tokens shorter than refresh.MinLifetime).
			r.reportWaiting(ac, stored, now)
		}
		return requeueAt(now, d.requeueAt), nil
	}

	// request
	urgent := !now.Before(expiryOf(stored).Add(-policyOf(&ac.Spec).PropagationBudget))
	if delay := r.limiter.reserve(ac.UID, ac.Spec.TokenURL, now, urgent); delay > 0 {
		// Waiting for a slot at the platform: the conditions still follow
		// the token in the Secret.
		r.reportWaiting(ac, stored, now)
		return requeueAt(now, earliest(now.Add(delay), d.requeueAt)), nil
	}
	hc, bundle, err := r.connection(ac, in)
	if err != nil {
		return r.handleFailure(ctx, ac, stored, inputsMAC, now, err)
	}
	req, err := tokenRequest(ac, in, bundle)
	if err != nil {
		return r.handleFailure(ctx, ac, stored, inputsMAC, now, err)
	}
	call := tokenCall{
		hc: hc, req: req, policy: policyOf(&ac.Spec), jitter: r.Jitter(),
		inputsMAC: inputsMAC, force: ac.Annotations[keyportv1.AnnotationRefresh],
		deadline: attemptDeadline(now, validUntil(stored, now)), now: r.Now,
	}
	call.req.Now = r.Now
	if stored == nil {
		call.connectTimeout = firstConnectTimeout
	}
	r.reportWaiting(ac, stored, now)
	if !r.calls.start(key, ac.UID, inputsMAC, call.run) {
		// The namespace has as many requests on their way as it may; one
		// ending queues this ApiClient again.
		return requeueAt(now, earliest(now.Add(time.Minute), d.requeueAt)), nil
	}
	if stored != nil && !stored.refreshAt.IsZero() && now.After(stored.refreshAt) {
		refreshLateness.Observe(now.Sub(stored.refreshAt).Seconds())
	}
	return requeueAt(now, d.requeueAt), nil
}

// settle acts on the answer to a token request: a new token goes into the
// Secret, a failure keeps the current token and plans the retry.
func (r *Reconciler) settle(ctx context.Context, ac *keyportv1.ApiClient, stored *issuedToken, inputsMAC string, a *answer) (ctrl.Result, error) {
	if a.err != nil {
		return r.handleFailure(ctx, ac, stored, inputsMAC, a.at, a.err)
	}
	fresh := *a.fresh
	// Remembered before the write: if the API server is away, the retry
	// writes this token instead of asking the platform for another.
	r.issued.Store(ac.UID, fresh)
	r.failures.Delete(ac.UID)
	if err := r.ensureSecret(ctx, ac, fresh); err != nil {
		return ctrl.Result{}, err
	}
	now := r.Now()
	if p := ac.Spec.RevocationProbe; p != nil && tokenValid(stored, now) == metav1.ConditionTrue {
		// Off the workers too: the probe calls the platform.
		previous, uid := stored.token, ac.UID
		r.calls.spawn(client.ObjectKeyFromObject(ac), func(ctx context.Context) {
			r.checkRevocation(ctx, uid, a.hc, p.URL, previous, fresh.token)
		})
	}
	r.reportSuccess(ac, fresh, now, true)
	return ctrl.Result{RequeueAfter: fresh.refreshAt.Sub(now)}, nil
}

// readOutput reads the output Secret. A Secret that cannot be trusted (edited
// by hand, written with another key) yields no stored token, so that it is
// repaired; a Secret that is not Keyport's is never overwritten.
func (r *Reconciler) readOutput(ctx context.Context, ac *keyportv1.ApiClient) (*issuedToken, error) {
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: ac.Namespace, Name: outputSecretName(ac)}, s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read output Secret: %w", err)
	}
	if !metav1.IsControlledBy(s, ac) {
		return nil, &outputConflictError{secret: s.Name, owner: metav1.GetControllerOf(s)}
	}
	t, err := readSecret(s, r.MACKey)
	if err != nil {
		log.FromContext(ctx).Info("output Secret will be repaired", "reason", err.Error())
		return nil, nil
	}
	return &t, nil
}

// recoverFromMemory uses the last token this process issued when the Secret
// lost it (deleted or edited) or never received it (the API server was away
// when it was written), so that neither costs a token request.
func (r *Reconciler) recoverFromMemory(ac *keyportv1.ApiClient, stored *issuedToken, inputsMAC string, now time.Time) *issuedToken {
	v, ok := r.issued.Load(ac.UID)
	if !ok {
		return stored
	}
	t := v.(issuedToken)
	if t.inputsMAC != inputsMAC || !now.Before(t.token.ExpiresAt) {
		return stored
	}
	if stored != nil && !t.token.ExpiresAt.After(stored.token.ExpiresAt) {
		return stored
	}
	return &t
}

// connection returns the HTTP client and the decoded client certificate for
// the inputs.
func (r *Reconciler) connection(ac *keyportv1.ApiClient, in *inputs) (*http.Client, *certs.Bundle, error) {
	var bundle *certs.Bundle
	// A client whose certificate was removed uses none from now on.
	ac.Status.CertificateThumbprint = ""
	if len(in.certPEM) > 0 {
		b, err := certs.DecodePEM(in.certPEM, in.keyPEM)
		if err != nil {
			return nil, nil, &inputError{keyportv1.ReasonCertificateNotReady, "the client certificate cannot be used: " + err.Error()}
		}
		bundle = b
		ac.Status.CertificateThumbprint = certs.Thumbprint(b.Leaf)
	}
	hc, err := r.clients.get(&ac.Spec, in, bundle)
	if err != nil {
		return nil, nil, &inputError{keyportv1.ReasonCertificateNotReady, "the CA bundle cannot be used: " + err.Error()}
	}
	return hc, bundle, nil
}

// ensureSecret writes the token to the output Secret if it is not there in
// exactly this form. One write per refresh: the Secret is updated in place,
// so the old token is replaced, never deleted first.
func (r *Reconciler) ensureSecret(ctx context.Context, ac *keyportv1.ApiClient, t issuedToken) error {
	err := ownedsecret.Apply(ctx, r.Client, ac, outputSecretName(ac), func(s *corev1.Secret) error {
		return renderSecret(s, ac, t, r.MACKey)
	})
	var te *templateError
	if errors.As(err, &te) {
		setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionTrue, "InvalidTemplate", te.Error())
	}
	if err == nil {
		ac.Status.OutputSecretName = outputSecretName(ac)
	}
	return err
}

// handleFailure keeps the current token, plans the retry and reports why.
func (r *Reconciler) handleFailure(ctx context.Context, ac *keyportv1.ApiClient, stored *issuedToken, inputsMAC string, now time.Time, err error) (ctrl.Result, error) {
	failures := int(ac.Status.ConsecutiveFailures) + 1
	ac.Status.ConsecutiveFailures = int32(failures)
	var retryAfter time.Duration
	var te *token.Error
	if errors.As(err, &te) {
		retryAfter = te.RetryAfter
	}
	backoff, expires := r.Backoff, expiryOf(stored)
	switch {
	case te != nil && te.Kind == token.KindInvalidCredentials:
		// Not bound by the current token's expiry: retrying faster as it
		// runs out is how a password grant locks the account.
		backoff, expires = refresh.RejectedCredentials(), time.Time{}
	case te != nil && te.Retryable() && tokenValid(stored, now) == metav1.ConditionFalse:
		backoff = backoff.WithoutToken()
	}
	retryAt := backoff.RetryAt(now, failures, retryAfter, expires, policyOf(&ac.Spec).PropagationBudget, r.Jitter())
	r.failures.Store(ac.UID, failureState{retryAt: retryAt, inputsMAC: inputsMAC})
	reason, message := failureReason(err)
	r.reportFailure(ac, stored, now, reason, message+nextAttempt(ac, te, now, retryAt, stored))
	ac.Status.NextRefreshTime = &metav1.Time{Time: retryAt}
	nextRefresh.WithLabelValues(ac.Namespace, ac.Name).Set(float64(retryAt.Unix()))
	log.FromContext(ctx).Info("token refresh failed", "reason", reason, "failures", failures, "retryAt", retryAt.Format(time.RFC3339))
	// Look again when the current token expires, if that comes first (a
	// Retry-After past it, say), so that Ready turns False on time.
	return requeueAt(now, earliest(retryAt, validUntil(stored, now))), nil
}

// reportWaiting keeps the conditions true while a retry waits out its
// backoff: once the token the Secret holds has expired, the ApiClient is no
// longer Ready, for the reason the last attempt failed.
func (r *Reconciler) reportWaiting(ac *keyportv1.ApiClient, stored *issuedToken, now time.Time) {
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

// validUntil is the stored token's expiry while it is still valid, zero
// otherwise.
func validUntil(t *issuedToken, now time.Time) time.Time {
	if tokenValid(t, now) == metav1.ConditionTrue {
		return t.token.ExpiresAt
	}
	return time.Time{}
}

// earliest is the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// checkRevocation probes whether the platform revoked the previous token
// when it issued the new one, and remembers the answer for the conditions.
func (r *Reconciler) checkRevocation(ctx context.Context, uid types.UID, hc *http.Client, url string, previous, current tokensecret.Token) {
	revoked, err := revokedOnReissue(ctx, hc, url, previous, current)
	switch {
	case err != nil:
		log.FromContext(ctx).Info("revocation probe inconclusive", "err", err.Error())
	case revoked:
		r.revoked.Store(uid, "the platform revoked the previous token when it issued a new one: pods that have not yet "+
			"seen the new token fail until the kubelet syncs their volume; ask the platform to keep tokens valid until they expire")
	default:
		r.revoked.Delete(uid)
	}
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

func resultLabel(err error) string {
	if k := token.KindOf(err); k != 0 {
		return k.String()
	}
	return "Error"
}

// reportSuccess sets status and conditions after a token was written or
// confirmed.
func (r *Reconciler) reportSuccess(ac *keyportv1.ApiClient, t issuedToken, now time.Time, refreshed bool) {
	if refreshed {
		ac.Status.ConsecutiveFailures = 0
	}
	msg := "the output Secret holds a valid token; its " + keyportv1.AnnotationExpiresAt + " annotation says until when"
	if r.OmitTokenTimes {
		ac.Status.TokenExpiresAt, ac.Status.LastRefreshTime, ac.Status.NextRefreshTime = nil, nil, nil
	} else {
		ac.Status.TokenExpiresAt = &metav1.Time{Time: t.token.ExpiresAt}
		ac.Status.LastRefreshTime = &metav1.Time{Time: t.issuedAt}
		ac.Status.NextRefreshTime = &metav1.Time{Time: t.refreshAt}
		msg = fmt.Sprintf("token valid until %s, next refresh at %s", t.token.ExpiresAt.UTC().Format(time.RFC3339), t.refreshAt.UTC().Format(time.RFC3339))
	}
	if ac.Status.ConsecutiveFailures == 0 {
		reason, problem := infeasibility(ac, t)
		if why, ok := r.revoked.Load(ac.UID); ok {
			reason, problem = keyportv1.ReasonTokenRevokedOnReissue, why.(string)
		}
		if problem == "" {
			setCondition(ac, keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, msg)
			setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionFalse, keyportv1.ReasonTokenRefreshed, "the last refresh succeeded")
		} else {
			// Ready's reason names the problem, as it does while a refresh
			// fails: `kubectl get` shows Ready and its reason, and a client
			// that works but not as declared must not read as all well.
			// The message has no token times, so that it changes only when
			// the problem does.
			setCondition(ac, keyportv1.ConditionReady, metav1.ConditionTrue, reason, "the output Secret holds a valid token, but "+problem)
			setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionTrue, reason, problem)
		}
	}
	tokenExpiry.WithLabelValues(ac.Namespace, ac.Name).Set(float64(t.token.ExpiresAt.Unix()))
	nextRefresh.WithLabelValues(ac.Namespace, ac.Name).Set(float64(t.refreshAt.Unix()))
	consecutiveFailures.WithLabelValues(ac.Namespace, ac.Name).Set(float64(ac.Status.ConsecutiveFailures))
}

// infeasibility explains why the refresh policy cannot be met for the token,
// with the reason to report, or returns "" when it can. The platform decides
// lifetimes, so this is known only once a token arrived.
func infeasibility(ac *keyportv1.ApiClient, t issuedToken) (reason, problem string) {
	_, err := refresh.At(t.issuedAt, t.token.ExpiresAt, policyOf(&ac.Spec), 0)
	var infeasible *refresh.InfeasibleError
	var tooShort *refresh.TooShortError
	switch {
	case errors.As(err, &tooShort):
		return keyportv1.ReasonTokenLifetimeTooShort, tooShort.Error()
	case errors.As(err, &infeasible):
		return keyportv1.ReasonPolicyInfeasible, infeasible.Error()
	}
	return "", ""
}

// reportFailure sets conditions after a failure: the ApiClient stays Ready
// while the previous token is still valid, and is Degraded either way.
func (r *Reconciler) reportFailure(ac *keyportv1.ApiClient, stored *issuedToken, now time.Time, reason, message string) {
	valid := tokenValid(stored, now)
	readyMsg := message
	if valid == metav1.ConditionTrue {
		readyMsg = fmt.Sprintf("the current token stays valid until %s; %s", stored.token.ExpiresAt.UTC().Format(time.RFC3339), message)
		ac.Status.TokenExpiresAt = &metav1.Time{Time: stored.token.ExpiresAt}
	}
	setCondition(ac, keyportv1.ConditionReady, valid, reason, readyMsg)
	setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionTrue, reason, message)
	consecutiveFailures.WithLabelValues(ac.Namespace, ac.Name).Set(float64(ac.Status.ConsecutiveFailures))
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

func storedView(t *issuedToken) *storedToken {
	if t == nil {
		return nil
	}
	return &storedToken{expiresAt: t.token.ExpiresAt, refreshAt: t.refreshAt, inputsMAC: t.inputsMAC, handledForce: t.handledForce}
}

func expiryOf(t *issuedToken) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.token.ExpiresAt
}

func hostOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Host
	}
	return ""
}

func requeueAt(now, at time.Time) ctrl.Result {
	if at.IsZero() || !at.After(now) {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: at.Sub(now)}
}

// policyOf reads the refresh policy with its defaults.
func policyOf(spec *keyportv1.ApiClientSpec) refresh.Policy {
	p := refresh.DefaultPolicy()
	if rp := spec.Refresh; rp != nil {
		if rp.Strategy == keyportv1.RefreshLatest {
			p.Strategy = refresh.Latest
		}
		if rp.RetryMargin != nil {
			p.RetryMargin = rp.RetryMargin.Duration
		}
		if rp.RefreshAtPercent != nil {
			p.Fraction = float64(*rp.RefreshAtPercent) / 100
		}
		if rp.PropagationBudget != nil {
			p.PropagationBudget = rp.PropagationBudget.Duration
		}
	}
	return p
}
