// Package node runs a single-node Kubernetes cluster from upstream
// components, the way users run Keyport: etcd, kube-apiserver,
// kube-controller-manager (garbage collection, namespace deletion,
// Deployments), kube-scheduler, kube-proxy (the `kubernetes` Service) and a
// kubelet that starts pods through containerd and runc and copies Secrets
// into their volumes.
//
// The cluster lives in a network namespace of its own, with addresses from
// the block reserved for network tests (198.18.0.0/15), so it never touches
// the machine's interfaces and nothing it sends leaves the namespace. The
// test process reaches it through Dial and Config (sockets opened inside the
// namespace), tools such as kubectl through Kubeconfig (a loopback port
// forwarded into the namespace). All state is in one folder; Stop leaves no
// process, mount, network namespace, interface or iptables rule behind, and
// Start first cleans up whatever a killed run left in the same folder.
//
// It needs Linux, root, and the binaries of `make nodebin` (bin/testbin)
// and the images of `make images` (bin/images).
package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

// Options shape a node.
type Options struct {
	// StateDir holds everything of the node: certificates, configuration,
	// etcd's data, containerd's images and containers, the kubelet's pods,
	// logs. Default: a new temporary folder, removed by Stop.
	StateDir string
	// BinDir holds the binaries of `make testbin nodebin`. Default:
	// bin/testbin of the repository.
	BinDir string
	// ImageDir holds the OCI archives of `make images`; the pause image is
	// always imported from there. Default: bin/images of the repository.
	ImageDir string
	// Images are more image archives (in ImageDir unless absolute) to
	// import before the kubelet starts.
	Images []string
	// SyncFrequency is how often the kubelet resyncs pods and so copies
	// changed Secrets into their volumes. Default: the kubelet's own
	// default, one minute.
	SyncFrequency time.Duration
	// Log receives progress lines. Default: none.
	Log io.Writer
}

// Node is a running single-node cluster.
type Node struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// Client is a client with testenv's scheme.
	Client client.Client
	// Scheme knows client-go's, Keyport's and cert-manager's types.
	Scheme *runtime.Scheme
	// StateDir is the node's state folder.
	StateDir string

	opts       Options
	l          layout
	netns      string
	tempState  bool
	components []*component

	forwardOnce sync.Once
	forwards    []net.Listener
	kubeconfig  string
	forwardErr  error
}

// component start order; Stop goes the other way.
// kube-proxy waits for the kubelet to register the node, so it comes last.
var componentOrder = []string{"etcd", "kube-apiserver", "containerd", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}

// nodeBinaries are what `make testbin nodebin` builds.
var nodeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet",
	"containerd", "containerd-shim-runc-v2", "ctr", "runc", "cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap"}

// CanRun says why this machine cannot run a node, or nil when it can: a
// node needs Linux, root (network namespaces, mounts, cgroups) and the
// `ip` and `iptables` commands.
func CanRun() error {
	if goruntime.GOOS != "linux" {
		return fmt.Errorf("a node needs Linux, this is %s", goruntime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("a node needs root (network namespaces, mounts and cgroups)")
	}
	for _, tool := range []string{"ip", "iptables", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("a node needs the %s command (make nodebin installs the Debian packages)", tool)
		}
	}
	return nil
}

