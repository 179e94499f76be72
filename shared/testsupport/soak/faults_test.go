package soak

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// fault is one thing that goes wrong. A platform fault is the sandbox
// misbehaving: tokens that run out during one are outage-caused, not a
// Keyport lapse.
type fault struct {
	name     string
	platform bool
	// aftermath extends a platform fault past its end while requests made
	// during it are still in flight (the slow-answer fault).
	aftermath time.Duration
	// inject causes the fault and returns when it is over.
	inject func(h *harness) time.Duration
}

// tokenFault sets a sandbox fault on the token endpoint for hold.
func tokenFault(f sandbox.Fault, hold time.Duration) func(*harness) time.Duration {
	return func(h *harness) time.Duration {
		sb.SetFault(sandbox.EndpointConnectToken, f)
		time.Sleep(hold)
		// Still in the fault: do the conditions say so?
		h.current.degraded = h.checker.degradedTruth(h.ctx, h.current.name)
		sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{})
		return hold
	}
}

func (h *harness) faults() []fault {
	l := h.cfg.lifetime
	return []fault{
		// Bursts last half a lifetime: every client's refresh falls in one.
		{fmt.Sprintf("token endpoint answers 500 for %v", l/2), true, 0, tokenFault(sandbox.Fault{ErrorRate: 1}, l/2)},
		{fmt.Sprintf("429 with Retry-After: 5 for %v", l/2), true, 0, tokenFault(sandbox.Fault{RateLimitRate: 1, RetryAfter: 5 * time.Second}, l/2)},
		{fmt.Sprintf("timeouts: answers after 16s (past the 15s client timeout) for %v", l/2), true, 16 * time.Second, tokenFault(sandbox.Fault{Latency: 16 * time.Second}, l/2)},
		{fmt.Sprintf("malformed JSON bodies for %v", l/2), true, 0, tokenFault(sandbox.Fault{MalformedRate: 1}, l/2)},
		{"revoke the previous token on reissue, for one lifetime", true, 0, tokenFault(sandbox.Fault{RevokeOnReissue: true}, l)},
		{fmt.Sprintf("outage of %v (shorter than a token lifetime)", l/3), true, 0, outage(l / 3)},
		{fmt.Sprintf("outage of %v (longer than a token lifetime)", l+10*time.Second), true, 0, outage(l + 10*time.Second)},
		{"SIGKILL the leader at a random moment, restart it 3s later", false, 0, killLeader},
		{"SIGKILL both replicas at a random moment, restart 3s later", false, 0, killAll},
		{"kube-apiserver unreachable for 10s (connections cut)", false, 0, cutAPIServer(10 * time.Second)},
		{"etcd stopped for 3s and restarted", false, 0, restartEtcd(3 * time.Second)},
	}
}

func outage(d time.Duration) func(*harness) time.Duration {
	return func(h *harness) time.Duration {
		sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{OutageUntil: time.Now().Add(d)})
		time.Sleep(d - time.Second)
		h.current.degraded = h.checker.degradedTruth(h.ctx, h.current.name)
		time.Sleep(time.Second)
		sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{})
		return d
	}
}

// randomMoment waits up to half a lifetime, so kills land anywhere: in the
// middle of a refresh, a registration or a status write.
func (h *harness) randomMoment() {
	time.Sleep(time.Duration(h.rng.Int64N(int64(h.cfg.lifetime / 2))))
}

func killLeader(h *harness) time.Duration {
	h.randomMoment()
	start := time.Now()
	for _, r := range h.replicas {
		if r.isLeader() {
			r.kill()
			time.Sleep(3 * time.Second)
			if err := r.start(); err != nil {
				h.current.err = err.Error()
			}
			return time.Since(start)
		}
	}
	h.current.err = "no replica reported holding the Lease"
	return 0
}

