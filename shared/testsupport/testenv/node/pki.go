package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// identity is a client certificate's user and groups as the API server
// reads them (common name, organizations).
type identity struct {
	file   string
	user   string
	groups []string
}

// identities are the node's components' users; each gets a certificate and
// a kubeconfig named after file. The kubelet's is the one the Node
// authorizer expects for this node.
var identities = []identity{
	{file: "admin", user: "keyport-node-admin", groups: []string{"system:masters"}},
	{file: "kube-controller-manager", user: "system:kube-controller-manager"},
	{file: "kube-scheduler", user: "system:kube-scheduler"},
	{file: "kube-proxy", user: "system:kube-proxy"},
	{file: "kubelet", user: "system:node:" + NodeName, groups: []string{"system:nodes"}},
	// The API server's own client certificate when it calls the kubelet
	// (logs, exec, port-forward).
	{file: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}},
}

// writePKI makes the node's certificate authority, the API server's serving
// certificate, a client certificate and kubeconfig per identity and the
// service-account signing key. Everything is new for each start: a node
// lives as long as a test run or a `make node` session.
func writePKI(l layout) error {
	for _, dir := range []string{l.path("pki"), l.path("kubeconfig")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	ca, err := certstest.NewCA("keyport-node-ca")
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.pki("ca.crt"), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	serving, err := ca.Issue("kubernetes", certstest.Options{Server: true, Hosts: []string{
		NodeIP, KubernetesServiceIP, "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	}})
	if err != nil {
		return err
	}
	if err := writeCert(l, "apiserver", serving); err != nil {
		return err
	}
	// The controller manager and the scheduler serve their health checks
	// with a certificate of the node's CA, so Start can verify them.
	for _, name := range []string{"kube-controller-manager-serving", "kube-scheduler-serving"} {
		c, err := ca.Issue("localhost", certstest.Options{Server: true})
		if err != nil {
			return err
		}
		if err := writeCert(l, name, c); err != nil {
			return err
		}
	}
	for _, id := range identities {
		c, err := ca.Issue(id.user, certstest.Options{Organization: id.groups})
		if err != nil {
			return err
		}
		if err := writeCert(l, id.file, c); err != nil {
			return err
		}
		kc := kubeconfigYAML("https://"+NodeIP+":"+apiServerPort, l.pki("ca.crt"), l.pki(id.file+".crt"), l.pki(id.file+".key"))
		if err := os.WriteFile(l.kubeconfig(id.file), []byte(kc), 0o600); err != nil {
			return err
		}
	}
	return writeServiceAccountKey(l)
}

func writeCert(l layout, name string, c *certstest.Cert) error {
	if err := os.WriteFile(l.pki(name+".crt"), c.CertPEM(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(l.pki(name+".key"), c.KeyPEM(), 0o600)
}

// writeServiceAccountKey writes the key the API server signs
// service-account tokens with and its public half, which verifies them.
func writeServiceAccountKey(l layout) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.pki("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(l.pki("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// checkFiles reports the first missing file among paths.
func checkFiles(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
	}
	return nil
}
