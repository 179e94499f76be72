package soak

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv/operatorproc"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The moving parts the soak kills and cuts: operator replicas as real
// processes, and a TCP proxy in front of kube-apiserver.

// apiProxy forwards TCP to kube-apiserver. Cutting it closes every open
// connection and refuses new ones, which is what the operator sees while
// kube-apiserver restarts: watches break, requests fail, then it is back.
type apiProxy struct {
	listener net.Listener
	target   string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func startProxy(target string) (*apiProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &apiProxy{listener: l, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

func (p *apiProxy) addr() string { return p.listener.Addr().String() }

func (p *apiProxy) serve() {
	for {
		c, err := p.listener.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

// track registers a connection, or refuses it while the proxy is cut.
func (p *apiProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *apiProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *apiProxy) pipe(c net.Conn) {
	defer p.untrack(c)
	defer c.Close()
	upstream, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(upstream) {
		return
	}
	defer p.untrack(upstream)
	defer upstream.Close()
	go func() {
		_, _ = io.Copy(upstream, c)
		_ = upstream.Close()
	}()
	_, _ = io.Copy(c, upstream)
}

// setDown cuts the proxy (closing every connection) or restores it.
func (p *apiProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *apiProxy) close() {
	_ = p.listener.Close()
	p.setDown(true)
}

// replica is one operator process, restarted like a Deployment's pod when
// it exits by itself.
type replica struct {
	name       string
	bin        string
	kubeconfig string
	logPath    string

	mu   sync.Mutex
	proc *operatorproc.Process
	// killed is set while the harness stops the process on purpose.
	killed bool
	// exits counts the times the process ended by itself (the operator
	// exits when it loses the Lease), each followed by a restart as the
	// kubelet does for a Deployment's pod.
	exits int
}

func newReplica(name, bin, kubeconfig, dir string) *replica {
	return &replica{name: name, bin: bin, kubeconfig: kubeconfig, logPath: filepath.Join(dir, name+".log")}
}

// start runs the operator, appending to its log across restarts.
func (r *replica) start() error {
	p, err := operatorproc.Start(r.bin, r.kubeconfig, r.logPath,
		"--leader-election-namespace="+systemNamespace,
		// The soak's tokens live a minute; a failover must fit well inside
		// the refresh margin of half of that.
		"--leader-elect-lease-duration=6s", "--leader-elect-renew-deadline=4s", "--leader-elect-retry-period=1s",
	)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.proc, r.killed = p, false
	r.mu.Unlock()
	go func() {
		<-p.Done()
		r.mu.Lock()
		restart := !r.killed && r.proc == p
		if restart {
			r.exits++
		}
		r.mu.Unlock()
		if restart {
			time.Sleep(time.Second)
			_ = r.start()
		}
	}()
	return nil
}

func (r *replica) current() *operatorproc.Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

func (r *replica) selfExits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exits
}

// kill ends the process at once, as a node failure or OOM kill does: no
// graceful shutdown, the Lease is not released.
func (r *replica) kill() {
	p := r.current()
	if p == nil || !p.Running() {
		return
	}
	r.mu.Lock()
	r.killed = true
	r.mu.Unlock()
	p.Kill()
}

func (r *replica) running() bool {
	p := r.current()
	return p != nil && p.Running()
}

// peakRSS is the high-water mark of the running process's resident memory
// in MiB; 0 when it is not running.
func (r *replica) peakRSS() float64 {
	if p := r.current(); p != nil {
		return p.PeakRSSMiB()
	}
	return 0
}

// metrics scrapes the replica's Prometheus endpoint.
func (r *replica) metrics() (string, error) {
	p := r.current()
	if p == nil {
		return "", fmt.Errorf("%s was never started", r.name)
	}
	return p.MetricsText()
}

// isLeader asks the replica's metrics whether it holds the Lease.
func (r *replica) isLeader() bool {
	m, err := r.metrics()
	return err == nil && strings.Contains(m, `leader_election_master_status{name="keyport-operator.keyport.dev"} 1`)
}

// leaseHeld reports whether some replica holds the leader Lease.
func leaseHeld(ctx context.Context) bool {
	lease := &coordinationv1.Lease{}
	err := env.Client.Get(ctx, types.NamespacedName{Namespace: systemNamespace, Name: "keyport-operator.keyport.dev"}, lease)
	return err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
}

// proxiedKubeconfig writes a kubeconfig whose server is the proxy.
func proxiedKubeconfig(dir, proxyAddr string) (string, error) {
	path, err := env.Kubeconfig(dir)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	host := strings.TrimSuffix(strings.TrimPrefix(env.Config.Host, "https://"), "/")
	if !strings.Contains(string(data), host) {
		return "", fmt.Errorf("the kubeconfig does not name %s", host)
	}
	proxied := filepath.Join(dir, "kubeconfig-proxied")
	return proxied, os.WriteFile(proxied, []byte(strings.ReplaceAll(string(data), host, proxyAddr)), 0o600)
}
