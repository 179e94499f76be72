// Package apiclient is the ApiClient controller: it keeps a valid token in
// each ApiClient's output Secret, requesting a new one once per token
// lifetime and never throwing a valid token away because of an error.
//
// Every decision (keep, request, wait, store, retry; urgency, the half-life
// fallback, the backoff) is the pure function plan (plan.go); this file
// gathers what plan needs and carries out its decision; the pure functions
// of report.go turn the outcome into the status, which the reconcile kit
// writes. What the process keeps between reconciles is memory (memory.go);
// what a new leader must know is in the Secret's annotations and the status.
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/internal/ownedsecret"
	"github.com/keyport-dev/keyport/operator/internal/reconcilekit"
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

	// Clock and Jitter are the time and the randomness; nil means real
	// ones. The limiter and the token requests use the same clock.
	Clock  clock.PassiveClock
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

	once    sync.Once
	clients *httpClients
	limiter *endpointLimiter
	calls   tokenCalls
	status  *reconcilekit.Status[*keyportv1.ApiClient, keyportv1.ApiClientStatus]
	// mem is what this process remembers between reconciles (memory.go).
	mem memory
}

func (r *Reconciler) init() {
	r.once.Do(func() {
		if r.Clock == nil {
			r.Clock = clock.RealClock{}
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
		r.limiter = &endpointLimiter{limit: rateLimit(lim), burst: burst, clock: r.Clock, mem: &r.mem}
		r.clients = &httpClients{key: r.MACKey}
		r.status = statusWriter(r.Client, r.Recorder)
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
			r.mem.forget(req.NamespacedName)
			r.status.Forget(req.NamespacedName)
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
	r.mem.saw(req.NamespacedName, ac.UID)
	return r.status.Run(ctx, ac, r.reconcile)
}

// reconcile does the work; the caller writes the status once at the end.
// It gathers an observation, lets plan decide and carries the decision out;
// the report functions (report.go) turn the outcome into the status.
func (r *Reconciler) reconcile(ctx context.Context, ac *keyportv1.ApiClient) (ctrl.Result, error) {
	now := r.Clock.Now()
	key := client.ObjectKeyFromObject(ac)

	stored, err := r.readOutput(ctx, ac)
	var conflict *outputConflictError
	if errors.As(err, &conflict) {
		// Nothing is requested for a Secret that cannot be written. The
		// Secret watch brings the ApiClient back when that Secret goes;
		// until then it is looked at rarely.
		reportFailure(ac, nil, now, keyportv1.ReasonOutputSecretConflict, conflict.Error())
		observe(ac, time.Time{}, time.Time{})
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
		reportFailure(ac, stored, now, ie.reason, ie.message)
		observe(ac, time.Time{}, time.Time{})
		return requeueAt(now, expiryOf(stored)), nil
	}
	inputsMAC := in.mac(r.MACKey, &ac.Spec)
	stored = r.recoverFromMemory(ac, stored, inputsMAC, now)

	o := observation{
		now: now, stored: storedView(stored), inputsMAC: inputsMAC,
		forceRefresh: ac.Annotations[keyportv1.AnnotationRefresh], suspend: ac.Spec.Suspend,
		policy: policyOf(&ac.Spec), backoff: r.Backoff, jitter: r.Jitter(),
	}
	o.retryAt, o.retryInputsMAC = r.retryState(ac, inputsMAC)
	a, inFlight := r.calls.take(key, ac.UID, inputsMAC)
	o.inFlight = inFlight
	if a != nil && !ac.Spec.Suspend {
		if a.err != nil {
			// Judged when the call ended: the current token may have
			// expired while it hung.
			o.now = a.at
			return r.fail(ctx, ac, stored, o, a.err)
		}
		o.fresh = &tokenTimes{issuedAt: a.fresh.issuedAt, expiresAt: a.fresh.token.ExpiresAt}
	}
	d := plan(o)
	log.FromContext(ctx).V(1).Info("planned", "action", d.action.String(), "why", d.why)

	switch d.action {
	case suspended:
		setCondition(ac, keyportv1.ConditionReady, tokenValid(stored, now), keyportv1.ReasonSuspended,
			"refreshing is suspended (spec.suspend); the Secret keeps its last token until it expires")
		setCondition(ac, keyportv1.ConditionDegraded, metav1.ConditionFalse, keyportv1.ReasonSuspended, "suspended by the user")
		return ctrl.Result{}, nil
	case store:
		fresh := *a.fresh
		fresh.refreshAt = d.refreshAt
		return r.store(ctx, ac, stored, fresh, d, a.hc)
	case wait:
		reportWaiting(ac, stored, now)
		return requeueAt(now, d.requeueAt), nil
	case keep:
		if err := r.ensureSecret(ctx, ac, *stored); err != nil {
			return ctrl.Result{}, err
		}
		if tokenValid(stored, now) == metav1.ConditionTrue {
			reportSuccess(ac, *stored, false, r.OmitTokenTimes, r.problem(ac, d))
			observe(ac, stored.token.ExpiresAt, stored.refreshAt)
		} else {
			// The token expired before the platform may be asked again
			// (tokens shorter than refresh.MinLifetime).
			reportWaiting(ac, stored, now)
		}
		return requeueAt(now, d.requeueAt), nil
	}

	return r.request(ctx, ac, stored, in, o, d)
}

// request sends a token request off the workers, once the per-host limiter
// gives it a slot; its answer queues the ApiClient again.
func (r *Reconciler) request(ctx context.Context, ac *keyportv1.ApiClient, stored *issuedToken, in *inputs, o observation, d decision) (ctrl.Result, error) {
	now, key, inputsMAC := o.now, client.ObjectKeyFromObject(ac), o.inputsMAC
	if delay := r.limiter.reserve(ac.UID, ac.Spec.TokenURL, d.urgent); delay > 0 {
		// Waiting for a slot at the platform: the conditions still follow
		// the token in the Secret.
		reportWaiting(ac, stored, now)
		return requeueAt(now, earliest(now.Add(delay), d.requeueAt)), nil
	}
	hc, bundle, err := r.connection(ac, in)
	if err != nil {
		return r.fail(ctx, ac, stored, o, err)
	}
	req, err := tokenRequest(ac, in, bundle)
	if err != nil {
		return r.fail(ctx, ac, stored, o, err)
	}
	call := tokenCall{
		hc: hc, req: req, inputsMAC: inputsMAC, force: ac.Annotations[keyportv1.AnnotationRefresh],
		deadline: attemptDeadline(now, validUntil(stored, now)), now: r.Clock.Now,
	}
	call.req.Now = r.Clock.Now
	if stored == nil {
		call.connectTimeout = firstConnectTimeout
	}
	reportWaiting(ac, stored, now)
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

// store writes a new token to the Secret and reports it.
func (r *Reconciler) store(ctx context.Context, ac *keyportv1.ApiClient, stored *issuedToken, fresh issuedToken, d decision, hc *http.Client) (ctrl.Result, error) {
	// Remembered before the write: if the API server is away, the retry
	// writes this token instead of asking the platform for another.
	r.mem.succeeded(ac.UID, fresh)
	if err := r.ensureSecret(ctx, ac, fresh); err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	if p := ac.Spec.RevocationProbe; p != nil && tokenValid(stored, now) == metav1.ConditionTrue {
		// Off the workers too: the probe calls the platform.
		previous, uid := stored.token, ac.UID
		r.calls.spawn(client.ObjectKeyFromObject(ac), func(ctx context.Context) {
			r.checkRevocation(ctx, uid, hc, p.URL, previous, fresh.token)
		})
	}
	reportSuccess(ac, fresh, true, r.OmitTokenTimes, r.problem(ac, d))
	observe(ac, fresh.token.ExpiresAt, fresh.refreshAt)
	return requeueAt(now, d.requeueAt), nil
}

// fail keeps the current token, lets plan choose when to retry and
// reports why. o is the observation the failed request was made from, its
// time the moment it failed.
func (r *Reconciler) fail(ctx context.Context, ac *keyportv1.ApiClient, stored *issuedToken, o observation, err error) (ctrl.Result, error) {
	o.failure = failureOf(err, int(ac.Status.ConsecutiveFailures)+1)
	o.suspend, o.fresh = false, nil
	d := plan(o)
	r.mem.failed(ac.UID, failureState{retryAt: d.retryAt, inputsMAC: o.inputsMAC})
	reason := reportRetry(ac, stored, o.now, err, o.failure.consecutive, d.retryAt)
	observe(ac, time.Time{}, d.retryAt)
	log.FromContext(ctx).Info("token refresh failed", "reason", reason, "failures", o.failure.consecutive, "retryAt", d.retryAt.Format(time.RFC3339))
	return requeueAt(o.now, d.requeueAt), nil
}

// failureOf reduces an error to what the choice of backoff depends on.
func failureOf(err error, consecutive int) *attemptFailure {
	f := &attemptFailure{consecutive: consecutive}
	var te *token.Error
	if errors.As(err, &te) {
		f.retryAfter = te.RetryAfter
		f.invalidCredentials = te.Kind == token.KindInvalidCredentials
		f.passing = te.Retryable()
	}
	return f
}

// retryState is when the last failed request may be made again and the
// inputs it failed with. This process remembers both. A new leader has only
// status.retryAt (the status may hold no byte derived from a secret, so not
// the inputs MAC): it takes it to be for the current inputs while the spec
// is the one that status was written for. A credential Secret changed while
// no leader ran is then tried at retryAt rather than at once; a spec change
// is tried at once.
func (r *Reconciler) retryState(ac *keyportv1.ApiClient, inputsMAC string) (time.Time, string) {
	if f, ok := r.mem.failure(ac.UID); ok {
		return f.retryAt, f.inputsMAC
	}
	if s := ac.Status; s.RetryAt != nil && s.ConsecutiveFailures > 0 && s.ObservedGeneration == ac.Generation {
		return s.RetryAt.Time, inputsMAC
	}
	return time.Time{}, ""
}

// problem is what keeps the ApiClient from being all well although its
// token is valid: a policy the token cannot meet (plan), or a platform that
// revoked the previous token when it issued this one (the probe).
func (r *Reconciler) problem(ac *keyportv1.ApiClient, d decision) issue {
	if why := r.mem.revocation(ac.UID); why != "" {
		return issue{keyportv1.ReasonTokenRevokedOnReissue, why}
	}
	return issue{d.reason, d.problem}
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
	t, ok := r.mem.lastIssued(ac.UID)
	if !ok {
		return stored
	}
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
		r.mem.setRevocation(uid, "the platform revoked the previous token when it issued a new one: pods that have not yet "+
			"seen the new token fail until the kubelet syncs their volume; ask the platform to keep tokens valid until they expire")
	default:
		r.mem.setRevocation(uid, "")
	}
}

func resultLabel(err error) string {
	if k := token.KindOf(err); k != 0 {
		return k.String()
	}
	return "Error"
}

func storedView(t *issuedToken) *storedToken {
	if t == nil {
		return nil
	}
	return &storedToken{issuedAt: t.issuedAt, expiresAt: t.token.ExpiresAt, refreshAt: t.refreshAt, inputsMAC: t.inputsMAC, handledForce: t.handledForce}
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
