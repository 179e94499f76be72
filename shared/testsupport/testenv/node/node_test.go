package node

import (
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// machineNetwork is what of the machine's own network a node must never
// change: its interfaces, its iptables rules and its named network
// namespaces (but other nodes').
type machineNetwork struct {
	interfaces []string
	iptables   string
	netns      []string
}

func snapshotMachineNetwork(t *testing.T) machineNetwork {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var m machineNetwork
	for _, i := range ifaces {
		m.interfaces = append(m.interfaces, i.Name)
	}
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	// Packet counters change on their own; the rules must not.
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, ":") {
			m.iptables += line + "\n"
		}
	}
	entries, _ := os.ReadDir(netnsRunDir)
	for _, e := range entries {
		// Other nodes (another package's tests) may come and go.
		if !strings.HasPrefix(e.Name(), netnsNamePrefix) {
			m.netns = append(m.netns, e.Name())
		}
	}
	return m
}

// TestANodeRunsPodsAndLeavesNothingBehind starts a node, runs a pod on it,
// kills the node's processes as a killed test run would, starts a node in
// the same folder (which must clean up and come up), stops it, and checks
// that the machine's network is as before and nothing of either node is
// left.
func TestANodeRunsPodsAndLeavesNothingBehind(t *testing.T) {
	if err := CanRun(); err != nil {
		t.Fatalf("this test needs a machine that can run a node: %v", err)
	}
	before := snapshotMachineNetwork(t)
	dir := t.TempDir()

	n, err := Start(Options{StateDir: dir, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	runPod(t, n)

	// A killed run: every component dies at once, the containers go on
	// running, the namespace and the mounts stay.
	var pids []int
	for _, c := range n.components {
		pids = append(pids, c.cmd.Process.Pid)
	}
	if err := killAndWait(pids, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	left, err := Leftovers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) == 0 {
		t.Fatal("a killed node left nothing behind; the restart below would prove nothing")
	}
	t.Logf("a killed node left %d things behind, e.g. %s", len(left), left[0])

	n, err = Start(Options{StateDir: dir, Log: testWriter{t}})
	if err != nil {
		t.Fatalf("start over a killed run's leftovers: %v", err)
	}
	runPod(t, n)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	if left, err := Leftovers(dir); err != nil || len(left) > 0 {
		t.Errorf("after Stop: %v %v", left, err)
	}
	after := snapshotMachineNetwork(t)
	if !slices.Equal(before.interfaces, after.interfaces) {
		t.Errorf("the machine's interfaces changed: before %v, after %v", before.interfaces, after.interfaces)
	}
	if before.iptables != after.iptables {
		t.Errorf("the machine's iptables rules changed:\nbefore:\n%s\nafter:\n%s", before.iptables, after.iptables)
	}
	if !slices.Equal(before.netns, after.netns) {
		t.Errorf("named network namespaces changed: before %v, after %v", before.netns, after.netns)
	}
}

// runPod runs the pause image as a pod with a Secret volume, waits until it
// runs, and checks that the pod has an address of the pod network.
func runPod(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, err := n.Namespace(ctx, "node-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s"}, StringData: map[string]string{"k": "v"}}
	if err := n.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "pause", Image: PauseImage, ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{{Name: "s", MountPath: "/s"}},
			}},
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}},
		},
	}
	if err := n.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	for {
		if err := n.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			t.Fatal(err)
		}
		if pod.Status.Phase == corev1.PodRunning {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod not running: %+v\n--- kubelet ---\n%s", pod.Status, tailLog(n.l, "kubelet", 20))
		case <-time.After(250 * time.Millisecond):
		}
	}
	_, podNet, _ := net.ParseCIDR(podCIDR)
	if ip := net.ParseIP(pod.Status.PodIP); ip == nil || !podNet.Contains(ip) {
		t.Errorf("pod IP %q is not in the pod network %s", pod.Status.PodIP, podCIDR)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
