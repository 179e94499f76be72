package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/keyport-dev/keyport/shared/token"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// maxRequestsPerNamespace bounds the token requests of one namespace on
// their way at once. Without it, a tenant with thousands of ApiClients
// naming endpoints that never answer (each on a host of its own, so the
// per-host rate limit does not apply) would hold thousands of connections.
// A namespace of well-behaved platforms stays far below it: requests
// answered in a second at the per-host rate are about twenty at once.
const maxRequestsPerNamespace = 64

// firstConnectTimeout is how long a client that never had a token may take
// to connect (TCP and TLS): an address that never answers is given up
// quickly, while a platform known to work keeps the whole request timeout.
const firstConnectTimeout = 5 * time.Second

// tokenCalls runs token requests off the reconcile workers: a platform
// that never answers holds a goroutine and a connection, never a worker, so
// the refreshes of every other ApiClient go on. An ApiClient has at most one
// request on its way; its answer is kept for it and the ApiClient is queued
// again to act on it.
type tokenCalls struct {
	mu sync.Mutex
	// ctx and queue are the controller's, set when it starts.
	ctx   context.Context
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]
	// callCtx is what token requests run under: not ended by the
	// controller's stop, so that a request the platform is answering is
	// not cut off (drain decides when to give up on them, cancelCalls).
	callCtx     context.Context
	cancelCalls context.CancelFunc
	// ended is closed, and cleared, when a request ends (for drain).
	ended chan struct{}

	pending map[types.NamespacedName]*pendingRequest
	running map[string]int // by namespace
	// waiting are ApiClients refused for their namespace's bound, woken one
	// at a time as requests there end.
	waiting map[string]map[types.NamespacedName]bool
}

type pendingRequest struct {
	uid       types.UID
	inputsMAC string
	done      bool
	answer    answer
}

// answer is how a token request ended.
type answer struct {
	fresh *issuedToken
	err   error
	// at is when the call ended: a failure is judged then, since the
	// current token may have expired while the call hung.
	at time.Time
	// hc made the call; the revocation probe uses it too.
	hc *http.Client
}

// begin is called when the controller starts (it is the source of the
// requeues after an answer).
func (q *tokenCalls) begin(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ctx, q.queue = ctx, queue
	q.callCtx, q.cancelCalls = context.WithCancel(context.WithoutCancel(ctx))
	return nil
}

// take returns the answer that arrived for the ApiClient's request made with
// inputsMAC, and whether a request is still on its way. An answer for other
// inputs (the credentials changed meanwhile) or for an earlier ApiClient of
// the same name is dropped.
func (q *tokenCalls) take(key types.NamespacedName, uid types.UID, inputsMAC string) (*answer, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pending[key]
	switch {
	case !ok:
		return nil, false
	case !p.done:
		return nil, true
	}
	delete(q.pending, key)
	if p.uid != uid || p.inputsMAC != inputsMAC {
		return nil, false
	}
	return &p.answer, false
}

// start runs call off the workers unless the namespace already has
// maxRequestsPerNamespace requests on their way; it reports whether it did.
// A refused ApiClient is queued again when a request of its namespace ends.
func (q *tokenCalls) start(key types.NamespacedName, uid types.UID, inputsMAC string, call func(context.Context) answer) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running[key.Namespace] >= maxRequestsPerNamespace {
		if q.waiting == nil {
			q.waiting = map[string]map[types.NamespacedName]bool{}
		}
		if q.waiting[key.Namespace] == nil {
			q.waiting[key.Namespace] = map[types.NamespacedName]bool{}
		}
		q.waiting[key.Namespace][key] = true
		return false
	}
	if q.pending == nil {
		q.pending, q.running = map[types.NamespacedName]*pendingRequest{}, map[string]int{}
	}
	p := &pendingRequest{uid: uid, inputsMAC: inputsMAC}
	q.pending[key] = p
	q.running[key.Namespace]++
	ctx := q.callCtx
	if ctx == nil {
		ctx = context.Background()
	}
	go func() {
		// A panic here would end the process, not one reconcile. Its value
		// is not logged: it may hold a secret of the request.
		a := answer{err: errors.New("the token request failed unexpectedly"), at: time.Now()}
		defer func() {
			if recover() != nil {
				log.FromContext(ctx).Error(nil, "token request panicked", "apiclient", key.String())
			}
			q.finish(key, p, a)
		}()
		a = call(ctx)
	}()
	return true
}

func (q *tokenCalls) finish(key types.NamespacedName, p *pendingRequest, a answer) {
	q.mu.Lock()
	p.done, p.answer = true, a
	if q.running[key.Namespace]--; q.running[key.Namespace] == 0 {
		delete(q.running, key.Namespace)
	}
	wake := []types.NamespacedName{key}
	for next := range q.waiting[key.Namespace] {
		delete(q.waiting[key.Namespace], next)
		wake = append(wake, next)
		break
	}
	if q.ended != nil {
		close(q.ended)
		q.ended = nil
	}
	q.mu.Unlock()
	for _, k := range wake {
		q.requeue(k)
	}
}

