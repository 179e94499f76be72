// Package restdriver is the generic REST driver ("generic-rest"): it
// manages notification channels, registers client certificates and checks
// ingestion channels at a platform Keyport has no code for, configured
// entirely by the PlatformReference's parameters. The Keyport sandbox is
// driven the same way (its test support says with which parameters).
// Import it for its side effect: it registers the driver.
//
// Parameters are all optional; the defaults fit a conventional JSON API
// under /management/v1, one page per list.
//
// Notification channels:
//
//	channels.path        collection path, e.g. /api/v1/webhooks
//	                      (default /management/v1/notification-channels)
//	channels.itemPath    item path template (default {{.Path}}/{{.ID}})
//	channels.createMethod / channels.updateMethod   (default POST / PUT)
//	channels.body        Go template of the create and update body; it sees
//	                      the channel as .Channel and a json function that
//	                      encodes a value (default: the canonical JSON below)
//	channels.idPath      dotted JSON path of the id in the create response
//	                      and in each listed item (default id)
//	channels.itemsPath   dotted JSON path of the array in the list response
//	                      (default items)
//	channels.nextPath    dotted JSON path of the link to the next page in a
//	                      list response: next, links.next (JSON:API),
//	                      _links.next.href (HAL); an absolute URL or one
//	                      relative to the page, under the management URL
//	channels.pageTokenPath and channels.pageTokenParam
//	                      dotted JSON path of a continuation token in a list
//	                      response and the query parameter that sends it back
//	                      (nextPageToken and pageToken, say)
//	field.<name>         dotted JSON path of a channel field in responses,
//	                      for name, webhookURL, method, channelType, headers,
//	                      eventTypes, auth.type, auth.tokenURL, auth.clientID,
//	                      auth.clientSecret, auth.username, auth.password,
//	                      auth.scopes, auth.headers (defaults: canonical)
//
// Client certificates (an M2MCertificate's registration). The driver lists
// the registrations and returns the id of the one whose thumbprint is the
// leaf's; only when there is none does it register the certificate:
//
//	certificates.path    collection path (default /management/v1/certificates)
//	certificates.createMethod   (default POST)
//	certificates.body    Go template of the registration body; it sees the
//	                      chain, leaf first, as .PEM, the leaf's SHA-1
//	                      thumbprint (upper-case hex) as .Thumbprint, and
//	                      json (default {"pem":{{json .PEM}}})
//	certificates.idPath  dotted JSON path of the id in the registration
//	                      response and in each listed item (default id)
//	certificates.thumbprintPath   dotted JSON path of the SHA-1 thumbprint
//	                      in each listed item, compared regardless of case
//	                      and colons (default thumbprint)
//	certificates.itemsPath, certificates.nextPath,
//	certificates.pageTokenPath, certificates.pageTokenParam
//	                      the list, as for channels (default items, one page)
//
// Ingestion channels (an IngestionChannel's verification), read with a GET
// of the item:
//
//	ingestionChannels.path      collection path
//	                             (default /management/v1/ingestion-channels)
//	ingestionChannels.itemPath  item path template (default {{.Path}}/{{.ID}})
//	ingestionChannels.idPath, ingestionChannels.customerPath,
//	ingestionChannels.messageTypePath, ingestionChannels.mediaTypePath
//	                             dotted JSON paths of the fields in the answer
//	                             (default id, customer, messageType, mediaType);
//	                             a field that is absent is not checked
//
// Without a nextPath or pageTokenPath a list is one page. With either,
// pages are read until one has no link or token, up to maxPages: a longer
// list is an error rather than a short one, since adopting a registration
// needs all of them. Every path, link and id stays under the management
// URL (see drivers.Conn); ids are path-escaped into item paths.
//
// The templates run under the bounds of shared/safetemplate (at most 8192
// characters, printf widths and precisions at most 64, a budget of work per
// render), and their errors say where they failed, never a value.
//
// The canonical JSON is {"name", "channelType", "method", "webhookURL",
// "headers", "eventTypes", "authentication": {"type", "tokenURL",
// "clientID", "clientSecret", "username", "password", "scopes", "headers"}}.
package restdriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/safetemplate"
)

func init() { drivers.Register(Driver{}) }

// Driver is the generic REST driver.
type Driver struct{}

// Name implements drivers.Driver.
func (Driver) Name() string { return "generic-rest" }

// defaultBody renders the canonical JSON.
const defaultBody = `{"name":{{json .Channel.Name}},"channelType":{{json .Channel.ChannelType}},"method":{{json .Channel.Method}},` +
	`"webhookURL":{{json .Channel.WebhookURL}},"headers":{{json .Channel.Headers}},"eventTypes":{{json .Channel.EventTypes}},` +
	`"authentication":{"type":{{json .Channel.Auth.Type}},"tokenURL":{{json .Channel.Auth.TokenURL}},"clientID":{{json .Channel.Auth.ClientID}},` +
	`"clientSecret":{{json .Channel.Auth.ClientSecret}},"username":{{json .Channel.Auth.Username}},"password":{{json .Channel.Auth.Password}},` +
	`"scopes":{{json .Channel.Auth.Scopes}},"headers":{{json .Channel.Auth.Headers}}}}`

var defaultFields = map[string]string{
	"name": "name", "webhookURL": "webhookURL", "method": "method", "channelType": "channelType",
	"headers": "headers", "eventTypes": "eventTypes", "auth.type": "authentication.type",
	"auth.tokenURL": "authentication.tokenURL", "auth.clientID": "authentication.clientID",
	"auth.clientSecret": "authentication.clientSecret", "auth.username": "authentication.username",
	"auth.password": "authentication.password", "auth.scopes": "authentication.scopes",
	"auth.headers": "authentication.headers",
}

