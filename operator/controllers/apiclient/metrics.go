package apiclient

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// Metrics on the manager's /metrics endpoint. Labels never carry secrets:
// only namespaces, names and result kinds.
var (
	tokenExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "keyport_apiclient_token_expiry_timestamp_seconds",
		Help: "Expiry of the token in each ApiClient's output Secret, as a Unix timestamp.",
	}, []string{"namespace", "name"})
	nextRefresh = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "keyport_apiclient_next_refresh_timestamp_seconds",
		Help: "When each ApiClient's next refresh (or retry) is planned, as a Unix timestamp.",
	}, []string{"namespace", "name"})
	consecutiveFailures = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "keyport_apiclient_consecutive_failures",
		Help: "Failed refreshes since the last success; above zero the ApiClient is backing off.",
	}, []string{"namespace", "name"})
	tokenRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyport_token_requests_total",
		Help: "Token requests by result (success or the kind of failure).",
	}, []string{"result"})
	tokenRequestDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keyport_token_request_duration_seconds",
		Help:    "Latency of token requests to partner platforms.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	})
	refreshLateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keyport_refresh_lateness_seconds",
		Help:    "How long after its planned time a refresh actually started.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60},
	})
)

// collectors are the metrics above, each registered once.
var collectors = []prometheus.Collector{tokenExpiry, nextRefresh, consecutiveFailures, tokenRequests, tokenRequestDuration, refreshLateness}

func init() {
	metrics.Registry.MustRegister(collectors...)
}

// observe sets an ApiClient's gauges after a reconcile: the token's expiry
// and the next refresh or retry where known (zero leaves a gauge as it is),
// and the failures the status counts.
func observe(ac *keyportv1.ApiClient, expiry, next time.Time) {
	if !expiry.IsZero() {
		tokenExpiry.WithLabelValues(ac.Namespace, ac.Name).Set(float64(expiry.Unix()))
	}
	if !next.IsZero() {
		nextRefresh.WithLabelValues(ac.Namespace, ac.Name).Set(float64(next.Unix()))
	}
	consecutiveFailures.WithLabelValues(ac.Namespace, ac.Name).Set(float64(ac.Status.ConsecutiveFailures))
}

// forgetMetrics drops the series of a deleted ApiClient.
func forgetMetrics(namespace, name string) {
	tokenExpiry.DeleteLabelValues(namespace, name)
	nextRefresh.DeleteLabelValues(namespace, name)
	consecutiveFailures.DeleteLabelValues(namespace, name)
}
