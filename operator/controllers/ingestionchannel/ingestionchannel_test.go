package ingestionchannel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/operator/controllers/ingestionchannel"
	_ "github.com/keyport-dev/keyport/shared/drivers/restdriver"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

var (
	env *testenv.Env
	sb  *sandbox.Sandbox
)

const (
	clientID     = "datasharing-app"
	clientSecret = "ds-secret-3"
)

func TestMain(m *testing.M) {
	var err error
	sb, err = sandbox.Start(sandbox.Config{Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret}}, Seed: 13})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.Main(m, &env)
}

func setup(t *testing.T) string {
	t.Helper()
	ns := env.Namespace(t)
	optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		if err := (&apiclient.Reconciler{Client: mgr.GetClient(), MACKey: []byte("0123456789abcdef0123456789abcdef")}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&ingestionchannel.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-ingestionchannel")}).SetupWithManager(mgr)
	})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		StringData: map[string]string{"client_id": clientID, "client_secret": clientSecret}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}})
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "datasharing", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		Preset: keyportv1.PresetOAuth2ClientCredentials, TokenURL: sb.URL() + "/connect/token",
		Credentials: &keyportv1.CredentialsSource{SecretName: "creds"},
		TLS:         &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}}}})
	return ns
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func channel(ns, name, customer, channelID, messageType string) *keyportv1.IngestionChannel {
	return &keyportv1.IngestionChannel{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.IngestionChannelSpec{
		ApiClientName: "datasharing", Customer: customer, BaseURL: sb.URL(), ChannelID: channelID, MessageType: messageType,
		MediaType: "application/json",
		Platform:  &keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "datasharing", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
	}}
}

// registerAtPlatform creates the channel at the sandbox, as the platform's
// onboarding does before the customer declares it.
func registerAtPlatform(t *testing.T, id, customer, messageType string) {
	t.Helper()
	hc, _ := outbound.NewClient(outbound.Options{CABundle: sb.CACertPEM()})
	form := "grant_type=client_credentials&client_id=" + clientID + "&client_secret=" + clientSecret
	resp, err := hc.Post(sb.URL()+"/connect/token", "application/x-www-form-urlencoded", bytes.NewBufferString(form))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	body, _ := json.Marshal(map[string]string{"id": id, "customer": customer, "messageType": messageType, "mediaType": "application/json"})
	req, _ := http.NewRequest(http.MethodPost, sb.URL()+"/management/v1/ingestion-channels", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register channel at the platform: %v %v", err, resp.Status)
	}
	resp.Body.Close()
}

func condition(t *testing.T, ns, name, condType string) (metav1.ConditionStatus, string, *keyportv1.IngestionChannel) {
	ch := &keyportv1.IngestionChannel{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ch); err != nil {
		t.Fatal(err)
	}
	c := apimeta.FindStatusCondition(ch.Status.Conditions, condType)
	if c == nil || c.ObservedGeneration != ch.Generation {
		return "", "", ch
	}
	return c.Status, c.Reason, ch
}

func waitReason(t *testing.T, ns, name, condType string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	optest.Eventually(t, 20*time.Second, fmt.Sprintf("%s %s=%s %s", name, condType, status, reason), func() (bool, string) {
		s, r, ch := condition(t, ns, name, condType)
		return s == status && r == reason, fmt.Sprint(ch.Status.Conditions)
	})
}

