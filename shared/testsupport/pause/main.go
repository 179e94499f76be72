// Command pause is the sandbox ("infra") container of every pod on a Keyport
// test node: containerd starts it first so that the pod's namespaces exist,
// and the pod's containers join them. No registry is reachable from the node,
// so Keyport builds its own instead of pulling registry.k8s.io/pause
// (make images; the image is keyport.dev/pause:3.10).
//
// It does what the Kubernetes one does: sleep until SIGTERM or SIGINT, then
// exit 0 (the kubelet stops a sandbox with SIGTERM, and a non-zero status
// would be reported as a failure), and reap every child that exits meanwhile
// (with a shared PID namespace it is PID 1 of the pod, and orphans re-parent
// to it; unreaped they would stay zombies until the pod is deleted).
package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Buffered: signals that arrive while reap runs are kept (SIGCHLDs
	// coalesce, which is fine, since reap collects every exited child).
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects the status of every child that has exited, without blocking
// on those still running.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none has exited
			return
		}
	}
}
