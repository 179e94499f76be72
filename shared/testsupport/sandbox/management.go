package sandbox

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/keyport-dev/keyport/shared/certs"
)

// The management API: notification channels, ingestion channels and client
// certificates, each owned by the client whose bearer token created it.

// authorize checks the bearer token of a management call.
func (s *Sandbox) authorize(w http.ResponseWriter, r *http.Request) (*Claims, bool) {
	if s.injectFault(w, r, EndpointManagement) {
		return nil, false
	}
	claims, err := s.bearer(r)
	if err != nil {
		s.count(EndpointManagement, "", false)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return nil, false
	}
	s.count(EndpointManagement, claims.Subject, true)
	return claims, true
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		http.Error(w, "the body is not valid JSON for this resource", http.StatusBadRequest)
		return false
	}
	return true
}

// validateNotificationChannel applies the platform's rules.
func validateNotificationChannel(c *NotificationChannel) string {
	if c.ChannelType == "" {
		c.ChannelType = "HTTPSWebhook"
	}
	if c.Method == "" {
		c.Method = http.MethodPost
	}
	u, err := url.Parse(c.WebhookURL)
	switch {
	case c.Name == "":
		return "name is required"
	case c.ChannelType != "HTTPSWebhook":
		return "channelType must be HTTPSWebhook"
	case c.Method != http.MethodPost:
		return "method must be POST"
	case err != nil || u.Scheme != "https" || u.Host == "":
		return "webhookURL must be an https URL"
	}
	switch c.Authentication.Type {
	case "", "None":
		c.Authentication.Type = "None"
	case "OAuth2ClientCredentials", "OAuth2Password":
		a := c.Authentication
		if a.TokenURL == "" || a.ClientID == "" || a.ClientSecret == "" {
			return "OAuth2 authentication needs tokenURL, clientID and clientSecret"
		}
		if a.Type == "OAuth2Password" && (a.Username == "" || a.Password == "") {
			return "OAuth2Password needs username and password"
		}
	default:
		return "authentication.type must be None, OAuth2ClientCredentials or OAuth2Password"
	}
	for name := range c.Headers {
		if strings.EqualFold(name, "Authorization") && c.Authentication.Type != "None" {
			return "an Authorization header is allowed only with authentication None"
		}
	}
	return ""
}

func (s *Sandbox) notificationChannels(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authorize(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st := s.store
	switch {
	case r.Method == http.MethodGet && id == "":
		// Pages in the order of creation, each with a link to the next one,
		// the way most platforms page their lists: a channel created or
		// deleted meanwhile moves no other to another page.
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		st.mu.Lock()
		var out []NotificationChannel
		for _, c := range st.notifications {
			if c.Owner == claims.Subject && c.seq > after {
				out = append(out, c)
			}
		}
		st.mu.Unlock()
		slices.SortFunc(out, func(a, b NotificationChannel) int { return cmp.Compare(a.seq, b.seq) })
		page := map[string]any{}
		if size := s.pageSize(); len(out) > size {
			out = out[:size]
			page["next"] = r.URL.Path + "?after=" + strconv.FormatUint(out[size-1].seq, 10)
		}
		page["items"] = out
		writeJSON(w, http.StatusOK, page)
	case r.Method == http.MethodPost && id == "":
		var c NotificationChannel
		if !decodeJSON(w, r, &c) {
			return
		}
		if msg := validateNotificationChannel(&c); msg != "" {
			http.Error(w, msg, http.StatusUnprocessableEntity)
			return
		}
		c.ID, c.Owner = "nc-"+randomHex(8), claims.Subject
		st.mu.Lock()
		st.seq++
		c.seq = st.seq
		st.notifications[c.ID] = c
		st.mu.Unlock()
		writeJSON(w, http.StatusCreated, c)
	case id != "":
		st.mu.Lock()
		c, found := st.notifications[id]
		st.mu.Unlock()
		if !found || c.Owner != claims.Subject {
			http.Error(w, "notification channel not found", http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, c)
		case http.MethodPut:
			var upd NotificationChannel
			if !decodeJSON(w, r, &upd) {
				return
			}
			if msg := validateNotificationChannel(&upd); msg != "" {
				http.Error(w, msg, http.StatusUnprocessableEntity)
				return
			}
			upd.ID, upd.Owner, upd.seq = id, claims.Subject, c.seq
			st.mu.Lock()
			st.notifications[id] = upd
			st.mu.Unlock()
			writeJSON(w, http.StatusOK, upd)
		case http.MethodDelete:
			st.mu.Lock()
			delete(st.notifications, id)
			st.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Sandbox) ingestionChannels(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authorize(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st := s.store
	switch {
	case r.Method == http.MethodPost && id == "":
		var c IngestionChannel
		if !decodeJSON(w, r, &c) {
			return
		}
		if c.Customer == "" || c.MessageType == "" {
			http.Error(w, "customer and messageType are required", http.StatusUnprocessableEntity)
			return
		}
		if c.MediaType == "" {
			c.MediaType = "application/json"
		}
		if c.ID == "" {
			c.ID = "ch-" + randomHex(8)
		}
		c.Owner = claims.Subject
		st.mu.Lock()
		if existing, taken := st.ingestion[c.ID]; taken && existing.Customer != c.Customer {
			st.mu.Unlock()
			http.Error(w, "channel id belongs to another customer", http.StatusConflict)
			return
		}
		st.ingestion[c.ID] = c
		st.mu.Unlock()
		writeJSON(w, http.StatusCreated, c)
	case r.Method == http.MethodGet && id != "":
		st.mu.Lock()
		c, found := st.ingestion[id]
		st.mu.Unlock()
		if !found {
			http.Error(w, "ingestion channel not found", http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, c)
	case r.Method == http.MethodDelete && id != "":
		st.mu.Lock()
		delete(st.ingestion, id)
		st.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Sandbox) certificates(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.authorize(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st := s.store
	switch {
	case r.Method == http.MethodPost && id == "":
		var body struct {
			PEM string `json:"pem"`
		}
		if !decodeJSON(w, r, &body) {
			return
		}
		list, err := certs.DecodeCertificatesPEM([]byte(body.PEM))
		if err != nil {
			http.Error(w, "pem holds no certificate", http.StatusUnprocessableEntity)
			return
		}
		reg := CertificateRegistration{ID: "cert-" + randomHex(6), ClientID: claims.Subject, PEM: body.PEM,
			Thumbprint: certs.Thumbprint(list[0]), NotAfter: list[0].NotAfter, cert: list[0]}
		st.mu.Lock()
		st.certificates[reg.ID] = reg
		st.mu.Unlock()
		writeJSON(w, http.StatusCreated, reg)
	case r.Method == http.MethodGet && id == "":
		st.mu.Lock()
		var out []CertificateRegistration
		for _, c := range st.certificates {
			if c.ClientID == claims.Subject {
				out = append(out, c)
			}
		}
		st.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"items": out})
	case r.Method == http.MethodDelete && id != "":
		st.mu.Lock()
		c, found := st.certificates[id]
		if found && c.ClientID == claims.Subject {
			delete(st.certificates, id)
		}
		st.mu.Unlock()
		if !found || c.ClientID != claims.Subject {
			http.Error(w, "certificate not found", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