// config is the driver's reading of the parameters.
type config struct {
	path, createMethod, updateMethod, idPath string
	list                                     pager
	body, itemPath                           *safetemplate.Template
	fields                                   map[string]string
}

func configure(params map[string]string) (*config, error) {
	get := func(k, def string) string { return param(params, k, def) }
	path, err := collectionPath(params, "channels", "/management/v1/notification-channels")
	if err != nil {
		return nil, err
	}
	list, err := newPager(params, "channels", path)
	if err != nil {
		return nil, err
	}
	c := &config{
		path:         path,
		createMethod: get("channels.createMethod", http.MethodPost),
		updateMethod: get("channels.updateMethod", http.MethodPut),
		idPath:       get("channels.idPath", "id"),
		list:         list,
		fields:       map[string]string{},
	}
	for k, v := range defaultFields {
		c.fields[k] = get("field."+k, v)
	}
	body, err := safetemplate.Parse("body", get("channels.body", defaultBody), map[string]safetemplate.Func{"json": jsonString})
	if err != nil {
		return nil, fmt.Errorf("parameter channels.body is not a valid template: %w", err)
	}
	c.body = body
	if c.itemPath, err = parseItemPath(params, "channels"); err != nil {
		return nil, err
	}
	return c, nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// maxRendered bounds a rendered path or body.
const maxRendered = 256 << 10

// item is the path of one channel.
func (c *config) item(id string) (string, error) {
	return renderItem(c.itemPath, "channels", c.path, id)
}

func (c *config) render(ch drivers.NotificationChannel) ([]byte, error) {
	return renderBody(c.body, "channels", map[string]any{"Channel": ch})
}

// ListNotificationChannels implements drivers.NotificationChannels.
func (Driver) ListNotificationChannels(ctx context.Context, conn drivers.Conn) ([]drivers.NotificationChannel, error) {
	c, err := configure(conn.Parameters)
	if err != nil {
		return nil, err
	}
	var out []drivers.NotificationChannel
	err = c.list.each(ctx, conn, func(item any) bool {
		out = append(out, c.decode(item))
		return false
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetNotificationChannel implements drivers.NotificationChannels.
func (Driver) GetNotificationChannel(ctx context.Context, conn drivers.Conn, id string) (*drivers.NotificationChannel, error) {
	c, err := configure(conn.Parameters)
	if err != nil {
		return nil, err
	}
	path, err := c.item(id)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := conn.Do(ctx, http.MethodGet, path, nil, &doc); err != nil {
		return nil, err
	}
	ch := c.decode(doc)
	ch.ID = id
	return &ch, nil
}

// CreateNotificationChannel implements drivers.NotificationChannels.
func (Driver) CreateNotificationChannel(ctx context.Context, conn drivers.Conn, ch drivers.NotificationChannel) (string, error) {
	c, err := configure(conn.Parameters)
	if err != nil {
		return "", err
	}
	body, err := c.render(ch)
	if err != nil {
		return "", err
	}
	return create(ctx, conn, c.createMethod, c.path, body, "channels", c.idPath)
}

// UpdateNotificationChannel implements drivers.NotificationChannels.
func (Driver) UpdateNotificationChannel(ctx context.Context, conn drivers.Conn, ch drivers.NotificationChannel) error {
	c, err := configure(conn.Parameters)
	if err != nil {
		return err
	}
	body, err := c.render(ch)
	if err != nil {
		return err
	}
	path, err := c.item(ch.ID)
	if err != nil {
		return err
	}
	return conn.Do(ctx, c.updateMethod, path, body, nil)
}

// DeleteNotificationChannel implements drivers.NotificationChannels.
func (Driver) DeleteNotificationChannel(ctx context.Context, conn drivers.Conn, id string) error {
	c, err := configure(conn.Parameters)
	if err != nil {
		return err
	}
	path, err := c.item(id)
	if err != nil {
		return err
	}
	if err := conn.Do(ctx, http.MethodDelete, path, nil, nil); err != nil && !errors.Is(err, drivers.ErrNotFound) {
		return err
	}
	return nil
}

// decode reads a channel from a response object through the field paths.
func (c *config) decode(doc any) drivers.NotificationChannel {
	f := func(name string) any { return lookup(doc, c.fields[name]) }
	return drivers.NotificationChannel{
		ID:          asString(lookup(doc, c.idPath)),
		Name:        asString(f("name")),
		ChannelType: asString(f("channelType")),
		Method:      asString(f("method")),
		WebhookURL:  asString(f("webhookURL")),
		Headers:     asMap(f("headers")),
		EventTypes:  asStrings(f("eventTypes")),
		Auth: drivers.WebhookAuth{
			Type: asString(f("auth.type")), TokenURL: asString(f("auth.tokenURL")), ClientID: asString(f("auth.clientID")),
			ClientSecret: asString(f("auth.clientSecret")), Username: asString(f("auth.username")), Password: asString(f("auth.password")),
			Scopes: asStrings(f("auth.scopes")), Headers: asMap(f("auth.headers")),
		},
	}
}

// lookup follows a dotted path through decoded JSON; nil when absent.
func lookup(doc any, path string) any {
	if path == "" || path == "." {
		return doc
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[part]
	}
	return doc
}

func asString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return fmt.Sprint(t)
	}
	return ""
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		out = append(out, asString(x))
	}
	return out
}

func asMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		out[k] = asString(x)
	}
	return out
}
