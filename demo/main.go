// Command keyport-demo is `make demo` and `make demo-check`: Keyport doing
// its job on one machine, with nothing but this repository.
//
// It starts a local control plane (the kube-apiserver and etcd the tests
// use, on loopback, data under .demo/), cert-manager's controllers, the
// sandbox standing in for the partner platforms, a webhook receiver and the
// operator binary; applies examples/demo with the real terraform binary and
// kubectl; and then shows what a user would check: every resource Ready, a
// token Secret rotating, a workload posting to an ingestion channel across
// the rotation from the mounted files, and a notification delivered to the
// webhook and verified with Keyport's Secret. Token and secret values are
// never printed.
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
	lifetime := flag.Duration("token-lifetime", time.Minute, "lifetime of the sandbox's tokens; short, so rotations show")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := newDemo(*state, *bin, *lifetime)
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
