package tokenfile_test

import (
	"log"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyport-dev/keyport/shared/tokenfile"
)

// Every request through the client carries the token mounted at the time
// it is sent, plus the platform's extra headers.
func ExampleSource_RoundTripper() {
	source := tokenfile.New("/var/run/keyport/token")
	client := &http.Client{Transport: source.RoundTripper(nil), Timeout: 15 * time.Second}
	resp, err := client.Get("https://api.example.com/v1/things")
	if err != nil {
		log.Fatal(err) // names the mount and what is wrong, never the token
	}
	defer resp.Body.Close()
}

// A library that takes an oauth2.TokenSource gets Authorization only; use
// the Source directly, not through oauth2.NewClient or ReuseTokenSource,
// which would keep the first token until it nearly expires.
func ExampleSource_Token() {
	source := tokenfile.New("/var/run/keyport/token")
	client := &http.Client{Transport: &oauth2.Transport{Source: source}}
	_ = client
}