func killAll(h *harness) time.Duration {
	h.randomMoment()
	start := time.Now()
	for _, r := range h.replicas {
		r.kill()
	}
	time.Sleep(3 * time.Second)
	for _, r := range h.replicas {
		if err := r.start(); err != nil {
			h.current.err = err.Error()
		}
	}
	return time.Since(start)
}

func cutAPIServer(d time.Duration) func(*harness) time.Duration {
	return func(h *harness) time.Duration {
		h.proxy.setDown(true)
		time.Sleep(d)
		h.proxy.setDown(false)
		return d
	}
}

func restartEtcd(d time.Duration) func(*harness) time.Duration {
	return func(h *harness) time.Duration {
		start := time.Now()
		if err := env.RestartEtcd(d); err != nil {
			h.current.err = err.Error()
		}
		return time.Since(start)
	}
}

// runFaults goes through the faults (shuffled after the first pass) until
// the configured duration has passed, measuring the recovery after each.
func (h *harness) runFaults() {
	var list []fault
	for _, f := range h.faults() {
		if len(h.cfg.only) == 0 || slices.ContainsFunc(h.cfg.only, func(w string) bool { return strings.Contains(f.name, w) }) {
			list = append(list, f)
		}
	}
	end := time.Now().Add(h.cfg.duration)
	for pass := 0; pass == 0 || time.Now().Before(end); pass++ {
		if pass > 0 {
			h.rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		}
		for _, f := range list {
			if pass > 0 && time.Now().After(end) {
				break
			}
			h.runFault(f)
		}
	}
}

func (h *harness) runFault(f fault) {
	// A calm moment first; its token requests show the steady state.
	before := tokenCounts()
	time.Sleep(time.Duration(3+h.rng.IntN(4)) * time.Second)
	after := tokenCounts()
	h.calm.requests += after.requests - before.requests
	h.calm.succeeded += after.succeeded - before.succeeded

	h.current = &faultRecord{name: f.name}
	h.t.Logf("%s fault: %s", time.Now().Format("15:04:05"), f.name)
	from := time.Now()
	if f.platform {
		h.checker.platformFault(from, time.Time{})
	}
	h.current.held = f.inject(h).Round(100 * time.Millisecond)
	if f.platform {
		h.checker.endPlatformFault(time.Now().Add(f.aftermath))
	}
	over := time.Now()
	bound := 2*h.cfg.lifetime + time.Minute
	last, err := h.waitHealthy(bound)
	if err != nil {
		h.current.err = err.Error()
	}
	h.current.recovered = time.Since(over).Round(100 * time.Millisecond)
	h.t.Logf("%s   healthy again after %v (last problem: %s)", time.Now().Format("15:04:05"), h.current.recovered, last)
	h.records = append(h.records, *h.current)
}