// Start starts a node and waits until it is Ready.
func Start(o Options) (n *Node, err error) {
	if err := CanRun(); err != nil {
		return nil, err
	}
	root := testenv.RepoRoot()
	if o.BinDir == "" {
		o.BinDir = filepath.Join(root, "bin", "testbin")
	}
	if o.ImageDir == "" {
		o.ImageDir = filepath.Join(root, "bin", "images")
	}
	if o.SyncFrequency == 0 {
		o.SyncFrequency = time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, b := range nodeBinaries {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make testbin nodebin` to build the node's binaries from the Go module proxy", b, o.BinDir)
		}
	}
	images := []string{pauseArchive}
	for _, img := range append(images, o.Images...) {
		if _, err := os.Stat(imagePath(o.ImageDir, img)); err != nil {
			return nil, fmt.Errorf("image %s not found in %s: run `make images`", img, o.ImageDir)
		}
	}

	n = &Node{opts: o}
	if o.StateDir == "" {
		dir, err := os.MkdirTemp("", "keyport-node-")
		if err != nil {
			return nil, err
		}
		o.StateDir, n.tempState = dir, true
	}
	if n.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return nil, err
	}
	n.l = layout{n.StateDir}
	n.netns = netnsName(n.StateDir)
	n.opts = o

	// Whatever a killed run left in this folder goes first, so that a
	// stale namespace, mount or process never makes this start hang.
	if left, _ := Leftovers(n.StateDir); len(left) > 0 {
		n.logf("cleaning up what an earlier run left in %s: %s", n.StateDir, strings.Join(left, "; "))
	}
	if err := Cleanup(n.StateDir); err != nil {
		return nil, err
	}
	if err := resetStateDir(n.StateDir); err != nil {
		return nil, err
	}

	defer func() {
		if err != nil {
			_ = n.Stop()
		}
	}()
	start := time.Now()
	if err := n.writeConfig(); err != nil {
		return n, err
	}
	if err := createNetns(n.netns); err != nil {
		return n, err
	}
	n.Config = &rest.Config{
		Host: "https://" + NodeIP + ":" + apiServerPort,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: n.l.pki("ca.crt"), CertFile: n.l.pki("admin.crt"), KeyFile: n.l.pki("admin.key"),
		},
		Dial: n.Dial,
		// A test makes many requests at once (informers, waits): the
		// client-side limit of 5/s would be the bottleneck, not the node.
		QPS: 200, Burst: 400,
	}
	if n.Scheme, err = testenv.NewScheme(); err != nil {
		return n, err
	}
	if n.Client, err = client.New(n.Config, client.Options{Scheme: n.Scheme}); err != nil {
		return n, err
	}
	for _, name := range componentOrder {
		if err := n.startComponent(name); err != nil {
			return n, err
		}
		if name == "containerd" {
			for _, img := range images {
				if err := n.ImportImage(img); err != nil {
					return n, err
				}
			}
			for _, img := range o.Images {
				if err := n.ImportImage(img); err != nil {
					return n, err
				}
			}
		}
	}
	if err := n.waitNodeReady(time.Minute); err != nil {
		return n, err
	}
	// The first thing a person does is run a pod in the default
	// namespace, which needs its ServiceAccount.
	if err := n.waitServiceAccount("default", 30*time.Second); err != nil {
		return n, err
	}
	n.logf("node %s Ready in %s (state %s)", NodeName, time.Since(start).Round(100*time.Millisecond), n.StateDir)
	return n, nil
}

// resetStateDir empties the state folder but for nothing: a new node starts
// from scratch (new certificates, an empty etcd).
func resetStateDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the old state folder: %w", err)
	}
	return os.MkdirAll(dir, 0o700)
}

func (n *Node) logf(format string, args ...any) {
	fmt.Fprintf(n.opts.Log, "[node] "+format+"\n", args...)
}

// writeConfig writes certificates, kubeconfigs and every component's
// configuration into the state folder.
func (n *Node) writeConfig() error {
	for _, dir := range []string{"logs", "pids", "etcd", "kubelet", "pod-logs", "containerd", "runc", "cni/net.d", "cni/ipam"} {
		if err := os.MkdirAll(n.l.path(dir), 0o700); err != nil {
			return err
		}
	}
	if err := writePKI(n.l); err != nil {
		return fmt.Errorf("node certificates: %w", err)
	}
	files := map[string]string{
		n.l.containerdConfig(): containerdConfig(n.l, n.opts.BinDir),
		filepath.Join(n.l.cniConfDir(), "10-keyport-node.conflist"): cniConfig(n.l),
		n.l.kubeletConfig():   kubeletConfig(n.l, n.opts.SyncFrequency),
		n.l.kubeProxyConfig(): kubeProxyConfig(n.l),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// args are each component's command line.
func (n *Node) args(name string) []string {
	l, pki := n.l, n.l.pki
	switch name {
	case "etcd":
		return []string{"--data-dir=" + l.etcdData(), "--listen-client-urls=http://127.0.0.1:2379",
			"--advertise-client-urls=http://127.0.0.1:2379", "--listen-peer-urls=http://127.0.0.1:2380",
			"--unsafe-no-fsync", "--log-level=warn"}
	case "kube-apiserver":
		return []string{"--etcd-servers=http://127.0.0.1:2379", "--bind-address=0.0.0.0", "--secure-port=" + apiServerPort,
			"--advertise-address=" + NodeIP, "--service-cluster-ip-range=" + serviceCIDR,
			"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
			"--client-ca-file=" + pki("ca.crt"),
			"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types=InternalIP",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pki("sa.pub"), "--service-account-signing-key-file=" + pki("sa.key"),
			"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
			"--allow-privileged=true", "--profiling=false"}
	case "kube-controller-manager":
		kc := l.kubeconfig("kube-controller-manager")
		return []string{"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
			"--bind-address=127.0.0.1", "--leader-elect=false", "--use-service-account-credentials=true",
			"--service-account-private-key-file=" + pki("sa.key"), "--root-ca-file=" + pki("ca.crt"),
			"--tls-cert-file=" + pki("kube-controller-manager-serving.crt"), "--tls-private-key-file=" + pki("kube-controller-manager-serving.key"),
			"--cluster-name=keyport-node"}
	case "kube-scheduler":
		kc := l.kubeconfig("kube-scheduler")
		return []string{"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
			"--bind-address=127.0.0.1", "--leader-elect=false",
			"--tls-cert-file=" + pki("kube-scheduler-serving.crt"), "--tls-private-key-file=" + pki("kube-scheduler-serving.key")}
	case "kube-proxy":
		return []string{"--config=" + l.kubeProxyConfig(), "--hostname-override=" + NodeName}
	case "kubelet":
		return []string{"--config=" + l.kubeletConfig(), "--kubeconfig=" + l.kubeconfig("kubelet"),
			"--node-ip=" + NodeIP, "--hostname-override=" + NodeName,
			"--root-dir=" + l.kubeletRoot(), "--cert-dir=" + l.path("kubelet", "pki")}
	case "containerd":
		return []string{"--config=" + l.containerdConfig(), "--log-level=warn"}
	}
	panic("unknown component " + name)
}

// startComponent starts one component and waits until it serves.
func (n *Node) startComponent(name string) error {
	began := time.Now()
	// containerd finds the runc shim on PATH; kube-proxy and the CNI
	// plugins need iptables from the system's sbin folders.
	env := []string{"PATH=" + n.opts.BinDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	c, err := startComponent(n.l, n.netns, name, filepath.Join(n.opts.BinDir, name), env, n.args(name)...)
	if err != nil {
		return err
	}
	n.components = append(n.components, c)
	if err := n.waitServing(c, 45*time.Second); err != nil {
		return fmt.Errorf("%s did not come up: %w\n--- last lines of %s ---\n%s", name, err, n.l.log(name), tailLog(n.l, name, 15))
	}
	n.logf("%s up in %s", name, time.Since(began).Round(10*time.Millisecond))
	return nil
}

// waitServing waits until a component answers its health check.
func (n *Node) waitServing(c *component, within time.Duration) error {
	check := n.healthCheck(c.name)
	deadline := time.Now().Add(within)
	var last error
	for {
		if done, how := c.exited(); done {
			return fmt.Errorf("exited (%s)", how)
		}
		if last = check(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after %s: %v", within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// healthCheck is how to tell that a component serves.
func (n *Node) healthCheck(name string) func() error {
	switch name {
	case "etcd":
		return n.httpCheck("http://127.0.0.1:2379/health", nil)
	case "kube-apiserver":
		return n.httpCheck("https://"+NodeIP+":"+apiServerPort+"/readyz", n.adminTLS)
	case "containerd":
		return func() error { return n.ctr("version") }
	case "kube-controller-manager":
		return n.httpCheck("https://127.0.0.1:10257/healthz", n.caTLS)
	case "kube-scheduler":
		return n.httpCheck("https://127.0.0.1:10259/healthz", n.caTLS)
	case "kube-proxy":
		// kube-proxy answers /healthz 503 until it has synced its
		// rules once; /livez says the process serves.
		return n.httpCheck("http://127.0.0.1:10256/livez", nil)
	case "kubelet":
		return n.httpCheck("http://127.0.0.1:10248/healthz", nil)
	}
	return func() error { return nil }
}

// caTLS trusts the node's CA (the health endpoints of the controller
// manager and the scheduler).
func (n *Node) caTLS() (*tls.Config, error) {
	ca, err := os.ReadFile(n.l.pki("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{RootCAs: pool}, nil
}

func (n *Node) adminTLS() (*tls.Config, error) {
	cfg, err := n.caTLS()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(n.l.pki("admin.crt"), n.l.pki("admin.key"))
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

func (n *Node) httpCheck(url string, tlsConfig func() (*tls.Config, error)) func() error {
	return func() error {
		tr := &http.Transport{DialContext: n.Dial}
		if tlsConfig != nil {
			cfg, err := tlsConfig()
			if err != nil {
				return err
			}
			tr.TLSClientConfig = cfg
		}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// Ctr runs containerd's client against the node's containerd, in the
// namespace the CRI plugin (and so the kubelet) uses, and returns what it
// printed.
func (n *Node) Ctr(args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(n.opts.BinDir, "ctr"), append([]string{"--address", n.l.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (n *Node) ctr(args ...string) error {
	_, err := n.Ctr(args...)
	return err
}

// ContainerEnv is the environment a container was started with, from the
// runtime's own record of it (not the pod spec).
func (n *Node) ContainerEnv(containerID string) (map[string]string, error) {
	out, err := n.Ctr("containers", "info", containerID)
	if err != nil {
		return nil, err
	}
	var info struct {
		Spec struct {
			Process struct {
				Env []string `json:"env"`
			} `json:"process"`
		} `json:"Spec"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("container %s: %w", containerID, err)
	}
	env := map[string]string{}
	for _, kv := range info.Spec.Process.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env, nil
}

// Clientset is a client-go clientset for what controller-runtime's client
// does not do (pod logs).
func (n *Node) Clientset() *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(n.Config)
}

