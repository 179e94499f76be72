package apiclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// revokedOnReissue calls the probe URL with the previous and the new token.
// It reports true only when the previous token is refused while the new one
// is accepted: a probe that refuses both says nothing about revocation.
func revokedOnReissue(ctx context.Context, hc *http.Client, url string, previous, current tokensecret.Token) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	oldStatus, err := probe(ctx, hc, url, previous)
	if err != nil {
		return false, err
	}
	if oldStatus != http.StatusUnauthorized && oldStatus != http.StatusForbidden {
		return false, nil
	}
	newStatus, err := probe(ctx, hc, url, current)
	if err != nil {
		return false, err
	}
	if newStatus < 200 || newStatus > 299 {
		return false, fmt.Errorf("the revocation probe refuses the new token too (HTTP %d); check revocationProbe.url", newStatus)
	}
	return true, nil
}

func probe(ctx context.Context, hc *http.Client, url string, t tokensecret.Token) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("revocation probe: %w", err)
	}
	for k, v := range t.AllHeaders() {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("revocation probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