func channelSecret(t *testing.T, ns, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// post is what a workload does with the mounted channel Secret.
func post(t *testing.T, data map[string][]byte) int {
	t.Helper()
	var headers map[string]string
	_ = json.Unmarshal(data["headers.json"], &headers)
	req, _ := http.NewRequest(http.MethodPost, string(data["url"]), bytes.NewBufferString(`{"container":"MSKU1234565"}`))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", string(data["content_type"]))
	req.Header.Set("X-Message-Type", string(data["message_type"]))
	hc, _ := outbound.NewClient(outbound.Options{CABundle: sb.CACertPEM()})
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestAWorkloadPostsWithTheChannelSecretAcrossARotation(t *testing.T) {
	ns := setup(t)
	registerAtPlatform(t, ns+"-acme", "acme", "ContainerEvent")
	create(t, channel(ns, "acme", "acme", ns+"-acme", "ContainerEvent"))
	waitReason(t, ns, "acme", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonChannelVerified)
	data := channelSecret(t, ns, "acme-channel")
	if string(data["url"]) != sb.URL()+"/ingestion/"+ns+"-acme" || string(data["message_type"]) != "ContainerEvent" ||
		string(data["customer"]) != "acme" {
		t.Fatalf("channel Secret url %q message_type %q", data["url"], data["message_type"])
	}
	if got := post(t, data); got != http.StatusAccepted {
		t.Fatalf("posting with the channel Secret answered %d", got)
	}

	// The ApiClient rotates its token: the channel Secret follows.
	ac := &keyportv1.ApiClient{}
	_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "datasharing"}, ac)
	patch := client.MergeFrom(ac.DeepCopy())
	ac.Annotations = map[string]string{keyportv1.AnnotationRefresh: "rotate"}
	if err := env.Client.Patch(context.Background(), ac, patch); err != nil {
		t.Fatal(err)
	}
	optest.Eventually(t, 15*time.Second, "the channel Secret carrying the new token", func() (bool, string) {
		now := channelSecret(t, ns, "acme-channel")
		token := channelSecret(t, ns, "datasharing-token")
		return string(now["access_token"]) != string(data["access_token"]) && string(now["access_token"]) == string(token["access_token"]), "old token"
	})
	if got := post(t, channelSecret(t, ns, "acme-channel")); got != http.StatusAccepted {
		t.Fatalf("posting after the rotation answered %d", got)
	}
}

func TestOneChannelBelongsToOneCustomer(t *testing.T) {
	ns := setup(t)
	registerAtPlatform(t, ns+"-shared", "acme", "ContainerEvent")
	create(t, channel(ns, "first", "acme", ns+"-shared", "ContainerEvent"))
	waitReason(t, ns, "first", keyportv1.ConditionReady, metav1.ConditionTrue, keyportv1.ReasonChannelVerified)
	create(t, channel(ns, "second", "globex", ns+"-shared", "ContainerEvent"))
	waitReason(t, ns, "second", keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonChannelConflict)
	// The first claim keeps working.
	if s, r, _ := condition(t, ns, "first", keyportv1.ConditionReady); s != metav1.ConditionTrue {
		t.Errorf("the first channel lost Ready: %s %s", s, r)
	}
}

func TestThePlatformIsAskedAboutTheChannel(t *testing.T) {
	ns := setup(t)
	registerAtPlatform(t, ns+"-globex", "globex", "ContainerEvent")
	create(t, channel(ns, "wrong-customer", "acme", ns+"-globex", "ContainerEvent"))
	waitReason(t, ns, "wrong-customer", keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonPlatformRejected)
	create(t, channel(ns, "unknown", "acme", ns+"-nope", "ContainerEvent"))
	waitReason(t, ns, "unknown", keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonPlatformRejected)
}

// TestThePlatformsAnswerIsNotQuoted: a mismatch says what did not match,
// not what the platform answered: another customer's name, or whatever a
// management URL pointed elsewhere returns.
func TestThePlatformsAnswerIsNotQuoted(t *testing.T) {
	ns := setup(t)
	registerAtPlatform(t, ns+"-other", "other-customer-Qh7", "ContainerEvent")
	registerAtPlatform(t, ns+"-type", "acme", "InternalType-Qh7")
	create(t, channel(ns, "other", "acme", ns+"-other", "ContainerEvent"))
	create(t, channel(ns, "type", "acme", ns+"-type", "ContainerEvent"))
	for _, name := range []string{"other", "type"} {
		waitReason(t, ns, name, keyportv1.ConditionReady, metav1.ConditionFalse, keyportv1.ReasonPlatformRejected)
		_, _, ch := condition(t, ns, name, keyportv1.ConditionReady)
		for _, c := range ch.Status.Conditions {
			if strings.Contains(c.Message, "Qh7") {
				t.Errorf("%s: condition %s quotes the platform's answer: %s", name, c.Type, c.Message)
			}
		}
	}
}

func TestAnApiClientThatIsNotReadyDegradesTheChannel(t *testing.T) {
	ns := setup(t)
	ch := channel(ns, "orphan", "acme", ns+"-x", "ContainerEvent")
	ch.Spec.ApiClientName = "does-not-exist"
	ch.Spec.Platform = nil
	create(t, ch)
	waitReason(t, ns, "orphan", keyportv1.ConditionDegraded, metav1.ConditionTrue, keyportv1.ReasonApiClientNotReady)
}
