package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/token"
)

// webhookClient reaches webhook receivers and their token endpoints. They
// run on loopback in tests, so loopback is allowed, but link-local stays
// refused and https is required like on the real platform.
func webhookClient(caPEM []byte) (*http.Client, error) {
	return outbound.NewClient(outbound.Options{CABundle: caPEM, Timeout: 10 * time.Second,
		Policy: &outbound.Policy{Allow: outbound.Loopback()}})
}

// Notify delivers an event to every channel subscribed to its type, as the
// platform's notification service does, and returns the deliveries made.
func (s *Sandbox) Notify(ctx context.Context, eventType string, payload any) []Delivery {
	body, _ := json.Marshal(map[string]any{"eventType": eventType, "payload": payload, "time": time.Now().UTC()})
	var targets []NotificationChannel
	for _, c := range s.NotificationChannels() {
		if len(c.EventTypes) == 0 || slices.Contains(c.EventTypes, eventType) {
			targets = append(targets, c)
		}
	}
	var out []Delivery
	for _, c := range targets {
		d := Delivery{ChannelID: c.ID, EventType: eventType, Time: time.Now()}
		status, err := s.deliver(ctx, c, body)
		d.Status = status
		if err != nil {
			d.Error = err.Error()
		}
		out = append(out, d)
	}
	s.store.mu.Lock()
	s.store.deliveries = append(s.store.deliveries, out...)
	s.store.mu.Unlock()
	return out
}

// deliver POSTs one notification with the channel's authentication.
func (s *Sandbox) deliver(ctx context.Context, c NotificationChannel, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, c.Method, c.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	if a := c.Authentication; a.Type == "OAuth2ClientCredentials" || a.Type == "OAuth2Password" {
		tr := token.Request{URL: a.TokenURL, GrantType: token.GrantClientCredentials, ClientAuth: token.ClientSecretPost,
			ClientID: a.ClientID, ClientSecret: a.ClientSecret, Scopes: a.Scopes, DefaultLifetime: 5 * time.Minute}
		if a.Type == "OAuth2Password" {
			tr.GrantType, tr.Username, tr.Password = token.GrantPassword, a.Username, a.Password
		}
		tok, err := token.Fetch(ctx, s.webhooks, tr)
		if err != nil {
			return 0, fmt.Errorf("get a token from the receiver: %w", err)
		}
		req.Header.Set("Authorization", tok.Authorization())
	}
	resp, err := s.webhooks.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
