package plugin

import (
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
)

// when prints an absolute time with how far it is from now, as
// "2026-03-01T10:00:00Z (in 42m)" or "... (3m12s ago)".
func when(t, now time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339) + " (" + relative(t, now) + ")"
}

// ago prints only the distance, as kubectl's event tables do.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return relative(t, now)
}

func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > 0:
		return "in " + duration.HumanDuration(d)
	case d > -time.Second:
		return "now"
	}
	return duration.HumanDuration(-d) + " ago"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
