package soak

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// checker watches what a workload would see, twice a second: every
// ApiClient's token Secret, read directly from the API server (not through
// the proxy the operators use), and the conditions next to it.
type checker struct {
	ns    string
	names []string // ApiClients

	mu sync.Mutex
	// platformFaults are the windows in which the sandbox misbehaved.
	platformFaults []window
	// exposure: seconds a Secret held an expired token, split by whether
	// the token ran out while the platform was up.
	expiredWhileUp    time.Duration
	expiredInOutage   time.Duration
	revokedHeld       time.Duration
	expiredWhileUpLog []string
	// lost: Secrets that existed and then did not.
	lost    map[string]int
	existed map[string]bool
	// lies: a condition that contradicted the Secret.
	lies []string
	// tokens is every access token observed, for the leak scan.
	tokens   map[string]bool
	unseen   time.Duration // time the API server could not be read
	lastTick time.Time
}

type window struct{ from, to time.Time }

func newChecker(ns string, names []string) *checker {
	return &checker{ns: ns, names: names, lost: map[string]int{}, existed: map[string]bool{}, tokens: map[string]bool{}}
}

func (c *checker) platformFault(from, to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.platformFaults = append(c.platformFaults, window{from, to})
}

// endPlatformFault closes the open platform fault window.
func (c *checker) endPlatformFault(to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.platformFaults); n > 0 && c.platformFaults[n-1].to.IsZero() {
		c.platformFaults[n-1].to = to
	}
}

// duringPlatformFault reports whether t fell in a platform fault; an open
// fault has a zero end.
func (c *checker) duringPlatformFault(t time.Time) bool {
	for _, w := range c.platformFaults {
		if !t.Before(w.from) && (w.to.IsZero() || t.Before(w.to)) {
			return true
		}
	}
	return false
}

func (c *checker) run(ctx context.Context) {
	c.lastTick = time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		c.tick(ctx)
	}
}

func (c *checker) tick(ctx context.Context) {
	now := time.Now()
	var secrets corev1.SecretList
	var clients keyportv1.ApiClientList
	errS := env.Client.List(ctx, &secrets, client.InNamespace(c.ns))
	errC := env.Client.List(ctx, &clients, client.InNamespace(c.ns))
	c.mu.Lock()
	defer c.mu.Unlock()
	dt := now.Sub(c.lastTick)
	c.lastTick = now
	if errS != nil || errC != nil {
		// etcd restarting: nobody, workloads included, reads Secrets now.
		c.unseen += dt
		return
	}
	byName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	status := map[string]*keyportv1.ApiClient{}
	for i := range clients.Items {
		status[clients.Items[i].Name] = &clients.Items[i]
	}
	for _, name := range c.names {
		secret, ok := byName[name+"-token"]
		if !ok {
			if c.existed[name] {
				c.lost[name]++
			}
			continue
		}
		c.existed[name] = true
		tok, err := tokensecret.Parse(secret.Data)
		if err != nil {
			c.lies = append(c.lies, fmt.Sprintf("%s: the token Secret is not a valid token Secret: %v", name, err))
			continue
		}
		c.tokens[tok.AccessToken] = true
		if _, err := sb.Validate(tok.AccessToken); err != nil && now.Before(tok.ExpiresAt) {
			c.revokedHeld += dt
		}
		if !now.Before(tok.ExpiresAt) {
			if c.duringPlatformFault(tok.ExpiresAt) {
				c.expiredInOutage += dt
			} else {
				c.expiredWhileUp += dt
				c.expiredWhileUpLog = append(c.expiredWhileUpLog, fmt.Sprintf("%s %s: token expired at %s", now.Format("15:04:05.0"), name, tok.ExpiresAt.Format("15:04:05")))
			}
		}
		ac := status[name]
		if ac == nil {
			continue
		}
		// Conditions must not claim a working token that ran out (after a
		// moment for the status write).
		ready := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionReady)
		if ready != nil && ready.Status == metav1.ConditionTrue && now.After(tok.ExpiresAt.Add(5*time.Second)) &&
			ready.LastTransitionTime.Time.Before(tok.ExpiresAt) {
			c.lies = append(c.lies, fmt.Sprintf("%s %s: Ready=True although the token in the Secret expired at %s", now.Format("15:04:05"), name, tok.ExpiresAt.Format("15:04:05")))
		}
	}
}

// degradedTruth checks, during a platform fault, that every ApiClient whose
// status counts failed refreshes says Degraded, and returns how many do.
func (c *checker) degradedTruth(ctx context.Context, fault string) int {
	var clients keyportv1.ApiClientList
	if err := env.Client.List(ctx, &clients, client.InNamespace(c.ns)); err != nil {
		return 0
	}
	degraded := 0
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ac := range clients.Items {
		d := apimeta.FindStatusCondition(ac.Status.Conditions, keyportv1.ConditionDegraded)
		isDegraded := d != nil && d.Status == metav1.ConditionTrue
		if isDegraded {
			degraded++
		}
		if ac.Status.ConsecutiveFailures > 0 && !isDegraded {
			c.lies = append(c.lies, fmt.Sprintf("%s during %q: %d consecutive failures but not Degraded", ac.Name, fault, ac.Status.ConsecutiveFailures))
		}
	}
	return degraded
}

type checkerResult struct {
	expiredWhileUp, expiredInOutage, revokedHeld, unseen time.Duration
	expiredWhileUpLog                                    []string
	lost                                                 map[string]int
	lies                                                 []string
	tokens                                               []string
}

func (c *checker) result() checkerResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := checkerResult{expiredWhileUp: c.expiredWhileUp, expiredInOutage: c.expiredInOutage, revokedHeld: c.revokedHeld,
		unseen: c.unseen, expiredWhileUpLog: append([]string(nil), c.expiredWhileUpLog...), lost: map[string]int{},
		lies: append([]string(nil), c.lies...)}
	for k, v := range c.lost {
		r.lost[k] = v
	}
	for t := range c.tokens {
		r.tokens = append(r.tokens, t)
	}
	return r
}
