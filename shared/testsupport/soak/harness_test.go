package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/certmanager"
)

// Side resources next to the ApiClients: they share ApiClients with them.
const (
	certificates  = 2
	ingestion     = 3
	notifications = 3
)

type harness struct {
	t   *testing.T
	cfg config
	ctx context.Context

	proxy    *apiProxy
	replicas []*replica
	checker  *checker
	rng      *rand.Rand

	clientNames  []string
	clientSecret map[string]string // by sandbox client id
	records      []faultRecord
	current      *faultRecord // the fault being injected
	calm         counts       // token requests outside faults
	started      time.Time
}

// faultRecord is one row of the report.
type faultRecord struct {
	name      string
	held      time.Duration
	recovered time.Duration // from the end of the fault until healthy again
	degraded  int           // ApiClients reporting Degraded during the fault
	err       string
}

type counts struct{ requests, succeeded int }

func newHarness(t *testing.T, cfg config) *harness {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &harness{t: t, cfg: cfg, ctx: ctx, rng: rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano()))), clientSecret: map[string]string{}}
}

func (h *harness) create(obj client.Object) {
	h.t.Helper()
	if obj.GetNamespace() == "" && obj.GetObjectKind().GroupVersionKind().Kind != "Namespace" {
		obj.SetNamespace(namespace)
	}
	if err := env.Client.Create(h.ctx, obj); err != nil {
		h.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// setUp starts everything and declares the resources, then waits until all
// of them work.
func (h *harness) setUp() {
	t := h.t
	for _, ns := range []string{namespace, systemNamespace} {
		if err := env.Client.Create(h.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := certmanager.Start(h.ctx, env, systemNamespace); err != nil {
		t.Fatal(err)
	}
	var sandboxClients []sandbox.Client
	for i := range h.cfg.clients {
		id := fmt.Sprintf("soak-%03d", i)
		secret := fmt.Sprintf("soak-secret-%03d-%x", i, h.rng.Uint64())
		h.clientSecret[id] = secret
		sandboxClients = append(sandboxClients, sandbox.Client{ID: id, Secret: secret})
	}
	var err error
	if sb, err = sandbox.Start(sandbox.Config{Clients: sandboxClients, TokenLifetime: h.cfg.lifetime, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	if h.proxy, err = startProxy(strings.TrimSuffix(strings.TrimPrefix(env.Config.Host, "https://"), "/")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.proxy.close)
	kubeconfig, err := proxiedKubeconfig(workDir, h.proxy.addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"replica-a", "replica-b"} {
		r := newReplica(name, operatorBin, kubeconfig, workDir)
		if err := r.start(); err != nil {
			t.Fatal(err)
		}
		h.replicas = append(h.replicas, r)
		t.Cleanup(r.kill)
	}

	h.declare()
	h.checker = newChecker(namespace, h.clientNames)
	start := time.Now()
	if _, err := h.waitHealthy(2*time.Minute + time.Duration(h.cfg.clients)*200*time.Millisecond); err != nil {
		t.Fatalf("the resources did not all become Ready: %v", err)
	}
	t.Logf("%d ApiClients, %d M2MCertificates, %d IngestionChannels, %d NotificationChannels Ready after %v",
		len(h.clientNames), certificates, ingestion, notifications, time.Since(start).Round(time.Second))
	h.started = time.Now()
	go h.checker.run(h.ctx)
}

// declare creates the ApiClients and the resources built on them.
func (h *harness) declare() {
	// The default budget (2 min) scaled to the soak's short tokens as 2 min
	// is to 10-minute ones.
	budget := metav1.Duration{Duration: h.cfg.lifetime / 5}
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca"}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}})
	tls := &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}}
	for i := range h.cfg.clients {
		id := fmt.Sprintf("soak-%03d", i)
		name := fmt.Sprintf("c-%03d", i)
		h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials"},
			StringData: map[string]string{"client_id": id, "client_secret": h.clientSecret[id]}})
		h.create(&keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: keyportv1.ApiClientSpec{
			TokenURL: sb.URL() + "/connect/token", Credentials: &keyportv1.CredentialsSource{SecretName: name + "-credentials"}, TLS: tls,
			Refresh: &keyportv1.RefreshPolicy{PropagationBudget: &budget},
		}})
		h.clientNames = append(h.clientNames, name)
	}
	// Certificates from cert-manager, registered at the platform through
	// c-000 and used for mutual TLS by their own ApiClients.
	h.create(&cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Name: "self"}, Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}})
	for i := range certificates {
		name := fmt.Sprintf("m-%d", i)
		h.create(&keyportv1.M2MCertificate{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: keyportv1.M2MCertificateSpec{
			CertManager:  &keyportv1.CertManagerSource{IssuerRef: keyportv1.IssuerReference{Name: "self"}, CommonName: "soak-000"},
			Registration: &keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "c-000", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
		}})
		h.create(&keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name + "-mtls"}, Spec: keyportv1.ApiClientSpec{
			TokenURL: sb.URL() + "/connect/token", ClientAuthentication: keyportv1.TLSClientAuth, ClientID: "soak-000",
			ClientCertificate: &keyportv1.ClientCertificateReference{M2MCertificateName: name}, TLS: tls,
			Refresh: &keyportv1.RefreshPolicy{PropagationBudget: &budget},
		}})
		h.clientNames = append(h.clientNames, name+"-mtls")
	}
	for i := range ingestion {
		id := fmt.Sprintf("soak-channel-%d", i)
		sb.OnboardIngestionChannel("soak-001", sandbox.IngestionChannel{ID: id, Customer: fmt.Sprintf("customer-%d", i), MessageType: "ContainerEvent"})
		h.create(&keyportv1.IngestionChannel{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("i-%d", i)}, Spec: keyportv1.IngestionChannelSpec{
			ApiClientName: "c-001", Customer: fmt.Sprintf("customer-%d", i), BaseURL: sb.URL(), ChannelID: id, MessageType: "ContainerEvent",
			MediaType: "application/json",
			Platform:  &keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "c-001", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
		}})
	}
	for i := range notifications {
		h.create(&keyportv1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n-%d", i)}, Spec: keyportv1.NotificationChannelSpec{
			Platform:       keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "c-002", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
			ChannelName:    fmt.Sprintf("soak-%d", i),
			WebhookURL:     fmt.Sprintf("https://hooks.example.com/soak/%d", i),
			EventTypes:     []string{"VisitCreated"},
			Authentication: keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthStaticBearer, GeneratedSecretName: fmt.Sprintf("n-%d-webhook", i)},
		}})
	}
}

