package apiclient_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// The tests in this file drive the controller on a fake clock (driven):
// what it decides at a token's refresh time and expiry, after failures and
// across a restart, without waiting for 20-second tokens to age.

// mustBeReady fails unless the ApiClient is Ready for its generation.
func mustBeReady(t *testing.T, ac *keyportv1.ApiClient) {
	t.Helper()
	if status, _, observed := condition(ac, keyportv1.ConditionReady); status != metav1.ConditionTrue || observed != ac.Generation {
		t.Fatalf("%s is not Ready: %s", ac.Name, describe(ac))
	}
}

func TestTokensRotateOncePerLifetimeAndSurviveRestarts(t *testing.T) {
	f := newReadyShort(t, "rotating", nil)
	ns, short, op, clk, first := f.ns, f.sb, f.op, f.op.clk, f.first

	// Three rotations, each where the controller asked to be looked at
	// again: each new token arrives before the old one expires, and the
	// status (kubectl get) never shows an expired token.
	seen := []string{first.AccessToken}
	for len(seen) < 4 {
		old, _, _ := tokenIn(t, ns, "rotating-token")
		refreshAt, _ := refreshTimes(t, ns, "rotating-token")
		if want := refreshAt.Sub(clk.Now()); op.next != want {
			t.Fatalf("looked at again in %v, want at the refresh time, in %v", op.next, want)
		}
		// A moment before the refresh time nothing is asked.
		before := short.Counters().Requests(sandbox.EndpointConnectToken, clientID)
		op.at(refreshAt.Add(-time.Second), "rotating")
		if n := short.Counters().Requests(sandbox.EndpointConnectToken, clientID) - before; n != 0 {
			t.Fatalf("%d token requests before the refresh time", n)
		}
		ac := op.at(refreshAt, "rotating")
		tok, _, ok := tokenIn(t, ns, "rotating-token")
		switch {
		case !ok || tok.AccessToken == old.AccessToken:
			t.Fatalf("no new token at the refresh time: %s", describe(ac))
		case !clk.Now().Before(old.ExpiresAt) || !clk.Now().Before(tok.ExpiresAt):
			t.Fatalf("the Secret held no valid token at %v", clk.Now())
		}
		if shown := ac.Status.TokenExpiresAt; shown == nil || !clk.Now().Before(shown.Time) || !shown.Time.Equal(tok.ExpiresAt) {
			t.Fatalf("the status shows tokenExpiresAt %v while the Secret holds a token valid until %v", shown, tok.ExpiresAt)
		}
		seen = append(seen, tok.AccessToken)
	}
	if n := short.Counters().Requests(sandbox.EndpointConnectToken, clientID); n != 4 {
		t.Errorf("%d token requests for 4 tokens, want one per token", n)
	}

	// Restart economy: a new operator process reuses the fresh token and
	// takes over its schedule.
	refreshAt, _ := refreshTimes(t, ns, "rotating-token")
	before := short.Counters().Requests(sandbox.EndpointConnectToken, clientID)
	restarted := drive(t, ns, clk, nil)
	clk.Step(time.Second)
	mustBeReady(t, restarted.reconcile("rotating"))
	if n := short.Counters().Requests(sandbox.EndpointConnectToken, clientID) - before; n != 0 {
		t.Fatalf("%d token requests from the restarted operator for a fresh token", n)
	}
	if want := refreshAt.Sub(clk.Now()); restarted.next != want {
		t.Fatalf("the restarted operator looks again in %v, want at the refresh time, in %v", restarted.next, want)
	}
	restarted.requeue("rotating")
	if n := short.Counters().Requests(sandbox.EndpointConnectToken, clientID) - before; n != 1 {
		t.Fatalf("%d token requests at the next rotation by the restarted operator, want 1", n)
	}
	scanForSecrets(t, ns)
}

