package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keyport-dev/keyport/shared/par"
)

// runPAR is `workload par`: one Pushed Authorization Request, such as the
// SoftPOS API's enrolment step, made with only what Keyport mounts (the
// M2MCertificate's Secret and, optionally, the platform's JWKS ConfigMap).
// It prints the request_uri, which is not a secret; the key and the client
// assertion signed with it never leave par.Push.
//
//	workload par -endpoint https://softpos.example/as/par -client-id merchant-1 \
//	    -redirect-uri https://merchant.example/cb -cert-dir /var/run/keyport/cert
func runPAR(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("par", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var m par.Mounted
	var r par.Request
	fs.StringVar(&m.CertificateDir, "cert-dir", "/var/run/keyport/cert", "where the certificate Secret (tls.crt, tls.key) is mounted")
	fs.StringVar(&m.JWKSDir, "jwks-dir", "", "where the platform's JWKS ConfigMap is mounted (optional)")
	fs.StringVar(&m.CAFile, "ca-file", "", "CA bundle that verifies the platform (optional; default the system roots)")
	fs.StringVar(&r.Endpoint, "endpoint", "", "the platform's PAR endpoint")
	fs.StringVar(&r.ClientID, "client-id", "", "client id registered at the platform")
	fs.StringVar(&r.RedirectURI, "redirect-uri", "", "redirect URI registered at the platform")
	fs.StringVar(&r.Scope, "scope", "", "scope of the authorization request")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if r.Endpoint == "" || r.ClientID == "" {
		fmt.Fprintln(stderr, "workload par: -endpoint and -client-id are required")
		return 2
	}
	// expires_in is counted from when the request was sent, as the
	// platform counts it.
	sent := time.Now()
	r.Now = func() time.Time { return sent }
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := par.Push(ctx, m, r)
	if err != nil {
		fmt.Fprintln(stderr, "workload par:", err) // par.Push keeps the key and assertion out of its errors
		return 1
	}
	fmt.Fprintf(stdout, "request_uri=%s expires_in=%d\n", res.RequestURI, int64(res.ExpiresAt.Sub(sent)/time.Second))
	return 0
}