// finish checks the end state, writes the report and fails the test on
// any lapse.
func (h *harness) finish() {
	t := h.t
	ran := time.Since(h.started)
	res := h.checker.result()
	all := tokenCounts()

	var duplicates []string
	seen := map[string]int{}
	for _, c := range sb.NotificationChannels() {
		seen["notification channel "+c.Owner+"/"+c.Name]++
	}
	for _, c := range sb.CertificateRegistrations() {
		seen["certificate "+c.ClientID+"/"+c.Thumbprint]++
	}
	for k, n := range seen {
		if n > 1 {
			duplicates = append(duplicates, fmt.Sprintf("%s registered %d times", k, n))
		}
	}
	values := res.tokens
	for _, s := range h.clientSecret {
		values = append(values, s)
	}
	leaks := h.leakScan(values)

	var b strings.Builder
	fmt.Fprintf(&b, "### Soak: %d ApiClients, %d M2MCertificates, %d IngestionChannels, %d NotificationChannels; %v tokens; %v under faults\n\n",
		len(h.clientNames), certificates, ingestion, notifications, h.cfg.lifetime, ran.Round(time.Second))
	fmt.Fprintf(&b, "| Fault | Held | Degraded during | Healthy again after | Problem |\n|---|---|---|---|---|\n")
	for _, r := range h.records {
		degraded := "–"
		if r.degraded > 0 {
			degraded = fmt.Sprint(r.degraded)
		}
		fmt.Fprintf(&b, "| %s | %v | %s | %v | %s |\n", r.name, r.held, degraded, r.recovered, r.err)
	}
	lostTotal := 0
	for _, n := range res.lost {
		lostTotal += n
	}
	perToken := func(c counts) string {
		if c.succeeded == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.3f", float64(c.requests)/float64(c.succeeded))
	}
	fmt.Fprintf(&b, "\n| Measure | Value | Target |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| Seconds a Secret held an expired token while the platform was up | %.1f | 0 |\n", res.expiredWhileUp.Seconds())
	fmt.Fprintf(&b, "| Seconds a Secret held a token that expired during a platform fault | %.1f | (outage-caused) |\n", res.expiredInOutage.Seconds())
	fmt.Fprintf(&b, "| Seconds a Secret held a token the platform had revoked on reissue | %.1f | (platform behaviour: three ApiClients share one platform client) |\n", res.revokedHeld.Seconds())
	fmt.Fprintf(&b, "| Token Secrets lost (observations of a missing Secret) | %d | 0 |\n", lostTotal)
	fmt.Fprintf(&b, "| Duplicate platform registrations | %d | 0 |\n", len(duplicates))
	fmt.Fprintf(&b, "| Token requests per issued token, calm periods | %s (%d requests) | ≈ 1 |\n", perToken(h.calm), h.calm.requests)
	fmt.Fprintf(&b, "| Token requests per issued token, whole run incl. faults | %s (%d requests) | |\n", perToken(all), all.requests)
	fmt.Fprintf(&b, "| Conditions contradicting the Secrets | %d | 0 |\n", len(res.lies))
	fmt.Fprintf(&b, "| Secret values found by the leak scan (%d values; logs, events, statuses, metrics) | %d | 0 |\n", len(values), len(leaks))
	fmt.Fprintf(&b, "| Time the API server could not be read (etcd down) | %.1f s | |\n", res.unseen.Seconds())
	exits := 0
	var rss []string
	for _, r := range h.replicas {
		exits += r.selfExits()
		role := "standby"
		if r.isLeader() {
			role = "leader"
		}
		rss = append(rss, fmt.Sprintf("%s %.0f MiB", role, r.peakRSS()))
	}
	fmt.Fprintf(&b, "| Peak RSS of each operator process alive at the end (VmHWM) | %s | leader < 300 MiB at 10,000 |\n", strings.Join(rss, ", "))
	fmt.Fprintf(&b, "| Operator exits on its own (lost Lease), restarted as a Deployment would | %d | |\n", exits)
	report := b.String()
	fmt.Println("\n" + report)
	if h.cfg.report != "" {
		if err := os.WriteFile(h.cfg.report, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}

	for _, r := range h.records {
		if r.err != "" {
			t.Errorf("%s: %s", r.name, r.err)
		}
	}
	if res.expiredWhileUp > 0 {
		t.Errorf("Secrets held expired tokens for %v while the platform was up:\n%s", res.expiredWhileUp, strings.Join(firstN(res.expiredWhileUpLog, 10), "\n"))
	}
	if lostTotal > 0 {
		t.Errorf("token Secrets went missing: %v", res.lost)
	}
	if len(duplicates) > 0 {
		slices.Sort(duplicates)
		t.Errorf("duplicate registrations: %v", duplicates)
	}
	if len(res.lies) > 0 {
		t.Errorf("conditions contradicted the Secrets:\n%s", strings.Join(firstN(res.lies, 10), "\n"))
	}
	if len(leaks) > 0 {
		t.Errorf("leaks: %v", leaks)
	}
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… and %d more", len(s)-n))
	}
	return s
}
