package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// The node's addresses come from 198.18.0.0/15, the block reserved for
// network benchmark tests (RFC 2544): no machine's own interface and no
// outside network uses it, and nothing addressed to it leaves the node's
// network namespace, whose only route out leads nowhere (createNetns).
const (
	// NodeIP is the node's address: the kubelet's, the API server's and
	// that of host-network pods.
	NodeIP = "198.18.0.2"
	// nodeCIDR is the node interface's network.
	nodeCIDR = NodeIP + "/24"
	// podCIDR is handed out to pods by the bridge CNI plugin.
	podCIDR = "198.18.64.0/24"
	// serviceCIDR holds Services' cluster IPs; its first address is the
	// `kubernetes` Service.
	serviceCIDR         = "198.18.128.0/20"
	KubernetesServiceIP = "198.18.128.1"
	apiServerPort       = "6443"
	nodeInterface       = "keyport0"
	netnsRunDir         = "/run/netns"
	netnsNamePrefix     = "keyport-node-"
)

// netnsPath is where `ip netns add` bind-mounts a named network namespace.
func netnsPath(name string) string { return filepath.Join(netnsRunDir, name) }

// createNetns makes the named network namespace with loopback up and the
// node's address on one end of a veth pair whose other end, also inside the
// namespace, has no address: the default route goes out there, so a packet
// for anything but the node and its pods goes nowhere. (A veth pair rather
// than a dummy interface: some kernels are built without dummy.)
func createNetns(name string) error {
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("the `ip` command (Debian package iproute2) is needed to create the node's network namespace")
	}
	steps := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "link", "add", "name", nodeInterface, "type", "veth", "peer", "name", nodeInterface + "-void"},
		{"-n", name, "addr", "add", nodeCIDR, "dev", nodeInterface},
		{"-n", name, "link", "set", nodeInterface + "-void", "up"},
		{"-n", name, "link", "set", nodeInterface, "up"},
		{"-n", name, "route", "add", "default", "dev", nodeInterface},
	}
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// deleteNetns removes the named network namespace; with it go every
// interface and iptables rule inside it. Missing is not an error.
func deleteNetns(name string) error {
	if _, err := os.Stat(netnsPath(name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNetns runs fn on an OS thread that has joined the network namespace at
// path. Sockets belong to the namespace they were created in, so a
// connection dialled or a listener opened by fn stays there while the rest
// of the process keeps using the machine's network. The thread is never
// handed back to the Go scheduler (the goroutine exits still locked, which
// ends the thread), so no other goroutine ever runs in the namespace.
func inNetns[T any](path string, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: see above.
		var zero T
		f, err := os.Open(path)
		if err != nil {
			done <- result{zero, fmt.Errorf("open network namespace: %w", err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{zero, fmt.Errorf("join network namespace %s: %w", path, err)}
			return
		}
		v, err := fn()
		done <- result{v, err}
	}()
	r := <-done
	return r.v, r.err
}

// dialer dials addresses inside a network namespace.
type dialer struct{ path string }

func (d dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return inNetns(d.path, func() (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	})
}

// listen opens a listener inside a network namespace.
func listen(path, network, addr string) (net.Listener, error) {
	return inNetns(path, func() (net.Listener, error) {
		return net.Listen(network, addr)
	})
}
