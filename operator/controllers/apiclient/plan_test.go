package apiclient

import (
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	fresh := &storedToken{expiresAt: now.Add(4 * time.Minute), refreshAt: now.Add(time.Minute), inputsMAC: "mac-1"}
	due := &storedToken{expiresAt: now.Add(2 * time.Minute), refreshAt: now.Add(-time.Second), inputsMAC: "mac-1"}
	forced := &storedToken{expiresAt: now.Add(4 * time.Minute), refreshAt: now.Add(time.Minute), inputsMAC: "mac-1", handledForce: "1"}
	// A one-second token, replaced no sooner than refresh.MinInterval.
	tooShort := &storedToken{expiresAt: now.Add(time.Second), refreshAt: now.Add(30 * time.Second), inputsMAC: "mac-1"}
	expiredTooShort := &storedToken{expiresAt: now.Add(-time.Second), refreshAt: now.Add(28 * time.Second), inputsMAC: "mac-1"}

	cases := []struct {
		name       string
		obs        observation
		wantAction action
		wantAt     time.Time
	}{
		{
			name:       "a fresh token written with the same inputs is kept until its refresh time",
			obs:        observation{now: now, stored: fresh, inputsMAC: "mac-1"},
			wantAction: keep, wantAt: fresh.refreshAt,
		},
		{
			name:       "a missing token is requested at once",
			obs:        observation{now: now, inputsMAC: "mac-1"},
			wantAction: request,
		},
		{
			name:       "a token at its refresh time is replaced, and looked at again when it expires",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1"},
			wantAction: request, wantAt: due.expiresAt,
		},
		{
			name:       "rotated credentials replace a fresh token",
			obs:        observation{now: now, stored: fresh, inputsMAC: "mac-2"},
			wantAction: request, wantAt: fresh.expiresAt,
		},
		{
			name:       "a new refresh annotation value replaces a fresh token",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "2"},
			wantAction: request, wantAt: forced.expiresAt,
		},
		{
			name:       "a refresh annotation already answered changes nothing",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "1"},
			wantAction: keep, wantAt: forced.refreshAt,
		},
		{
			name:       "a forced refresh overrides the backoff",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "2", retryAt: now.Add(time.Minute), retryInputsMAC: "mac-1"},
			wantAction: request, wantAt: forced.expiresAt,
		},
		{
			name:       "a forced refresh waits for the request already on its way",
			obs:        observation{now: now, stored: forced, inputsMAC: "mac-1", forceRefresh: "2", inFlight: true},
			wantAction: wait, wantAt: forced.expiresAt,
		},
		{
			name:       "a due refresh with its request on its way waits, and looks again when the token expires",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", inFlight: true},
			wantAction: wait, wantAt: due.expiresAt,
		},
		{
			name:       "a missing token with its request on its way waits for the answer alone",
			obs:        observation{now: now, inputsMAC: "mac-1", inFlight: true},
			wantAction: wait,
		},
		{
			name:       "a backoff past the expiry still looks again when the token expires",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", retryAt: now.Add(time.Hour), retryInputsMAC: "mac-1"},
			wantAction: wait, wantAt: due.expiresAt,
		},
		{
			name:       "a token that expires before the platform may be asked again is kept, and looked at again when it expires",
			obs:        observation{now: now, stored: tooShort, inputsMAC: "mac-1"},
			wantAction: keep, wantAt: tooShort.expiresAt,
		},
		{
			name:       "once it expired, it is still not replaced before its refresh time",
			obs:        observation{now: now, stored: expiredTooShort, inputsMAC: "mac-1"},
			wantAction: keep, wantAt: expiredTooShort.refreshAt,
		},
		{
			name:       "a due refresh waits out the backoff after a failure",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", retryAt: now.Add(20 * time.Second), retryInputsMAC: "mac-1"},
			wantAction: wait, wantAt: now.Add(20 * time.Second),
		},
		{
			name:       "a due refresh goes ahead once the backoff has passed",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-1", retryAt: now.Add(-time.Second), retryInputsMAC: "mac-1"},
			wantAction: request, wantAt: due.expiresAt,
		},
		{
			name:       "fixed credentials are tried without waiting out the backoff of the old ones",
			obs:        observation{now: now, stored: due, inputsMAC: "mac-2", retryAt: now.Add(time.Minute), retryInputsMAC: "mac-1"},
			wantAction: request, wantAt: due.expiresAt,
		},
		{
			name:       "a suspended client does nothing, even without a token",
			obs:        observation{now: now, inputsMAC: "mac-1", suspend: true},
			wantAction: suspended,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(tc.obs)
			if got.action != tc.wantAction {
				t.Fatalf("action = %v (%s), want %v", got.action, got.why, tc.wantAction)
			}
			if !got.requeueAt.Equal(tc.wantAt) {
				t.Errorf("requeueAt = %v, want %v", got.requeueAt, tc.wantAt)
			}
			if got.why == "" {
				t.Error("the decision gives no reason")
			}
		})
	}
}

func TestAttemptDeadlineLeavesTimeForARetry(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		validUntil time.Time
		want       time.Time
	}{
		{"no valid token: only the client timeout applies", time.Time{}, time.Time{}},
		{"half of the remaining life", now.Add(20 * time.Second), now.Add(10 * time.Second)},
		{"at least minAttempt", now.Add(3 * time.Second), now.Add(minAttempt)},
		{"never past the expiry", now.Add(time.Second), now.Add(time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := attemptDeadline(now, c.validUntil); !got.Equal(c.want) {
				t.Errorf("attemptDeadline(now, now+%v) = now+%v, want now+%v", c.validUntil.Sub(now), got.Sub(now), c.want.Sub(now))
			}
		})
	}
}
