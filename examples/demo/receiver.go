package main

import (
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// receiver is the user's webhook endpoint: HTTPS on loopback, verifying each
// call's bearer token against the generated Secret that Keyport keeps (read
// from its mounted files on every call, so a rotated value is honoured).
type receiver struct {
	url    string
	caPEM  []byte
	server *http.Server

	mu     sync.Mutex
	events []delivery
}

type delivery struct {
	eventType string
	verified  bool
}

// startReceiver serves on l (loopback, or the node's address when the
// platform runs on the node).
func startReceiver(l net.Listener, mount string) (*receiver, error) {
	ca, err := certstest.NewCA("demo webhook receiver CA")
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(l.Addr().String())
	cert, err := ca.Issue(host, certstest.Options{Server: true, Hosts: []string{host}})
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "https://" + l.Addr().String(), caPEM: ca.CertPEM()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/visits", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		var event struct {
			EventType string `json:"eventType"`
		}
		_ = json.Unmarshal(body, &event)
		expected, err := os.ReadFile(filepath.Join(mount, "bearer_token"))
		got := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		ok := err == nil && len(expected) > 0 && subtle.ConstantTimeCompare([]byte(got), expected) == 1
		r.mu.Lock()
		r.events = append(r.events, delivery{eventType: event.EventType, verified: ok})
		r.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	r.server = &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS()}, MinVersion: tls.VersionTLS12}}
	go func() { _ = r.server.ServeTLS(l, "", "") }()
	return r, nil
}

func (r *receiver) received() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.events...)
}

func (r *receiver) Close() { _ = r.server.Close() }