// TestStatusWithoutTokenTimesCostsNoWritePerRefresh: with OmitTokenTimes
// (--status-token-times=omit) a healthy refresh writes only the Secret; the
// ApiClient is not written at all while its tokens rotate.
func TestStatusWithoutTokenTimesCostsNoWritePerRefresh(t *testing.T) {
	f := newReadyShort(t, "quiet", func(r *apiclient.Reconciler) { r.OmitTokenTimes = true })
	ns, short, op, ready := f.ns, f.sb, f.op, f.ready
	if s := ready.Status; s.TokenExpiresAt != nil || s.LastRefreshTime != nil || s.NextRefreshTime != nil {
		t.Errorf("the status shows token times: %+v", s)
	}
	first := f.first
	for range 2 {
		op.requeue("quiet")
	}
	if n := short.Counters().Succeeded(sandbox.EndpointConnectToken, clientID); n != 3 {
		t.Fatalf("%d tokens issued over two rotations, want 3", n)
	}
	tok, _, ok := tokenIn(t, ns, "quiet-token")
	if !ok || tok.AccessToken == first.AccessToken || !op.clk.Now().Before(tok.ExpiresAt) {
		t.Fatal("the Secret does not hold a new valid token")
	}
	if after := get(t, ns, "quiet", &keyportv1.ApiClient{}); after.ResourceVersion != ready.ResourceVersion {
		t.Errorf("the ApiClient was written during healthy refreshes: %s", describe(after))
	}
}

func TestPlatformFaultsKeepTheTokenAndSayWhy(t *testing.T) {
	cases := []struct {
		name       string
		fault      sandbox.Fault
		wantReason string
	}{
		{"server errors", sandbox.Fault{ErrorRate: 1}, keyportv1.ReasonTokenEndpointUnreachable},
		{"rate limiting with Retry-After", sandbox.Fault{RateLimitRate: 1, RetryAfter: 2 * time.Second}, keyportv1.ReasonRateLimited},
		{"malformed bodies", sandbox.Fault{MalformedRate: 1}, keyportv1.ReasonMalformedTokenResponse},
		// The request is given up after half the token's remaining life
		// (real time: the one real wait, see below).
		{"timeouts", sandbox.Fault{Latency: 20 * time.Second}, keyportv1.ReasonTokenEndpointUnreachable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newReadyShort(t, "faulty", nil)
			ns, faulty, op, good, refreshAt := f.ns, f.sb, f.op, f.first, f.refreshAt

			faulty.SetFault(sandbox.EndpointConnectToken, tc.fault)
			when := refreshAt
			if tc.fault.Latency > 0 {
				// Inside the propagation budget, 4 s before the expiry, so
				// that the request is given up after 2 s of real time.
				when = good.ExpiresAt.Add(-4 * time.Second)
			}
			ac := op.at(when, "faulty")
			if status, reason, _ := condition(ac, keyportv1.ConditionDegraded); status != metav1.ConditionTrue || reason != tc.wantReason {
				t.Fatalf("not Degraded with reason %s: %s", tc.wantReason, describe(ac))
			}
			// The valid token stays in place, and Ready with it.
			tok, _, ok := tokenIn(t, ns, "faulty-token")
			if !ok || tok.AccessToken != good.AccessToken {
				t.Fatal("the valid token was replaced or removed during the fault")
			}
			if status, _, _ := condition(ac, keyportv1.ConditionReady); status != metav1.ConditionTrue {
				t.Errorf("Ready = %s while the token is still valid: %s", status, describe(ac))
			}
			// The retry comes before the token expires, and the
			// controller looks again by then.
			if ac.Status.RetryAt == nil || !ac.Status.RetryAt.Time.Before(good.ExpiresAt) || !op.clk.Now().Add(op.next).Before(good.ExpiresAt) {
				t.Errorf("retry at %v, looked at again in %v, for a token expiring at %v", ac.Status.RetryAt, op.next, good.ExpiresAt)
			}
			// Recovery: the next retry brings a new token.
			faulty.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{})
			ac = op.requeue("faulty")
			if status, _, _ := condition(ac, keyportv1.ConditionDegraded); status != metav1.ConditionFalse || ac.Status.RetryAt != nil {
				t.Errorf("no recovery at the retry: %s; retryAt %v", describe(ac), ac.Status.RetryAt)
			}
		})
	}
}

