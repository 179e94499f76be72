package apiclient

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/dialect"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/token"
)

// tokenRequest turns the gathered inputs into the shared auth code's request.
func tokenRequest(ac *keyportv1.ApiClient, in *inputs, bundle *certs.Bundle) (token.Request, error) {
	c := dialect.Credentials{ClientID: in.clientID, ClientSecret: in.clientSecret, Username: in.username, Password: in.password, Headers: in.headers}
	if bundle != nil {
		c.Key, c.Certificate = bundle.Key, bundle.Leaf
	}
	if in.signingKey != nil {
		c.Key, c.Certificate = in.signingKey, nil
	}
	return in.dialect.Request(&ac.Spec, c)
}

// httpClients shares one HTTP client (and so its connection pool) among all
// ApiClients with the same TLS material and outbound settings, so a thousand
// clients of one platform reuse a few connections.
type httpClients struct {
	mu      sync.Mutex
	key     []byte
	clients map[string]*http.Client
}

func (h *httpClients) get(spec *keyportv1.ApiClientSpec, in *inputs, bundle *certs.Bundle) (*http.Client, error) {
	o := outbound.Options{CABundle: in.caBundle}
	if t := spec.TLS; t != nil {
		o.AllowInsecureHTTP, o.AllowLinkLocal = t.AllowInsecureHTTP, t.AllowLinkLocal
	}
	if bundle != nil {
		c := bundle.TLSCertificate()
		o.ClientCertificate = func() (*tls.Certificate, error) { return c, nil }
	}
	// A keyed MAC names the material without a plain hash of a private key.
	mac := hmac.New(sha256.New, h.key)
	fmt.Fprintf(mac, "%t|%t|%d:", o.AllowInsecureHTTP, o.AllowLinkLocal, len(in.caBundle))
	mac.Write(in.caBundle)
	mac.Write(in.certPEM)
	mac.Write(in.keyPEM)
	id := hex.EncodeToString(mac.Sum(nil))

	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.clients[id]; ok {
		return c, nil
	}
	c, err := outbound.NewClient(o)
	if err != nil {
		return nil, err
	}
	if h.clients == nil || len(h.clients) > 4096 {
		// Rotated certificates leave old entries behind; start over rather
		// than grow without bound.
		h.clients = map[string]*http.Client{}
	}
	h.clients[id] = c
	return c, nil
}

// endpointLimiter spreads token requests to one host over time, so that a
// thousand ApiClients of one platform (after a restart with expired tokens,
// say) never stampede it.
type endpointLimiter struct {
	mu       sync.Mutex
	limit    rate.Limit
	burst    int
	limiters map[string]*rate.Limiter
	// clock is the reconciler's.
	clock clock.PassiveClock
	// mem.slots are the slots ApiClients were given and are waiting for, by
	// ApiClient: a requeued ApiClient uses its slot instead of taking
	// another, so that waiting does not push everyone further back.
	mem *memory
}

// reserve returns how long the ApiClient must wait before its request to
// tokenURL's host may go out, or before it asks again; zero means now.
//
// An urgent ApiClient (no valid token, or inside its propagation budget)
// may hold a slot in a short queue; one whose token has time left yields
// to them whenever there is a queue at all, so that after an outage the
// tokens that run out first are replaced first.
func (l *endpointLimiter) reserve(uid types.UID, tokenURL string, urgent bool) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if l.mem == nil {
		l.mem = &memory{}
	}
	if at, ok := l.mem.slots[uid]; ok {
		if now.Before(at) {
			return at.Sub(now)
		}
		delete(l.mem.slots, uid)
		return 0
	}
	host := tokenURL
	if u, err := url.Parse(tokenURL); err == nil {
		host = u.Host
	}
	lim, ok := l.limiters[host]
	if !ok {
		if l.limiters == nil {
			l.limiters = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.limiters[host] = lim
	}
	r := lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	switch {
	case delay == 0:
		return 0
	case urgent && delay <= maxQueue:
		if l.mem.slots == nil {
			l.mem.slots = map[types.UID]time.Time{}
		}
		for id, at := range l.mem.slots {
			// Slots nobody came back for (the ApiClient was deleted).
			if now.Sub(at) > time.Minute {
				delete(l.mem.slots, id)
			}
		}
		l.mem.slots[uid] = now.Add(delay)
		return delay
	}
	// Not urgent, or the queue is long (a retry storm while the platform
	// fails: queued slots would outlast the failure and hold back the
	// requests that count once it is over): the slot is given back and the
	// ApiClient comes back later, spread out, to try for a free one.
	r.CancelAt(now)
	return delay + time.Duration(rand.Int64N(int64(delay)))
}

// maxQueue is the longest an ApiClient holds a slot in a host's queue.
const maxQueue = 2 * time.Second
