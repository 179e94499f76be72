package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Admin steers a sandbox through its admin API, for a sandbox that runs
// as a process or a pod of its own rather than in the caller's process.
type Admin struct {
	// URL is the sandbox's base URL.
	URL string
	// HTTP trusts the sandbox's CA.
	HTTP *http.Client
}

// onboarding is the body of POST /admin/ingestion-channels.
type onboarding struct {
	ClientID string           `json:"clientId"`
	Channel  IngestionChannel `json:"channel"`
}

// OnboardIngestionChannel does what the platform's onboarding does for a
// customer: the channel exists for clientID before anyone declares it.
func (a Admin) OnboardIngestionChannel(ctx context.Context, clientID string, c IngestionChannel) error {
	return a.do(ctx, http.MethodPost, "/admin/ingestion-channels", onboarding{ClientID: clientID, Channel: c}, nil)
}

// Messages are the ingestion messages the sandbox received.
func (a Admin) Messages(ctx context.Context) ([]Message, error) {
	var out struct {
		Items []Message `json:"items"`
	}
	err := a.do(ctx, http.MethodGet, "/admin/messages", nil, &out)
	return out.Items, err
}

// Notify makes the sandbox deliver an event to every registered channel.
func (a Admin) Notify(ctx context.Context, eventType string, payload any) ([]Delivery, error) {
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	in := map[string]any{"eventType": eventType, "payload": payload}
	err := a.do(ctx, http.MethodPost, "/admin/notify", in, &out)
	return out.Deliveries, err
}

func (a Admin) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.URL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("sandbox %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
