package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/providermirror"
)

// terraformApply applies examples/demo/terraform from a copy under .demo, so
// that the example folder stays free of state and lock files. The provider
// is installed as a user installs a released one: `terraform init` takes the
// release's zip for this platform (`make provider-archive`, or
// `make release-snapshot` with KEYPORT_PROVIDER_DIST=bin/dist) from a
// filesystem mirror and checks it against the checksum the release
// publishes. The secrets arrive through ephemeral variables.
func (d *demo) terraformApply(ctx context.Context) error {
	// $TERRAFORM is what the Makefile chose: terraform from PATH, or OpenTofu.
	terraform := os.Getenv("TERRAFORM")
	if terraform == "" {
		var err error
		if terraform, err = exec.LookPath("terraform"); err != nil {
			return fmt.Errorf("terraform is not on PATH (Keyport's provider needs Terraform 1.11 or later; `make demo` builds OpenTofu when there is none): %w", err)
		}
	}
	dir := filepath.Join(d.state, "terraform")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "examples", "demo", "terraform", "main.tf"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), src, 0o600); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "terraform.tfstate"))
	rc, err := d.installProvider(ctx, terraform, dir)
	if err != nil {
		return err
	}
	out := &prefixWriter{w: os.Stdout}
	initCmd := exec.CommandContext(ctx, terraform, "init", "-input=false", "-no-color")
	initCmd.Dir = dir
	initCmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1")
	initCmd.Stdout, initCmd.Stderr = out, out
	if err := initCmd.Run(); err != nil {
		return fmt.Errorf("terraform init (the provider from the release's archive in %s): %w", providermirror.DistDir(), err)
	}
	cmd := exec.CommandContext(ctx, terraform, "apply", "-auto-approve", "-input=false", "-no-color")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"TF_CLI_CONFIG_FILE="+rc,
		"TF_IN_AUTOMATION=1",
		"TF_VAR_kubeconfig="+d.kubeconfig,
		"TF_VAR_namespace="+namespace,
		"TF_VAR_sandbox_url="+d.platformURL,
		"TF_VAR_webhook_url="+d.receiver.url+"/hooks/visits",
		"TF_VAR_propagation_budget="+d.budget.String(),
		"TF_VAR_cpu_client_secret="+d.secrets["cpu-client-secret"],
		"TF_VAR_cpu_password="+d.secrets["cpu-password"],
		"TF_VAR_datasharing_client_secret="+d.secrets["datasharing-client-secret"],
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("terraform apply: %w", err)
	}
	return nil
}

// installProvider lays out the filesystem mirror under .demo and the lock
// file in the configuration's folder (replacing one of an earlier run, whose
// snapshot may have had another checksum), and returns the CLI configuration
// for TF_CLI_CONFIG_FILE.
func (d *demo) installProvider(ctx context.Context, terraform, dir string) (string, error) {
	rel, err := providermirror.Find(providermirror.DistDir())
	if err != nil {
		return "", err
	}
	host, err := providermirror.Registry(ctx, terraform)
	if err != nil {
		return "", err
	}
	mirrorDir := filepath.Join(d.state, "provider-mirror")
	if err := os.RemoveAll(mirrorDir); err != nil {
		return "", err
	}
	_ = os.RemoveAll(filepath.Join(dir, ".terraform"))
	if err := os.WriteFile(filepath.Join(dir, ".terraform.lock.hcl"), rel.LockFile(host), 0o600); err != nil {
		return "", err
	}
	return rel.Mirror(mirrorDir, host)
}

// kubectlApply applies examples/demo/kubernetes with the sandbox's address
// filled in.
func (d *demo) kubectlApply(ctx context.Context) error {
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "examples", "demo", "kubernetes", "platforms.yaml"))
	if err != nil {
		return err
	}
	manifest := strings.NewReplacer("${SANDBOX_URL}", d.platformURL, "${PROPAGATION_BUDGET}", d.budget.String()).Replace(string(src))
	return d.kubectl(ctx, &prefixWriter{w: os.Stdout}, strings.NewReader(manifest), "apply", "-n", namespace, "-f", "-")
}

// kubectl runs kubectl against the demo cluster.
func (d *demo) kubectl(ctx context.Context, out io.Writer, stdin io.Reader, args ...string) error {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		return fmt.Errorf("kubectl is not on PATH: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig", d.kubeconfig}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// waitAllReady waits until every Keyport object in the namespace reports
// Ready for its current generation, and fails at once with the operator's
// reason when one reports a failure that will not heal by waiting.
func (d *demo) waitAllReady(ctx context.Context, within time.Duration) error {
	return poll(ctx, within, "every resource Ready", func() (bool, string, error) {
		objects, err := d.keyportObjects(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		var waiting []string
		for _, o := range objects {
			ready := apimeta.FindStatusCondition(o.conditions, keyportv1.ConditionReady)
			switch {
			case ready == nil || ready.ObservedGeneration != o.obj.GetGeneration():
				waiting = append(waiting, o.kind+"/"+o.obj.GetName()+" (not reconciled yet)")
			case ready.Status != metav1.ConditionTrue:
				waiting = append(waiting, fmt.Sprintf("%s/%s: %s: %s", o.kind, o.obj.GetName(), ready.Reason, ready.Message))
			}
		}
		if len(objects) < 8 {
			waiting = append(waiting, fmt.Sprintf("only %d of 8 objects exist", len(objects)))
		}
		return len(waiting) == 0, strings.Join(waiting, "; "), nil
	})
}

// keyportObject is any of the four kinds with its conditions.
type keyportObject struct {
	kind       string
	obj        client.Object
	conditions []metav1.Condition
}

func (d *demo) keyportObjects(ctx context.Context) ([]keyportObject, error) {
	var out []keyportObject
	in := client.InNamespace(namespace)
	var acs keyportv1.ApiClientList
	if err := d.client.List(ctx, &acs, in); err != nil {
		return nil, err
	}
	for i := range acs.Items {
		out = append(out, keyportObject{"apiclient", &acs.Items[i], acs.Items[i].Status.Conditions})
	}
	var certs keyportv1.M2MCertificateList
	if err := d.client.List(ctx, &certs, in); err != nil {
		return nil, err
	}
	for i := range certs.Items {
		out = append(out, keyportObject{"m2mcertificate", &certs.Items[i], certs.Items[i].Status.Conditions})
	}
	var ics keyportv1.IngestionChannelList
	if err := d.client.List(ctx, &ics, in); err != nil {
		return nil, err
	}
	for i := range ics.Items {
		out = append(out, keyportObject{"ingestionchannel", &ics.Items[i], ics.Items[i].Status.Conditions})
	}
	var ncs keyportv1.NotificationChannelList
	if err := d.client.List(ctx, &ncs, in); err != nil {
		return nil, err
	}
	for i := range ncs.Items {
		out = append(out, keyportObject{"notificationchannel", &ncs.Items[i], ncs.Items[i].Status.Conditions})
	}
	return out, nil
}
