package sandbox

import (
	"net/http"
)

// The admin API lets tests, benchmarks and people steer the sandbox from
// outside the process. It is unauthenticated: the sandbox is a development
// tool that listens on loopback.
//
//	GET  /admin/counters            counts by endpoint and client
//	POST /admin/counters/reset      clear the counters
//	PUT  /admin/faults/{endpoint}   set an endpoint's Fault (JSON); {} clears it
//	GET  /admin/faults              current faults
//	POST /admin/clients             add or replace a Client (JSON)
//	POST /admin/notify              {"eventType": "...", "payload": {...}} → deliveries
//	GET  /admin/deliveries          webhook calls made so far
//	GET  /admin/messages            ingestion messages received so far
//	POST /admin/ingestion-channels  {"clientId": "...", "channel": {...}}: onboard a channel
//	GET  /admin/token-uses          when each token (by jti) was first used
//	GET  /admin/ca.pem              the CA of the sandbox's server certificate
func (s *Sandbox) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/token-uses", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.FirstUses())
	})
	mux.HandleFunc("GET /admin/ca.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.CACertPEM())
	})
	mux.HandleFunc("GET /admin/counters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Counters())
	})
	mux.HandleFunc("POST /admin/counters/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /admin/faults/{endpoint}", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decodeJSON(w, r, &f) {
			return
		}
		s.SetFault(r.PathValue("endpoint"), f)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		out := map[string]Fault{}
		for k, v := range s.faults {
			out[k] = v
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /admin/clients", func(w http.ResponseWriter, r *http.Request) {
		var c Client
		if !decodeJSON(w, r, &c) {
			return
		}
		if c.ID == "" {
			http.Error(w, "id is required", http.StatusUnprocessableEntity)
			return
		}
		s.AddClient(c)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /admin/notify", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			EventType string `json:"eventType"`
			Payload   any    `json:"payload"`
		}
		if !decodeJSON(w, r, &body) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"deliveries": s.Notify(r.Context(), body.EventType, body.Payload)})
	})
	mux.HandleFunc("GET /admin/deliveries", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"items": s.Deliveries()})
	})
	mux.HandleFunc("POST /admin/ingestion-channels", func(w http.ResponseWriter, r *http.Request) {
		var body onboarding
		if !decodeJSON(w, r, &body) {
			return
		}
		if body.ClientID == "" || body.Channel.ID == "" {
			http.Error(w, "clientId and channel.id are required", http.StatusUnprocessableEntity)
			return
		}
		s.OnboardIngestionChannel(body.ClientID, body.Channel)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /admin/messages", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"items": s.Messages()})
	})
}
