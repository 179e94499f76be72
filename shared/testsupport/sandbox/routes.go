package sandbox

import (
	"net/http"
)

func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect/token", s.connectToken)
	mux.HandleFunc("GET /m2m/token", s.m2mToken)
	mux.HandleFunc("POST /oauth2/token", s.jsonToken)
	mux.HandleFunc("POST /softpos/appenrollment/token", s.softposToken)
	mux.HandleFunc("GET /softpos/par/jwks.json", s.jwksHandler)
	mux.HandleFunc("POST /softpos/as/par", s.par)
	mux.HandleFunc("GET /api/v1/visits", s.apiVisits)
	mux.HandleFunc("POST /ingestion/{channel}", s.ingest)

	mux.HandleFunc("/management/v1/notification-channels", s.notificationChannels)
	mux.HandleFunc("/management/v1/notification-channels/{id}", s.notificationChannels)
	mux.HandleFunc("/management/v1/ingestion-channels", s.ingestionChannels)
	mux.HandleFunc("/management/v1/ingestion-channels/{id}", s.ingestionChannels)
	mux.HandleFunc("/management/v1/certificates", s.certificates)
	mux.HandleFunc("/management/v1/certificates/{id}", s.certificates)

	s.adminRoutes(mux)
	return mux
}
