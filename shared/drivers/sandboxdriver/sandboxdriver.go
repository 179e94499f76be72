// Package sandboxdriver manages objects at the Keyport sandbox's management
// API (see package sandbox). Import it for its side effect: it registers the
// driver "sandbox".
package sandboxdriver

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/drivers/restdriver"
)

func init() { drivers.Register(Driver{}) }

// Driver is the sandbox's management API. Its notification channels follow
// the conventional JSON shape, so the generic REST driver with its defaults
// manages them, following the "next" link of each page of the list;
// certificates and ingestion channels are sandbox-specific.
type Driver struct{ restdriver.Driver }

// Name implements drivers.Driver.
func (Driver) Name() string { return "sandbox" }

// ListNotificationChannels implements drivers.NotificationChannels.
func (d Driver) ListNotificationChannels(ctx context.Context, c drivers.Conn) ([]drivers.NotificationChannel, error) {
	c.Parameters = maps.Clone(c.Parameters)
	if c.Parameters == nil {
		c.Parameters = map[string]string{}
	}
	if c.Parameters["channels.pageTokenPath"] == "" && c.Parameters["channels.nextPath"] == "" {
		c.Parameters["channels.nextPath"] = "next"
	}
	return d.Driver.ListNotificationChannels(ctx, c)
}

type registration struct {
	ID         string `json:"id"`
	Thumbprint string `json:"thumbprint"`
}

// RegisterCertificate implements drivers.CertificateRegistrar.
func (Driver) RegisterCertificate(ctx context.Context, c drivers.Conn, certPEM []byte) (string, error) {
	list, err := certs.DecodeCertificatesPEM(certPEM)
	if err != nil {
		return "", err
	}
	want := certs.Thumbprint(list[0])
	var existing struct {
		Items []registration `json:"items"`
	}
	if err := c.Do(ctx, http.MethodGet, "/management/v1/certificates", nil, &existing); err != nil {
		return "", err
	}
	for _, r := range existing.Items {
		if r.Thumbprint == want {
			return r.ID, nil
		}
	}
	body, err := json.Marshal(map[string]string{"pem": string(certPEM)})
	if err != nil {
		return "", err
	}
	var created registration
	if err := c.Do(ctx, http.MethodPost, "/management/v1/certificates", body, &created); err != nil {
		return "", err
	}
	return created.ID, nil
}
