// Package sandbox is Keyport's stand-in for the partner platforms it talks
// to. It speaks the dialect of each of them (the port community system, the
// data-sharing platform, the bank's M2M API, the payment API and the SoftPOS
// API) over real HTTPS (and mutual TLS) on loopback, with its own generated
// CA, fault injection and request counters. Tests, benchmarks and the demo
// use it; so can users who develop offline (bin/keyport-sandbox).
//
// Endpoints (all on one listener):
//
//	POST /connect/token                 port community system, data-sharing platform: password or
//	                                    client_credentials; secret in body,
//	                                    Basic (encoded or raw), tls_client_auth or private_key_jwt
//	GET  /api/v1/visits                 port community API: bearer token + Ocp-Apim-Subscription-Key
//	POST /ingestion/{channel-id}        data-sharing ingestion: bearer token, X-Message-Type and Content-Type
//	GET  /m2m/token                     bank M2M API: raw Basic username:password over mTLS, expires_in "300"
//	POST /oauth2/token                  payment API: JSON body, answers status_code and request_id
//	POST /softpos/appenrollment/token   SoftPOS API: form client_credentials over mTLS
//	GET  /softpos/par/jwks.json         the sandbox's public keys
//	POST /softpos/as/par                RFC 9126 PAR with a client assertion, over mTLS (no controller uses it)
//	/management/v1/notification-channels[/{id}]  notification channel CRUD (bearer token), listed in
//	                                    pages that link to the next with "next"
//	/management/v1/ingestion-channels[/{id}]     ingestion channel CRUD (bearer token)
//	/management/v1/certificates[/{id}]           client certificate registration (bearer token)
//	/admin/...                          counters, faults, notify, deliveries, messages, reset
//
// Tokens are ES256 JWTs signed by the sandbox's key (GET /softpos/par/jwks.json
// serves it), so they can be verified like real ones.
package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// Client is a registered client of the sandbox's platforms.
type Client struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	// Username and Password serve the password grant (the port community
	// system's) and the Basic credentials of the bank's M2M endpoint.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// SubscriptionKey is checked on the port community API's calls.
	SubscriptionKey string `json:"subscriptionKey,omitempty"`
}

// Config configures a sandbox.
type Config struct {
	// Addr to listen on. Default 127.0.0.1:0 (a free port).
	Addr string
	// Listener, when set, is used instead of Addr: a listener a test opened
	// inside a node's network namespace, say.
	Listener net.Listener
	// Hosts are names or addresses the server certificate holds besides
	// the loopback ones (the address pods reach the sandbox at).
	Hosts   []string
	Clients []Client
	// TokenLifetime of tokens from every endpoint but the M2M one.
	// Default 1 h.
	TokenLifetime time.Duration
	// M2MTokenLifetime of tokens from GET /m2m/token. Default 5 min.
	M2MTokenLifetime time.Duration
	// ClientCAs are trusted for mutual TLS besides the sandbox's own CA.
	ClientCAs []*x509.Certificate
	// WebhookCAs (PEM) verify webhook receivers and their token endpoints.
	WebhookCAs []byte
	// Faults per endpoint at start.
	Faults map[string]Fault
	// Seed makes fault randomness repeatable; 0 picks one.
	Seed uint64
	// PageSize is how many notification channels one page of the
	// management API's list holds. Default 100.
	PageSize int
}

// Endpoint names, for faults and counters.
const (
	EndpointConnectToken = "connect-token"
	EndpointM2MToken     = "m2m-token"
	EndpointJSONToken    = "json-token"
	EndpointSoftPOSToken = "softpos-token"
	EndpointPAR          = "par"
	EndpointJWKS         = "jwks"
	EndpointAPI          = "api"
	EndpointIngestion    = "ingestion"
	EndpointManagement   = "management"
)

// Sandbox is a running sandbox.
type Sandbox struct {
	cfg      Config
	ca       *certstest.CA
	server   *http.Server
	listener net.Listener
	url      string
	signKey  *ecdsa.PrivateKey
	jwks     jose.JSONWebKeySet
	webhooks *http.Client

	mu       sync.Mutex
	rng      *rand.Rand
	clients  map[string]Client
	faults   map[string]Fault
	held     map[string]int // by endpoint: requests a Latency fault is holding
	counters map[string]map[string]*Count
	tokens   map[string]issued // by jti
	latest   map[string]string // client id → latest jti
	seenJTI  map[string]time.Time
	firstUse map[string]time.Time // token id → first accepted use
	store    *store
}