// healthy reports whether every resource is Ready for its generation and
// every token Secret holds an unexpired token; otherwise what is not.
func (h *harness) healthy() (bool, string) {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	var problems []string
	in := client.InNamespace(namespace)
	var acs keyportv1.ApiClientList
	var ms keyportv1.M2MCertificateList
	var ics keyportv1.IngestionChannelList
	var ncs keyportv1.NotificationChannelList
	var secrets corev1.SecretList
	for _, l := range []client.ObjectList{&acs, &ms, &ics, &ncs, &secrets} {
		if err := env.Client.List(ctx, l, in); err != nil {
			return false, "the API server is not answering: " + err.Error()
		}
	}
	notReady := func(kind, name string, gen int64, conds []metav1.Condition) {
		c := apimeta.FindStatusCondition(conds, keyportv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != gen {
			reason := "no Ready condition"
			if c != nil {
				reason = c.Reason
			}
			problems = append(problems, kind+"/"+name+": "+reason)
		}
	}
	for _, o := range acs.Items {
		notReady("apiclient", o.Name, o.Generation, o.Status.Conditions)
	}
	for _, o := range ms.Items {
		notReady("m2mcertificate", o.Name, o.Generation, o.Status.Conditions)
	}
	for _, o := range ics.Items {
		notReady("ingestionchannel", o.Name, o.Generation, o.Status.Conditions)
	}
	for _, o := range ncs.Items {
		notReady("notificationchannel", o.Name, o.Generation, o.Status.Conditions)
	}
	if n := len(acs.Items) + len(ms.Items) + len(ics.Items) + len(ncs.Items); n != len(h.clientNames)+certificates+ingestion+notifications {
		problems = append(problems, fmt.Sprintf("%d resources exist", n))
	}
	byName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	for _, name := range h.clientNames {
		var annotations map[string]string
		if s := byName[name+"-token"]; s != nil {
			annotations = s.Annotations
		}
		at, err := time.Parse(time.RFC3339, annotations[keyportv1.AnnotationExpiresAt])
		if err != nil || !time.Now().Before(at) {
			problems = append(problems, name+": no valid token in its Secret")
			continue
		}
		// Caught up: no refresh overdue, so that the next fault starts
		// from a steady state rather than from the last one's backlog.
		if due, err := time.Parse(time.RFC3339, annotations[keyportv1.AnnotationRefreshAt]); err == nil && time.Since(due) > 5*time.Second {
			problems = append(problems, name+": its refresh is overdue")
		}
	}
	if !h.anyLeader() {
		problems = append(problems, "no operator replica leads")
	}
	if len(problems) > 3 {
		problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
	}
	return len(problems) == 0, strings.Join(problems, "; ")
}

func (h *harness) anyLeader() bool {
	for _, r := range h.replicas {
		if r.running() && r.isLeader() {
			return true
		}
	}
	return false
}

// waitHealthy waits until healthy, and returns what was wrong last before
// it was.
func (h *harness) waitHealthy(within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	last := ""
	for {
		ok, state := h.healthy()
		if ok {
			return last, nil
		}
		last = state
		if time.Now().After(deadline) {
			return last, fmt.Errorf("not healthy within %v: %s", within, state)
		}
		// Each look lists every object; on a small machine looking too
		// often would slow down what is being measured.
		time.Sleep(time.Second)
	}
}

// tokenCounts sums the sandbox's token requests of the soak's clients.
func tokenCounts() counts {
	var c counts
	for client, n := range sb.Counters()[sandbox.EndpointConnectToken] {
		if strings.HasPrefix(client, "soak-") || client == "" {
			c.requests += n.Requests
			c.succeeded += n.Succeeded
		}
	}
	return c
}

// leakScan searches the operator logs, the events, the statuses and the
// metrics for every secret the soak used and every token it observed.
func (h *harness) leakScan(values []string) []string {
	sources := map[string]string{}
	for _, r := range h.replicas {
		if data, err := os.ReadFile(r.logPath); err == nil {
			sources[r.name+" log"] = string(data)
		}
		if m, err := r.metrics(); err == nil {
			sources[r.name+" metrics"] = m
		}
	}
	in := client.InNamespace(namespace)
	lists := map[string]client.ObjectList{"events": &corev1.EventList{}, "apiclients": &keyportv1.ApiClientList{},
		"m2mcertificates": &keyportv1.M2MCertificateList{}, "ingestionchannels": &keyportv1.IngestionChannelList{},
		"notificationchannels": &keyportv1.NotificationChannelList{}}
	for name, l := range lists {
		if err := env.Client.List(h.ctx, l, in); err == nil {
			b, _ := json.Marshal(l)
			sources[name] = string(b)
		}
	}
	var found []string
	for where, text := range sources {
		for i, v := range values {
			if len(v) >= 8 && strings.Contains(text, v) {
				found = append(found, fmt.Sprintf("secret value #%d in %s", i, where))
			}
		}
	}
	return found
}
