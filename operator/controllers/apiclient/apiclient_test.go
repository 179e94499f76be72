package apiclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/dialect"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// setup creates a namespace with the credentials, the sandbox's CA and a
// client certificate, and starts an operator for it.
func setup(t *testing.T) string {
	t.Helper()
	ns := env.Namespace(t)
	create(t, credentials(ns))
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": sb.CACertPEM()}})
	certPEM, keyPEM, err := sb.IssueClientCert(clientID)
	if err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "client-tls", Namespace: ns},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}})
	return ns
}

// newApiClient returns an ApiClient for the sandbox; mutate adjusts it.
func newApiClient(ns, name string, spec keyportv1.ApiClientSpec) *keyportv1.ApiClient {
	if spec.TLS == nil {
		spec.TLS = &keyportv1.TLSSettings{}
	}
	spec.TLS.CABundle = &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}
	if spec.Credentials == nil {
		spec.Credentials = &keyportv1.CredentialsSource{SecretName: "cpu-credentials"}
	}
	return &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
}

// tokenIn reads and checks the output Secret; it returns "" when there is
// no usable token yet.
func tokenIn(t *testing.T, ns, name string) (tokensecret.Token, *corev1.Secret, bool) {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return tokensecret.Token{}, nil, false
	}
	tok, err := tokensecret.Parse(s.Data)
	return tok, s, err == nil
}

