package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// component is one of the node's processes, started inside the node's
// network namespace (and only that: it shares the machine's mount
// namespace, so the kubelet's Secret volumes are the very mounts runc binds
// into containers, and a stop can see and remove them).
type component struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startComponent runs bin with args in the network namespace netns, logging
// to the component's log file and recording its process id in the state
// folder, so that a later start can stop it if this run is killed.
func startComponent(l layout, netns, name, bin string, env []string, args ...string) (*component, error) {
	log, err := os.OpenFile(l.log(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + netnsPath(netns), "--", bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	// A process group of its own: a Ctrl-C meant for the test does not reach
	// the node's processes before Stop has put them down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	// nsenter execs bin, so this is bin's process id.
	if err := os.WriteFile(l.pidFile(name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		_ = cmd.Process.Kill()
		_ = log.Close()
		return nil, err
	}
	c := &component{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		close(c.done)
	}()
	return c, nil
}

// exited says whether the process has ended, and how.
func (c *component) exited() (bool, string) {
	select {
	case <-c.done:
		return true, c.cmd.ProcessState.String()
	default:
		return false, ""
	}
}

// stop sends SIGTERM and waits up to grace before SIGKILL.
func (c *component) stop(grace time.Duration) {
	if done, _ := c.exited(); done {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// tailLog is the end of a component's log, for an error that says why it
// did not come up.
func tailLog(l layout, name string, lines int) string {
	data, err := os.ReadFile(l.log(name))
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// alive says whether pid is a running process (not a zombie).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// killAndWait sends SIGKILL to each pid and waits until none is alive.
func killAndWait(pids []int, within time.Duration) error {
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
	}
	deadline := time.Now().Add(within)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still running %s after SIGKILL", left, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
