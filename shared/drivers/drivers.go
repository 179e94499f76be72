// Package drivers is how Keyport talks to a platform's management API:
// notification channels, ingestion channels, certificate registration. Each
// platform's driver registers itself by name; controllers know only the
// interfaces here, and a driver implements the capabilities its platform
// has.
package drivers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/keyport-dev/keyport/shared/redact"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// Conn is what a driver call needs: where the management API is, an HTTP
// client that applies Keyport's outbound rules, the current token of the
// ApiClient that authenticates the call, and driver parameters.
type Conn struct {
	BaseURL    string
	HTTP       *http.Client
	Token      tokensecret.Token
	Parameters map[string]string
}

// url joins the base URL and a path, and refuses a result that would leave
// the platform's scheme and host: the request carries the platform token,
// and paths are built from templates and ids the platform sent.
func (c Conn) url(path string) (string, error) {
	base, err := url.Parse(c.BaseURL)
	if err != nil {
		return "", fmt.Errorf("the management URL is not a URL: %w", err)
	}
	joined := strings.TrimSuffix(c.BaseURL, "/") + path
	u, err := url.Parse(joined)
	if err != nil {
		return "", fmt.Errorf("the request path %q does not make a URL: %w", path, err)
	}
	if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
		return "", fmt.Errorf("refusing a request to %s://%s: it is outside the management URL's %s://%s", u.Scheme, u.Host, base.Scheme, base.Host)
	}
	return joined, nil
}

// Do sends one JSON request to the management API with the ApiClient's
// headers and decodes a JSON answer into out (when out is not nil). A 404
// is ErrNotFound. Errors quote no body: the management URL is a tenant's to
// choose and may point at a service whose answers are not the tenant's to
// read. A refusal says its status and, from a JSON error answer, the
// platform's structured error fields, redacted and short.
func (c Conn) Do(ctx context.Context, method, path string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	target, err := c.url(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return err
	}
	for k, v := range c.Token.AllHeaders() {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the response: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("%s %s: HTTP %d %s%s", method, path, resp.StatusCode, http.StatusText(resp.StatusCode),
			platformReason(data, c.secrets(body)))
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) && typeErr.Field != "" {
				// Field is the driver's own name and Value a JSON type.
				return fmt.Errorf("%s %s: the response's %s is a JSON %s, not what the driver expects", method, path, typeErr.Field, typeErr.Value)
			}
			return fmt.Errorf("%s %s: the response (%d bytes) is not the JSON the driver expects", method, path, len(data))
		}
	}
	return nil
}

// platformReason is ": " and the structured error fields of a JSON error
// answer (RFC 6749 error and error_description, RFC 9457 title and detail,
// the common message), redacted and short; "" for any other answer.
func platformReason(data []byte, secrets []string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return ""
	}
	var parts []string
	for _, name := range []string{"error", "error_description", "title", "detail", "message"} {
		var v string
		if json.Unmarshal(fields[name], &v) == nil && v != "" && !slices.Contains(parts, v) {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + redact.Clip(strings.Join(parts, ": "), 200, secrets...)
}

// secrets are what a platform may echo that is not the tenant's to read
// back: the token and headers of the call, and the strings of the request
// body (generated webhook credentials among them; short ones such as a
// method name are left, they would only blot out words).
func (c Conn) secrets(body []byte) []string {
	out := []string{c.Token.AccessToken}
	for _, v := range c.Token.Headers {
		out = append(out, v)
	}
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		out = appendStrings(out, doc)
	}
	return out
}

func appendStrings(out []string, v any) []string {
	switch v := v.(type) {
	case string:
		if len(v) >= 8 {
			out = append(out, v)
		}
	case []any:
		for _, e := range v {
			out = appendStrings(out, e)
		}
	case map[string]any:
		for _, e := range v {
			out = appendStrings(out, e)
		}
	}
	return out
}

// Driver is a platform's management API.
type Driver interface {
	// Name under which the driver is registered, as used in specs.
	Name() string
}

// CertificateRegistrar is implemented by drivers of platforms that accept
// client certificates through an API.
type CertificateRegistrar interface {
	// RegisterCertificate registers a client certificate (PEM, leaf first)
	// and returns the platform's id for it. Registering a certificate that
	// is already registered returns its existing id.
	RegisterCertificate(ctx context.Context, c Conn, certPEM []byte) (string, error)
}

var (
	mu       sync.RWMutex
	registry = map[string]Driver{}
)

// Register adds a driver; a second driver with the same name panics, since
// that is a programming error found at start-up.
func Register(d Driver) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[d.Name()]; dup {
		panic(fmt.Sprintf("drivers: %q registered twice", d.Name()))
	}
	registry[d.Name()] = d
}

// Get returns the driver registered under name.
func Get(name string) (Driver, error) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("no driver named %q (known: %v)", name, namesLocked())
	}
	return d, nil
}

func namesLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrNotFound is returned by drivers for objects the platform does not have.
var ErrNotFound = errors.New("not found at the platform")

// NotificationChannel is a webhook registration as drivers exchange it. The
// authentication carries secrets: drivers send them to the platform and
// nowhere else.
type NotificationChannel struct {
	ID          string
	Name        string
	ChannelType string
	Method      string
	WebhookURL  string
	Headers     map[string]string
	EventTypes  []string
	Auth        WebhookAuth
}

// WebhookAuth is how the platform authenticates to the webhook: None (with
// an optional static Authorization header), OAuth2ClientCredentials or
// OAuth2Password.
type WebhookAuth struct {
	Type         string
	TokenURL     string
	ClientID     string
	ClientSecret string
	Username     string
	Password     string
	Scopes       []string
	Headers      map[string]string
}

// NotificationChannels is implemented by drivers of platforms that manage
// webhook registrations through an API.
type NotificationChannels interface {
	ListNotificationChannels(ctx context.Context, c Conn) ([]NotificationChannel, error)
	// GetNotificationChannel returns ErrNotFound when the id is unknown.
	GetNotificationChannel(ctx context.Context, c Conn, id string) (*NotificationChannel, error)
	CreateNotificationChannel(ctx context.Context, c Conn, ch NotificationChannel) (string, error)
	UpdateNotificationChannel(ctx context.Context, c Conn, ch NotificationChannel) error
	// DeleteNotificationChannel treats an unknown id as already deleted.
	DeleteNotificationChannel(ctx context.Context, c Conn, id string) error
}

// IngestionChannel is a customer's ingestion channel at the platform.
type IngestionChannel struct {
	ID          string
	Customer    string
	MessageType string
	MediaType   string
}

// IngestionChannels is implemented by drivers that can look channels up.
type IngestionChannels interface {
	// GetIngestionChannel returns ErrNotFound when the id is unknown.
	GetIngestionChannel(ctx context.Context, c Conn, id string) (*IngestionChannel, error)
}
