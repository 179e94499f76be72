package sandbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const maxBody = 1 << 20

// readForm parses a form body of at most maxBody bytes.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="keyport-sandbox"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// connectToken is the generic OAuth 2.0 token endpoint (the port community
// system's /connect/token), with every grant and client authentication method.
func (s *Sandbox) connectToken(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointConnectToken) {
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		s.count(EndpointConnectToken, "", false)
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form body")
		return
	}
	c, cert, err := s.authenticateClient(r, form)
	if err != nil {
		s.count(EndpointConnectToken, form.Get("client_id"), false)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	switch form.Get("grant_type") {
	case "client_credentials":
	case "password":
		if c.Username == "" || form.Get("username") != c.Username || form.Get("password") != c.Password {
			s.count(EndpointConnectToken, c.ID, false)
			oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid username or password")
			return
		}
	default:
		s.count(EndpointConnectToken, c.ID, false)
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials or password")
		return
	}
	tok, lifetime, err := s.issue(EndpointConnectToken, c.ID, form.Get("scope"), s.cfg.TokenLifetime, cert)
	if err != nil {
		s.count(EndpointConnectToken, c.ID, false)
		oauthError(w, http.StatusInternalServerError, "server_error", "could not sign a token")
		return
	}
	s.count(EndpointConnectToken, c.ID, true)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(lifetime.Seconds()), "scope": form.Get("scope"),
	})
}

// m2mToken is the bank's M2M token endpoint: GET with raw Basic
// username:password over mutual TLS; expires_in is a string.
func (s *Sandbox) m2mToken(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointM2MToken) {
		return
	}
	user, pass, ok := rawBasic(r)
	c, found := s.clientByUsername(user)
	if !ok || !found || c.Password != pass {
		s.count(EndpointM2MToken, "", false)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "invalid username or password")
		return
	}
	cert, err := s.verifyClientCert(r, c.ID)
	if err != nil {
		s.count(EndpointM2MToken, c.ID, false)
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	tok, lifetime, err := s.issue(EndpointM2MToken, c.ID, "", s.cfg.M2MTokenLifetime, cert)
	if err != nil {
		s.count(EndpointM2MToken, c.ID, false)
		oauthError(w, http.StatusInternalServerError, "server_error", "could not sign a token")
		return
	}
	s.count(EndpointM2MToken, c.ID, true)
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": tok, "expires_in": strconv.Itoa(int(lifetime.Seconds())),
	})
}

func (s *Sandbox) clientByUsername(user string) (Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		if c.Username != "" && c.Username == user {
			return c, true
		}
	}
	return Client{}, false
}

// jsonToken is the payment API's token endpoint with a JSON body.
func (s *Sandbox) jsonToken(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointJSONToken) {
		return
	}
	requestID := "request-id-" + randomHex(8)
	var body struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.NewDecoder(r.Body).Decode(&body) != nil {
		s.count(EndpointJSONToken, "", false)
		writeJSON(w, http.StatusBadRequest, map[string]any{"status_code": 400, "request_id": requestID, "error": "invalid_request"})
		return
	}
	c, ok := s.client(body.ClientID)
	if !ok || c.Secret != body.ClientSecret || body.GrantType != "client_credentials" {
		s.count(EndpointJSONToken, body.ClientID, false)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status_code": 401, "request_id": requestID, "error": "invalid_client"})
		return
	}
	tok, lifetime, err := s.issue(EndpointJSONToken, c.ID, "", s.cfg.TokenLifetime, nil)
	if err != nil {
		s.count(EndpointJSONToken, c.ID, false)
		writeJSON(w, http.StatusInternalServerError, map[string]any{"status_code": 500, "request_id": requestID})
		return
	}
	s.count(EndpointJSONToken, c.ID, true)
	writeJSON(w, http.StatusOK, map[string]any{
		"status_code": 200, "expires_in": int(lifetime.Seconds()), "request_id": requestID,
		"access_token": tok, "token_type": "bearer",
	})
}

// softposToken is the SoftPOS API's token endpoint: form client_credentials
// over mTLS.
func (s *Sandbox) softposToken(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointSoftPOSToken) {
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		s.count(EndpointSoftPOSToken, "", false)
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form body")
		return
	}
	c, ok := s.client(form.Get("client_id"))
	if !ok || c.Secret != form.Get("client_secret") || form.Get("grant_type") != "client_credentials" {
		s.count(EndpointSoftPOSToken, form.Get("client_id"), false)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	cert, err := s.verifyClientCert(r, c.ID)
	if err != nil {
		s.count(EndpointSoftPOSToken, c.ID, false)
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	tok, lifetime, err := s.issue(EndpointSoftPOSToken, c.ID, "", s.cfg.TokenLifetime, cert)
	if err != nil {
		s.count(EndpointSoftPOSToken, c.ID, false)
		oauthError(w, http.StatusInternalServerError, "server_error", "could not sign a token")
		return
	}
	s.count(EndpointSoftPOSToken, c.ID, true)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(lifetime.Seconds())})
}

