// Command workload is the smallest correct consumer of a Keyport token
// Secret: an HTTP client whose transport (shared/tokenfile) sets the mounted
// token and headers on every request, so a rotated token is used as soon as
// the kubelet has synced the volume, without a restart. call.sh does the same
// with curl. `workload par` makes a Pushed Authorization Request with a
// mounted certificate Secret instead (par.go).
//
// Mount the ApiClient's output Secret as a volume (not as environment
// variables and not with subPath: those never update):
//
//	volumes:
//	  - name: token
//	    secret: {secretName: cpu-uat-token}
//	containers:
//	  - volumeMounts: [{name: token, mountPath: /var/run/keyport/token, readOnly: true}]
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/keyport-dev/keyport/shared/tokenfile"
)

func main() {
	// `workload par ...` makes a Pushed Authorization Request instead (par.go).
	if len(os.Args) > 1 && os.Args[1] == "par" {
		os.Exit(runPAR(os.Args[2:], os.Stdout, os.Stderr))
	}
	dir := flag.String("token-dir", "/var/run/keyport/token", "where the token Secret is mounted")
	url := flag.String("url", "", "API URL to call")
	every := flag.Duration("every", 30*time.Second, "time between calls")
	flag.Parse()
	client := newClient(*dir, nil)
	for {
		if err := call(client, *url); err != nil {
			log.Print(err) // never contains the token
		}
		time.Sleep(*every)
	}
}

// newClient's requests carry Authorization and headers.json's static
// headers (a subscription key, say) as mounted when each request is sent.
func newClient(dir string, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: tokenfile.New(dir).RoundTripper(base), Timeout: 15 * time.Second}
}

func call(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	log.Printf("GET %s: %s", url, resp.Status)
	return nil
}
