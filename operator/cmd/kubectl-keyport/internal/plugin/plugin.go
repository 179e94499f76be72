// Package plugin is `kubectl keyport`: status, refresh and inspection of
// Keyport's resources for a person at a terminal.
//
// It reads what the operator already publishes (conditions, status times,
// the output Secrets' keyport.dev/* annotations, events) and never prints a
// secret value: status reads only the metadata of Secrets, and the inspect
// commands print what is derived from public parts (a JWT's header and
// claims, a certificate) and never the token, its signature, a key or any
// other Secret value.
package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// options are what every subcommand shares: where the cluster is (the
// kubectl flags --kubeconfig, --context, -n ...) and how to print.
type options struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	output  string
	// now is the clock that relative times ("in 12m") are computed from.
	now func() time.Time
}

// NewCommand returns the root command of kubectl-keyport.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{
		flags:   genericclioptions.NewConfigFlags(true),
		streams: streams,
		now:     time.Now,
	}
	root := &cobra.Command{
		Use:   "kubectl-keyport",
		Short: "Inspect and refresh Keyport's ApiClients, M2MCertificates, IngestionChannels and NotificationChannels",
		Long: `kubectl keyport shows why a Keyport resource is or is not Ready, when its
token or certificate expires and is refreshed, what its output Secret holds
(without printing any secret), and forces a refresh.

Kinds: apiclient (apic), m2mcertificate (m2mcert), ingestionchannel (ingch),
notificationchannel (notifch); plurals and KIND/NAME are accepted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// kubectl runs a plugin as kubectl-keyport; its help should read as
		// the command the user typed.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl keyport"},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	o.flags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVarP(&o.output, "output", "o", "", "Output format: empty for text, or json")
	root.AddCommand(newStatusCommand(o), newRefreshCommand(o), newInspectCommand(o), newPARCommand(o))
	return root
}

// Run executes the command line and prints an error the way kubectl does.
func Run(streams genericiooptions.IOStreams, args []string) int {
	// controller-runtime's client logs nothing a user needs here, and warns
	// on stderr when no logger is set.
	ctrllog.SetLogger(logr.Discard())
	cmd := NewCommand(streams)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(streams.ErrOut, "error:", err)
		return 1
	}
	return 0
}

// session is a connection to the cluster for one command.
type session struct {
	c         client.Client
	namespace string
	now       time.Time
}

// sessionFor reads KIND NAME (or KIND/NAME) from args and connects: how
// every command about one resource starts.
func (o *options) sessionFor(args []string) (*session, kind, string, error) {
	k, name, err := kindAndName(args)
	if err != nil {
		return nil, kind{}, "", err
	}
	s, err := o.session()
	return s, k, name, err
}

func (o *options) session() (*session, error) {
	if o.output != "" && o.output != "json" {
		return nil, fmt.Errorf("unknown output format %q: use -o json, or no -o for text", o.output)
	}
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := keyportv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &session{c: c, namespace: ns, now: o.now()}, nil
}

// print writes v as JSON with -o json, or calls text otherwise.
func (o *options) print(v any, text func(w io.Writer)) error {
	if o.output == "json" {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(o.streams.Out)
	return nil
}

func ctx(cmd *cobra.Command) context.Context {
	if c := cmd.Context(); c != nil {
		return c
	}
	return context.Background()
}
