package par_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/par"
)

func keySet(kids ...string) []byte {
	var set jose.JSONWebKeySet
	for _, kid := range kids {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig", Algorithm: "ES256"})
	}
	b, _ := json.Marshal(set)
	return b
}

// A workload meets a kid its mounted copy does not have yet: Keys fetches
// the platform's key set itself, and not again for every unknown kid.
func TestKeysFetchesTheSetForAnUnseenKid(t *testing.T) {
	var published atomic.Value
	published.Store(keySet("old", "new"))
	var fetches atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(published.Load().([]byte))
	}))
	t.Cleanup(srv.Close)
	caFile := writeFile(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	keys := &par.Keys{Dir: project(t, map[string][]byte{par.JWKSKey: keySet("old")}), URL: srv.URL + "/jwks.json",
		CAFile: caFile, Now: func() time.Time { return now }}
	ctx := context.Background()

	if k, err := keys.Key(ctx, "old"); err != nil || k.KeyID != "old" || fetches.Load() != 0 {
		t.Fatalf("a kid of the mounted copy: %v, %d fetches", err, fetches.Load())
	}
	if k, err := keys.Key(ctx, "new"); err != nil || k.KeyID != "new" || !k.IsPublic() || fetches.Load() != 1 {
		t.Fatalf("an unseen kid: %v, %d fetches", err, fetches.Load())
	}
	if _, err := keys.Key(ctx, "newer"); err == nil || !strings.Contains(err.Error(), `no kid "newer"`) || fetches.Load() != 1 {
		t.Fatalf("a kid unknown to the platform too, within a minute: %v, %d fetches", err, fetches.Load())
	}
	published.Store(keySet("newer"))
	now = now.Add(time.Minute)
	if k, err := keys.Key(ctx, "newer"); err != nil || k.KeyID != "newer" || fetches.Load() != 2 {
		t.Fatalf("after a minute: %v, %d fetches", err, fetches.Load())
	}
}
