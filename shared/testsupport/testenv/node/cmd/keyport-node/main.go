// Command keyport-node runs the single-node cluster of package node for
// people who want to look around with kubectl: `make node` starts it in the
// background, `make node-stop` stops it and checks that nothing is left.
//
//	keyport-node start -state-dir .node   # returns once the node is Ready
//	keyport-node run   -state-dir .node   # the same in the foreground; Ctrl-C stops
//	keyport-node stop  -state-dir .node
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv/node"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	stateDir := fs.String("state-dir", ".node", "the node's state folder")
	syncFrequency := fs.Duration("sync-frequency", time.Minute, "how often the kubelet copies changed Secrets into pods")
	_ = fs.Parse(os.Args[2:])
	dir, err := filepath.Abs(*stateDir)
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "run":
		err = run(dir, *syncFrequency)
	case "start":
		err = start(dir, *syncFrequency)
	case "stop":
		err = stop(dir)
	default:
		usage()
	}
	if err != nil {
		fail(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: keyport-node start|run|stop [-state-dir DIR] [-sync-frequency D]")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "keyport-node:", err)
	os.Exit(1)
}

// The daemon's files sit beside the state folder, which Start empties.
func pidFile(dir string) string   { return dir + ".pid" }
func readyFile(dir string) string { return dir + ".kubeconfig" }
func logFile(dir string) string   { return dir + ".log" }

// run starts the node, writes the forwarded kubeconfig's path and serves
// until SIGINT or SIGTERM.
func run(dir string, syncFrequency time.Duration) error {
	_ = os.Remove(readyFile(dir))
	n, err := node.Start(node.Options{StateDir: dir, SyncFrequency: syncFrequency, Log: os.Stdout,
		Images: []string{"keyport-operator.tar", "keyport-sandbox.tar", "keyport-workload.tar"}})
	if err != nil {
		return err
	}
	stopped := make(chan os.Signal, 1)
	signal.Notify(stopped, syscall.SIGINT, syscall.SIGTERM)
	kubeconfig, err := n.Kubeconfig()
	if err == nil {
		err = os.WriteFile(readyFile(dir), []byte(kubeconfig), 0o600)
	}
	if err != nil {
		_ = n.Stop()
		return err
	}
	fmt.Printf("node Ready; KUBECONFIG=%s\n", kubeconfig)
	<-stopped
	fmt.Println("stopping the node")
	_ = os.Remove(readyFile(dir))
	return n.Stop()
}

// start runs `run` as a daemon with its output in DIR.log and returns when
// the node is Ready or the daemon has given up.
func start(dir string, syncFrequency time.Duration) error {
	if pid, ok := runningDaemon(dir); ok {
		return fmt.Errorf("a node already runs from %s (process %d); `make node-stop` stops it", dir, pid)
	}
	log, err := os.Create(logFile(dir))
	if err != nil {
		return err
	}
	defer log.Close()
	_ = os.Remove(readyFile(dir))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "run", "-state-dir", dir, "-sync-frequency", syncFrequency.String())
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(pidFile(dir), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Printf("starting the node (log: %s)\n", logFile(dir))
	for {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logFile(dir))
			return fmt.Errorf("the node did not start (%v):\n%s", err, out)
		case <-time.After(500 * time.Millisecond):
		}
		if kubeconfig, err := os.ReadFile(readyFile(dir)); err == nil {
			fmt.Printf("node Ready. Look around with:\n  export KUBECONFIG=%s\n  kubectl get nodes,pods -A\nStop it with `make node-stop`.\n", kubeconfig)
			return nil
		}
	}
}

// stop ends the daemon (SIGTERM, then the node's own cleanup) and checks
// that nothing of the node is left, whatever state the daemon was in.
func stop(dir string) error {
	if pid, ok := runningDaemon(dir); ok {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(90 * time.Second)
		for daemonAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if daemonAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = os.Remove(pidFile(dir))
	_ = os.Remove(readyFile(dir))
	if err := node.Cleanup(dir); err != nil {
		return err
	}
	left, err := node.Leftovers(dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return errors.New("left behind: " + strings.Join(left, "; "))
	}
	fmt.Println("node stopped; no process, mount or network namespace left")
	return nil
}

// runningDaemon is the daemon's process id when it still runs this
// program (the id in the pid file may have been reused).
func runningDaemon(dir string) (int, bool) {
	data, err := os.ReadFile(pidFile(dir))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !daemonAlive(pid) {
		return 0, false
	}
	self, _ := os.Executable()
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return pid, exe == self
}

func daemonAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
