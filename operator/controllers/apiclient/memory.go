package apiclient

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// memory is everything the ApiClient controller keeps in this process
// between reconciles. The API server holds what must survive a restart or a
// leader change: the token and its schedule in the output Secret's
// annotations, the retry time after a failure in status.retryAt. What is
// here only saves a token request or an API write, or makes a report more
// precise; a new process starts without it and loses nothing else:
//
//   - issued: the last token this process obtained, per ApiClient, so that a
//     Secret that lost it (deleted, edited, or never written because the API
//     server was away) is repaired without asking the platform again. Lost
//     on restart: the Secret is the durable copy; at worst one request.
//   - failures: when a failed refresh may be retried and with which inputs
//     (the inputs MAC, so that fixed credentials are tried at once). The
//     time is also in status.retryAt, which a new leader reads back (see
//     retryAfterFailover); the MAC is not, since the status may hold no byte
//     derived from a secret.
//   - revoked: why the platform's last reissue revoked the previous token,
//     as the revocation probe found. Lost on restart: the next rotation
//     probes again.
//   - uids: the UID of the ApiClient of each name, to forget the above
//     when it is deleted.
//   - slots: the per-host rate limiter's slots that ApiClients were given
//     and are waiting for. Lost on restart: the ApiClient asks for a new one.
//
// The status this process last wrote is remembered by the status writer
// (reconcilekit.Status with Remember), since the cache may not hold its own
// write yet. Requests on their way (tokenCalls) are not memory but work in
// progress: a new process asks again, which the platform sees as one more
// request.
type memory struct {
	mu       sync.Mutex
	issued   map[types.UID]issuedToken
	failures map[types.UID]failureState
	revoked  map[types.UID]string
	uids     map[types.NamespacedName]types.UID
	// slots is guarded by the endpointLimiter's lock, not mu: only the
	// limiter uses it, within one reserve.
	slots map[types.UID]time.Time
}

// failureState remembers when a failed refresh may be retried and which
// inputs it failed with.
type failureState struct {
	retryAt   time.Time
	inputsMAC string
}

func (m *memory) lastIssued(uid types.UID) (issuedToken, bool) { return lookup(m, &m.issued, uid) }

// succeeded remembers a new token and forgets the failure before it.
func (m *memory) succeeded(uid types.UID, t issuedToken) {
	m.mu.Lock()
	defer m.mu.Unlock()
	put(&m.issued, uid, t)
	delete(m.failures, uid)
}

func (m *memory) failure(uid types.UID) (failureState, bool) { return lookup(m, &m.failures, uid) }

func (m *memory) failed(uid types.UID, f failureState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	put(&m.failures, uid, f)
}

// revocation is why the last reissue revoked the previous token, "" when it
// did not or nobody probed.
func (m *memory) revocation(uid types.UID) string {
	why, _ := lookup(m, &m.revoked, uid)
	return why
}

func (m *memory) setRevocation(uid types.UID, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if why == "" {
		delete(m.revoked, uid)
		return
	}
	put(&m.revoked, uid, why)
}

// saw notes the UID of the ApiClient of this name.
func (m *memory) saw(key types.NamespacedName, uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	put(&m.uids, key, uid)
}

// forget drops what is kept for a deleted ApiClient; slots nobody comes
// back for expire by themselves.
func (m *memory) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uid, ok := m.uids[key]; ok {
		delete(m.issued, uid)
		delete(m.failures, uid)
		delete(m.revoked, uid)
	}
	delete(m.uids, key)
}

// put sets m[k] = v, making the map on first use.
func put[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = map[K]V{}
	}
	(*m)[k] = v
}

// lookup reads (*in)[k] under m's lock.
func lookup[K comparable, V any](m *memory, in *map[K]V, k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := (*in)[k]
	return v, ok
}
