package node

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netnsName is the network namespace of the node whose state lives in dir:
// the same folder always gives the same name, so a start finds what a
// killed run left behind.
func netnsName(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return netnsNamePrefix + hex.EncodeToString(sum[:4])
}

// Leftovers lists what of the node with state folder dir is still there:
// processes in its network namespaces, mounts under dir, the network
// namespace itself. Empty means the node is gone without a trace.
func Leftovers(dir string) ([]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var found []string
	pids, err := nodeProcesses(dir)
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		found = append(found, fmt.Sprintf("process %d (%s)", pid, commandLine(pid)))
	}
	mounts, err := mountsUnder(dir)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		found = append(found, "mount "+m)
	}
	for _, cg := range containerCgroups(dir) {
		found = append(found, "cgroup "+cg)
	}
	if _, err := os.Stat(netnsPath(netnsName(dir))); err == nil {
		found = append(found, "network namespace "+netnsName(dir))
	}
	return found, nil
}

// Cleanup removes whatever a node with state folder dir left behind — a run
// that was killed, say — so that a new one can start there: it kills every
// process in the node's network namespace or in one of its pods', unmounts
// everything under dir, and deletes the network namespace (its interfaces
// and iptables rules go with it). It identifies processes by the network
// namespace they are in, never by name.
func Cleanup(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	pids, err := nodeProcesses(dir)
	if err != nil {
		return err
	}
	if err := killAndWait(pids, 10*time.Second); err != nil {
		return err
	}
	if err := removeContainerCgroups(dir); err != nil {
		return err
	}
	if err := unmountUnder(dir); err != nil {
		return err
	}
	if err := deleteNetns(netnsName(dir)); err != nil {
		return err
	}
	left, err := Leftovers(dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("the node in %s could not be cleaned up: %s", dir, strings.Join(left, "; "))
	}
	return nil
}

// nodeProcesses are the processes whose network namespace is the node's or
// one of its pods' (containerd keeps pod namespaces under the state
// folder), those in the cgroup of one of its containers, and any recorded
// component still running outside them.
func nodeProcesses(dir string) ([]int, error) {
	namespaces := map[uint64]bool{}
	if ino, ok := nsInode(netnsPath(netnsName(dir))); ok {
		namespaces[ino] = true
	}
	podNetns, _ := filepath.Glob(filepath.Join(layout{dir}.containerdState(), "io.containerd.grpc.v1.cri", "netns", "*"))
	for _, p := range podNetns {
		if ino, ok := nsInode(p); ok {
			namespaces[ino] = true
		}
	}
	recorded := map[int]bool{}
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	for _, f := range pidFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			recorded[pid] = true
		}
	}
	inContainer := map[int]bool{}
	for _, cg := range containerCgroups(dir) {
		for _, pid := range cgroupProcesses(cg) {
			inContainer[pid] = true
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !alive(pid) {
			continue
		}
		ino, ok := nsInode(fmt.Sprintf("/proc/%d/ns/net", pid))
		// A recorded process id counts only while it still runs the
		// binary it was started with; the id may have been reused.
		if (ok && namespaces[ino]) || inContainer[pid] || (recorded[pid] && startedFromNode(pid)) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// containerCgroups are the cgroup folders of the node's containers. runc
// puts each container in k8s.io/<container id> of every cgroup hierarchy;
// the ids are the task folders containerd keeps in the state folder.
func containerCgroups(dir string) []string {
	tasks, _ := os.ReadDir(filepath.Join(layout{dir}.containerdState(), "io.containerd.runtime.v2.task", "k8s.io"))
	var found []string
	for _, task := range tasks {
		cgroups, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "k8s.io", task.Name()))
		found = append(found, cgroups...)
	}
	return found
}

// cgroupRoot is where the machine mounts its cgroup hierarchies.
const cgroupRoot = "/sys/fs/cgroup"

func cgroupProcesses(cgroup string) []int {
	data, err := os.ReadFile(filepath.Join(cgroup, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeContainerCgroups removes the cgroups of the node's containers,
// which runc would have removed had the containers been stopped through it.
// A cgroup stays busy for a moment after its last process was killed, so a
// busy one is tried again for a few seconds.
func removeContainerCgroups(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var busy error
		for _, cg := range containerCgroups(dir) {
			if err := os.Remove(cg); err != nil && !errors.Is(err, os.ErrNotExist) {
				busy = fmt.Errorf("remove cgroup %s: %w", cg, err)
			}
		}
		if busy == nil || time.Now().After(deadline) {
			return busy
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startedFromNode says whether pid's command line is one the node starts
// (a binary in a folder named testbin, as `make nodebin` builds them).
func startedFromNode(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && strings.Contains(exe, "/testbin/")
}

// nsInode is the inode of a namespace file, which identifies the namespace.
func nsInode(path string) (uint64, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

func commandLine(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "?"
	}
	cmd := strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
	if len(cmd) > 80 {
		cmd = cmd[:80] + "…"
	}
	return cmd
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMountPath(fields[4])
		if point == dir || strings.HasPrefix(point, dir+"/") {
			points = append(points, point)
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	return points, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if n, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// unmountUnder unmounts everything at or below dir, deepest first; a mount
// stacked on another is taken off in as many rounds as needed.
func unmountUnder(dir string) error {
	for round := 0; round < 10; round++ {
		points, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(points) == 0 {
			return nil
		}
		for _, p := range points {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("unmount %s: %w", p, err)
			}
		}
	}
	points, _ := mountsUnder(dir)
	return fmt.Errorf("mounts under %s remain after unmounting: %s", dir, strings.Join(points, ", "))
}
