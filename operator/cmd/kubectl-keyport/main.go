// Command kubectl-keyport is the kubectl plugin `kubectl keyport`: on PATH,
// kubectl finds it and runs it for `kubectl keyport status|refresh|inspect|par`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/keyport-dev/keyport/operator/cmd/kubectl-keyport/internal/plugin"
)

func main() {
	os.Exit(plugin.Run(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:]))
}
