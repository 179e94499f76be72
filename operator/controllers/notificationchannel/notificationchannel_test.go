package notificationchannel_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/operator/controllers/notificationchannel"
	_ "github.com/keyport-dev/keyport/shared/drivers/restdriver"
	"github.com/keyport-dev/keyport/shared/outbound"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

var (
	env  *testenv.Env
	sb   *sandbox.Sandbox
	recv *receiver
)

const (
	clientID     = "cpu-app"
	clientSecret = "cpu-secret-7"
)

// receiver is the user's webhook with its own token endpoint, on loopback.
type receiver struct {
	*httptest.Server
	ca *certstest.CA

	mu sync.Mutex
	// secrets are the client secrets the token endpoint accepts.
	secrets  map[string]bool
	received []string
}

func (r *receiver) accept(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[secret] = true
}

func newReceiver() *receiver {
	ca, _ := certstest.NewCA("receiver CA")
	cert, _ := ca.Issue("127.0.0.1", certstest.Options{Server: true})
	r := &receiver{ca: ca, secrets: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		r.mu.Lock()
		ok := r.secrets[req.PostForm.Get("client_secret")]
		r.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"receiver-token","expires_in":300}`)
	})
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.received = append(r.received, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	r.Server = httptest.NewUnstartedServer(mux)
	r.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
	r.StartTLS()
	return r
}

func TestMain(m *testing.M) {
	recv = newReceiver()
	var err error
	// Two channels a page: every list the controller reads has pages.
	sb, err = sandbox.Start(sandbox.Config{Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret}},
		WebhookCAs: recv.ca.CertPEM(), Seed: 9, PageSize: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.Main(m, &env)
}

// setup starts the ApiClient and NotificationChannel controllers with a
// short resync and deletion bound, and an ApiClient "platform" for the
// management API.
func setup(t *testing.T) string {
	t.Helper()
	return setupAs(t, clientID)
}

// setupAs is setup with another client of the platform: the registrations
// its channels see are only theirs and the test's.
func setupAs(t *testing.T, account string) string {
	t.Helper()
	return setupWith(t, account, nil)
}

// setupWithClock is setup with a clock that moves only when the test says,
// for rotations and deletion bounds of their real lengths (resyncs, which
// pick up what the clock says, are still every second).
func setupWithClock(t *testing.T) (string, *clocktesting.FakeClock) {
	t.Helper()
	clock := clocktesting.NewFakeClock(time.Now())
	return setupWith(t, clientID, clock), clock
}

func setupWith(t *testing.T, account string, clock clock.PassiveClock) string {
	t.Helper()
	ns := env.Namespace(t)
	optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		if err := (&apiclient.Reconciler{Client: mgr.GetClient(), MACKey: []byte("0123456789abcdef0123456789abcdef")}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&notificationchannel.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-notificationchannel"),
			Resync: time.Second, DeletionTimeout: 3 * time.Second, Clock: clock}).SetupWithManager(mgr)
	})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		StringData: map[string]string{"client_id": account, "client_secret": clientSecret}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": sb.CACertPEM()}})
	create(t, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		TokenURL: sb.URL() + "/connect/token", Credentials: &keyportv1.CredentialsSource{SecretName: "creds"},
		TLS: &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}}}})
	return ns
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func channel(ns, name, eventType string, auth keyportv1.WebhookAuthentication) *keyportv1.NotificationChannel {
	return &keyportv1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.NotificationChannelSpec{
		Platform:    keyportv1.PlatformReference{Driver: sandbox.Driver, ApiClientName: "platform", ManagementURL: sb.URL(), Parameters: sandbox.DriverParameters()},
		ChannelName: ns + "-" + name, WebhookURL: recv.URL + "/hook", EventTypes: []string{eventType}, Authentication: auth,
	}}
}

func registered(t *testing.T, ns, name string) *keyportv1.NotificationChannel {
	t.Helper()
	var nc *keyportv1.NotificationChannel
	optest.Eventually(t, 20*time.Second, name+" registered", func() (bool, string) {
		nc = &keyportv1.NotificationChannel{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, nc); err != nil {
			return false, err.Error()
		}
		c := apimeta.FindStatusCondition(nc.Status.Conditions, keyportv1.ConditionReady)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == metav1.ConditionTrue && c.Reason == keyportv1.ReasonChannelRegistered && c.ObservedGeneration == nc.Generation &&
			nc.Status.ChannelID != "", c.Reason + ": " + c.Message
	})
	return nc
}

func atPlatform(id string) (sandbox.NotificationChannel, bool) {
	for _, c := range sb.NotificationChannels() {
		if c.ID == id {
			return c, true
		}
	}
	return sandbox.NotificationChannel{}, false
}

func TestGeneratedOAuth2CredentialsDeliverNotifications(t *testing.T) {
	ns := setup(t)
	create(t, channel(ns, "visits", "VisitCreated-"+ns, keyportv1.WebhookAuthentication{
		Type:                keyportv1.WebhookAuthOAuth2ClientCredentials,
		OAuth2:              &keyportv1.WebhookOAuth2{TokenURL: recv.URL + "/token", ClientID: "cpu-platform", Scopes: []string{"hooks"}},
		GeneratedSecretName: "visits-webhook-client",
	}))
	nc := registered(t, ns, "visits")
	generated := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "visits-webhook-client"}, generated); err != nil {
		t.Fatal(err)
	}
	secret := string(generated.Data["client_secret"])
	if len(secret) < 32 || string(generated.Data["client_id"]) != "cpu-platform" || !metav1.IsControlledBy(generated, nc) {
		t.Fatalf("generated Secret: keys %v", keys(generated.Data))
	}
	// The receiving workload mounts the generated Secret and accepts it.
	recv.accept(secret)
	deliveries := sb.Notify(context.Background(), "VisitCreated-"+ns, map[string]string{"visit": "1"})
	if len(deliveries) != 1 || deliveries[0].Error != "" {
		t.Fatalf("deliveries %+v", deliveries)
	}
	reg, _ := atPlatform(nc.Status.ChannelID)
	if reg.Authentication.ClientSecret != secret || reg.Authentication.TokenURL != recv.URL+"/token" {
		t.Error("the platform does not hold the generated credentials")
	}
	// Nothing secret in status or events.
	var events corev1.EventList
	_ = env.Client.List(context.Background(), &events, client.InNamespace(ns))
	for _, e := range events.Items {
		if strings.Contains(e.Message, secret) || strings.Contains(e.Message, clientSecret) {
			t.Errorf("an event quotes a secret: %s", e.Message)
		}
	}
}

func TestSpecChangesAndDriftAreRepaired(t *testing.T) {
	ns := setup(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-token", Namespace: ns}, StringData: map[string]string{"token": "static-1"}})
	create(t, channel(ns, "drift", "Event-"+ns, keyportv1.WebhookAuthentication{
		Type: keyportv1.WebhookAuthStaticBearer, BearerToken: &keyportv1.SecretKeySelector{Name: "hook-token", Key: "token"}}))
	nc := registered(t, ns, "drift")
	id := nc.Status.ChannelID
	reg, ok := atPlatform(id)
	if !ok || reg.Headers["Authorization"] != "Bearer static-1" || reg.Authentication.Type != "None" {
		t.Fatalf("registration %+v", reg)
	}

	// Resyncs that find no drift ask the platform and write no status (the
	// time of the last sync alone is not worth a write).
	asked := sb.Counters().Succeeded(sandbox.EndpointManagement, clientID)
	optest.Eventually(t, 10*time.Second, "two resyncs", func() (bool, string) {
		return sb.Counters().Succeeded(sandbox.EndpointManagement, clientID) >= asked+2, "the platform was not asked again"
	})
	if now := registered(t, ns, "drift"); now.ResourceVersion != nc.ResourceVersion {
		t.Errorf("resyncs without drift wrote the status: %+v", now.Status)
	}

	// A spec change reaches the platform.
	patch := client.MergeFrom(nc.DeepCopy())
	nc.Spec.EventTypes = []string{"Event-" + ns, "Other-" + ns}
	if err := env.Client.Patch(context.Background(), nc, patch); err != nil {
		t.Fatal(err)
	}
	optest.Eventually(t, 10*time.Second, "event types updated at the platform", func() (bool, string) {
		reg, _ := atPlatform(id)
		return len(reg.EventTypes) == 2, fmt.Sprint(reg.EventTypes)
	})

	// Someone edits the registration in the platform's console.
	tok := platformToken(t, ns)
	changed := reg
	changed.WebhookURL = "https://evil.example.com/hook"
	changed.EventTypes = []string{"Event-" + ns, "Other-" + ns}
	putChannel(t, tok, changed)
	optest.Eventually(t, 10*time.Second, "the console edit reverted", func() (bool, string) {
		reg, _ := atPlatform(id)
		return reg.WebhookURL == recv.URL+"/hook", reg.WebhookURL
	})

	// Someone deletes it at the platform.
	deleteChannel(t, tok, id)
	var newID string
	optest.Eventually(t, 10*time.Second, "the registration recreated", func() (bool, string) {
		nc := &keyportv1.NotificationChannel{}
		_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "drift"}, nc)
		newID = nc.Status.ChannelID
		_, exists := atPlatform(newID)
		return newID != id && exists, newID
	})
	count := 0
	for _, c := range sb.NotificationChannels() {
		if c.Name == ns+"-drift" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d registrations named %s at the platform, want exactly 1", count, ns+"-drift")
	}
}

func TestDeletionPolicies(t *testing.T) {
	ns := setup(t)
	none := keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}
	create(t, channel(ns, "deleted", "D-"+ns, none))
	retained := channel(ns, "retained", "R-"+ns, none)
	retained.Spec.DeletionPolicy = keyportv1.DeletionPolicyRetain
	create(t, retained)
	del := registered(t, ns, "deleted")
	ret := registered(t, ns, "retained")
	for _, nc := range []*keyportv1.NotificationChannel{del, ret} {
		if err := env.Client.Delete(context.Background(), nc); err != nil {
			t.Fatal(err)
		}
	}
	gone(t, ns, "deleted")
	gone(t, ns, "retained")
	if _, ok := atPlatform(del.Status.ChannelID); ok {
		t.Error("the Delete policy left the registration at the platform")
	}
	if _, ok := atPlatform(ret.Status.ChannelID); !ok {
		t.Error("the Retain policy removed the registration")
	}
	// No channel uses the ApiClient any more: nothing keeps it or its
	// Secrets once deleted, even with no operator left to ask.
	for _, o := range usedByChannels(ns) {
		optest.Eventually(t, 10*time.Second, fmt.Sprintf("%T %s no longer marked in use", o, o.GetName()), func() (bool, string) {
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
				return false, err.Error()
			}
			return !controllerutil.ContainsFinalizer(o, keyportv1.FinalizerInUse), fmt.Sprint(o.GetFinalizers())
		})
	}
}

// usedByChannels are the objects that setup's channels call the platform
// with: the ApiClient, its token Secret and its CA bundle.
func usedByChannels(ns string) []client.Object {
	return []client.Object{
		&keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "platform-token", Namespace: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns}},
	}
}

// TestTheRegistrationIsRemovedWhenTheApiClientIsDeletedFirst plays the
// deletion of a namespace, which deletes everything in it at once and in
// no particular order: here the ApiClient and every Secret before the
// channel. What removing the registration needs stays until the channel
// has removed it, then goes.
func TestTheRegistrationIsRemovedWhenTheApiClientIsDeletedFirst(t *testing.T) {
	ns := setup(t)
	create(t, channel(ns, "leaving", "L-"+ns, keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}))
	nc := registered(t, ns, "leaving")
	used := usedByChannels(ns)
	credentials := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns}}
	for _, o := range append(used, credentials) {
		if err := env.Client.Delete(context.Background(), o); err != nil {
			t.Fatalf("delete %T %s: %v", o, o.GetName(), err)
		}
	}
	// The credentials are not needed to remove a registration; the rest
	// stays through several resyncs of the channel.
	objectGone(t, credentials)
	// Checked again and again for two seconds, not once after a sleep.
	for until := time.Now().Add(2 * time.Second); time.Now().Before(until); {
		for _, o := range used {
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
				t.Fatalf("%T %s went while the channel still needs it: %v", o, o.GetName(), err)
			}
		}
	}

	if err := env.Client.Delete(context.Background(), nc); err != nil {
		t.Fatal(err)
	}
	gone(t, ns, "leaving")
	if _, ok := atPlatform(nc.Status.ChannelID); ok {
		t.Error("the registration is left at the platform")
	}
	for _, o := range used {
		objectGone(t, o)
	}
}

func TestDeletionDoesNotHangWhenThePlatformIsDown(t *testing.T) {
	ns, clock := setupWithClock(t)
	create(t, channel(ns, "stuck", "S-"+ns, keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}))
	nc := registered(t, ns, "stuck")
	sb.SetFault(sandbox.EndpointManagement, sandbox.Fault{OutageUntil: time.Now().Add(time.Minute)})
	t.Cleanup(func() { sb.SetFault(sandbox.EndpointManagement, sandbox.Fault{}) })
	// The ApiClient too, as when the namespace is deleted: it waits for the
	// channel, which waits only up to its bound.
	apiClient := usedByChannels(ns)[0]
	for _, o := range []client.Object{apiClient, nc} {
		if err := env.Client.Delete(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	optest.Eventually(t, 5*time.Second, "DeletionBlocked", func() (bool, string) {
		nc = &keyportv1.NotificationChannel{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "stuck"}, nc); err != nil {
			return false, err.Error()
		}
		c := apimeta.FindStatusCondition(nc.Status.Conditions, keyportv1.ConditionReady)
		return c != nil && c.Reason == keyportv1.ReasonDeletionBlocked, fmt.Sprint(nc.Status.Conditions)
	})
	// The clock reaches the 3 s bound; the next retry (every resync) lets go.
	clock.SetTime(nc.DeletionTimestamp.Add(3 * time.Second))
	gone(t, ns, "stuck")
	objectGone(t, apiClient)
}

func gone(t *testing.T, ns, name string) {
	t.Helper()
	optest.Eventually(t, 15*time.Second, name+" deleted", func() (bool, string) {
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &keyportv1.NotificationChannel{})
		return client.IgnoreNotFound(err) == nil && err != nil, "still there"
	})
}

func objectGone(t *testing.T, o client.Object) {
	t.Helper()
	optest.Eventually(t, 15*time.Second, fmt.Sprintf("%T %s deleted", o, o.GetName()), func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o)
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v, finalizers %v", err, o.GetFinalizers())
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// platformToken reads the management token Keyport keeps for "platform".
func platformToken(t *testing.T, ns string) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "platform-token"}, s); err != nil {
		t.Fatal(err)
	}
	return string(s.Data["access_token"])
}

// console is the platform's own UI, changing registrations behind
// Keyport's back.
func console(t *testing.T, method, path, token string, body any) {
	t.Helper()
	hc, err := outbound.NewClient(outbound.Options{CABundle: sb.CACertPEM()})
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, sb.URL()+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
}

func putChannel(t *testing.T, token string, c sandbox.NotificationChannel) {
	console(t, http.MethodPut, "/management/v1/notification-channels/"+c.ID, token, c)
}

func deleteChannel(t *testing.T, token, id string) {
	console(t, http.MethodDelete, "/management/v1/notification-channels/"+id, token, nil)
}

// managementToken waits for the management token of setup's ApiClient.
func managementToken(t *testing.T, ns string) string {
	t.Helper()
	optest.Eventually(t, 10*time.Second, "the management token", func() (bool, string) {
		s := &corev1.Secret{}
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "platform-token"}, s)
		return err == nil, fmt.Sprint(err)
	})
	return platformToken(t, ns)
}

// named lists the ids of the registrations at the platform named name.
func named(name string) []string {
	var ids []string
	for _, c := range sb.NotificationChannels() {
		if c.Name == name {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// TestACrashLeftRegistrationOnALaterPageIsAdopted plays the crash: the
// registration exists at the platform but its id never reached the status,
// and the platform lists it on its second page. It is found there and
// adopted, not registered a second time.
func TestACrashLeftRegistrationOnALaterPageIsAdopted(t *testing.T) {
	sb.AddClient(sandbox.Client{ID: "crash-app", Secret: clientSecret})
	ns := setupAs(t, "crash-app")
	tok := managementToken(t, ns)
	// The platform lists in order of creation, two a page: these fill the
	// first page.
	for i := range 2 {
		console(t, http.MethodPost, "/management/v1/notification-channels", tok, sandbox.NotificationChannel{Name: fmt.Sprintf("%s-other-%d", ns, i),
			WebhookURL: recv.URL + "/hook", EventTypes: []string{"Other-" + ns}, Authentication: sandbox.WebhookAuth{Type: "None"}})
	}
	create(t, channel(ns, "crashed", "C-"+ns, keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}))
	nc := registered(t, ns, "crashed")
	id := nc.Status.ChannelID

	// The status loses the id, as when the operator stopped between
	// creating the registration and writing its id.
	before := nc.DeepCopy()
	nc.Status.ChannelID = ""
	if err := env.Client.Status().Patch(context.Background(), nc, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	optest.Eventually(t, 10*time.Second, "the registration adopted again", func() (bool, string) {
		got := &keyportv1.NotificationChannel{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(nc), got); err != nil {
			return false, err.Error()
		}
		return got.Status.ChannelID != "", "no id in the status yet"
	})
	if ids := named(ns + "-crashed"); len(ids) != 1 || ids[0] != id {
		t.Fatalf("registrations %v at the platform, want only %s, the one adopted", ids, id)
	}
	registered(t, ns, "crashed")
}

// TestARegistrationWithTheSameNameAndURLIsNotAdopted: a registration that
// Keyport did not make, with the name and webhook URL a NotificationChannel
// asks for, stays as it is; the channel registers its own.
func TestARegistrationWithTheSameNameAndURLIsNotAdopted(t *testing.T) {
	sb.AddClient(sandbox.Client{ID: "lookalike-app", Secret: clientSecret})
	ns := setupAs(t, "lookalike-app")
	lookalike := sandbox.NotificationChannel{Name: ns + "-lookalike", ChannelType: "HTTPSWebhook", Method: "POST",
		WebhookURL: recv.URL + "/hook", EventTypes: []string{"Theirs-" + ns}, Authentication: sandbox.WebhookAuth{Type: "None"}}
	console(t, http.MethodPost, "/management/v1/notification-channels", managementToken(t, ns), lookalike)
	theirs := named(ns + "-lookalike")
	if len(theirs) != 1 {
		t.Fatalf("registrations %v", theirs)
	}
	create(t, channel(ns, "lookalike", "Ours-"+ns, keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}))
	nc := registered(t, ns, "lookalike")
	if nc.Status.ChannelID == theirs[0] {
		t.Fatal("the channel took over a registration it did not make")
	}
	got, ok := atPlatform(theirs[0])
	if !ok || len(got.EventTypes) != 1 || got.EventTypes[0] != "Theirs-"+ns || len(got.Headers) != 0 {
		t.Errorf("the other registration was changed: %+v (still there: %v)", got, ok)
	}
	ours, _ := atPlatform(nc.Status.ChannelID)
	if ours.Headers[notificationchannel.IdentityHeader] != string(nc.UID) {
		t.Errorf("the channel's registration carries headers %v, want %s: %s", ours.Headers, notificationchannel.IdentityHeader, nc.UID)
	}
}

// TestGenericRESTDriverManagesTheSandboxThroughConfiguration drives the
// sandbox with the generic REST driver, configured the way a user
// describes a platform Keyport has no code for.
func TestGenericRESTDriverManagesTheSandboxThroughConfiguration(t *testing.T) {
	ns := setup(t)
	nc := channel(ns, "generic", "G-"+ns, keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone})
	nc.Spec.Platform.Driver = "generic-rest"
	nc.Spec.Platform.Parameters = map[string]string{
		"channels.path":      "/management/v1/notification-channels",
		"channels.itemPath":  "{{.Path}}/{{.ID}}",
		"channels.idPath":    "id",
		"channels.itemsPath": "items",
		"channels.nextPath":  "next",
		"channels.body": `{"name": {{json .Channel.Name}}, "webhookURL": {{json .Channel.WebhookURL}}, "method": "POST",` +
			` "channelType": "HTTPSWebhook", "eventTypes": {{json .Channel.EventTypes}}, "headers": {{json .Channel.Headers}},` +
			` "authentication": {"type": {{json .Channel.Auth.Type}}}}`,
		"field.webhookURL": "webhookURL",
	}
	create(t, nc)
	reg := registered(t, ns, "generic")
	got, ok := atPlatform(reg.Status.ChannelID)
	if !ok || got.WebhookURL != recv.URL+"/hook" || len(got.EventTypes) != 1 || got.EventTypes[0] != "G-"+ns {
		t.Fatalf("the platform holds %+v", got)
	}
	deliveries := sb.Notify(context.Background(), "G-"+ns, nil)
	if len(deliveries) != 1 || deliveries[0].Error != "" {
		t.Fatalf("deliveries %+v", deliveries)
	}
	// Removed out of band: recreated through the same configuration.
	deleteChannel(t, platformToken(t, ns), reg.Status.ChannelID)
	optest.Eventually(t, 10*time.Second, "the registration recreated", func() (bool, string) {
		nc := &keyportv1.NotificationChannel{}
		_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "generic"}, nc)
		_, exists := atPlatform(nc.Status.ChannelID)
		return nc.Status.ChannelID != reg.Status.ChannelID && exists, nc.Status.ChannelID
	})
	if err := env.Client.Delete(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	gone(t, ns, "generic")
	for _, c := range sb.NotificationChannels() {
		if c.Name == ns+"-generic" {
			t.Errorf("channel %s left at the platform after deletion", c.ID)
		}
	}
}

// TestEveryAuthenticationTypeIsDeliveredAndVerifiable dispatches a real
// notification for each authentication type; the receiver checks what it
// got against the Secret Keyport produced (or the one the user gave).
func TestEveryAuthenticationTypeIsDeliveredAndVerifiable(t *testing.T) {
	ns := setup(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "receiver-user", Namespace: ns},
		StringData: map[string]string{"password": "receiver-password-5"}})
	cases := []struct {
		name string
		auth keyportv1.WebhookAuthentication
		// expect returns the Authorization the webhook must see, reading the
		// generated Secret like the receiving workload would.
		expect func(t *testing.T) string
	}{
		{"none", keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthNone}, func(*testing.T) string { return "" }},
		{"static-bearer", keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthStaticBearer, GeneratedSecretName: "static-bearer-gen"},
			func(t *testing.T) string {
				return "Bearer " + generatedValue(t, ns, "static-bearer-gen", "bearer_token")
			}},
		{"oauth2-client-credentials", keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthOAuth2ClientCredentials,
			OAuth2:              &keyportv1.WebhookOAuth2{TokenURL: recv.URL + "/token", ClientID: "platform-cc"},
			GeneratedSecretName: "cc-gen"},
			func(t *testing.T) string {
				recv.accept(generatedValue(t, ns, "cc-gen", "client_secret"))
				return "Bearer receiver-token"
			}},
		{"oauth2-password", keyportv1.WebhookAuthentication{Type: keyportv1.WebhookAuthOAuth2Password,
			OAuth2: &keyportv1.WebhookOAuth2{TokenURL: recv.URL + "/token", ClientID: "platform-pw", Username: "platform-user",
				Password: &keyportv1.SecretKeySelector{Name: "receiver-user", Key: "password"}},
			GeneratedSecretName: "pw-gen"},
			func(t *testing.T) string {
				recv.accept(generatedValue(t, ns, "pw-gen", "client_secret"))
				return "Bearer receiver-token"
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			event := tc.name + "-" + ns
			create(t, channel(ns, tc.name, event, tc.auth))
			registered(t, ns, tc.name)
			want := tc.expect(t)
			deliveries := sb.Notify(context.Background(), event, nil)
			if len(deliveries) != 1 || deliveries[0].Error != "" {
				t.Fatalf("deliveries %+v", deliveries)
			}
			recv.mu.Lock()
			got := recv.received[len(recv.received)-1]
			recv.mu.Unlock()
			if got != want {
				t.Errorf("the webhook saw Authorization %q, want %q", got, want)
			}
		})
	}
}

func generatedValue(t *testing.T, ns, name, key string) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	v := string(s.Data[key])
	if len(v) < 32 {
		t.Fatalf("generated %s/%s has no strong %q", name, key, key)
	}
	return v
}

// TestGeneratedCredentialsRotateWithOverlap: the receiver gets the new
// secret first (both accepted), the platform switches after the
// propagation delay (2 minutes), and the previous secret goes after the
// overlap (10 minutes), on a clock the test moves.
func TestGeneratedCredentialsRotateWithOverlap(t *testing.T) {
	ns, clock := setupWithClock(t)
	create(t, channel(ns, "rotating", "Rot-"+ns, keyportv1.WebhookAuthentication{
		Type:                keyportv1.WebhookAuthOAuth2ClientCredentials,
		OAuth2:              &keyportv1.WebhookOAuth2{TokenURL: recv.URL + "/token", ClientID: "platform-rot"},
		GeneratedSecretName: "rotating-gen",
	}))
	nc := registered(t, ns, "rotating")
	first := generatedValue(t, ns, "rotating-gen", "client_secret")
	platformSecret := func() string {
		reg, _ := atPlatform(nc.Status.ChannelID)
		return reg.Authentication.ClientSecret
	}
	if platformSecret() != first {
		t.Fatal("the platform does not hold the generated secret")
	}

	patch := client.MergeFrom(nc.DeepCopy())
	nc.Annotations = map[string]string{notificationchannel.AnnotationRotate: "1"}
	if err := env.Client.Patch(context.Background(), nc, patch); err != nil {
		t.Fatal(err)
	}
	var second string
	optest.Eventually(t, 10*time.Second, "the new secret beside the previous one", func() (bool, string) {
		second = generatedValue(t, ns, "rotating-gen", "client_secret")
		s := &corev1.Secret{}
		_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "rotating-gen"}, s)
		return second != first && string(s.Data["previous_client_secret"]) == first, "not rotated yet"
	})
	if got := platformSecret(); got != first {
		t.Error("the platform switched before the receivers could have seen the new secret")
	}
	// The receiver accepts what its mounted Secret holds: both, now.
	recv.accept(first)
	recv.accept(second)
	if d := sb.Notify(context.Background(), "Rot-"+ns, nil); len(d) != 1 || d[0].Error != "" {
		t.Fatalf("delivery during the overlap: %+v", d)
	}
	previousKept := func() bool {
		s := &corev1.Secret{}
		_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "rotating-gen"}, s)
		return string(s.Data["previous_client_secret"]) == first
	}
	// The resync, every second, reads the clock the test moves.
	clock.Step(2 * time.Minute)
	optest.Eventually(t, 10*time.Second, "the platform switched to the new secret", func() (bool, string) {
		return platformSecret() == second, "still the previous one"
	})
	if !previousKept() {
		t.Error("the previous secret left the Secret before the overlap ended")
	}
	clock.Step(8 * time.Minute)
	optest.Eventually(t, 15*time.Second, "the previous secret removed after the overlap", func() (bool, string) {
		s := &corev1.Secret{}
		_ = env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "rotating-gen"}, s)
		_, still := s.Data["previous_client_secret"]
		return !still && string(s.Data["client_secret"]) == second, "previous still there"
	})
}
