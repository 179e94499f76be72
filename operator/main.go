// Command keyport-operator reconciles Keyport's resources: it keeps tokens,
// certificates and channel settings fresh in Kubernetes Secrets.
//
// This file is wiring only: flags, the manager, and the controllers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/operator/controllers/ingestionchannel"
	"github.com/keyport-dev/keyport/operator/controllers/jwks"
	"github.com/keyport-dev/keyport/operator/controllers/m2mcertificate"
	"github.com/keyport-dev/keyport/operator/controllers/notificationchannel"
	"github.com/keyport-dev/keyport/operator/internal/mackey"
	"github.com/keyport-dev/keyport/operator/secretcache"
	"github.com/keyport-dev/keyport/shared/outbound"

	// Provider drivers register themselves by name.
	_ "github.com/keyport-dev/keyport/shared/drivers/restdriver"
)

// options are the operator's flags.
type options struct {
	metricsAddr             string
	probeAddr               string
	leaderElect             bool
	leaderElectionID        string
	leaderElectionNamespace string
	leaseDuration           time.Duration
	renewDeadline           time.Duration
	retryPeriod             time.Duration
	watchNamespaces         []string
	shard                   string
	// inProcessCopies lets tests run several operators in one process,
	// which controller-runtime's unique-name check otherwise refuses.
	inProcessCopies  bool
	macKeySecret     string
	apiClientWorkers int
	endpointRate     float64
	endpointBurst    int
	omitTokenTimes   bool
	pprofAddr        string
	zap              zap.Options

	// The M2MCertificate controller's workers, and the ClusterIssuers its
	// M2MCertificates may name.
	m2mCertificateWorkers int
	allowedClusterIssuers []string

	// What the operator may call on tenants' behalf: the URLs are theirs,
	// the rules the cluster admin's.
	outbound outbound.Policy
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("keyport-operator", flag.ContinueOnError)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint; "0" disables it`)
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof endpoints for profiling; empty disables them")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "elect a leader so that only one replica reconciles")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "keyport-operator.keyport.dev", "name of the leader election Lease")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the Lease; defaults to the operator's own")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"how long standby replicas wait before taking over from a leader that stopped renewing; a shorter one fails over faster at more API calls")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader keeps retrying to renew before it gives up leading")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second, "time between leader election attempts")
	watch := fs.String("watch-namespace", "", "comma-separated namespaces to watch; empty watches all")
	fs.StringVar(&o.shard, "shard", "",
		"reconcile only the Keyport resources labelled "+keyportv1.LabelShard+"=<shard>, so that several operator Deployments split the load; empty reconciles all")
	fs.StringVar(&o.macKeySecret, "mac-key-secret", "keyport-system/keyport-mac-key",
		"namespace/name of the Secret holding the key for change-detection MACs; created when missing")
	fs.IntVar(&o.apiClientWorkers, "apiclient-workers", 8, "ApiClients reconciled in parallel")
	fs.IntVar(&o.m2mCertificateWorkers, "m2mcertificate-workers", m2mcertificate.DefaultWorkers,
		"M2MCertificates reconciled in parallel, so that one bundle being decoded or one slow platform does not hold the others")
	clusterIssuers := fs.String("allowed-cluster-issuers", "",
		"comma-separated cert-manager ClusterIssuers that M2MCertificates may name (<group>/<name> for an external issuer's); empty allows none. "+
			"A ClusterIssuer signs for every namespace; Issuers in an M2MCertificate's own namespace are always allowed")
	fs.Float64Var(&o.endpointRate, "token-requests-per-host", 20,
		"token requests per second to one token endpoint host, so that many ApiClients of one platform never stampede it")
	fs.IntVar(&o.endpointBurst, "token-request-burst-per-host", 50, "token requests to one host that may go out at once before the rate applies")
	allowCIDRs := fs.String("outbound-allow-cidrs", "",
		"comma-separated CIDR ranges the operator may call although refused by default or by --outbound-deny-cidrs, "+
			"such as 127.0.0.1/32 for a platform on the node itself. Refused by default: loopback, link-local and cloud metadata "+
			"addresses, also in their IPv4-mapped, NAT64, 6to4 and other IPv6 forms. The narrowest range holding an address decides, "+
			"so 169.254.0.0/16 allows link-local addresses but not the metadata addresses among them")
	denyCIDRs := fs.String("outbound-deny-cidrs", "",
		"comma-separated CIDR ranges the operator refuses to call besides the default ones: set the cluster's Pod and Service ranges, "+
			"so that no resource can make the operator call an in-cluster service")
	optOuts := fs.String("outbound-tenant-opt-outs", "",
		`comma-separated opt-outs of the resources that the operator honours: "insecure-http" (allowInsecureHTTP: plain http:// `+
			`token and management URLs) and "link-local" (an ApiClient's spec.tls.allowLinkLocal: link-local addresses, never the `+
			`metadata ones). Empty honours none: those fields are written by tenants`)
	statusTimes := fs.String("status-token-times", "exact",
		`"exact" shows each ApiClient's token expiry and refresh times in its status (two API writes per refresh: the Secret and the status); `+
			`"omit" leaves them to the Secret's annotations and the metrics, so that a refresh costs one API write`)
	o.zap.Development = false
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, ns := range strings.Split(*watch, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			o.watchNamespaces = append(o.watchNamespaces, ns)
		}
	}
	for _, name := range strings.Split(*clusterIssuers, ",") {
		if name = strings.TrimSpace(name); name != "" {
			o.allowedClusterIssuers = append(o.allowedClusterIssuers, name)
		}
	}
	var err error
	if o.outbound, err = outboundPolicy(*allowCIDRs, *denyCIDRs, *optOuts); err != nil {
		return o, err
	}
	switch *statusTimes {
	case "exact":
	case "omit":
		o.omitTokenTimes = true
	default:
		return o, fmt.Errorf(`--status-token-times must be "exact" or "omit", got %q`, *statusTimes)
	}
	if !(o.retryPeriod < o.renewDeadline && o.renewDeadline < o.leaseDuration) {
		return o, fmt.Errorf("leader election needs --leader-elect-retry-period < --leader-elect-renew-deadline < --leader-elect-lease-duration")
	}
	if o.shard != "" {
		if errs := validation.IsValidLabelValue(o.shard); len(errs) > 0 {
			return o, fmt.Errorf("--shard must be a label value: %s", strings.Join(errs, "; "))
		}
		// Each shard elects its own leader.
		o.leaderElectionID += "-" + o.shard
	}
	if _, _, ok := strings.Cut(o.macKeySecret, "/"); !ok {
		return o, fmt.Errorf("--mac-key-secret must be namespace/name, got %q", o.macKeySecret)
	}
	return o, nil
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntimeMust(clientgoscheme.AddToScheme(s))
	utilruntimeMust(keyportv1.AddToScheme(s))
	utilruntimeMust(certmanagerv1.AddToScheme(s))
	return s
}

