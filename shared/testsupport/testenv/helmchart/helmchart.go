// Package helmchart installs, upgrades and uninstalls Keyport's Helm chart
// (config/helm/keyport of this checkout, or a packaged archive of it) with
// Helm's own library, through a kubeconfig as the helm command would, for
// the tests and the demo that run the operator on a node, and the test that
// installs the packaged chart.
package helmchart

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/release"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
)

// Release is one release of the chart.
type Release struct {
	Kubeconfig string
	Namespace  string
	Name       string
	// Timeout bounds each action, which waits until what it changed is
	// ready (or gone). Default 3 minutes.
	Timeout time.Duration
	// Chart is the chart to install: a folder or a packaged archive (.tgz),
	// as `helm install NAME CHART` takes. Default config/helm/keyport of
	// this checkout.
	Chart string
	// Wait is how each action waits for what it changed. Default
	// kube.StatusWatcherStrategy (until ready, as --wait). An API server
	// without controllers (envtest) never makes a Deployment ready: there,
	// kube.HookOnlyStrategy.
	Wait kube.WaitStrategy
}

// ImageValues are the values that run an image loaded onto the node: no
// registry, so it is never pulled.
func ImageValues(repository, tag string, replicas int) map[string]any {
	return map[string]any{
		"image":        map[string]any{"repository": repository, "tag": tag, "pullPolicy": "Never"},
		"replicaCount": replicas,
	}
}

// Install is `helm install --wait`.
func (r Release) Install(values map[string]any) error {
	cfg, chart, err := r.prepare()
	if err != nil {
		return err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = r.Name, r.Namespace
	install.WaitStrategy, install.Timeout = r.wait(), r.timeout()
	if _, err := install.Run(chart, values); err != nil {
		return fmt.Errorf("helm install %s: %w", r.Name, err)
	}
	return nil
}

// Upgrade is `helm upgrade --wait`.
func (r Release) Upgrade(values map[string]any) error {
	cfg, chart, err := r.prepare()
	if err != nil {
		return err
	}
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = r.Namespace
	upgrade.WaitStrategy, upgrade.Timeout = r.wait(), r.timeout()
	if _, err := upgrade.Run(r.Name, chart, values); err != nil {
		return fmt.Errorf("helm upgrade %s: %w", r.Name, err)
	}
	return nil
}

// Uninstall is `helm uninstall --wait`. The chart's CRDs stay, as with
// helm, and with them the users' resources and Secrets.
func (r Release) Uninstall() error {
	cfg, _, err := r.prepare()
	if err != nil {
		return err
	}
	uninstall := action.NewUninstall(cfg)
	uninstall.WaitStrategy, uninstall.Timeout = r.wait(), r.timeout()
	if _, err := uninstall.Run(r.Name); err != nil {
		return fmt.Errorf("helm uninstall %s: %w", r.Name, err)
	}
	return nil
}

// Status is the release's status as `helm status` shows it ("deployed",
// "failed", ...).
func (r Release) Status() (string, error) {
	cfg, err := r.configuration()
	if err != nil {
		return "", err
	}
	rel, err := action.NewStatus(cfg).Run(r.Name)
	if err != nil {
		return "", fmt.Errorf("helm status %s: %w", r.Name, err)
	}
	acc, err := release.NewAccessor(rel)
	if err != nil {
		return "", err
	}
	return acc.Status(), nil
}

func (r Release) wait() kube.WaitStrategy {
	if r.Wait == "" {
		return kube.StatusWatcherStrategy
	}
	return r.Wait
}

func (r Release) timeout() time.Duration {
	if r.Timeout == 0 {
		return 3 * time.Minute
	}
	return r.Timeout
}

func (r Release) prepare() (*action.Configuration, *chartv2.Chart, error) {
	cfg, err := r.configuration()
	if err != nil {
		return nil, nil, err
	}
	path := r.Chart
	if path == "" {
		path = filepath.Join(testenv.RepoRoot(), "config", "helm", "keyport")
	}
	// Load takes a folder or an archive, as the helm command does.
	chart, err := loader.Load(path)
	if err != nil {
		return nil, nil, err
	}
	return cfg, chart, nil
}

func (r Release) configuration() (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &r.Kubeconfig, &r.Namespace
	// Helm's progress lines are not for the tests' or the demo's output.
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.New(slog.DiscardHandler).Handler()))
	if err := cfg.Init(flags, r.Namespace, "secret"); err != nil {
		return nil, err
	}
	return cfg, nil
}
