package restdriver

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyport-dev/keyport/shared/drivers"
)

// FuzzTemplates feeds the driver's user-written templates (channels.body,
// channels.itemPath) and platform-sent ids through the driver. It must
// never panic; a rendered body is valid, bounded JSON; an id never adds a
// path segment or a query.
func FuzzTemplates(f *testing.F) {
	f.Add(defaultBody, "{{.Path}}/{{.ID}}", "nc-1", "visits")
	f.Add(`{"n":{{json .Channel.Name}},"e":{{json .Channel.EventTypes}}}`, "{{.Path}}/{{.ID}}/", "../admin?x=1#y", "a\"b")
	f.Add(`{{ range .Channel.EventTypes }}{{ . }}{{ end }}`, "{{.ID}}", "@evil.example", "")
	f.Add(`{{ range 99999999999 }}x{{ end }}`, "{{.Path}}", "x", "y")
	f.Add(`{{ define "r" }}{{ .Channel.Name }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, "{{ .Nope }}", "", "loop")
	f.Fuzz(func(t *testing.T, body, itemPath, id, name string) {
		c, err := configure(map[string]string{"channels.body": body, "channels.itemPath": itemPath})
		if err != nil {
			return
		}
		if out, err := c.render(drivers.NotificationChannel{Name: name, EventTypes: []string{"A", "B"}}); err == nil {
			if !json.Valid(out) || len(out) > maxRendered {
				t.Fatalf("rendered %d bytes that are not bounded valid JSON", len(out))
			}
		}
		path, err := c.item(id)
		if err != nil {
			return
		}
		if itemPath == "{{.Path}}/{{.ID}}" && (strings.Count(path, "/") != strings.Count(c.path, "/")+1 || strings.ContainsAny(path, "?#")) {
			t.Fatalf("id %q changed the shape of the path: %q", id, path)
		}
	})
}
