package apiclient

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// simulate lets n ApiClients of one host, all due at t0, ask the limiter
// and come back when it says, and returns when each request went out.
func simulate(l *endpointLimiter, clk *clocktesting.FakePassiveClock, n int, t0 time.Time) []time.Time {
	next := make([]time.Time, n)
	for i := range next {
		next[i] = t0
	}
	var sent []time.Time
	for pending := n; pending > 0; {
		// The ApiClient whose turn comes first asks.
		i := -1
		for j, at := range next {
			if !at.IsZero() && (i < 0 || at.Before(next[i])) {
				i = j
			}
		}
		now := next[i]
		clk.SetTime(now)
		if d := l.reserve(types.UID(fmt.Sprint(i)), "https://login.example.com/token", true); d > 0 {
			next[i] = now.Add(d)
			continue
		}
		sent = append(sent, now)
		next[i] = time.Time{}
		pending--
	}
	sort.Slice(sent, func(a, b int) bool { return sent[a].Before(sent[b]) })
	return sent
}

// TestThePerEndpointLimitSpreadsAStampede: 300 ApiClients of one platform
// come due at once. The platform never sees more than the burst plus the
// rate, and every request still goes out soon after its fair share of
// time: waiting does not push everyone further back.
func TestThePerEndpointLimitSpreadsAStampede(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(t0)
	l := &endpointLimiter{limit: 20, burst: 50, clock: clk}
	sent := simulate(l, clk, 300, t0)
	for k, at := range sent {
		if allowed := 50 + int(at.Sub(t0).Seconds()*20) + 1; k+1 > allowed {
			t.Fatalf("%d requests by %v, more than the burst of 50 and 20/s allow (%d)", k+1, at.Sub(t0), allowed)
		}
	}
	fair := time.Duration(300-50) * time.Second / 20
	if last := sent[len(sent)-1].Sub(t0); last > fair+5*time.Second {
		t.Fatalf("the last request went out after %v; the rate allows all by %v", last, fair)
	}
	clk.SetTime(t0)
	if d := l.reserve("other", "https://auth.other.example/token", false); d != 0 {
		t.Fatalf("a different host waited %v", d)
	}
}

// TestARetryStormLeavesNoBacklog: while a platform fails, retries of many
// ApiClients ask for more slots than the rate gives. They must not queue up
// slots far into the future: once the platform is back, a request that
// asks gets a slot within the short queue, not after the storm's backlog.
func TestARetryStormLeavesNoBacklog(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(t0)
	l := &endpointLimiter{limit: 20, burst: 50, clock: clk}
	// 30 s of 100 asks a second from 300 ApiClients: five times the rate.
	for k := range 3000 {
		clk.SetTime(t0.Add(time.Duration(k) * 10 * time.Millisecond))
		l.reserve(types.UID(fmt.Sprintf("storm-%d-%d", k%300, k)), "https://login.example.com/token", true)
	}
	clk.SetTime(t0.Add(30*time.Second + maxQueue))
	if d := l.reserve("after", "https://login.example.com/token", true); d > maxQueue {
		t.Fatalf("after the storm a request waits %v: the storm left a backlog", d)
	}
}

// TestUrgentRequestsGoFirst: when the queue is busy, an ApiClient whose
// token still has time left yields to one whose token is running out.
func TestUrgentRequestsGoFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(t0)
	l := &endpointLimiter{limit: 20, burst: 1, clock: clk}
	if d := l.reserve("first", "https://login.example.com/token", true); d != 0 {
		t.Fatalf("the first request waited %v", d)
	}
	relaxed := l.reserve("relaxed", "https://login.example.com/token", false)
	urgent := l.reserve("urgent", "https://login.example.com/token", true)
	if urgent <= 0 || urgent > 100*time.Millisecond {
		t.Fatalf("the urgent request waits %v, want the next slot (50ms)", urgent)
	}
	if relaxed <= urgent {
		t.Fatalf("the relaxed request (back in %v) comes before the urgent one (%v)", relaxed, urgent)
	}
	clk.SetTime(t0.Add(urgent))
	if d := l.reserve("urgent", "https://login.example.com/token", true); d != 0 {
		t.Fatalf("the urgent request, back at its slot, waited %v", d)
	}
}
