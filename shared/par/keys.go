package par

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/token"
)

// Keys finds the platform's public keys by kid for a workload, for example
// to verify what the platform signed. It reads the mounted JWKS ConfigMap
// first. A kid the copy does not have (the platform rotated its keys and
// the ConfigMap has not caught up yet) makes it fetch the platform's key set
// itself, at most once per MinRefetch, so that a flood of unknown kids does
// not become a flood of requests to the platform.
type Keys struct {
	// Dir is the mounted JWKS ConfigMap (or the path of jwks.json).
	Dir string
	// URL is the platform's key set, as in the ApiClient's spec.jwks.url.
	URL string
	// CAFile verifies the platform instead of the system roots; optional.
	CAFile string
	// HTTPClient replaces the client built from CAFile and Keyport's
	// outbound rules.
	HTTPClient *http.Client
	// MinRefetch is the least time between two fetches. Default 1 minute.
	MinRefetch time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu        sync.Mutex
	fetched   *jose.JSONWebKeySet
	lastFetch time.Time
}

// Key returns the public key with this kid.
func (k *Keys) Key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	if set, err := ReadJWKS(k.Dir); err == nil {
		if key := byKID(set, kid); key != nil {
			return key, nil
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if key := byKID(k.fetched, kid); key != nil {
		return key, nil
	}
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	wait := k.MinRefetch
	if wait <= 0 {
		wait = time.Minute
	}
	if !k.lastFetch.IsZero() && now().Sub(k.lastFetch) < wait {
		return nil, fmt.Errorf("the platform's key set has no kid %q (fetched %s ago)", kid, now().Sub(k.lastFetch).Round(time.Second))
	}
	hc, err := k.client()
	if err != nil {
		return nil, err
	}
	k.lastFetch = now()
	set, _, err := token.FetchJWKSCacheable(ctx, hc, k.URL, now())
	if err != nil {
		return nil, err
	}
	k.fetched = set
	if key := byKID(set, kid); key != nil {
		return key, nil
	}
	return nil, fmt.Errorf("the platform's key set has no kid %q", kid)
}

func (k *Keys) client() (*http.Client, error) {
	if k.HTTPClient != nil {
		return k.HTTPClient, nil
	}
	o := outbound.Options{}
	if k.CAFile != "" {
		ca, err := os.ReadFile(k.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the platform's CA bundle: %w", err)
		}
		o.CABundle = ca
	}
	hc, err := outbound.NewClient(o)
	if err != nil {
		return nil, err
	}
	k.HTTPClient = hc
	return hc, nil
}

func byKID(set *jose.JSONWebKeySet, kid string) *jose.JSONWebKey {
	if set == nil {
		return nil
	}
	if keys := set.Key(kid); len(keys) > 0 {
		k := keys[0].Public()
		return &k
	}
	return nil
}
