package apiclient

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestThePerEndpointLimitSpreadsAStampedeWithoutStarvingIt: 300 ApiClients
// of one platform come due at once; at 20 requests a second after a burst
// of 50, each gets a slot and, coming back at its slot, goes out then —
// waiting does not take another slot and push everyone further back.
func TestThePerEndpointLimitSpreadsAStampedeWithoutStarvingIt(t *testing.T) {
	l := &endpointLimiter{limit: 20, burst: 50}
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	const n = 300
	due := map[types.UID]time.Time{}
	for i := range n {
		uid := types.UID(fmt.Sprint(i))
		if d := l.reserve(uid, "https://login.example.com/token", t0); d > 0 {
			due[uid] = t0.Add(d)
		}
	}
	if len(due) != n-50 {
		t.Fatalf("%d of %d had to wait, want all but the burst of 50", len(due), n)
	}
	last := t0
	for uid, at := range due {
		// An early look (a resync, say) keeps the slot.
		if d := l.reserve(uid, "https://login.example.com/token", at.Add(-time.Second)); d <= 0 || d > time.Second {
			t.Fatalf("an early look got %v, want the rest of the wait", d)
		}
		if d := l.reserve(uid, "https://login.example.com/token", at); d != 0 {
			t.Fatalf("coming back at its slot, %s waited another %v", uid, d)
		}
		if at.After(last) {
			last = at
		}
	}
	if want := t0.Add((n - 50) * time.Second / 20); last.After(want.Add(time.Second)) {
		t.Fatalf("the last request went out at %v, want about %v", last.Sub(t0), want.Sub(t0))
	}
	// Another platform is not held up.
	if d := l.reserve("other", "https://auth.other.example/token", t0); d != 0 {
		t.Fatalf("a different host waited %v", d)
	}
}
