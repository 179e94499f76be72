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
)

// terraformApply applies examples/demo/terraform from a copy under .demo, so
// that the example folder stays free of state and lock files. The provider
// comes from bin/ through a dev override; the secrets through ephemeral
// variables.
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
	rc := filepath.Join(d.state, "terraformrc")
	override := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"keyport-dev/keyport\" = %q\n  }\n  direct {}\n}\n", d.bin)
	if err := os.WriteFile(rc, []byte(override), 0o600); err != nil {
		return err
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
	out := &prefixWriter{w: os.Stdout}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("terraform apply: %w", err)
	}
	return nil
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
