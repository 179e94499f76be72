package restdriver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyport-dev/keyport/shared/drivers"
	"github.com/keyport-dev/keyport/shared/safetemplate"
)

// What the driver's collections (channels, certificates, ingestion
// channels) have in common: a collection path, an item path template, and
// a list that may come in pages. Each reads its parameters under its own
// prefix, so one platform can page its webhooks and not its certificates.

// param is the parameter k, or def when it is not set.
func param(params map[string]string, k, def string) string {
	if v := params[k]; v != "" {
		return v
	}
	return def
}

// renderBody renders the <prefix>.body template, which must make JSON.
func renderBody(t *safetemplate.Template, prefix string, data any) ([]byte, error) {
	b, err := safetemplate.Execute(t, data, maxRendered)
	if err != nil {
		return nil, fmt.Errorf("render %s.body: %w", prefix, err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s.body does not render to valid JSON", prefix)
	}
	return b, nil
}

// collectionPath reads <prefix>.path. The item path is built from it; a
// query or fragment here would swallow the id that follows it.
func collectionPath(params map[string]string, prefix, def string) (string, error) {
	path := strings.TrimSuffix(param(params, prefix+".path", def), "/")
	if path != "" && (!strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#")) {
		return "", fmt.Errorf("parameter %s.path must be an absolute path such as /api/v1/webhooks, without ? or #, got %q", prefix, path)
	}
	return path, nil
}

// parseItemPath reads the <prefix>.itemPath template.
func parseItemPath(params map[string]string, prefix string) (*safetemplate.Template, error) {
	t, err := safetemplate.Parse("item", param(params, prefix+".itemPath", "{{.Path}}/{{.ID}}"), nil)
	if err != nil {
		return nil, fmt.Errorf("parameter %s.itemPath is not a valid template: %w", prefix, err)
	}
	return t, nil
}

// renderItem is the path of one item of a collection. The id comes from
// the platform or the tenant, so it is path-escaped: an id like "../admin"
// or "x?y" stays one path segment.
func renderItem(t *safetemplate.Template, prefix, path, id string) (string, error) {
	b, err := safetemplate.Execute(t, map[string]string{"Path": path, "ID": url.PathEscape(id)}, maxRendered)
	if err != nil {
		return "", fmt.Errorf("render %s.itemPath: %w", prefix, err)
	}
	return string(b), nil
}

// maxPages bounds a list: a platform that keeps answering with another
// page cannot hold a worker forever.
const maxPages = 100

// pager reads a list that may come in pages.
type pager struct {
	prefix, path                            string
	itemsPath                               string
	nextPath, pageTokenPath, pageTokenParam string
}

func newPager(params map[string]string, prefix, path string) (pager, error) {
	p := pager{
		prefix: prefix, path: path, itemsPath: param(params, prefix+".itemsPath", "items"),
		nextPath: params[prefix+".nextPath"], pageTokenPath: params[prefix+".pageTokenPath"], pageTokenParam: params[prefix+".pageTokenParam"],
	}
	switch {
	case (p.pageTokenPath == "") != (p.pageTokenParam == ""):
		return p, fmt.Errorf("parameters %[1]s.pageTokenPath and %[1]s.pageTokenParam go together", prefix)
	case p.nextPath != "" && p.pageTokenPath != "":
		return p, fmt.Errorf("set %[1]s.nextPath or %[1]s.pageTokenPath, not both", prefix)
	}
	return p, nil
}

// each calls fn with every item of the list, page by page, until fn
// returns true or the last page is read. A list longer than maxPages is an
// error rather than a short one: adopting a registration, or finding a
// certificate already registered, needs all of them.
func (p pager) each(ctx context.Context, conn drivers.Conn, fn func(item any) (stop bool)) error {
	for page, path := 0, p.path; path != ""; page++ {
		if page == maxPages {
			return fmt.Errorf("the %s list goes on for more than %d pages", p.prefix, maxPages)
		}
		var doc any
		if err := conn.Do(ctx, http.MethodGet, path, nil, &doc); err != nil {
			return err
		}
		items, _ := lookup(doc, p.itemsPath).([]any)
		for _, it := range items {
			if fn(it) {
				return nil
			}
		}
		var err error
		if path, err = p.next(conn.BaseURL, path, doc); err != nil {
			return err
		}
	}
	return nil
}

// next is the path of the page after the one read from path, or "" after
// the last page.
func (p pager) next(base, path string, doc any) (string, error) {
	if p.pageTokenPath != "" {
		token := asString(lookup(doc, p.pageTokenPath))
		if token == "" {
			return "", nil
		}
		return p.path + "?" + url.Values{p.pageTokenParam: {token}}.Encode(), nil
	}
	link := asString(lookup(doc, p.nextPath))
	if p.nextPath == "" || link == "" {
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
		return "", fmt.Errorf("the link to the next page of %s is not a URL", p.prefix)
	}
	u.Fragment = ""
	rest, ok := strings.CutPrefix(u.String(), root)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", fmt.Errorf("the link to the next page of %s leads outside the management URL", p.prefix)
	}
	return rest, nil
}

// create sends a create request to a collection and returns the id at
// idPath in the answer.
func create(ctx context.Context, conn drivers.Conn, method, path string, body []byte, prefix, idPath string) (string, error) {
	var doc any
	if err := conn.Do(ctx, method, path, body, &doc); err != nil {
		return "", err
	}
	id := asString(lookup(doc, idPath))
	if id == "" {
		return "", fmt.Errorf("the create response has no id at %q (set %s.idPath)", idPath, prefix)
	}
	return id, nil
}
