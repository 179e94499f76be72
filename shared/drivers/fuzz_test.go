package drivers

import (
	"net/url"
	"testing"
)

// FuzzRequestURL: whatever path a template or a platform-sent id produces,
// a management request either goes to the management URL's own scheme and
// host, with no user info, or is refused.
func FuzzRequestURL(f *testing.F) {
	for _, seed := range []string{"/management/v1/notification-channels/nc-1", "@evil.example/x", "//evil.example/x",
		"/../../admin", "?x=1", "#frag", ".evil.example/x", ":8443/x", "/%2e%2e/admin", "\\\\evil.example"} {
		f.Add(seed)
	}
	c := Conn{BaseURL: "https://api.platform.example:8443/base"}
	f.Fuzz(func(t *testing.T, path string) {
		target, err := c.url(path)
		if err != nil {
			return
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", target, err)
		}
		if u.Scheme != "https" || u.Host != "api.platform.example:8443" || u.User != nil {
			t.Fatalf("path %q leads to %s://%s (user %v)", path, u.Scheme, u.Host, u.User)
		}
	})
}
