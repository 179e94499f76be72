package sandbox

import (
	"crypto/x509"
	"sync"
	"time"
)

// NotificationChannel is a webhook registration, with the fields of the
// port community system's notification API.
type NotificationChannel struct {
	ID          string            `json:"id,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Name        string            `json:"name"`
	ChannelType string            `json:"channelType"`
	Method      string            `json:"method"`
	WebhookURL  string            `json:"webhookURL"`
	Headers     map[string]string `json:"headers,omitempty"`
	EventTypes  []string          `json:"eventTypes,omitempty"`
	// Authentication is None, OAuth2ClientCredentials or OAuth2Password (a
	// static bearer is None with an Authorization header).
	Authentication WebhookAuth `json:"authentication"`

	seq uint64 // order of creation, the order of the list's pages
}

// WebhookAuth is how the platform authenticates to a webhook.
type WebhookAuth struct {
	Type         string            `json:"type"`
	TokenURL     string            `json:"tokenURL,omitempty"`
	ClientID     string            `json:"clientID,omitempty"`
	ClientSecret string            `json:"clientSecret,omitempty"`
	Username     string            `json:"username,omitempty"`
	Password     string            `json:"password,omitempty"`
	Scopes       []string          `json:"scopes,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
}

// IngestionChannel is a customer's channel.
type IngestionChannel struct {
	ID          string `json:"id"`
	Owner       string `json:"owner,omitempty"`
	Customer    string `json:"customer"`
	MessageType string `json:"messageType"`
	MediaType   string `json:"mediaType"`
}

// CertificateRegistration is a client certificate registered for a client.
type CertificateRegistration struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"clientID"`
	PEM        string    `json:"pem"`
	Thumbprint string    `json:"thumbprint"`
	NotAfter   time.Time `json:"notAfter"`
	cert       *x509.Certificate
}

// Message is one message received on an ingestion channel.
type Message struct {
	ChannelID   string    `json:"channelID"`
	MessageType string    `json:"messageType"`
	MediaType   string    `json:"mediaType"`
	Size        int       `json:"size"`
	Received    time.Time `json:"received"`
}

// Delivery is one webhook call by the dispatcher.
type Delivery struct {
	ChannelID string    `json:"channelID"`
	EventType string    `json:"eventType"`
	Status    int       `json:"status"`
	Error     string    `json:"error,omitempty"`
	Time      time.Time `json:"time"`
}

// PushedRequest is a request_uri the PAR endpoint issued.
type PushedRequest struct {
	ClientID   string    `json:"clientID"`
	RequestURI string    `json:"requestURI"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// store holds the sandbox's platform objects.
type store struct {
	mu            sync.Mutex
	notifications map[string]NotificationChannel
	seq           uint64 // of the last notification channel created
	ingestion     map[string]IngestionChannel
	certificates  map[string]CertificateRegistration
	messages      []Message
	deliveries    []Delivery
	pushed        []PushedRequest
}

func newStore() *store {
	return &store{
		notifications: map[string]NotificationChannel{},
		ingestion:     map[string]IngestionChannel{},
		certificates:  map[string]CertificateRegistration{},
	}
}

func (st *store) certificatesOf(clientID string) []*x509.Certificate {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*x509.Certificate
	for _, c := range st.certificates {
		if c.ClientID == clientID {
			out = append(out, c.cert)
		}
	}
	return out
}

func (st *store) certificateRegistered(clientID string, cert *x509.Certificate) bool {
	for _, c := range st.certificatesOf(clientID) {
		if c.Equal(cert) {
			return true
		}
	}
	return false
}

// RegisterCertificate registers a client certificate directly, as an
// administrator of the platform would.
func (s *Sandbox) RegisterCertificate(clientID string, cert *x509.Certificate) string {
	id := "cert-" + randomHex(6)
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.store.certificates[id] = CertificateRegistration{ID: id, ClientID: clientID, cert: cert, NotAfter: cert.NotAfter}
	return id
}

// OnboardIngestionChannel creates a customer's ingestion channel owned by
// clientID, as the platform's onboarding does before the customer declares
// an IngestionChannel for it.
func (s *Sandbox) OnboardIngestionChannel(clientID string, c IngestionChannel) {
	if c.MediaType == "" {
		c.MediaType = "application/json"
	}
	c.Owner = clientID
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.store.ingestion[c.ID] = c
}

// CertificateRegistrations lists the registered client certificates.
func (s *Sandbox) CertificateRegistrations() []CertificateRegistration {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := make([]CertificateRegistration, 0, len(s.store.certificates))
	for _, c := range s.store.certificates {
		out = append(out, c)
	}
	return out
}

// NotificationChannels lists the registered notification channels.
func (s *Sandbox) NotificationChannels() []NotificationChannel {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	out := make([]NotificationChannel, 0, len(s.store.notifications))
	for _, c := range s.store.notifications {
		out = append(out, c)
	}
	return out
}

// PushedRequests lists the request_uris the PAR endpoint issued, so that a
// test can tell one a workload printed from one it made up.
func (s *Sandbox) PushedRequests() []PushedRequest {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return append([]PushedRequest(nil), s.store.pushed...)
}

// Messages lists the messages received on ingestion channels.
func (s *Sandbox) Messages() []Message {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return append([]Message(nil), s.store.messages...)
}

// Deliveries lists the webhook calls made by the dispatcher.
func (s *Sandbox) Deliveries() []Delivery {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return append([]Delivery(nil), s.store.deliveries...)
}
