// Command keyport-ingest-example posts messages to a data-sharing platform's
// ingestion channel from the channel's mounted Secret, which Keyport keeps
// current: url, content_type, message_type and the ApiClient's token. It
// reads the mount on every request (through shared/tokenfile), so a rotated
// token is used as soon as the kubelet has swapped the files — no restart.
//
//	volumes:
//	  - name: channel
//	    secret: {secretName: acme-uat-channel}
//	containers:
//	  - args: [-channel-dir, /var/run/keyport/channel]
//	    volumeMounts: [{name: channel, mountPath: /var/run/keyport/channel, readOnly: true}]
//
// `make demo` runs it against the sandbox.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyport-dev/keyport/shared/tokenfile"
)

func main() {
	dir := flag.String("channel-dir", "/var/run/keyport/channel", "where the IngestionChannel's Secret is mounted")
	caFile := flag.String("ca-file", "", "PEM CA bundle to trust instead of the system roots (the sandbox's CA in the demo)")
	every := flag.Duration("every", 5*time.Second, "time between messages")
	count := flag.Int("count", 0, "messages to send; 0 sends until stopped")
	flag.Parse()
	log.SetFlags(0)

	client, err := newClient(*dir, *caFile)
	if err != nil {
		log.Fatal(err)
	}
	for n := 1; *count == 0 || n <= *count; n++ {
		if err := send(client, *dir, n); err != nil {
			fmt.Println("send failed:", err)
		}
		time.Sleep(*every)
	}
}

// newClient is an HTTP client whose requests carry the mounted token.
func newClient(dir, caFile string) (*http.Client, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	source := tokenfile.New(dir)
	return &http.Client{Transport: source.RoundTripper(base), Timeout: 15 * time.Second}, nil
}

// send posts message n to the channel, reading the channel's settings from
// the mount like the token.
func send(client *http.Client, dir string, n int) error {
	setting := func(key string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, key))
		return strings.TrimSpace(string(b)), err
	}
	url, err := setting("url")
	if err != nil {
		return err
	}
	messageType, err := setting("message_type")
	if err != nil {
		return err
	}
	contentType, err := setting("content_type")
	if err != nil {
		return err
	}
	expiresAt, err := setting("expires_at")
	if err != nil {
		return err
	}
	body := fmt.Sprintf(`{"container":"MSCU%07d","event":"GateIn","at":%q}`, n, time.Now().UTC().Format(time.RFC3339))
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Message-Type", messageType)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	fmt.Printf("sent %s #%d: %s (token expires %s)\n", messageType, n, resp.Status, expiresAt)
	return nil
}
