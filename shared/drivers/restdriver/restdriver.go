// Package restdriver is the generic REST driver ("generic-rest"): it manages
// notification channels at a platform Keyport has no code for, configured
// entirely by the PlatformReference's parameters. Import it for its side
// effect: it registers the driver.
//
// Parameters (all optional; the defaults fit a conventional JSON API, the
// Keyport sandbox among them with channels.nextPath=next):
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
// Without channels.nextPath or channels.pageTokenPath a list is one page.
// With either, pages are read until one has no link or token, up to
// maxPages: a longer list is an error rather than a short one, since
// adopting a registration needs all of them.
//
// Both templates run under the bounds of shared/safetemplate (at most 8192
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
	"net/url"
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
	path, createMethod, updateMethod, idPath, itemsPath string
	nextPath, pageTokenPath, pageTokenParam             string
	body, itemPath                                      *safetemplate.Template
	fields                                              map[string]string
}

func configure(params map[string]string) (*config, error) {
	get := func(k, def string) string {
		if v := params[k]; v != "" {
			return v
		}
		return def
	}
	c := &config{
		path:           strings.TrimSuffix(get("channels.path", "/management/v1/notification-channels"), "/"),
		createMethod:   get("channels.createMethod", http.MethodPost),
		updateMethod:   get("channels.updateMethod", http.MethodPut),
		idPath:         get("channels.idPath", "id"),
		itemsPath:      get("channels.itemsPath", "items"),
		nextPath:       params["channels.nextPath"],
		pageTokenPath:  params["channels.pageTokenPath"],
		pageTokenParam: params["channels.pageTokenParam"],
		fields:         map[string]string{},
	}
	switch {
	case (c.pageTokenPath == "") != (c.pageTokenParam == ""):
		return nil, errors.New("parameters channels.pageTokenPath and channels.pageTokenParam go together")
	case c.nextPath != "" && c.pageTokenPath != "":
		return nil, errors.New("set channels.nextPath or channels.pageTokenPath, not both")
	}
	// The item path is built from this one; a query or fragment here would
	// swallow the id that follows it.
	if c.path != "" && (!strings.HasPrefix(c.path, "/") || strings.ContainsAny(c.path, "?#")) {
		return nil, fmt.Errorf("parameter channels.path must be an absolute path such as /api/v1/webhooks, without ? or #, got %q", c.path)
	}
	for k, v := range defaultFields {
		c.fields[k] = get("field."+k, v)
	}
	body, err := safetemplate.Parse("body", get("channels.body", defaultBody), map[string]safetemplate.Func{"json": jsonString})
	if err != nil {
		return nil, fmt.Errorf("parameter channels.body is not a valid template: %w", err)
	}
	c.body = body
	itemPath, err := safetemplate.Parse("item", get("channels.itemPath", "{{.Path}}/{{.ID}}"), nil)
	if err != nil {
		return nil, fmt.Errorf("parameter channels.itemPath is not a valid template: %w", err)
	}
	c.itemPath = itemPath
	return c, nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// maxRendered bounds a rendered path or body.
const maxRendered = 256 << 10

// item is the path of one channel. The id comes from the platform, so it is
// path-escaped: an id like "../admin" or "x?y" stays one path segment.
func (c *config) item(id string) (string, error) {
	b, err := safetemplate.Execute(c.itemPath, map[string]string{"Path": c.path, "ID": url.PathEscape(id)}, maxRendered)
	if err != nil {
		return "", fmt.Errorf("render channels.itemPath: %w", err)
	}
	return string(b), nil
}

func (c *config) render(ch drivers.NotificationChannel) ([]byte, error) {
	b, err := safetemplate.Execute(c.body, map[string]any{"Channel": ch}, maxRendered)
	if err != nil {
		return nil, fmt.Errorf("render channels.body: %w", err)
	}
	if !json.Valid(b) {
		return nil, errors.New("channels.body does not render to valid JSON")
	}
	return b, nil
}

// maxPages bounds a list: a platform that keeps answering with another
// page cannot hold a worker forever.
const maxPages = 100

// ListNotificationChannels implements drivers.NotificationChannels.
func (Driver) ListNotificationChannels(ctx context.Context, conn drivers.Conn) ([]drivers.NotificationChannel, error) {
	c, err := configure(conn.Parameters)
	if err != nil {
		return nil, err
	}
	var out []drivers.NotificationChannel
	for page, path := 0, c.path; path != ""; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("the channel list goes on for more than %d pages", maxPages)
		}
		var doc any
		if err := conn.Do(ctx, http.MethodGet, path, nil, &doc); err != nil {
			return nil, err
		}
		items, _ := lookup(doc, c.itemsPath).([]any)
		for _, it := range items {
			out = append(out, c.decode(it))
		}
		if path, err = c.next(conn.BaseURL, path, doc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// next is the path of the page after the one read from path, or "" after
// the last page.
func (c *config) next(base, path string, doc any) (string, error) {
	if c.pageTokenPath != "" {
		token := asString(lookup(doc, c.pageTokenPath))
		if token == "" {
			return "", nil
		}
		return c.path + "?" + url.Values{c.pageTokenParam: {token}}.Encode(), nil
	}
	link := asString(lookup(doc, c.nextPath))
	if c.nextPath == "" || link == "" {
		return "", nil
	}
	// The link is resolved as a browser would, from the page it is on; the
	// request will carry the platform token, so it must stay under the
	// management URL. The error does not quote it: it is the platform's.
	root := strings.TrimSuffix(base, "/")
	from, err := url.Parse(root + path)
	if err != nil {
		return "", err
	}
	u, err := from.Parse(link)
	if err != nil {
		return "", errors.New("the link to the next page of channels is not a URL")
	}
	u.Fragment = ""
	rest, ok := strings.CutPrefix(u.String(), root)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", errors.New("the link to the next page of channels leads outside the management URL")
	}
	return rest, nil
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
	var doc any
	if err := conn.Do(ctx, c.createMethod, c.path, body, &doc); err != nil {
		return "", err
	}
	id := asString(lookup(doc, c.idPath))
	if id == "" {
		return "", fmt.Errorf("the create response has no id at %q (set channels.idPath)", c.idPath)
	}
	return id, nil
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