// pauseArchive is the pause image's archive in the image folder.
const pauseArchive = "pause.tar"

func imagePath(dir, archive string) string {
	if filepath.IsAbs(archive) {
		return archive
	}
	return filepath.Join(dir, archive)
}

// ImportImage loads an OCI image archive (in the image folder unless the
// path is absolute) into the node's containerd, where pods find it without
// a registry (imagePullPolicy IfNotPresent or Never).
func (n *Node) ImportImage(archive string) error {
	began := time.Now()
	if err := n.ctr("images", "import", "--no-unpack=false", imagePath(n.opts.ImageDir, archive)); err != nil {
		return fmt.Errorf("import image %s: %w", archive, err)
	}
	n.logf("image %s imported in %s", archive, time.Since(began).Round(10*time.Millisecond))
	return nil
}

// waitNodeReady waits for the kubelet to register the node and report it
// Ready (the runtime and the pod network are up).
func (n *Node) waitNodeReady(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var why string
	for {
		var node corev1.Node
		err := n.Client.Get(ctx, client.ObjectKey{Name: NodeName}, &node)
		switch {
		case apierrors.IsNotFound(err):
			why = "not registered yet"
		case err != nil:
			why = err.Error()
		default:
			why = "no Ready condition yet"
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					if c.Status == corev1.ConditionTrue {
						return nil
					}
					why = c.Reason + ": " + c.Message
				}
			}
		}
		for _, c := range n.components {
			if done, how := c.exited(); done {
				return fmt.Errorf("%s exited (%s) before the node was Ready\n--- last lines of %s ---\n%s", c.name, how, n.l.log(c.name), tailLog(n.l, c.name, 15))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready after %s: %s\n--- last lines of the kubelet's log ---\n%s", NodeName, within, why, tailLog(n.l, "kubelet", 15))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Dial connects to an address inside the node's network namespace: the
// node (NodeIP), a pod's IP or a Service's cluster IP.
func (n *Node) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialer{netnsPath(n.netns)}.DialContext(ctx, network, addr)
}

// Listen opens a listener inside the node's network namespace, for a
// server of the test that pods must reach (on NodeIP).
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	return listen(netnsPath(n.netns), network, addr)
}