// issued is the sandbox's memory of a token.
type issued struct {
	clientID string
	expires  time.Time
	revoked  bool
}

// Start starts a sandbox.
func Start(cfg Config) (*Sandbox, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.M2MTokenLifetime <= 0 {
		cfg.M2MTokenLifetime = 5 * time.Minute
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	ca, err := certstest.NewCA("Keyport sandbox CA")
	if err != nil {
		return nil, err
	}
	serverCert, err := ca.Issue("localhost", certstest.Options{Server: true, Hosts: cfg.Hosts})
	if err != nil {
		return nil, err
	}
	signKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{
		cfg:      cfg,
		ca:       ca,
		signKey:  signKey,
		rng:      rand.New(rand.NewPCG(seed, seed^0x5eed)),
		clients:  map[string]Client{},
		faults:   map[string]Fault{},
		held:     map[string]int{},
		counters: map[string]map[string]*Count{},
		tokens:   map[string]issued{},
		latest:   map[string]string{},
		seenJTI:  map[string]time.Time{},
		firstUse: map[string]time.Time{},
		store:    newStore(),
	}
	s.jwks = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: signKey.Public(), KeyID: "sandbox-1", Algorithm: "ES256", Use: "sig"}}}
	for _, c := range cfg.Clients {
		s.clients[c.ID] = c
	}
	for name, f := range cfg.Faults {
		s.faults[name] = f
	}
	if s.webhooks, err = webhookClient(cfg.WebhookCAs); err != nil {
		return nil, err
	}

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
	}
	s.listener = ln
	s.url = "https://" + ln.Addr().String()
	s.server = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{serverCert.TLS()},
			// Certificates are checked per endpoint: some endpoints need
			// none, and registered certificates need not chain to a CA.
			ClientAuth: tls.RequestClientCert,
		},
	}
	go func() { _ = s.server.ServeTLS(ln, "", "") }()
	return s, nil
}

func (s *Sandbox) pageSize() int {
	if s.cfg.PageSize > 0 {
		return s.cfg.PageSize
	}
	return 100
}

// URL is the sandbox's base URL, https://127.0.0.1:port.
func (s *Sandbox) URL() string { return s.url }

// CACertPEM is the CA that signed the sandbox's server certificate; clients
// trust it to reach the sandbox.
func (s *Sandbox) CACertPEM() []byte { return s.ca.CertPEM() }

// IssueClientCert signs a client certificate for mutual TLS.
func (s *Sandbox) IssueClientCert(commonName string) (certPEM, keyPEM []byte, err error) {
	c, err := s.ca.Issue(commonName, certstest.Options{})
	if err != nil {
		return nil, nil, err
	}
	return c.CertPEM(), c.KeyPEM(), nil
}

// IssueRegisteredClientCert issues a client certificate as IssueClientCert
// does and registers it for clientID, as the SoftPOS API's enrolment does:
// the platform then accepts assertions its key signs for that client.
func (s *Sandbox) IssueRegisteredClientCert(clientID string) (certPEM, keyPEM []byte, err error) {
	c, err := s.ca.Issue(clientID, certstest.Options{})
	if err != nil {
		return nil, nil, err
	}
	s.RegisterCertificate(clientID, c.Cert)
	return c.CertPEM(), c.KeyPEM(), nil
}

// AddClient registers (or replaces) a client at runtime.
func (s *Sandbox) AddClient(c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
}

// Close stops the sandbox.
func (s *Sandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.server.Shutdown(ctx)
}

func (s *Sandbox) client(id string) (Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

// verifyClientCert accepts a presented certificate that chains to the
// sandbox CA or a configured CA, or that is registered for the client.
func (s *Sandbox) verifyClientCert(r *http.Request, clientID string) (*x509.Certificate, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, errors.New("this endpoint requires a client certificate (mutual TLS)")
	}
	leaf := r.TLS.PeerCertificates[0]
	if clientID != "" && s.store.certificateRegistered(clientID, leaf) {
		return leaf, nil
	}
	roots := s.ca.Pool()
	for _, c := range s.cfg.ClientCAs {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, errors.New("the client certificate is not trusted")
	}
	return leaf, nil
}