func utilruntimeMust(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	limit, ok, err := goMemoryLimit(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if ok {
		debug.SetMemoryLimit(limit)
		ctrl.Log.WithName("setup").Info("Go memory limit set to nine tenths of the container's memory limit", "bytes", limit)
	}
	if err := run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), o); err != nil {
		ctrl.Log.Error(err, "operator stopped")
		os.Exit(1)
	}
}

// run starts the manager and blocks until ctx ends.
func run(ctx context.Context, cfg *rest.Config, o options) error {
	log := ctrl.Log.WithName("setup")
	// managedFields are the largest part of a small object and nothing here
	// reads them: a replica with 10,000 ApiClients and their Secrets keeps
	// far less in memory without them.
	cacheOpts := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if len(o.watchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.watchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if o.shard != "" {
		cacheOpts.ByObject = shardSelectors(o.shard)
	}
	mgrOpts := ctrl.Options{
		Scheme:                        newScheme(),
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		LeaderElectionNamespace:       o.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.leaseDuration,
		RenewDeadline:                 &o.renewDeadline,
		RetryPeriod:                   &o.retryPeriod,
		GracefulShutdownTimeout:       ptr(30 * time.Second),
		Controller:                    ctrlconfig.Controller{SkipNameValidation: ptr(o.inProcessCopies)},
	}
	// Full Secrets only for Keyport's own; see package secretcache.
	secretcache.Configure(&mgrOpts)
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ns, name, _ := strings.Cut(o.macKeySecret, "/")
	key, err := mackey.Load(ctx, cfg, ns, name)
	if err != nil {
		return fmt.Errorf("load the MAC key: %w", err)
	}
	// Every client the controllers make follows it.
	outbound.SetDefaultPolicy(o.outbound)
	if err := setupControllers(mgr, key, o); err != nil {
		return err
	}
	log.Info("starting manager", "leaderElection", o.leaderElect, "watchNamespaces", o.watchNamespaces, "shard", o.shard)
	return mgr.Start(ctx)
}

// setupControllers registers every controller with the manager.
func setupControllers(mgr ctrl.Manager, macKey []byte, o options) error {
	if err := (&apiclient.Reconciler{
		Client:         mgr.GetClient(),
		Recorder:       mgr.GetEventRecorderFor("keyport-apiclient"),
		MACKey:         macKey,
		Workers:        o.apiClientWorkers,
		EndpointRate:   o.endpointRate,
		EndpointBurst:  o.endpointBurst,
		OmitTokenTimes: o.omitTokenTimes,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the ApiClient controller: %w", err)
	}
	if err := (&m2mcertificate.Reconciler{
		Client:                mgr.GetClient(),
		Recorder:              mgr.GetEventRecorderFor("keyport-m2mcertificate"),
		Workers:               o.m2mCertificateWorkers,
		AllowedClusterIssuers: o.allowedClusterIssuers,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the M2MCertificate controller: %w", err)
	}
	if err := (&ingestionchannel.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("keyport-ingestionchannel"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the IngestionChannel controller: %w", err)
	}
	if err := (&notificationchannel.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("keyport-notificationchannel"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the NotificationChannel controller: %w", err)
	}
	if err := (&jwks.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("keyport-jwks"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the ApiClient JWKS controller: %w", err)
	}
	return nil
}

// outboundPolicy reads the --outbound-* flags.
func outboundPolicy(allow, deny, optOuts string) (outbound.Policy, error) {
	var p outbound.Policy
	var err error
	if p.Allow, err = outbound.ParseRanges(allow); err != nil {
		return p, fmt.Errorf("--outbound-allow-cidrs: %w", err)
	}
	if p.Deny, err = outbound.ParseRanges(deny); err != nil {
		return p, fmt.Errorf("--outbound-deny-cidrs: %w", err)
	}
	for _, opt := range strings.Split(optOuts, ",") {
		switch opt = strings.TrimSpace(opt); opt {
		case "":
		case "insecure-http":
			p.HonourInsecureHTTP = true
		case "link-local":
			p.HonourLinkLocal = true
		default:
			return p, fmt.Errorf(`--outbound-tenant-opt-outs: %q is neither "insecure-http" nor "link-local"`, opt)
		}
	}
	return p, nil
}

// shardSelectors narrows the cache to one shard's Keyport resources. A
// resource outside the shard is never in the cache, so no controller of
// this operator sees it, let alone acts on it; the Secrets and cert-manager
// Certificates it owns reach a controller only through its owner, which is
// not there.
func shardSelectors(shard string) map[client.Object]cache.ByObject {
	selector := labels.SelectorFromSet(labels.Set{keyportv1.LabelShard: shard})
	return map[client.Object]cache.ByObject{
		&keyportv1.ApiClient{}:           {Label: selector},
		&keyportv1.M2MCertificate{}:      {Label: selector},
		&keyportv1.IngestionChannel{}:    {Label: selector},
		&keyportv1.NotificationChannel{}: {Label: selector},
	}
}

func ptr[T any](v T) *T { return &v }
