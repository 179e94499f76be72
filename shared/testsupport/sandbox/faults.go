package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Fault is what can go wrong at one endpoint. Rates are probabilities in
// [0, 1], drawn from the sandbox's seeded generator.
type Fault struct {
	// Latency is added before answering.
	Latency time.Duration `json:"latency,omitempty"`
	// ErrorRate answers 500.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// RateLimitRate answers 429 with Retry-After: RetryAfter.
	RateLimitRate float64       `json:"rateLimitRate,omitempty"`
	RetryAfter    time.Duration `json:"retryAfter,omitempty"`
	// MalformedRate answers 200 with a truncated JSON body.
	MalformedRate float64 `json:"malformedRate,omitempty"`
	// HTMLRate answers 200 with an HTML page.
	HTMLRate float64 `json:"htmlRate,omitempty"`
	// RevokeOnReissue revokes a client's previous token when it gets a new
	// one, as some platforms do.
	RevokeOnReissue bool `json:"revokeOnReissue,omitempty"`
	// ClockSkew shifts iat and exp of issued tokens.
	ClockSkew time.Duration `json:"clockSkew,omitempty"`
	// OutageUntil answers 503 until then.
	OutageUntil time.Time `json:"outageUntil,omitempty"`
}

// SetFault replaces the fault of an endpoint; the zero Fault clears it.
func (s *Sandbox) SetFault(endpoint string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = f
}

func (s *Sandbox) fault(endpoint string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults[endpoint]
}

func (s *Sandbox) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < p
}

// injectFault answers in place of the endpoint when its fault fires, and
// reports whether it did.
func (s *Sandbox) injectFault(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	f := s.fault(endpoint)
	if f.Latency > 0 {
		s.hold(endpoint, +1)
		defer s.hold(endpoint, -1)
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case !f.OutageUntil.IsZero() && time.Now().Before(f.OutageUntil):
		w.Header().Set("Retry-After", strconv.Itoa(int(time.Until(f.OutageUntil).Seconds())+1))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "planned outage"})
	case s.roll(f.RateLimitRate):
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Seconds())))
		}
		w.WriteHeader(http.StatusTooManyRequests)
	case s.roll(f.ErrorRate):
		http.Error(w, "internal error (injected)", http.StatusInternalServerError)
	case s.roll(f.MalformedRate):
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"access_token":"trunc`)
	case s.roll(f.HTMLRate):
		w.Header().Set("Content-Type", "text/html")
		_, _ = fmt.Fprint(w, "<html><body>Maintenance</body></html>")
	default:
		return false
	}
	s.count(endpoint, "", false)
	return true
}

// Count is how often something happened.
type Count struct {
	Requests  int `json:"requests"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

func (s *Sandbox) hold(endpoint string, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held[endpoint] += delta
}

// Held is how many requests to an endpoint its Latency fault is holding
// right now: requests that have reached the platform and wait for their
// answer.
func (s *Sandbox) Held(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[endpoint]
}

// Counters are counts by endpoint, then by client id ("" when unknown).
type Counters map[string]map[string]Count

// Requests sums the requests of an endpoint over all clients, or of one.
func (c Counters) Requests(endpoint, clientID string) int {
	if clientID != "" {
		return c[endpoint][clientID].Requests
	}
	n := 0
	for _, v := range c[endpoint] {
		n += v.Requests
	}
	return n
}

// Succeeded sums the successful requests like Requests does.
func (c Counters) Succeeded(endpoint, clientID string) int {
	if clientID != "" {
		return c[endpoint][clientID].Succeeded
	}
	n := 0
	for _, v := range c[endpoint] {
		n += v.Succeeded
	}
	return n
}

func (s *Sandbox) count(endpoint, clientID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byClient := s.counters[endpoint]
	if byClient == nil {
		byClient = map[string]*Count{}
		s.counters[endpoint] = byClient
	}
	c := byClient[clientID]
	if c == nil {
		c = &Count{}
		byClient[clientID] = c
	}
	c.Requests++
	if ok {
		c.Succeeded++
	} else {
		c.Failed++
	}
}

// Counters returns a copy of the counters.
func (s *Sandbox) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Counters{}
	for e, byClient := range s.counters {
		out[e] = map[string]Count{}
		for id, c := range byClient {
			out[e][id] = *c
		}
	}
	return out
}

// ResetCounters clears the counters.
func (s *Sandbox) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters = map[string]map[string]*Count{}
}