// readyClient creates an ApiClient name of the sandbox's token endpoint
// and waits until it is Ready.
func readyClient(t *testing.T, ns, name string) *keyportv1.ApiClient {
	t.Helper()
	create(t, newApiClient(ns, name, keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token"}))
	return waitReady(t, ns, name)
}

func waitReady(t *testing.T, ns, name string) *keyportv1.ApiClient {
	t.Helper()
	var ac *keyportv1.ApiClient
	eventually(t, 20*time.Second, name+" Ready", func() (bool, string) {
		ac = get(t, ns, name, &keyportv1.ApiClient{})
		status, _, observed := condition(ac, keyportv1.ConditionReady)
		return status == metav1.ConditionTrue && observed == ac.Generation && ac.Status.ObservedGeneration == ac.Generation, describe(ac)
	})
	return ac
}

func TestEveryPresetGetsAValidTokenIntoItsSecret(t *testing.T) {
	ns := setup(t)
	startOperator(t, ns, nil)
	clientCert := &keyportv1.ClientCertificateReference{SecretName: "client-tls"}
	cases := []struct {
		name     string
		spec     keyportv1.ApiClientSpec
		endpoint string
		lifetime time.Duration
	}{
		{"port-community-password", keyportv1.ApiClientSpec{Preset: keyportv1.PresetPortCommunityPassword,
			TokenURL: sb.URL() + "/connect/token",
			Headers: []keyportv1.HTTPHeader{{Name: "Ocp-Apim-Subscription-Key",
				ValueFrom: &keyportv1.SecretKeySelector{Name: "cpu-credentials", Key: "subscription_key"}}}},
			sandbox.EndpointConnectToken, time.Hour},
		{"data-sharing-oauth2-client-credentials", keyportv1.ApiClientSpec{Preset: keyportv1.PresetOAuth2ClientCredentials,
			TokenURL: sb.URL() + "/connect/token"}, sandbox.EndpointConnectToken, time.Hour},
		{"bank-m2m", keyportv1.ApiClientSpec{Preset: keyportv1.PresetBankM2M, TokenURL: sb.URL() + "/m2m/token",
			ClientCertificate: clientCert}, sandbox.EndpointM2MToken, 5 * time.Minute},
		{"payment-json", keyportv1.ApiClientSpec{Preset: keyportv1.PresetPaymentJSON, TokenURL: sb.URL() + "/oauth2/token"},
			sandbox.EndpointJSONToken, time.Hour},
		{"softpos", keyportv1.ApiClientSpec{Preset: keyportv1.PresetSoftPOS, TokenURL: sb.URL() + "/softpos/appenrollment/token",
			ClientCertificate: clientCert}, sandbox.EndpointSoftPOSToken, time.Hour},
	}
	// A preset added to the table needs a case here.
	for _, p := range dialect.Presets {
		covered := false
		for _, tc := range cases {
			covered = covered || tc.spec.Preset == p.Name
		}
		if !covered {
			t.Fatalf("preset %s has no case", p.Name)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			if tc.name == "bank-m2m" {
				// The bank's Basic credentials are the M2M user's.
				spec.Credentials = &keyportv1.CredentialsSource{SecretName: "cpu-credentials"}
			}
			before := sb.Counters().Succeeded(tc.endpoint, clientID)
			create(t, newApiClient(ns, tc.name, spec))
			ac := waitReady(t, ns, tc.name)

			tok, secret, ok := tokenIn(t, ns, tc.name+"-token")
			if !ok {
				t.Fatal("the output Secret holds no token")
			}
			claims, err := sb.Validate(tok.AccessToken)
			if err != nil {
				t.Fatalf("the platform does not accept the token in the Secret: %v", err)
			}
			if claims.Subject != clientID {
				t.Errorf("token for %q", claims.Subject)
			}
			if n := sb.Counters().Succeeded(tc.endpoint, clientID) - before; n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
			if lifetime := time.Until(tok.ExpiresAt); lifetime > tc.lifetime || lifetime < tc.lifetime-time.Minute {
				t.Errorf("token expires in %v, want about %v", lifetime, tc.lifetime)
			}
			// The Secret contract workloads rely on (package tokensecret).
			if string(secret.Data["authorization"]) != "Bearer "+tok.AccessToken {
				t.Errorf("authorization = %q", secret.Data["authorization"])
			}
			var headers map[string]string
			_ = json.Unmarshal(secret.Data["headers.json"], &headers)
			if headers["Authorization"] == "" {
				t.Error("headers.json lacks Authorization")
			}
			if tc.name == "port-community-password" && headers["Ocp-Apim-Subscription-Key"] != subKey {
				t.Errorf("headers.json lacks the subscription key: %v", headers)
			}
			if secret.Labels[keyportv1.LabelManagedBy] != keyportv1.ManagedByValue ||
				secret.Annotations[keyportv1.AnnotationReloaderIgnore] != "true" ||
				secret.Annotations[keyportv1.AnnotationExpiresAt] == "" || secret.Annotations[keyportv1.AnnotationRefreshAt] == "" {
				t.Errorf("labels %v annotations %v", secret.Labels, secret.Annotations)
			}
			if !metav1.IsControlledBy(secret, ac) {
				t.Error("the Secret is not owned by its ApiClient, so it would outlive it")
			}
			if ac.Status.OutputSecretName != tc.name+"-token" || ac.Status.TokenExpiresAt == nil || ac.Status.NextRefreshTime == nil {
				t.Errorf("status %+v", ac.Status)
			}
			if spec.ClientCertificate != nil {
				pem := get(t, ns, "client-tls", &corev1.Secret{}).Data[corev1.TLSCertKey]
				leaf, _ := certs.DecodeCertificatesPEM(pem)
				if ac.Status.CertificateThumbprint != certs.Thumbprint(leaf[0]) {
					t.Errorf("status thumbprint %q", ac.Status.CertificateThumbprint)
				}
			}
		})
	}
	scanForSecrets(t, ns)
}

// shortSandbox runs a second sandbox with 20-second tokens and puts its CA
// into ns as the Secret short-ca.
func shortSandbox(t *testing.T, ns string) *sandbox.Sandbox {
	t.Helper()
	s, err := sandbox.Start(sandbox.Config{
		Clients:       []sandbox.Client{{ID: clientID, Secret: clientSecret, Username: username, Password: password, SubscriptionKey: subKey}},
		TokenLifetime: 20 * time.Second, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "short-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": s.CACertPEM()}})
	return s
}

// shortClient is an ApiClient of a short sandbox with a 4 s budget, so that
// its tokens rotate every ~10 s.
func shortClient(ns, name string, s *sandbox.Sandbox) *keyportv1.ApiClient {
	ac := newApiClient(ns, name, keyportv1.ApiClientSpec{
		TokenURL: s.URL() + "/connect/token",
		Refresh:  &keyportv1.RefreshPolicy{PropagationBudget: &metav1.Duration{Duration: 4 * time.Second}},
	})
	ac.Spec.TLS.CABundle.Name = "short-ca"
	return ac
}

