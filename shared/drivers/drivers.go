// Package drivers is how Keyport talks to a platform's management API:
// notification channels, ingestion channels, certificate registration. Each
// platform's driver registers itself by name; controllers know only the
// interfaces here, and a driver implements the capabilities its platform
// has.
package drivers

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"

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