// TestAHangingPlatformThatRecoversIsRetriedBeforeTheTokenExpires: a
// request for a new token hangs (the platform answers after a minute) and
// the platform recovers while it hangs. The hanging request is given up with
// time left on the token, so the retry replaces the token before it expires.
// (Bounded only by the token's expiry, the request hung until the token had
// expired, and the Secret held an expired token until the retry.)
func TestAHangingPlatformThatRecoversIsRetriedBeforeTheTokenExpires(t *testing.T) {
	t.Parallel() // it waits for real time
	f := newReadyShort(t, "hanging", nil)
	ns, slow, op, old := f.ns, f.sb, f.op, f.first

	slow.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{Latency: time.Minute})
	// The request goes out inside the propagation budget, 4 s before the
	// token expires, and hangs; the platform recovers a second later. The
	// clock runs while it hangs.
	op.clk.SetTime(old.ExpiresAt.Add(-4 * time.Second))
	recovered := time.AfterFunc(time.Second, func() { slow.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{}) })
	defer recovered.Stop()
	op.flowing(func() { op.reconcile("hanging") })
	for range 5 {
		tok, _, ok := tokenIn(t, ns, "hanging-token")
		switch {
		case ok && tok.AccessToken != old.AccessToken:
			return
		case !op.clk.Now().Before(old.ExpiresAt):
			t.Fatalf("the Secret held an expired token (expired %v) while the platform answered again", old.ExpiresAt.Format(time.RFC3339))
		}
		op.requeue("hanging")
	}
	t.Fatal("the old token is still in place after five retries")
}

// TestReadyTurnsFalseWhenTheTokenRunsOutDuringAnOutage: the platform is
// down and asks (Retry-After) for a wait longer than the token has left.
// The token stays in the Secret until it expires, and Ready turns False at
// that moment, not only at the next attempt.
func TestReadyTurnsFalseWhenTheTokenRunsOutDuringAnOutage(t *testing.T) {
	f := newReadyShort(t, "outage", nil)
	down, op, tok, refreshAt := f.sb, f.op, f.first, f.refreshAt

	down.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{OutageUntil: time.Now().Add(2 * time.Minute)})
	ac := op.at(refreshAt, "outage")
	degraded, _, _ := condition(ac, keyportv1.ConditionDegraded)
	ready, _, _ := condition(ac, keyportv1.ConditionReady)
	if degraded != metav1.ConditionTrue || ready != metav1.ConditionTrue {
		t.Fatalf("want Degraded while the token is still valid: %s", describe(ac))
	}
	// Looked at again no later than the expiry, whatever the retry.
	for op.clk.Now().Add(op.next).Before(tok.ExpiresAt) {
		op.requeue("outage")
	}
	if at := op.clk.Now().Add(op.next); !at.Equal(tok.ExpiresAt) {
		t.Fatalf("looked at again at %v, after the token expired at %v", at, tok.ExpiresAt)
	}
	ac = op.requeue("outage")
	readyStatus, reason, _ := condition(ac, keyportv1.ConditionReady)
	_, failure, _ := condition(ac, keyportv1.ConditionDegraded)
	if readyStatus != metav1.ConditionFalse || reason != failure || reason == keyportv1.ReasonTokenRefreshed {
		t.Fatalf("want Ready=False once the token expired, for the reason the platform gave: %s", describe(ac))
	}
}

func TestRevocationOnReissueIsDetected(t *testing.T) {
	ns := setup(t)
	revoking := shortSandbox(t, ns)
	revoking.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{RevokeOnReissue: true})
	op := drive(t, ns, newClock(), nil)
	ac := shortClient(ns, "revoked", revoking)
	ac.Spec.Headers = []keyportv1.HTTPHeader{{Name: "Ocp-Apim-Subscription-Key",
		ValueFrom: &keyportv1.SecretKeySelector{Name: "cpu-credentials", Key: "subscription_key"}}}
	ac.Spec.RevocationProbe = &keyportv1.RevocationProbe{URL: revoking.URL() + "/api/v1/visits"}
	create(t, ac)
	mustBeReady(t, op.reconcile("revoked"))
	op.requeue("revoked")
	// The probe runs off the workers and queues the ApiClient again.
	eventually(t, 10*time.Second, "TokenRevokedOnReissue after the first rotation", func() (bool, string) {
		ac := op.reconcile("revoked")
		status, reason, _ := condition(ac, keyportv1.ConditionDegraded)
		return status == metav1.ConditionTrue && reason == keyportv1.ReasonTokenRevokedOnReissue, describe(ac)
	})
	// The token in the Secret is the new, valid one.
	tok, _, _ := tokenIn(t, ns, "revoked-token")
	if _, err := revoking.Validate(tok.AccessToken); err != nil {
		t.Errorf("the Secret holds a token the platform refuses: %v", err)
	}
	scanForSecrets(t, ns)
}

