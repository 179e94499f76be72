package apiclient

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/token"
)

// TestANamespaceHasABoundedNumberOfRequestsOnTheirWay: one namespace's
// requests that never end hold no more than maxRequestsPerNamespace slots;
// another namespace is not affected, and a refused ApiClient is queued
// again as soon as a slot frees.
func TestANamespaceHasABoundedNumberOfRequestsOnTheirWay(t *testing.T) {
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer queue.ShutDown()
	var calls tokenCalls
	_ = calls.begin(context.Background(), queue)
	release := make(chan struct{})
	hang := func(context.Context) answer { <-release; return answer{} }
	key := func(ns string, i int) types.NamespacedName {
		return types.NamespacedName{Namespace: ns, Name: fmt.Sprint("client-", i)}
	}

	for i := range maxRequestsPerNamespace {
		if !calls.start(key("hostile", i), types.UID(fmt.Sprint(i)), "mac", hang) {
			t.Fatalf("request %d was refused below the bound", i)
		}
	}
	if calls.start(key("hostile", maxRequestsPerNamespace), "late", "mac", hang) {
		t.Fatal("a request beyond the namespace's bound went out")
	}
	if !calls.start(key("victim", 0), "victim", "mac", func(context.Context) answer { return answer{} }) {
		t.Fatal("another namespace's request was refused")
	}
	if _, inFlight := calls.take(key("hostile", 0), "0", "mac"); !inFlight {
		t.Fatal("a request on its way is not reported as such")
	}

	close(release)
	woken := map[string]bool{}
	for len(woken) < maxRequestsPerNamespace+2 {
		item, _ := queue.Get()
		woken[item.Name+"/"+item.Namespace] = true
		queue.Done(item)
	}
	if !woken[fmt.Sprint("client-", maxRequestsPerNamespace)+"/hostile"] {
		t.Error("the refused ApiClient was not queued again when a slot freed")
	}
	if a, inFlight := calls.take(key("hostile", 0), "0", "mac"); a == nil || inFlight {
		t.Error("the answer of an ended request is not there to take")
	}
	if a, _ := calls.take(key("hostile", 1), "1", "other-mac"); a != nil {
		t.Error("an answer for inputs that changed meanwhile was used")
	}
}

// TestAClientThatNeverConnectsIsGivenUpWithAReason: an endpoint that accepts
// connections and never answers (a TLS handshake that never ends) is given
// up after the connect timeout, and the error says so.
func TestAClientThatNeverConnectsIsGivenUpWithAReason(t *testing.T) {
	url := blackhole(t)
	hc, err := outbound.NewClient(outbound.Options{Policy: &outbound.Policy{Allow: outbound.Loopback()}})
	if err != nil {
		t.Fatal(err)
	}
	call := tokenCall{hc: hc, req: token.Request{URL: url, GrantType: token.GrantClientCredentials, ClientID: "x", ClientSecret: "y"},
		connectTimeout: 50 * time.Millisecond, now: time.Now}
	a := call.run(context.Background())
	if token.KindOf(a.err) != token.KindUnreachable || !strings.Contains(a.err.Error(), "no connection within 50ms") {
		t.Fatalf("err = %v, want the endpoint unreachable with no connection within 50ms", a.err)
	}
}

// Blackhole is blackhole for the tests against a control plane.
var Blackhole = blackhole

// blackhole is a loopback address that accepts connections and never
// answers, as an address a firewall drops would (but without waiting for a
// TCP timeout).
func blackhole(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					_ = c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return "https://" + l.Addr().String() + "/token"
}

// TestAStoppingControllerWaitsForTheAnswersOnTheirWay: drain waits for a
// request that is answered, hands over the ApiClient whose answer brought
// a token (not one whose answer is an error), and gives up, by cancelling
// it, a request that is still on its way when its time is up.
func TestAStoppingControllerWaitsForTheAnswersOnTheirWay(t *testing.T) {
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer queue.ShutDown()
	controller, stop := context.WithCancel(context.Background())
	var calls tokenCalls
	_ = calls.begin(controller, queue)
	answered := types.NamespacedName{Namespace: "ns", Name: "answered"}
	failed := types.NamespacedName{Namespace: "ns", Name: "failed"}
	hanging := types.NamespacedName{Namespace: "ns", Name: "hanging"}

	answerNow := make(chan struct{})
	calls.start(answered, "1", "mac", func(ctx context.Context) answer {
		<-answerNow
		if ctx.Err() != nil {
			return answer{err: ctx.Err()}
		}
		return answer{fresh: &issuedToken{}}
	})
	calls.start(failed, "2", "mac", func(context.Context) answer { return answer{err: fmt.Errorf("refused")} })
	gaveUp := make(chan error, 1)
	calls.start(hanging, "3", "mac", func(ctx context.Context) answer { <-ctx.Done(); gaveUp <- ctx.Err(); return answer{err: ctx.Err()} })

	// The controller stops; its requests go on.
	stop()
	close(answerNow)
	grace, cancel := context.WithCancel(context.Background())
	var delivered []types.NamespacedName
	done := make(chan struct{})
	go func() {
		calls.drain(grace, func(key types.NamespacedName) { delivered = append(delivered, key) })
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("drain returned while a request was still on its way")
	case err := <-gaveUp:
		t.Fatalf("a request was given up before the grace ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel() // the grace is over
	<-done
	if err := <-gaveUp; err == nil {
		t.Error("the hanging request was not cancelled when the grace ended")
	}
	if len(delivered) != 1 || delivered[0] != answered {
		t.Errorf("delivered %v, want only %v (the answer with a token)", delivered, answered)
	}
}