// drain is for when the controller stops: it waits until no request is on
// its way or ctx ends, gives up the requests still on their way, and hands
// each ApiClient whose answer holds a token nobody took to deliver, so that
// a token the platform issued is written before the process exits.
func (q *tokenCalls) drain(ctx context.Context, deliver func(types.NamespacedName)) {
	for {
		q.mu.Lock()
		onTheirWay := 0
		for _, p := range q.pending {
			if !p.done {
				onTheirWay++
			}
		}
		if onTheirWay == 0 {
			q.mu.Unlock()
			break
		}
		if q.ended == nil {
			q.ended = make(chan struct{})
		}
		ended := q.ended
		q.mu.Unlock()
		select {
		case <-ended:
			continue
		case <-ctx.Done():
		}
		break
	}
	q.mu.Lock()
	if q.cancelCalls != nil {
		q.cancelCalls()
	}
	var answered []types.NamespacedName
	for key, p := range q.pending {
		if p.done && p.answer.fresh != nil {
			answered = append(answered, key)
		}
	}
	q.mu.Unlock()
	for _, key := range answered {
		deliver(key)
	}
}

// spawn runs f off the workers and then queues the ApiClient again.
func (q *tokenCalls) spawn(key types.NamespacedName, f func(context.Context)) {
	q.mu.Lock()
	ctx := q.ctx
	q.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	go func() {
		f(ctx)
		q.requeue(key)
	}()
}

func (q *tokenCalls) requeue(key types.NamespacedName) {
	q.mu.Lock()
	queue := q.queue
	q.mu.Unlock()
	if queue != nil {
		queue.Add(reconcile.Request{NamespacedName: key})
	}
}

// forget drops what is kept for a deleted ApiClient. A request still on
// its way ends by itself; its answer finds no ApiClient.
func (q *tokenCalls) forget(key types.NamespacedName) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.pending, key)
	delete(q.waiting[key.Namespace], key)
}

// tokenCall is one token request with everything it needs copied from the
// ApiClient, which may change while the call is on its way.
type tokenCall struct {
	hc  *http.Client
	req token.Request
	// inputsMAC and force are recorded in the new token's Secret.
	inputsMAC, force string
	// deadline gives the call up (zero: only the client's timeout).
	deadline time.Time
	// connectTimeout gives the call up when it has no connection by then
	// (zero: only the transport's timeouts).
	connectTimeout time.Duration
	now            func() time.Time
}

func (c tokenCall) run(ctx context.Context) answer {
	if !c.deadline.IsZero() {
		// A timeout, not a deadline: the deadline is on the reconciler's
		// clock, which need not be the one contexts expire by.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.deadline.Sub(c.now()))
		defer cancel()
	}
	if c.connectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = connectWithin(ctx, c.connectTimeout)
		defer cancel()
	}
	fresh, err := requestToken(ctx, c.hc, c.req)
	var te *token.Error
	if cause := context.Cause(ctx); errors.Is(cause, errNoConnection) && errors.As(err, &te) {
		// Say why instead of "context canceled".
		te.Err = cause
	}
	if fresh != nil {
		fresh.inputsMAC, fresh.handledForce = c.inputsMAC, c.force
	}
	return answer{fresh: fresh, err: err, at: c.now(), hc: c.hc}
}

var errNoConnection = errors.New("no connection")

// connectWithin cancels ctx unless a connection (TCP and TLS) is
// established within d.
func connectWithin(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(d, func() { cancel(fmt.Errorf("%w within %v", errNoConnection, d)) })
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { timer.Stop() }}
	return httptrace.WithClientTrace(ctx, trace), func() { timer.Stop(); cancel(nil) }
}

// requestToken asks the platform for a new token; plan schedules its
// refresh when the answer is taken.
func requestToken(ctx context.Context, hc *http.Client, req token.Request) (*issuedToken, error) {
	start := time.Now()
	tok, err := token.Fetch(ctx, hc, req)
	tokenRequestDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		tokenRequests.WithLabelValues(resultLabel(err)).Inc()
		return nil, err
	}
	if !tok.ExpiresAt.After(tok.IssuedAt) {
		tokenRequests.WithLabelValues(token.KindMalformedResponse.String()).Inc()
		return nil, &token.Error{Kind: token.KindMalformedResponse, Host: hostOf(req.URL),
			Err: fmt.Errorf("token expires at %v, not after it was issued at %v", tok.ExpiresAt, tok.IssuedAt)}
	}
	tokenRequests.WithLabelValues("success").Inc()
	return &issuedToken{
		token: tokensecret.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType,
			ExpiresAt: tok.ExpiresAt, Headers: tok.Headers},
		issuedAt: tok.IssuedAt,
	}, nil
}
