package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/operatorproc"
)

// process is a child process in its own process group, so that stop ends it
// and everything it started, whatever the terminal does with Ctrl-C.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process group to terminate, and kills it after 15 s.
func (p *process) stop() {
	if p == nil {
		return
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// demoClients are the platform's clients, with the demo's secrets.
func (d *demo) demoClients() []sandbox.Client {
	s := d.secrets
	return []sandbox.Client{
		{ID: "cpu-integration", Secret: s["cpu-client-secret"], Username: "api-user@example.com", Password: s["cpu-password"]},
		{ID: "datasharing-app", Secret: s["datasharing-client-secret"]},
		{ID: "payments-app", Secret: s["payments-client-secret"]},
		{ID: "partner-app", Secret: s["partner-client-secret"]},
	}
}

// startPlatforms starts the webhook receiver and the sandbox in this
// process, on loopback.
func (d *demo) startPlatforms(ctx context.Context) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	recv, err := startReceiver(l, filepath.Join(d.state, "mounts", "cpu-webhook"))
	if err != nil {
		return err
	}
	d.receiver = recv
	sb, err := sandbox.Start(sandbox.Config{TokenLifetime: d.lifetime, WebhookCAs: recv.caPEM, Clients: d.demoClients()})
	if err != nil {
		return err
	}
	d.sandbox = sb
	d.platformURL, d.platformCA = sb.URL(), sb.CACertPEM()
	d.platform = sandbox.Admin{URL: sb.URL(), HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool(sb.CACertPEM()), MinVersion: tls.VersionTLS12}}}}
	info("sandbox %s: the port community system's (/connect/token) and the payment API's (/oauth2/token) token endpoints, mTLS, ingestion and management APIs; %v tokens", sb.URL(), d.lifetime)
	info("webhook receiver %s", recv.url)
	return nil
}

func pool(pemCerts []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemCerts)
	return p
}

// createPlatformSecrets onboards the ingestion channel at the platform and
// puts the sandbox's CA and the kubectl half's credentials into the
// cluster.
func (d *demo) createPlatformSecrets(ctx context.Context) error {
	if err := d.platform.OnboardIngestionChannel(ctx, "datasharing-app", sandbox.IngestionChannel{ID: ingestionChannelID, Customer: "acme-logistics", MessageType: "ContainerEvent"}); err != nil {
		return err
	}
	info("platform onboarding: ingestion channel %s for customer acme-logistics", ingestionChannelID)
	s := d.secrets
	create := func(name string, data map[string]string, shown string) error {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, StringData: data}
		if err := d.client.Create(ctx, secret); err != nil {
			return fmt.Errorf("create Secret %s: %w", name, err)
		}
		info("kubectl create secret generic %s %s", name, shown)
		return nil
	}
	if err := create("sandbox-ca", map[string]string{"ca.crt": string(d.platformCA)}, "--from-file=ca.crt=<the sandbox's CA>"); err != nil {
		return err
	}
	if err := create("payments-credentials", map[string]string{"client_id": "payments-app", "client_secret": s["payments-client-secret"]},
		"--from-literal=client_id=payments-app --from-literal=client_secret=***"); err != nil {
		return err
	}
	return create("partner-credentials", map[string]string{"client_id": "partner-app", "client_secret": s["partner-client-secret"]},
		"--from-literal=client_id=partner-app --from-literal=client_secret=***")
}

// startOperator runs bin/keyport-operator against the demo cluster, logging
// to .demo/operator.log, and waits until it is ready.
func (d *demo) startOperator(ctx context.Context) error {
	logPath := filepath.Join(d.state, "operator.log")
	_ = os.Remove(logPath) // this run's log only
	var err error
	d.operator, err = operatorproc.Start(filepath.Join(d.bin, "keyport-operator"), d.kubeconfig, logPath,
		"--leader-election-namespace="+systemNamespace)
	if err != nil {
		return fmt.Errorf("start the operator (run `make build` first): %w", err)
	}
	err = poll(ctx, time.Minute, "the operator becoming ready", func() (bool, string, error) {
		if !d.operator.Running() {
			return false, "", fmt.Errorf("the operator exited; see %s", logPath)
		}
		resp, err := http.Get("http://" + d.operator.ProbeAddr + "/readyz")
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
	if err != nil {
		return err
	}
	info("ready; leader election on (Lease in %s); metrics on http://%s/metrics; log %s", systemNamespace, d.operator.MetricsAddr, rel(logPath))
	return nil
}

// prefixWriter indents a child's output under the current step.
type prefixWriter struct {
	w       io.Writer
	midLine bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		if !p.midLine {
			if _, err := io.WriteString(p.w, "    │ "); err != nil {
				return 0, err
			}
		}
		if _, err := p.w.Write([]byte{c}); err != nil {
			return 0, err
		}
		p.midLine = c != '\n'
	}
	return len(b), nil
}
