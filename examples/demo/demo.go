package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/certmanager"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/node"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/operatorproc"
)

const (
	namespace       = "demo"
	systemNamespace = "keyport-system"
	// ingestionChannelID is the channel the platform onboards for the
	// customer before the IngestionChannel in examples/demo declares it.
	ingestionChannelID = "7f3e2a10-acme"
	// ingestionClient is the ApiClient whose token the ingestion channel's
	// Secret carries.
	ingestionClient = "datasharing-uat"
)

// demo is one run: what it started, so that stopAll can stop it.
type demo struct {
	state, bin string
	steps      int
	// timing is the kubelet sync period, token lifetime and propagation
	// budget of this run.
	timing

	// secrets are the values only the platform and the cluster may know;
	// the leak scan looks for each of them.
	secrets map[string]string

	// On a node: the cluster, the operator's Helm release and the ingest
	// workload's pod. Without one: a control plane, the operator and the
	// workload as processes, and the sandbox in this process.
	node     *node.Node
	env      *testenv.Env
	sandbox  *sandbox.Sandbox
	operator *operatorproc.Process
	workload *process

	// client and kubeconfig reach the cluster either way; platform is the
	// sandbox's admin API, platformURL and platformCA what clients of the
	// platform need.
	client      client.Client
	kubeconfig  string
	platform    sandbox.Admin
	platformURL string
	platformCA  []byte
	receiver    *receiver
	tally       *workloadTally
	cancel      context.CancelFunc
}

// timing is what the refresh arithmetic of one run rests on.
type timing struct {
	// kubeletSync is how often the kubelet copies changed Secrets into
	// pods (zero without a node).
	kubeletSync time.Duration
	lifetime    time.Duration
	budget      time.Duration
}

// timingFor gives a kubelet with sync period kubeletSync (which delivers a
// change within 1.5 times that) a budget of twice that, and tokens that
// live long enough for the budget, but at least a minute. Without a
// kubelet the demo copies Secrets itself every second.
func timingFor(kubeletSync, lifetime time.Duration) timing {
	if kubeletSync == 0 {
		return timing{lifetime: max(lifetime, time.Minute), budget: 10 * time.Second}
	}
	budget := 2 * kubeletSync
	return timing{kubeletSync: kubeletSync, budget: budget, lifetime: max(lifetime, 5*kubeletSync)}
}

func newDemo(state, bin string, t timing) (*demo, error) {
	state, err := filepath.Abs(state)
	if err != nil {
		return nil, err
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	d := &demo{state: state, bin: bin, timing: t, secrets: map[string]string{}}
	for _, name := range []string{"cpu-client-secret", "cpu-password", "datasharing-client-secret", "payments-client-secret", "partner-client-secret"} {
		d.secrets[name] = randomSecret()
	}
	return d, nil
}

func randomSecret() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "demo-" + hex.EncodeToString(b)
}