// TestRefusedCredentialsAreNotRetriedUntilTheyChange: the platform stops
// accepting the client's credentials (as a password grant does before it
// locks the account). The refused credentials are not tried again as the
// current token runs out, the condition says when they will be, and fixed
// credentials are tried at once.
func TestRefusedCredentialsAreNotRetriedUntilTheyChange(t *testing.T) {
	f := newReadyShort(t, "locked", nil)
	ns, strict, op, old := f.ns, f.sb, f.op, f.first

	strict.AddClient(sandbox.Client{ID: clientID, Secret: "changed-at-the-platform", Username: username, Password: password, SubscriptionKey: subKey})
	base := strict.Counters().Requests(sandbox.EndpointConnectToken, "")
	var ac *keyportv1.ApiClient
	for op.clk.Now().Before(old.ExpiresAt) {
		ac = op.requeue("locked")
	}
	if status, reason, _ := condition(ac, keyportv1.ConditionReady); status != metav1.ConditionFalse || reason != keyportv1.ReasonInvalidCredentials {
		t.Fatalf("want Ready=False for InvalidCredentials once the token expired: %s", describe(ac))
	}
	if n := strict.Counters().Requests(sandbox.EndpointConnectToken, "") - base; n != 1 {
		t.Errorf("the refused credentials were tried %d times while the token ran out, want once", n)
	}
	if msg := describe(ac); !strings.Contains(msg, `not tried again until the credentials (Secret "cpu-credentials") or the spec change`) {
		t.Errorf("the condition does not say when the credentials are tried again: %s", msg)
	}

	creds := get(t, ns, "cpu-credentials", &corev1.Secret{})
	creds.Data["client_secret"] = []byte("changed-at-the-platform")
	if err := env.Client.Update(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	// The credentials Secret's watch event, at the same moment.
	op.reconcile("locked")
	tok, _, ok := tokenIn(t, ns, "locked-token")
	if !ok || tok.AccessToken == old.AccessToken || !op.clk.Now().Before(tok.ExpiresAt) {
		t.Fatal("fixed credentials were not tried at once")
	}
	scanForSecrets(t, ns, "changed-at-the-platform")
}

// TestOneSecondTokensAreAskedForAtAMinimumInterval: a platform issuing
// tokens valid for one second is not asked twice a second forever. The
// ApiClient says what the platform did, without advising a negative
// propagation budget, and Ready follows the short token's expiry.
func TestOneSecondTokensAreAskedForAtAMinimumInterval(t *testing.T) {
	ns := setup(t)
	brief, err := sandbox.Start(sandbox.Config{
		Clients:       []sandbox.Client{{ID: clientID, Secret: clientSecret, Username: username, Password: password, SubscriptionKey: subKey}},
		TokenLifetime: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = brief.Close() })
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "brief-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": brief.CACertPEM()}})
	op := drive(t, ns, newClock(), nil)
	ac := newApiClient(ns, "brief", keyportv1.ApiClientSpec{TokenURL: brief.URL() + "/connect/token"})
	ac.Spec.TLS.CABundle.Name = "brief-ca"
	create(t, ac)
	start := op.clk.Now()
	op.reconcile("brief")

	// Looked at when the token expires, then every second up to the
	// minimum interval: one request in all.
	ac = op.requeue("brief")
	ready, readyReason, _ := condition(ac, keyportv1.ConditionReady)
	degraded, reason, _ := condition(ac, keyportv1.ConditionDegraded)
	if ready != metav1.ConditionFalse || readyReason != keyportv1.ReasonTokenLifetimeTooShort ||
		degraded != metav1.ConditionTrue || reason != keyportv1.ReasonTokenLifetimeTooShort {
		t.Fatalf("want Ready=False for TokenLifetimeTooShort once the one-second token expired: %s", describe(ac))
	}
	if msg := describe(ac); strings.Contains(msg, "propagationBudget") {
		t.Errorf("the condition advises a budget no policy can have: %s", msg)
	}
	for now := op.clk.Now(); now.Before(start.Add(30 * time.Second)); now = now.Add(time.Second) {
		op.at(now, "brief")
		if n := brief.Counters().Requests(sandbox.EndpointConnectToken, ""); n != 1 {
			t.Fatalf("%d token requests %v after the first, want one in all", n, now.Sub(start))
		}
	}
	op.at(start.Add(30*time.Second), "brief")
	if n := brief.Counters().Requests(sandbox.EndpointConnectToken, ""); n != 2 {
		t.Fatalf("%d token requests after the minimum interval, want 2", n)
	}
}