func TestCredentialRotationRefreshesPromptly(t *testing.T) {
	ns := setup(t)
	startOperator(t, ns, nil)
	readyClient(t, ns, "rotated")
	first, _, _ := tokenIn(t, ns, "rotated-token")
	base := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID)

	// An unrelated Secret changes: nothing happens.
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: ns}, StringData: map[string]string{"x": "y"}})
	time.Sleep(2 * time.Second)
	if n := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID) - base; n != 0 {
		t.Fatalf("an unrelated Secret caused %d token requests", n)
	}

	// The client secret is rotated at the platform and in the Secret.
	sb.AddClient(sandbox.Client{ID: clientID, Secret: "rotated-secret-2", Username: username, Password: password, SubscriptionKey: subKey})
	t.Cleanup(func() {
		sb.AddClient(sandbox.Client{ID: clientID, Secret: clientSecret, Username: username, Password: password, SubscriptionKey: subKey})
	})
	creds := get(t, ns, "cpu-credentials", &corev1.Secret{})
	creds.Data["client_secret"] = []byte("rotated-secret-2")
	if err := env.Client.Update(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a token requested with the new secret", func() (bool, string) {
		tok, _, ok := tokenIn(t, ns, "rotated-token")
		return ok && tok.AccessToken != first.AccessToken, "still the first token"
	})
	if n := sb.Counters().Succeeded(sandbox.EndpointConnectToken, clientID) - base; n != 1 {
		t.Errorf("%d successful token requests after the rotation, want 1", n)
	}
}

// TestATokenOnItsWayWhenTheOperatorStopsReachesItsSecret: the leader is
// stopped (a rolling update) while the platform is answering a refresh.
// The token the platform issues reaches the Secret before the operator
// exits; it is not thrown away, which would waste the request and, at a
// platform that revokes a client's previous token when it issues a new one,
// leave a revoked token in the Secret.
func TestATokenOnItsWayWhenTheOperatorStopsReachesItsSecret(t *testing.T) {
	ns := setup(t)
	op := startOperator(t, ns, nil)
	readyClient(t, ns, "stopping")
	first, _, _ := tokenIn(t, ns, "stopping-token")
	base := sb.Counters().Succeeded(sandbox.EndpointConnectToken, clientID)

	sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{Latency: 2 * time.Second})
	t.Cleanup(func() { sb.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{}) })
	ac := get(t, ns, "stopping", &keyportv1.ApiClient{})
	patch := client.MergeFrom(ac.DeepCopy())
	ac.Annotations = map[string]string{keyportv1.AnnotationRefresh: "before-the-update"}
	if err := env.Client.Patch(context.Background(), ac, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the refresh at the platform", func() (bool, string) {
		return sb.Held(sandbox.EndpointConnectToken) > 0, "no request held by the platform yet"
	})
	op.Stop()

	tok, _, ok := tokenIn(t, ns, "stopping-token")
	if !ok || tok.AccessToken == first.AccessToken {
		t.Fatal("the token the platform issued while the operator stopped is not in the Secret")
	}
	if n := sb.Counters().Succeeded(sandbox.EndpointConnectToken, clientID) - base; n != 1 {
		t.Errorf("%d tokens issued, want the 1 that is in the Secret", n)
	}
}

func TestOutputSecretIsRepairedWithoutANewToken(t *testing.T) {
	ns := setup(t)
	startOperator(t, ns, nil)
	readyClient(t, ns, "repaired")
	original, secret, _ := tokenIn(t, ns, "repaired-token")
	base := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID)

	secret.Data["access_token"] = []byte("pasted-by-hand")
	if err := env.Client.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the edited Secret repaired", func() (bool, string) {
		tok, _, ok := tokenIn(t, ns, "repaired-token")
		return ok && tok.AccessToken == original.AccessToken, "not yet repaired"
	})

	if err := env.Client.Delete(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the deleted Secret recreated", func() (bool, string) {
		tok, _, ok := tokenIn(t, ns, "repaired-token")
		return ok && tok.AccessToken == original.AccessToken, "not yet recreated"
	})
	if n := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID) - base; n != 0 {
		t.Errorf("repairing cost %d token requests, want 0", n)
	}
}

func TestWrongCredentialsAreReported(t *testing.T) {
	ns := setup(t)
	startOperator(t, ns, nil)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "wrong", Namespace: ns},
		StringData: map[string]string{"client_id": clientID, "client_secret": "not-the-secret"}})
	ac := newApiClient(ns, "wrong", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token",
		Credentials: &keyportv1.CredentialsSource{SecretName: "wrong"}})
	create(t, ac)
	eventually(t, 10*time.Second, "InvalidCredentials", func() (bool, string) {
		ac := get(t, ns, "wrong", &keyportv1.ApiClient{})
		status, reason, _ := condition(ac, keyportv1.ConditionReady)
		return status == metav1.ConditionFalse && reason == keyportv1.ReasonInvalidCredentials, describe(ac)
	})
	create(t, newApiClient(ns, "missing", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token",
		Credentials: &keyportv1.CredentialsSource{SecretName: "does-not-exist"}}))
	eventually(t, 10*time.Second, "CredentialsNotFound", func() (bool, string) {
		ac := get(t, ns, "missing", &keyportv1.ApiClient{})
		_, reason, _ := condition(ac, keyportv1.ConditionReady)
		return reason == keyportv1.ReasonCredentialsNotFound && strings.Contains(describe(ac), "does-not-exist"), describe(ac)
	})
	scanForSecrets(t, ns, "not-the-secret")
}

