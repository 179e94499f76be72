// Command keyport-sandbox runs the Keyport sandbox: stand-ins for the partner
// platforms Keyport has presets for, on one HTTPS listener, for offline
// development, the demo and benchmarks. See package sandbox for the endpoints.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// faultFlags collects -fault endpoint=JSON flags.
type faultFlags map[string]sandbox.Fault

func (f faultFlags) String() string { return "" }

func (f faultFlags) Set(v string) error {
	name, spec, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want endpoint={json}, got %q", v)
	}
	var fault sandbox.Fault
	if err := json.Unmarshal([]byte(spec), &fault); err != nil {
		return fmt.Errorf("fault for %s: %w", name, err)
	}
	f[name] = fault
	return nil
}

func main() {
	faults := faultFlags{}
	addr := flag.String("addr", "127.0.0.1:8443", "address to listen on (loopback)")
	hosts := flag.String("hosts", "", "comma-separated names or addresses for the server certificate besides the loopback ones")
	webhookCA := flag.String("webhook-ca", "", "PEM file of CAs that verify webhook receivers (besides the system roots)")
	clientsFile := flag.String("clients", "", "JSON file with a list of clients {id, secret, username, password, subscriptionKey}")
	caOut := flag.String("ca-out", "", "write the sandbox CA certificate (PEM) here, for clients to trust")
	tokenLifetime := flag.Duration("token-lifetime", time.Hour, "lifetime of tokens from the OAuth endpoints")
	m2mLifetime := flag.Duration("m2m-token-lifetime", 5*time.Minute, "lifetime of tokens from GET /m2m/token")
	flag.Var(faults, "fault", `fault injection, repeatable: endpoint={"errorRate":0.2,"latency":"..."} (endpoints: connect-token, m2m-token, json-token, softpos-token, par, api, ingestion, management)`)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	cfg := sandbox.Config{Addr: *addr, TokenLifetime: *tokenLifetime, M2MTokenLifetime: *m2mLifetime, Faults: faults}
	if *hosts != "" {
		cfg.Hosts = strings.Split(*hosts, ",")
	}
	if *webhookCA != "" {
		pem, err := os.ReadFile(*webhookCA)
		if err != nil {
			log.Error("read webhook CA", "file", *webhookCA, "err", err)
			os.Exit(2)
		}
		cfg.WebhookCAs = pem
	}
	if *clientsFile != "" {
		data, err := os.ReadFile(*clientsFile)
		if err == nil {
			err = json.Unmarshal(data, &cfg.Clients)
		}
		if err != nil {
			log.Error("read clients", "file", *clientsFile, "err", err)
			os.Exit(2)
		}
	}
	s, err := sandbox.Start(cfg)
	if err != nil {
		log.Error("start sandbox", "err", err)
		os.Exit(1)
	}
	if *caOut != "" {
		if err := os.WriteFile(*caOut, s.CACertPEM(), 0o644); err != nil {
			log.Error("write CA", "err", err)
			os.Exit(1)
		}
	}
	log.Info("keyport sandbox listening", "url", s.URL(), "clients", len(cfg.Clients), "ca", *caOut)
	for _, p := range []string{"/connect/token", "/m2m/token", "/oauth2/token", "/softpos/appenrollment/token", "/softpos/as/par", "/ingestion/{channel}", "/management/v1/...", "/admin/counters"} {
		fmt.Println(s.URL() + p)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	log.Info("shutting down")
	if err := s.Close(); err != nil {
		log.Error("shutdown", "err", err)
	}
}