// TestANewLeaderWaitsOutTheRetryTimeOfTheLastFailure: the platform refused
// the credentials and the next attempt is minutes away. A new operator
// process (after a failover) knows it from the status: it does not retry at
// once, nor as the token runs out, and it retries at that time.
func TestANewLeaderWaitsOutTheRetryTimeOfTheLastFailure(t *testing.T) {
	f := newReadyShort(t, "failover", nil)
	ns, strict, leader, clk, refreshAt, expiresAt := f.ns, f.sb, f.op, f.op.clk, f.refreshAt, f.expiresAt

	strict.AddClient(sandbox.Client{ID: clientID, Secret: "changed-at-the-platform", Username: username, Password: password, SubscriptionKey: subKey})
	ac := leader.at(refreshAt, "failover")
	if ac.Status.RetryAt == nil || ac.Status.RetryAt.Time.Before(expiresAt) {
		t.Fatalf("want a retry time past the token's expiry in the status, got %v: %s", ac.Status.RetryAt, describe(ac))
	}
	retryAt := ac.Status.RetryAt.Time
	base := strict.Counters().Requests(sandbox.EndpointConnectToken, "")

	next := drive(t, ns, clk, nil)
	for _, at := range []time.Time{refreshAt.Add(time.Second), expiresAt, retryAt.Add(-time.Second)} {
		ac := next.at(at, "failover")
		if n := strict.Counters().Requests(sandbox.EndpointConnectToken, "") - base; n != 0 {
			t.Fatalf("the new leader retried %v before the retry time: %d requests; %s", retryAt.Sub(at), n, describe(ac))
		}
	}
	if want := time.Second; next.next != want {
		t.Errorf("the new leader looks again in %v, want at the retry time, in %v", next.next, want)
	}
	next.requeue("failover")
	if n := strict.Counters().Requests(sandbox.EndpointConnectToken, "") - base; n != 1 {
		t.Fatalf("the new leader made %d requests at the retry time, want 1", n)
	}
}

// TestAClientRotatesWhileOtherRequestsHang: while the requests of a dozen
// ApiClients to an endpoint that never answers are on their way, another
// ApiClient of the same operator keeps a valid token through its
// rotations; when its own platform hangs too, its status does not claim a
// token that has expired.
func TestAClientRotatesWhileOtherRequestsHang(t *testing.T) {
	f := newReadyShort(t, "victim", nil)
	ns, op := f.ns, f.op
	hole := apiclient.Blackhole(t)
	for i := range 12 {
		name := fmt.Sprint("blackholed-", i)
		create(t, newApiClient(ns, name, keyportv1.ApiClientSpec{TokenURL: hole}))
		op.look(name)
	}
	// Looked at again (a resync), the victim keeps its token.
	op.reconcile("victim")
	seen := map[string]bool{f.first.AccessToken: true}
	for range 2 {
		op.requeue("victim")
		tok, _, ok := tokenIn(t, ns, "victim-token")
		if !ok || !op.clk.Now().Before(tok.ExpiresAt) {
			t.Fatalf("the victim's Secret held no valid token at %v", op.clk.Now().Format(time.RFC3339))
		}
		seen[tok.AccessToken] = true
	}
	if len(seen) != 3 {
		t.Fatalf("the victim's token rotated %d times, want 2", len(seen)-1)
	}

	// The victim's own platform now hangs: its request goes out inside the
	// propagation budget and is still on its way when the token expires.
	f.sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{Latency: time.Hour})
	last, _, _ := tokenIn(t, ns, "victim-token")
	op.clk.SetTime(last.ExpiresAt.Add(-4 * time.Second))
	op.look("victim")
	op.clk.SetTime(last.ExpiresAt)
	ac := op.look("victim")
	if status, _, _ := condition(ac, keyportv1.ConditionReady); status != metav1.ConditionFalse {
		t.Fatalf("want Ready=False once the victim's token expired: %s", describe(ac))
	}
}
