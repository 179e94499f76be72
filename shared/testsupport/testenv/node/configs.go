package node

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// layout names every file and folder of one node under its state folder, so
// that starting, stopping and cleaning up agree on where things are.
type layout struct{ dir string }

func (l layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.dir}, parts...)...)
}

func (l layout) pki(name string) string       { return l.path("pki", name) }
func (l layout) kubeconfig(who string) string { return l.path("kubeconfig", who+".yaml") }
func (l layout) log(component string) string  { return l.path("logs", component+".log") }
func (l layout) pidFile(component string) string {
	return l.path("pids", component+".pid")
}
func (l layout) etcdData() string        { return l.path("etcd") }
func (l layout) kubeletRoot() string     { return l.path("kubelet") }
func (l layout) podLogs() string         { return l.path("pod-logs") }
func (l layout) containerdRoot() string  { return l.path("containerd", "root") }
func (l layout) containerdState() string { return l.path("containerd", "state") }
func (l layout) containerdSocket() string {
	return l.path("containerd", "containerd.sock")
}
func (l layout) containerdConfig() string { return l.path("containerd", "config.toml") }
func (l layout) runcRoot() string         { return l.path("runc") }
func (l layout) cniConfDir() string       { return l.path("cni", "net.d") }
func (l layout) cniIPAMDir() string       { return l.path("cni", "ipam") }
func (l layout) kubeletConfig() string    { return l.path("kubelet.yaml") }
func (l layout) kubeProxyConfig() string  { return l.path("kube-proxy.yaml") }

// NodeName is the node's name in the API.
const NodeName = "keyport-node"

// The pause image runs in every pod's sandbox. No registry is reachable, so
// it is built locally (make images) and pinned in containerd's config, which
// keeps the kubelet's image garbage collector from removing it.
const PauseImage = "keyport.dev/pause:3.10"

// containerdConfig is containerd's configuration (version 3, containerd 2.x).
// On these machines processes may not lower oom_score_adj, so the CRI plugin
// must not ask runc to (restrict_oom_score_adj); the cgroup v1 hierarchy is
// driven by runc through cgroupfs, not systemd. Every path containerd,
// the shims and runc write lives under the state folder, pod network
// namespaces included, so a stop can find and remove all of it.
func containerdConfig(l layout, binDir string) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false

  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"

    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = %[5]q
        Root = %[6]q
        SystemdCgroup = false

  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[7]q]
    conf_dir = %[8]q
    max_conf_num = 1

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[9]q
`, l.containerdRoot(), l.containerdState(), l.containerdSocket(), l.containerdSocket()+".ttrpc",
		filepath.Join(binDir, "runc"), l.runcRoot(), filepath.Join(binDir, "cni"), l.cniConfDir(), PauseImage)
}

// cniConfig gives pods addresses of podCIDR on a bridge; the node reaches
// them directly, and they reach the node (the API server through the
// `kubernetes` Service, host-network pods) through the bridge's gateway.
// Nothing is masqueraded: there is nowhere outside to go.
func cniConfig(l layout) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "keyport-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, l.cniIPAMDir(), podCIDR)
}

// kubeletConfig is the kubelet's configuration. The settings after the
// first block make a kubelet run on a cgroup v1 machine whose processes
// lack CAP_SYS_RESOURCE: no per-QoS cgroups, no node-allocatable
// enforcement, no swap check, no local-storage accounting. syncFrequency is
// how often the kubelet copies changed Secrets into pods' volumes (the
// kubelet adds up to half of it again as jitter).
func kubeletConfig(l layout, syncFrequency time.Duration) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://%[2]s
podLogsDir: %[3]s
syncFrequency: %[4]s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[5]s}
authorization: {mode: Webhook}
resolvConf: /etc/resolv.conf
serializeImagePulls: false
registerNode: true
maxPods: 60
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99

failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
`, NodeIP, l.containerdSocket(), l.podLogs(), syncFrequency, l.pki("ca.crt"))
}

// kubeProxyConfig runs kube-proxy in iptables mode inside the node's
// network namespace. It leaves the conntrack table size alone: that
// setting is the machine's, not the namespace's.
func kubeProxyConfig(l layout) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %s}
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: %s
conntrack: {maxPerCore: 0, min: 0}
`, l.kubeconfig("kube-proxy"), NodeIP, podCIDR)
}

// kubeconfigYAML is a kubeconfig that reaches server with a client
// certificate.
func kubeconfigYAML(server, caFile, certFile, keyFile string) string {
	return strings.TrimLeft(fmt.Sprintf(`
apiVersion: v1
kind: Config
clusters:
- name: keyport-node
  cluster: {server: %q, certificate-authority: %q}
users:
- name: user
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: keyport-node
  context: {cluster: keyport-node, user: user}
current-context: keyport-node
`, server, caFile, certFile, keyFile), "\n")
}