func TestInfeasiblePolicyIsReportedAndTheTokenKept(t *testing.T) {
	ns := setup(t)
	short := shortSandbox(t, ns) // 20 s tokens
	startOperator(t, ns, nil)
	ac := shortClient(ns, "infeasible", short)
	ac.Spec.Refresh.PropagationBudget.Duration = 18 * time.Second
	create(t, ac)
	eventually(t, 10*time.Second, "PolicyInfeasible", func() (bool, string) {
		ac := get(t, ns, "infeasible", &keyportv1.ApiClient{})
		status, reason, _ := condition(ac, keyportv1.ConditionDegraded)
		return status == metav1.ConditionTrue && reason == keyportv1.ReasonPolicyInfeasible, describe(ac)
	})
	if _, _, ok := tokenIn(t, ns, "infeasible-token"); !ok {
		t.Error("the valid token was not written")
	}
}

func TestSuspendAndForcedRefresh(t *testing.T) {
	ns := setup(t)
	startOperator(t, ns, nil)
	readyClient(t, ns, "steered")
	first, _, _ := tokenIn(t, ns, "steered-token")
	base := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID)

	ac := get(t, ns, "steered", &keyportv1.ApiClient{})
	patch := client.MergeFrom(ac.DeepCopy())
	if ac.Annotations == nil {
		ac.Annotations = map[string]string{}
	}
	ac.Annotations[keyportv1.AnnotationRefresh] = "now-1"
	if err := env.Client.Patch(context.Background(), ac, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a forced refresh", func() (bool, string) {
		tok, _, ok := tokenIn(t, ns, "steered-token")
		return ok && tok.AccessToken != first.AccessToken, "same token"
	})
	time.Sleep(time.Second)
	if n := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID) - base; n != 1 {
		t.Errorf("the forced refresh cost %d requests, want 1", n)
	}

	ac = get(t, ns, "steered", &keyportv1.ApiClient{})
	patch = client.MergeFrom(ac.DeepCopy())
	ac.Spec.Suspend = true
	ac.Annotations[keyportv1.AnnotationRefresh] = "now-2"
	if err := env.Client.Patch(context.Background(), ac, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "Suspended", func() (bool, string) {
		ac := get(t, ns, "steered", &keyportv1.ApiClient{})
		_, reason, observed := condition(ac, keyportv1.ConditionReady)
		return reason == keyportv1.ReasonSuspended && observed == ac.Generation, describe(ac)
	})
	base = sb.Counters().Requests(sandbox.EndpointConnectToken, clientID)
	time.Sleep(2 * time.Second)
	if n := sb.Counters().Requests(sandbox.EndpointConnectToken, clientID) - base; n != 0 {
		t.Errorf("a suspended ApiClient made %d token requests", n)
	}
	if _, _, ok := tokenIn(t, ns, "steered-token"); !ok {
		t.Error("suspending removed the token")
	}
}

func TestDeletionLeavesNothingBehind(t *testing.T) {
	ns := setup(t)
	startOperator(t, ns, nil)
	ac := readyClient(t, ns, "deleted")
	_, secret, _ := tokenIn(t, ns, "deleted-token")
	ref := metav1.GetControllerOf(secret)
	if ref == nil || ref.UID != ac.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("the Secret's controller reference %+v does not make the garbage collector delete it with the ApiClient", ref)
	}
	if err := env.Client.Delete(context.Background(), ac); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the ApiClient's metrics series removed", func() (bool, string) {
		families, _ := metrics.Registry.Gather()
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "namespace" && l.GetValue() == ns {
						return false, f.GetName() + " still has a series"
					}
				}
			}
		}
		return true, ""
	})
}

