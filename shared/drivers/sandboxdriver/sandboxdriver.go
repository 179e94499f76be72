// Package sandboxdriver manages objects at the Keyport sandbox's management
// API (see package sandbox). Import it for its side effect: it registers the
// driver "sandbox".
package sandboxdriver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/drivers"
)

func init() { drivers.Register(Driver{}) }

// Driver is the sandbox's management API.
type Driver struct{}

// Name implements drivers.Driver.
func (Driver) Name() string { return "sandbox" }

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
	if err := call(ctx, c, http.MethodGet, "/management/v1/certificates", nil, &existing); err != nil {
		return "", err
	}
	for _, r := range existing.Items {
		if r.Thumbprint == want {
			return r.ID, nil
		}
	}
	var created registration
	if err := call(ctx, c, http.MethodPost, "/management/v1/certificates", map[string]string{"pem": string(certPEM)}, &created); err != nil {
		return "", err
	}
	return created.ID, nil
}

// httpError is a refusal by the management API. Its message quotes the
// platform's answer, which never echoes request bodies in the sandbox.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// call sends one management request with the ApiClient's token.
func call(ctx context.Context, c drivers.Conn, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, r)
	if err != nil {
		return err
	}
	for k, v := range c.Token.AllHeaders() {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &httpError{status: resp.StatusCode,
			msg: fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data[:min(len(data), 200)])))}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: unexpected response: %w", method, path, err)
		}
	}
	return nil
}
