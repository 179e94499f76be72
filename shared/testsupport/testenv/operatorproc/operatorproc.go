// Package operatorproc runs the Keyport operator binary as a process of its
// own, as a Deployment would, so that soaks and benchmarks can kill it and
// read its CPU time, memory and metrics apart from the test's.
package operatorproc

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

// Build compiles the operator from this checkout into dir and returns the
// binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "keyport-operator")
	build := exec.Command("go", "build", "-o", bin, "./operator")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the operator: %v\n%s", err, out)
	}
	return bin, nil
}

// Process is one running operator.
type Process struct {
	// MetricsAddr serves the Prometheus metrics and ProbeAddr /healthz and
	// /readyz (host:port).
	MetricsAddr, ProbeAddr string
	cmd                    *exec.Cmd
	done                   chan struct{}
}

// SandboxOnLoopback is the admin's flag that lets the operator reach a
// sandbox on this machine's loopback, which it refuses by default.
const SandboxOnLoopback = "--outbound-allow-cidrs=127.0.0.0/8,::1/128"

// Start runs bin with args, KUBECONFIG=kubeconfig and its own metrics and
// probe addresses, logging to logPath. The process gets its own process
// group so that a kill reaches nothing else. The operator may reach
// loopback (SandboxOnLoopback), where soaks, benchmarks and the demo run
// the sandbox; an --outbound-allow-cidrs in args replaces that.
func Start(bin, kubeconfig, logPath string, args ...string) (*Process, error) {
	metrics, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	probes, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"--metrics-bind-address=" + metrics, "--health-probe-bind-address=" + probes, SandboxOnLoopback}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, err
	}
	p := &Process{MetricsAddr: metrics, ProbeAddr: probes, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended, for whatever reason.
func (p *Process) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not ended yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill ends the process at once, as a node failure or an OOM kill does: no
// graceful shutdown, a held Lease is not released.
func (p *Process) Kill() {
	if p.Running() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// Stop asks the process to shut down gracefully and kills it after the
// grace period, as the kubelet does.
func (p *Process) Stop() {
	if !p.Running() {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(gracePeriod):
		p.Kill()
	}
}

// gracePeriod is how long Stop waits before it kills; the operator's own
// graceful shutdown timeout is shorter.
const gracePeriod = 45 * time.Second

// PeakRSSMiB is the high-water mark of the process's resident memory
// (VmHWM) in MiB; 0 once it has ended or when it cannot be read.
func (p *Process) PeakRSSMiB() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil || !p.Running() {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// CPUSeconds is the user and system CPU time the process has used so far.
func (p *Process) CPUSeconds() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with field 3 (state). utime and stime are
	// fields 14 and 15.
	rest := string(data)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", p.Pid(), data)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", p.Pid(), data)
	}
	return (utime + stime) / clockTicks, nil
}

// MetricsText scrapes the process's Prometheus endpoint.
func (p *Process) MetricsText() (string, error) {
	resp, err := http.Get("http://" + p.MetricsAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Metrics scrapes and parses the process's Prometheus endpoint.
func (p *Process) Metrics() (map[string]*dto.MetricFamily, error) {
	text, err := p.MetricsText()
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(strings.NewReader(text))
}