// TestMetricsAreExported checks every metric the controller registers
// with controller-runtime's registry (which the manager serves on /metrics)
// against what a refresh that started late shows: a metric registered
// without a check here fails the test.
func TestMetricsAreExported(t *testing.T) {
	ns := setup(t)
	op := drive(t, ns, newClock(), nil)
	create(t, newApiClient(ns, "measured", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token"}))
	mustBeReady(t, op.reconcile("measured"))
	refreshAt, _ := refreshTimes(t, ns, "measured-token")
	before := gatherFamilies(t)
	// The refresh starts 3 s after its planned time.
	op.at(refreshAt.Add(3*time.Second), "measured")
	after := gatherFamilies(t)
	tok, secret, _ := tokenIn(t, ns, "measured-token")
	nextRefresh, err := time.Parse(time.RFC3339, secret.Annotations[keyportv1.AnnotationRefreshAt])
	if err != nil {
		t.Fatal(err)
	}

	series := func(name string) (float64, bool) {
		for _, m := range after[name].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == ns && labels["name"] == "measured" {
				return m.GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	successes := func(families map[string]*dto.MetricFamily) float64 {
		for _, m := range families["keyport_token_requests_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "success" {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	histogram := func(families map[string]*dto.MetricFamily, name string) (uint64, float64) {
		if f := families[name]; f != nil && len(f.GetMetric()) == 1 {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
		return 0, 0
	}
	checks := map[string]func() (bool, string){
		"keyport_apiclient_token_expiry_timestamp_seconds": func() (bool, string) {
			v, ok := series("keyport_apiclient_token_expiry_timestamp_seconds")
			return ok && v == float64(tok.ExpiresAt.Unix()), fmt.Sprintf("%v, want the Secret's expiry %d", v, tok.ExpiresAt.Unix())
		},
		"keyport_apiclient_next_refresh_timestamp_seconds": func() (bool, string) {
			v, ok := series("keyport_apiclient_next_refresh_timestamp_seconds")
			return ok && v == float64(nextRefresh.Unix()), fmt.Sprintf("%v, want the Secret's refresh time %d", v, nextRefresh.Unix())
		},
		"keyport_apiclient_consecutive_failures": func() (bool, string) {
			v, ok := series("keyport_apiclient_consecutive_failures")
			return ok && v == 0, fmt.Sprintf("present %t, %v, want 0", ok, v)
		},
		"keyport_token_requests_total": func() (bool, string) {
			d := successes(after) - successes(before)
			return d == 1, fmt.Sprintf("%v more successful requests, want 1", d)
		},
		"keyport_token_request_duration_seconds": func() (bool, string) {
			n0, _ := histogram(before, "keyport_token_request_duration_seconds")
			n1, _ := histogram(after, "keyport_token_request_duration_seconds")
			return n1-n0 == 1, fmt.Sprintf("%d more observations, want 1", n1-n0)
		},
		"keyport_refresh_lateness_seconds": func() (bool, string) {
			n0, s0 := histogram(before, "keyport_refresh_lateness_seconds")
			n1, s1 := histogram(after, "keyport_refresh_lateness_seconds")
			return n1-n0 == 1 && s1-s0 == 3, fmt.Sprintf("%d more observations summing %vs, want one of 3s", n1-n0, s1-s0)
		},
	}
	for _, c := range apiclient.Collectors {
		descs := make(chan *prometheus.Desc, 8)
		c.Describe(descs)
		close(descs)
		for d := range descs {
			m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			check, ok := checks[m[1]]
			switch {
			case !ok:
				t.Errorf("metric %s is registered but this test does not check it", m[1])
			case after[m[1]] == nil:
				t.Errorf("metric %s is not served", m[1])
			default:
				if ok, got := check(); !ok {
					t.Errorf("metric %s: %s", m[1], got)
				}
			}
		}
	}
}

func gatherFamilies(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

// scanForSecrets fails the test when any secret value used in these tests
// appears in the operator's logs, in events or in status.
func scanForSecrets(t *testing.T, ns string, extra ...string) {
	t.Helper()
	secrets := append([]string{clientSecret, password, subKey, "rotated-secret-2"}, extra...)
	var list corev1.SecretList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err == nil {
		for _, s := range list.Items {
			if tok := string(s.Data["access_token"]); tok != "" {
				secrets = append(secrets, tok)
			}
		}
	}
	var events corev1.EventList
	_ = env.Client.List(context.Background(), &events, client.InNamespace(ns))
	var acs keyportv1.ApiClientList
	_ = env.Client.List(context.Background(), &acs, client.InNamespace(ns))
	status, _ := json.Marshal(acs.Items)
	haystacks := map[string]string{"logs": logs.String(), "status": string(status)}
	for _, e := range events.Items {
		haystacks["events"] += e.Reason + " " + e.Message + "\n"
	}
	for where, text := range haystacks {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("a secret value appears in %s", where)
			}
		}
	}
}