// jwksHandler serves the sandbox's public keys, which verify its tokens.
func (s *Sandbox) jwksHandler(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointJWKS) {
		return
	}
	s.count(EndpointJWKS, "", true)
	writeJSON(w, http.StatusOK, s.jwks)
}

// par is a Pushed Authorization Request endpoint (RFC 9126) under the SoftPOS
// API's paths. No Keyport controller sends one.
func (s *Sandbox) par(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointPAR) {
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form body")
		return
	}
	id := form.Get("client_id")
	if _, err := s.verifyClientCert(r, id); err != nil {
		s.count(EndpointPAR, id, false)
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	for _, p := range []string{"client_assertion", "client_id", "scope", "redirect_uri"} {
		if form.Get(p) == "" {
			s.count(EndpointPAR, id, false)
			oauthError(w, http.StatusBadRequest, "invalid_request", p+" is required")
			return
		}
	}
	if err := s.verifyAssertion(form.Get("client_assertion"), id, s.url+r.URL.Path); err != nil {
		s.count(EndpointPAR, id, false)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "the client assertion does not verify")
		return
	}
	s.count(EndpointPAR, id, true)
	pushed := PushedRequest{ClientID: id, RequestURI: "urn:ietf:params:oauth:request_uri:" + randomHex(16), ExpiresAt: time.Now().Add(90 * time.Second)}
	s.store.mu.Lock()
	s.store.pushed = append(s.store.pushed, pushed)
	s.store.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": pushed.RequestURI, "expires_in": 90})
}

// apiVisits is a port community API call: a valid bearer token and the client's
// subscription key are both required.
func (s *Sandbox) apiVisits(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointAPI) {
		return
	}
	claims, err := s.bearer(r)
	if err != nil {
		s.count(EndpointAPI, "", false)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	c, _ := s.client(claims.Subject)
	if c.SubscriptionKey == "" || r.Header.Get("Ocp-Apim-Subscription-Key") != c.SubscriptionKey {
		s.count(EndpointAPI, claims.Subject, false)
		http.Error(w, "missing or wrong Ocp-Apim-Subscription-Key", http.StatusUnauthorized)
		return
	}
	s.count(EndpointAPI, claims.Subject, true)
	writeJSON(w, http.StatusOK, map[string]any{"visits": []any{}, "client": claims.Subject, "time": time.Now().UTC()})
}

// ingest receives a message on a customer's data-sharing ingestion channel.
func (s *Sandbox) ingest(w http.ResponseWriter, r *http.Request) {
	if s.injectFault(w, r, EndpointIngestion) {
		return
	}
	claims, err := s.bearer(r)
	if err != nil {
		s.count(EndpointIngestion, "", false)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := r.PathValue("channel")
	s.store.mu.Lock()
	ch, ok := s.store.ingestion[id]
	s.store.mu.Unlock()
	switch {
	case !ok:
		s.count(EndpointIngestion, claims.Subject, false)
		http.Error(w, "unknown channel", http.StatusNotFound)
		return
	case ch.Owner != "" && ch.Owner != claims.Subject:
		s.count(EndpointIngestion, claims.Subject, false)
		http.Error(w, "this token may not post to this channel", http.StatusForbidden)
		return
	case r.Header.Get("X-Message-Type") != ch.MessageType:
		s.count(EndpointIngestion, claims.Subject, false)
		http.Error(w, "X-Message-Type must be "+ch.MessageType, http.StatusBadRequest)
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), ch.MediaType):
		s.count(EndpointIngestion, claims.Subject, false)
		http.Error(w, "Content-Type must be "+ch.MediaType, http.StatusUnsupportedMediaType)
		return
	}
	n, err := drain(w, r)
	if err != nil {
		s.count(EndpointIngestion, claims.Subject, false)
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	s.store.mu.Lock()
	s.store.messages = append(s.store.messages, Message{ChannelID: id, MessageType: ch.MessageType, MediaType: ch.MediaType, Size: n, Received: time.Now()})
	s.store.mu.Unlock()
	s.count(EndpointIngestion, claims.Subject, true)
	w.WriteHeader(http.StatusAccepted)
}

func drain(w http.ResponseWriter, r *http.Request) (int, error) {
	buf := make([]byte, 32<<10)
	body := http.MaxBytesReader(w, r.Body, maxBody)
	n := 0
	for {
		m, err := body.Read(buf)
		n += m
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return n, err
			}
			return n, nil
		}
	}
}