// run is the scenario; each step returns an error a person can act on.
func (d *demo) run(parent context.Context, check bool) error {
	ctx, cancel := context.WithCancel(parent)
	d.cancel = cancel
	// The demo's own Kubernetes clients have nothing to say to the user.
	ctrllog.SetLogger(logr.Discard())

	if err := os.MkdirAll(d.state, 0o700); err != nil {
		return err
	}
	if d.kubeletSync > 0 {
		d.step("Starting a single-node cluster: kubelet, containerd and runc in a network namespace of their own (state in %s)", rel(d.nodeState()))
		if err := d.startNode(); err != nil {
			return err
		}
	} else {
		d.step("Starting a local control plane (kube-apiserver and etcd from bin/testbin, data in %s)", rel(d.state))
		if err := d.startControlPlane(); err != nil {
			return err
		}
	}
	for _, ns := range []string{namespace, systemNamespace} {
		// The restricted Pod Security Standard, as a platform team
		// would set it for the operator and for a workload namespace.
		labels := map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
		if err := d.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}); err != nil {
			return err
		}
	}

	d.step("Starting cert-manager's controllers")
	cmLog, err := os.Create(filepath.Join(d.state, "cert-manager.log"))
	if err != nil {
		return err
	}
	// cert-manager logs through klog; its chatter belongs in a file.
	klog.LogToStderr(false)
	klog.SetOutput(cmLog)
	if err := certmanager.StartWithKubeconfig(ctx, d.kubeconfig, systemNamespace); err != nil {
		return err
	}
	info("Certificate, CertificateRequest, Issuer and ClusterIssuer controllers running; log %s", rel(cmLog.Name()))

	if d.node != nil {
		d.step("Starting the sandbox (the partner platforms) as a pod, and a webhook receiver")
		if err := d.startPlatformPod(ctx); err != nil {
			return err
		}
		if err := d.createPlatformSecrets(ctx); err != nil {
			return err
		}
		d.step("helm install keyport config/helm/keyport (image keyport.dev/keyport-operator:dev from make images)")
		if err := d.installOperator(ctx); err != nil {
			return err
		}
	} else {
		d.step("Starting the sandbox (the partner platforms) and a webhook receiver")
		if err := d.startPlatforms(ctx); err != nil {
			return err
		}
		if err := d.createPlatformSecrets(ctx); err != nil {
			return err
		}
		d.step("Starting the operator (%s)", rel(filepath.Join(d.bin, "keyport-operator")))
		if err := d.startOperator(ctx); err != nil {
			return err
		}
	}

	d.step("terraform init and apply examples/demo/terraform (provider installed from its release archive through a filesystem mirror)")
	if err := d.terraformApply(ctx); err != nil {
		return err
	}

	d.step("kubectl apply examples/demo/kubernetes (cert-manager certificate, mTLS and JSON-dialect clients)")
	if err := d.kubectlApply(ctx); err != nil {
		return err
	}

	d.step("Waiting until every resource is Ready")
	if err := d.waitAllReady(ctx, 3*time.Minute); err != nil {
		return err
	}
	if err := d.kubectl(ctx, os.Stdout, nil, "get", "apiclients,m2mcertificates,ingestionchannels,notificationchannels", "-n", namespace); err != nil {
		return err
	}
	if d.node != nil {
		if err := d.kubectl(ctx, os.Stdout, nil, "get", "pods", "-A", "-o", "wide"); err != nil {
			return err
		}
	}

	d.step("A workload posts to the ingestion channel from its mounted Secret while the token rotates")
	if err := d.ingestAcrossRotation(ctx); err != nil {
		return err
	}

	d.step("The platform delivers a notification; the receiver verifies it with Keyport's Secret")
	if err := d.deliverNotification(ctx); err != nil {
		return err
	}

	d.step("Searching the operator log, events, statuses and Terraform state for the secrets used")
	if err := d.leakScan(ctx); err != nil {
		return err
	}

	if check {
		return nil
	}
	d.step("Keyport is running. Explore it with kubectl:")
	info("export KUBECONFIG=%s", d.kubeconfig)
	info("kubectl get apiclients -n %s -w", namespace)
	info("kubectl describe apiclient cpu-uat -n %s", namespace)
	info("Token rotations are printed below as they happen. Press Ctrl-C to stop everything.")
	return d.watchRotations(ctx)
}

// stopAll stops what run started, in reverse order; it is safe after a
// partial start.
func (d *demo) stopAll() {
	fmt.Println("\nStopping the workload, the operator, the sandbox and the cluster…")
	if d.cancel != nil {
		d.cancel()
	}
	d.workload.stop()
	if d.operator != nil {
		d.operator.Stop()
	}
	if d.node != nil {
		// The pods (operator, sandbox, workload) go with the node.
		if err := d.node.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the node:", err)
		}
	}
	if d.sandbox != nil {
		_ = d.sandbox.Close()
	}
	if d.receiver != nil {
		d.receiver.Close()
	}
	if d.env != nil {
		if err := d.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the control plane:", err)
		}
	}
}

// rel shortens a path under the working directory for printing.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// poll calls cond every interval until it is true, fails, or within passes.
func poll(ctx context.Context, within time.Duration, what string, cond func() (bool, string, error)) error {
	deadline := time.Now().Add(within)
	last := ""
	for {
		ok, state, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = state
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not happen within %v; last seen: %s", what, within, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
