// Command keyport-demo is `make demo` and `make demo-check`: Keyport doing
// its job on one machine, with nothing but this repository.
//
// Where the machine can run one (Linux, root), it starts a single-node
// cluster (kubelet, containerd and runc, package shared/testsupport/testenv/node; state
// under .demo/node), cert-manager's controllers, the sandbox standing in
// for the partner platforms as a pod, a webhook receiver, and the operator
// installed by its Helm chart from the images of `make images`. Elsewhere it
// says why and starts a control plane without nodes and the operator as a
// process instead. Then it applies examples/demo with the real terraform
// binary and kubectl, and shows what a user would check: every resource
// Ready (and the pods), a token Secret rotating, a workload posting to an
// ingestion channel across the rotation from its mounted Secret (on a node:
// a pod, with the delay until the kubelet delivered the new token), and a
// notification delivered to the webhook and verified with Keyport's
// Secret. Token and secret values are never printed.
//
// With -check it runs unattended and exits non-zero when a step fails;
// otherwise it keeps running (printing rotations) until Ctrl-C. Either way it
// stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	check := flag.Bool("check", false, "run the scenario unattended and exit non-zero when a step fails")
	state := flag.String("state-dir", ".demo", "folder for the cluster data, kubeconfig, logs and Terraform state (git-ignored)")
	bin := flag.String("bin", "bin", "folder with keyport-operator, terraform-provider-keyport and keyport-ingest-example")
	lifetime := flag.Duration("token-lifetime", time.Minute, "lifetime of the sandbox's tokens; short, so rotations show (on a node at least five kubelet sync periods)")
	onNode := flag.String("node", "auto", "run on a single-node cluster with a kubelet: auto (where the machine can), true or false")
	kubeletSync := flag.Duration("kubelet-sync", time.Minute, "the node's kubelet sync period (a minute is the kubelet's default)")
	flag.Parse()

	var t timing
	switch why := nodeUnavailable(); {
	case *onNode == "false":
		t = timingFor(0, *lifetime)
	case why == "":
		t = timingFor(*kubeletSync, *lifetime)
	case *onNode == "true":
		fmt.Fprintf(os.Stderr, "✘ no node can run here: %s\n", why)
		os.Exit(1)
	default:
		fmt.Printf("No node can run here (%s): the demo runs on a control plane without a kubelet.\n", why)
		t = timingFor(0, *lifetime)
	}

	// Helm's chart loader reports through the default logger what it
	// does; the demo says what matters itself.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := newDemo(*state, *bin, t)
	if err == nil {
		err = d.run(ctx, *check)
	}
	if d != nil {
		d.stopAll()
	}
	switch {
	case err == nil:
		if *check {
			fmt.Println("\n✔ demo-check passed: every step worked.")
		}
	case errors.Is(err, context.Canceled):
		fmt.Println("\nStopped.")
	default:
		fmt.Fprintf(os.Stderr, "\n✘ demo failed: %v\n", err)
		if d != nil {
			fmt.Fprintf(os.Stderr, "  logs: %s\n", filepath.Join(d.state, "operator.log"))
		}
		os.Exit(1)
	}
}

// step prints a numbered heading, so a reader can follow along.
func (d *demo) step(format string, args ...any) {
	d.steps++
	fmt.Printf("\n\033[1m[%d] %s\033[0m\n", d.steps, fmt.Sprintf(format, args...))
}

// info prints an indented line under the current step.
func info(format string, args ...any) {
	fmt.Printf("    %s\n", fmt.Sprintf(format, args...))
}
