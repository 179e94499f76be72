package ingestionchannel_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/ingestionchannel"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// TestARotationRewritesTheSecretAndTheStatusOnlyOnceTheShownExpiryPassed:
// every rotation reaches the channel Secret at once; the status, which
// shows the token's expiry, is written again only when the expiry it
// shows has passed. An injected clock moves instead of the test waiting;
// reconciles are called directly, on a fake API client with the
// reconciler's field indexes and an ApiClient whose token the test writes
// (the other tests run the controller on a real API server).
func TestARotationRewritesTheSecretAndTheStatusOnlyOnceTheShownExpiryPassed(t *testing.T) {
	const ns = "tenant"
	ctx := context.Background()
	c := ingestionchannel.WithIndexes(fake.NewClientBuilder().WithScheme(env.Scheme)).
		WithStatusSubresource(&keyportv1.ApiClient{}, &keyportv1.IngestionChannel{}).Build()
	create := func(o client.Object) {
		t.Helper()
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().Truncate(time.Second)
	ac := &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "datasharing", Namespace: ns}, Spec: keyportv1.ApiClientSpec{
		Preset: keyportv1.PresetOAuth2ClientCredentials, TokenURL: "https://127.0.0.1:1/token", Credentials: &keyportv1.CredentialsSource{SecretName: "creds"}}}
	create(ac)
	ac.Status.OutputSecretName = "datasharing-token"
	ac.Status.Conditions = []metav1.Condition{{Type: keyportv1.ConditionReady, Status: metav1.ConditionTrue, Reason: keyportv1.ReasonTokenRefreshed,
		Message: "written by the test", LastTransitionTime: metav1.Now()}}
	if err := c.Status().Update(ctx, ac); err != nil {
		t.Fatal(err)
	}
	writeToken := func(access string, expires time.Time) {
		t.Helper()
		data, err := tokensecret.Render(tokensecret.Token{AccessToken: access, TokenType: "Bearer", ExpiresAt: expires}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datasharing-token", Namespace: ns}}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			s.Data = data
			create(s)
			return
		}
		s.Data = data
		if err := c.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	ch := channel(ns, "acme", "acme", ns+"-acme", "ContainerEvent")
	ch.Spec.Platform = nil // nothing to verify at a platform
	create(ch)

	clock := clocktesting.NewFakePassiveClock(start)
	r := &ingestionchannel.Reconciler{Client: c, Clock: clock}
	channelSecret := func() map[string][]byte {
		t.Helper()
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "acme-channel"}, s); err != nil {
			t.Fatal(err)
		}
		return s.Data
	}
	reconcile := func() *keyportv1.IngestionChannel {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "acme"}}); err != nil {
			t.Fatalf("reconcile at %s: %v", clock.Now(), err)
		}
		got := &keyportv1.IngestionChannel{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "acme"}, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	expiry := func(c *keyportv1.IngestionChannel) time.Time {
		if c.Status.TokenExpiresAt == nil {
			return time.Time{}
		}
		return c.Status.TokenExpiresAt.Time
	}

	writeToken("first", start.Add(time.Hour))
	first := reconcile()
	if !expiry(first).Equal(start.Add(time.Hour)) || string(channelSecret()["access_token"]) != "first" {
		t.Fatalf("the first token: status expiry %v, channel Secret %q", expiry(first), channelSecret()["access_token"])
	}

	clock.SetTime(start.Add(30 * time.Minute))
	writeToken("second", start.Add(90*time.Minute))
	second := reconcile()
	if got := string(channelSecret()["access_token"]); got != "second" {
		t.Errorf("the channel Secret holds %q after the rotation", got)
	}
	if second.ResourceVersion != first.ResourceVersion || !expiry(second).Equal(expiry(first)) {
		t.Errorf("a rotation while the shown expiry is ahead wrote the status (expiry %v)", expiry(second))
	}

	clock.SetTime(start.Add(time.Hour))
	if third := reconcile(); !expiry(third).Equal(start.Add(90 * time.Minute)) {
		t.Errorf("once the shown expiry passed, the status shows %v, want the current token's", expiry(third))
	}
}