// HTTPClient is an HTTP client whose connections go into the node's
// network namespace; tlsConfig may be nil.
func (n *Node) HTTPClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.Dial, TLSClientConfig: tlsConfig}, Timeout: 10 * time.Second}
}

// Forward listens on a free loopback port of the machine and forwards each
// connection to addr inside the node's network namespace, for tools that
// cannot be given a dialer (kubectl, terraform, a browser). It returns the
// loopback address; Stop closes it.
func (n *Node) Forward(addr string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	n.forwards = append(n.forwards, l)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go n.pipe(conn, addr)
		}
	}()
	return l.Addr().String(), nil
}

func (n *Node) pipe(conn net.Conn, addr string) {
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	target, err := n.Dial(ctx, "tcp", addr)
	cancel()
	if err != nil {
		return
	}
	defer target.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(target, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, target); done <- struct{}{} }()
	<-done
}

// Kubeconfig is the path of an administrator's kubeconfig for tools run on
// the machine (kubectl, terraform, helm): its server is a loopback port
// forwarded to the API server, which lives as long as the node.
func (n *Node) Kubeconfig() (string, error) {
	n.forwardOnce.Do(func() {
		addr, err := n.Forward(NodeIP + ":" + apiServerPort)
		if err != nil {
			n.forwardErr = err
			return
		}
		path := n.l.kubeconfig("admin-forwarded")
		kc := kubeconfigYAML("https://"+addr, n.l.pki("ca.crt"), n.l.pki("admin.crt"), n.l.pki("admin.key"))
		if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
			n.forwardErr = err
			return
		}
		n.kubeconfig = path
	})
	return n.kubeconfig, n.forwardErr
}

// Namespace creates a fresh namespace for one test and waits for its
// default ServiceAccount, without which no pod can be created there.
func (n *Node) Namespace(ctx context.Context, prefix string, labels map[string]string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels}}
	if err := n.Client.Create(ctx, ns); err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	within := 30 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		within = time.Until(deadline)
	}
	return ns.Name, n.waitServiceAccount(ns.Name, within)
}

// waitServiceAccount waits for the controller manager to create a
// namespace's default ServiceAccount.
func (n *Node) waitServiceAccount(namespace string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		var sa corev1.ServiceAccount
		err := n.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "default"}, &sa)
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s has no default ServiceAccount after %s", namespace, within)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the components in the reverse order of their start, then
// removes every container, mount and the network namespace, and checks
// that nothing is left.
func (n *Node) Stop() error {
	for _, l := range n.forwards {
		_ = l.Close()
	}
	for i := len(n.components) - 1; i >= 0; i-- {
		n.components[i].stop(10 * time.Second)
	}
	n.components = nil
	if n.StateDir == "" {
		return nil
	}
	if err := Cleanup(n.StateDir); err != nil {
		return err
	}
	if n.tempState {
		return os.RemoveAll(n.StateDir)
	}
	return nil
}
