// Command workload is the smallest correct consumer of a Keyport token
// Secret: it reads the mounted files on every request, so a rotated token is
// picked up as soon as the kubelet has synced the volume, without a restart.
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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// headers reads headers.json: Authorization plus every static header the
// platform wants (a subscription key, say).
func headers(dir string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "headers.json"))
	if err != nil {
		return nil, fmt.Errorf("read the token Secret: %w", err)
	}
	var h map[string]string
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("headers.json is not a JSON object: %w", err)
	}
	return h, nil
}

func main() {
	dir := flag.String("token-dir", "/var/run/keyport/token", "where the token Secret is mounted")
	url := flag.String("url", "", "API URL to call")
	every := flag.Duration("every", 30*time.Second, "time between calls")
	flag.Parse()
	client := &http.Client{Timeout: 15 * time.Second}
	for {
		if err := call(client, *dir, *url); err != nil {
			log.Print(err)
		}
		time.Sleep(*every)
	}
}

func call(client *http.Client, dir, url string) error {
	h, err := headers(dir) // on every request: the file changes on rotation
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	log.Printf("GET %s: %s", url, resp.Status)
	return nil
}
