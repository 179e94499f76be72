// Package testenv starts a real Kubernetes control plane for tests: a
// kube-apiserver and etcd through controller-runtime's envtest, with
// Keyport's CRDs and cert-manager's CRDs installed.
//
// One control plane serves all tests of a package (start it in TestMain with
// Main), and each test takes a fresh namespace with Env.Namespace, so tests do
// not see each other's objects. envtest runs no controller-manager: there is
// no garbage collection and namespaces never finish terminating, so tests
// assert owner references instead of waiting for deletion cascades.
//
// # Binaries
//
// There is no download host for envtest binaries in Keyport's build
// environments; `make testbin` compiles kube-apiserver and etcd from the Go
// module proxy into bin/testbin. The binaries are looked up in this order:
//
//  1. TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD, paths to each binary;
//  2. KUBEBUILDER_ASSETS, a folder holding both;
//  3. bin/testbin in the repository.
//
// Binary downloads are never attempted. Set KEYPORT_TESTENV_VERBOSE=1 to see
// the control plane's own output.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a client with Scheme.
	Client client.Client
	// Scheme knows client-go's, Keyport's and cert-manager's types.
	Scheme *runtime.Scheme

	env *envtest.Environment
}

// NewScheme returns a scheme with every type Keyport works with.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		keyportv1.AddToScheme,
		certmanagerv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Options shape a control plane.
type Options struct {
	// DataDir keeps etcd's data there instead of in a temporary folder that
	// Stop removes (the demo keeps its cluster state under .demo/).
	DataDir string
}

// Start starts kube-apiserver and etcd and installs the CRDs.
func Start() (*Env, error) {
	return StartWith(Options{})
}

// StartWith starts a control plane shaped by o.
func StartWith(o Options) (*Env, error) {
	root := RepoRoot()
	certManagerCRDs, err := certManagerCRDDir(root)
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	if err := useBinaries(root); err != nil {
		return nil, err
	}
	e := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases"), certManagerCRDs},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	if o.DataDir != "" {
		e.ControlPlane.Etcd = &envtest.Etcd{DataDir: o.DataDir}
	}
	if os.Getenv("KEYPORT_TESTENV_VERBOSE") == "1" {
		e.AttachControlPlaneOutput = true
	}
	cfg, err := e.Start()
	if err != nil {
		// Start may fail after the processes are up (installing a CRD, say);
		// stop them so no test run leaves a control plane behind.
		_ = e.Stop()
		return nil, fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, env: e}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	return e.env.Stop()
}

// Main runs a package's tests against one control plane: call it from
// TestMain. It sets *env before the tests run.
func Main(m *testing.M, env **Env) {
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stop:", err)
	}
	os.Exit(code)
}

// Namespace creates a fresh namespace for one test and returns its name.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "test-" + hex.EncodeToString(suffix)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// Kubeconfig writes a kubeconfig for the control plane into dir and returns
// its path, for tools that take one (kubectl, terraform, the operator).
func (e *Env) Kubeconfig(dir string) (string, error) {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "keyport-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// RestartEtcd stops etcd and starts it again on the same address with the
// same data, as a crash and restart of the datastore would. The API server
// keeps running and answers with errors in between.
func (e *Env) RestartEtcd(down time.Duration) error {
	etcd := e.env.ControlPlane.Etcd
	if etcd.DataDir == "" {
		return fmt.Errorf("RestartEtcd needs a control plane started with Options.DataDir, or the data would be lost")
	}
	if err := etcd.Stop(); err != nil {
		return fmt.Errorf("stop etcd: %w", err)
	}
	time.Sleep(down)
	if err := etcd.Start(); err != nil {
		return fmt.Errorf("start etcd again: %w", err)
	}
	return nil
}

// FreeAddr is a loopback address with a port nobody listens on right now,
// for a server a test or the demo starts (metrics, probes).
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// UserConfig returns a rest.Config for a user with no rights of its own:
// tests bind roles to it to run code with exactly those permissions.
func (e *Env) UserConfig(name string, groups ...string) (*rest.Config, error) {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, err
	}
	return user.Config(), nil
}

var (
	rootOnce sync.Once
	rootDir  string
)

// RepoRoot is the folder holding Keyport's go.mod, found from this source
// file so that it works from any package's tests. KEYPORT_TESTENV_ROOT
// names another folder with the same config/crd/bases, for a test binary
// run away from the checkout (make bench-kit).
func RepoRoot() string {
	rootOnce.Do(func() {
		if dir := os.Getenv("KEYPORT_TESTENV_ROOT"); dir != "" {
			rootDir = dir
			return
		}
		_, file, _, _ := goruntime.Caller(0)
		dir := filepath.Dir(file)
		for dir != filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			dir = filepath.Dir(dir)
		}
		rootDir = "."
	})
	return rootDir
}

// useBinaries points envtest at the control-plane binaries, honouring the
// variables envtest itself reads before falling back to bin/testbin.
func useBinaries(root string) error {
	if os.Getenv("TEST_ASSET_KUBE_APISERVER") != "" && os.Getenv("TEST_ASSET_ETCD") != "" {
		return nil
	}
	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return nil
	}
	dir := filepath.Join(root, "bin", "testbin")
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make testbin` to build it from the Go module proxy, "+
				"or set KUBEBUILDER_ASSETS (or TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD) to binaries you have", name, dir)
		}
	}
	return os.Setenv("KUBEBUILDER_ASSETS", dir)
}

// CertManagerCRDDir is the folder of cert-manager's CRDs, for a cluster
// that testenv did not start (a node).
func CertManagerCRDDir() (string, error) { return certManagerCRDDir(RepoRoot()) }

// certManagerCRDDir finds cert-manager's CRDs in its module, the same
// version the code is compiled against. `go list` asks the module cache, so
// it works offline once the module has been downloaded for the build.
// KEYPORT_CERT_MANAGER_CRDS names a copy of them where there is no Go
// toolchain (make bench-kit).
func certManagerCRDDir(root string) (string, error) {
	if dir := os.Getenv("KEYPORT_CERT_MANAGER_CRDS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", fmt.Errorf("locate cert-manager's module: %s", strings.TrimSpace(string(exitErr.Stderr)))
		}
		return "", fmt.Errorf("locate cert-manager's module: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("cert-manager CRDs not found: %w", err)
	}
	return dir, nil
}
