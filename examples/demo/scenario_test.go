package main

import (
	"strings"
	"testing"
	"time"
)

// TestWorkloadTallySumsUpPerRotation: the workload's lines are counted by
// token, failures too, and sinceLast gives the messages since the last
// rotation's summary, once.
func TestWorkloadTallySumsUpPerRotation(t *testing.T) {
	w := &workloadTally{expiries: map[string]int{}, firstSeen: map[string]time.Time{}}
	w.read(strings.NewReader(strings.Join([]string{
		"sent ContainerEvent #1: 202 Accepted (token expires 2026-11-23T08:00:00Z)",
		"sent ContainerEvent #2: 202 Accepted (token expires 2026-11-23T08:00:00Z)",
		"send failed: connection refused",
	}, "\n")))
	if sent, failed := w.sinceLast(); sent != 2 || failed != 1 {
		t.Errorf("sinceLast = %d sent, %d failed; want 2, 1", sent, failed)
	}
	w.read(strings.NewReader("sent ContainerEvent #3: 202 Accepted (token expires 2026-11-23T08:01:00Z)\n"))
	if sent, failed := w.sinceLast(); sent != 1 || failed != 0 {
		t.Errorf("after the rotation sinceLast = %d sent, %d failed; want 1, 0", sent, failed)
	}
	if ok, failed, total := w.counts("2026-11-23T08:00:00Z"); ok != 2 || failed != 1 || total != 3 {
		t.Errorf("counts = %d, %d, %d; want 2, 1, 3", ok, failed, total)
	}
	if w.firstSeenAt("2026-11-23T08:01:00Z").IsZero() || w.lastFailure() != "send failed: connection refused" {
		t.Error("the first use of the new token or the last failure was not kept")
	}
	var none *workloadTally
	if sent, failed := none.sinceLast(); sent != 0 || failed != 0 {
		t.Error("no workload yet: nothing to sum up")
	}
}
