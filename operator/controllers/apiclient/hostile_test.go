package apiclient_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
)

// TestEndpointsThatNeverAnswerDoNotHoldBackOtherClients: a dozen ApiClients
// name a token endpoint that accepts connections and never answers.
// Another ApiClient of the same operator, with two workers, gets its token
// at once, and the blackholed ones say why they have none. (With token
// requests on the workers, the hanging requests held every worker: the
// other ApiClient waited behind them for its first token.) Its rotations
// while they hang, and Ready when its own platform hangs, are in
// TestAClientRotatesWhileOtherRequestsHang.
func TestEndpointsThatNeverAnswerDoNotHoldBackOtherClients(t *testing.T) {
	t.Parallel() // it waits for real time
	ns := setup(t)
	short := shortSandbox(t, ns)
	hole := apiclient.Blackhole(t)
	startOperator(t, ns, func(r *apiclient.Reconciler) { r.Workers = 2 })
	for i := range 12 {
		create(t, newApiClient(ns, fmt.Sprint("blackholed-", i), keyportv1.ApiClientSpec{TokenURL: hole}))
	}
	create(t, shortClient(ns, "victim", short))
	waitReady(t, ns, "victim")
	for i := range 12 {
		eventually(t, 15*time.Second, "a blackholed ApiClient says why it has no token", func() (bool, string) {
			ac := get(t, ns, fmt.Sprint("blackholed-", i), &keyportv1.ApiClient{})
			status, reason, _ := condition(ac, keyportv1.ConditionReady)
			return status == metav1.ConditionFalse && reason == keyportv1.ReasonTokenEndpointUnreachable, describe(ac)
		})
	}
}

// TestALongRetryAfterIsCutShortWithoutAToken: a platform that answers
// "Retry-After: 86400" to a client that has no valid token would leave it
// without one for a day after the platform is back. The retry comes within
// minutes, and the condition says what the platform asked for.
func TestALongRetryAfterIsCutShortWithoutAToken(t *testing.T) {
	ns := setup(t)
	throttling := shortSandbox(t, ns)
	throttling.SetFault(sandbox.EndpointConnectToken, sandbox.Fault{RateLimitRate: 1, RetryAfter: 24 * time.Hour})
	startOperator(t, ns, nil)
	create(t, shortClient(ns, "throttled", throttling))
	eventually(t, 15*time.Second, "RateLimited with the retry within 5 minutes", func() (bool, string) {
		ac := get(t, ns, "throttled", &keyportv1.ApiClient{})
		status, reason, _ := condition(ac, keyportv1.ConditionReady)
		next := ac.Status.NextRefreshTime
		return status == metav1.ConditionFalse && reason == keyportv1.ReasonRateLimited &&
			next != nil && next.Time.Before(time.Now().Add(5*time.Minute+time.Second)), fmt.Sprintf("%s; next refresh %v", describe(ac), next)
	})
	ac := get(t, ns, "throttled", &keyportv1.ApiClient{})
	if msg := describe(ac); !strings.Contains(msg, "retry after 24h0m0s") || !strings.Contains(msg, "sooner than the platform asked") {
		t.Errorf("the condition does not say what the platform asked and what Keyport does instead: %s", msg)
	}
	if n := throttling.Counters().Requests(sandbox.EndpointConnectToken, ""); n != 1 {
		t.Errorf("the platform saw %d token requests, want 1", n)
	}
}

// TestAnOutputSecretThatIsNotTheApiClientsIsReportedAtOnce: an output
// Secret name taken by someone else's Secret, or by another ApiClient's, is
// left alone and reported at once (Ready=False, a Warning event), an old
// Ready=True is not kept, the ApiClient is not retried every few seconds,
// and it takes the name as soon as the Secret goes.
func TestAnOutputSecretThatIsNotTheApiClientsIsReportedAtOnce(t *testing.T) {
	t.Parallel() // it waits for real time
	ns := setup(t)
	startOperator(t, ns, nil)
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: ns}, StringData: map[string]string{"token": "theirs"}}
	create(t, foreign)
	readyClient(t, ns, "first")

	second := newApiClient(ns, "second", keyportv1.ApiClientSpec{TokenURL: sb.URL() + "/connect/token",
		Output: &keyportv1.TokenOutput{SecretName: "first-token"}})
	create(t, second)
	first := get(t, ns, "first", &keyportv1.ApiClient{})
	patch := client.MergeFrom(first.DeepCopy())
	first.Spec.Output = &keyportv1.TokenOutput{SecretName: "someone-elses"}
	if err := env.Client.Patch(context.Background(), first, patch); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first", "second"} {
		eventually(t, 10*time.Second, name+" reports OutputSecretConflict", func() (bool, string) {
			ac := get(t, ns, name, &keyportv1.ApiClient{})
			status, reason, observed := condition(ac, keyportv1.ConditionReady)
			return status == metav1.ConditionFalse && reason == keyportv1.ReasonOutputSecretConflict && observed == ac.Generation, describe(ac)
		})
		eventually(t, 10*time.Second, name+"'s Warning event", func() (bool, string) {
			var events corev1.EventList
			_ = env.Client.List(context.Background(), &events, client.InNamespace(ns))
			for _, e := range events.Items {
				if e.InvolvedObject.Name == name && e.Type == corev1.EventTypeWarning && e.Reason == keyportv1.ReasonOutputSecretConflict {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events, none for %s", len(events.Items), name)
		})
	}
	if msg := describe(get(t, ns, "second", &keyportv1.ApiClient{})); !strings.Contains(msg, `ApiClient "first"`) {
		t.Errorf("the condition does not say whose Secret it is: %s", msg)
	}

	// No retry every few seconds: nothing is written and nothing fails.
	quiet := get(t, ns, "second", &keyportv1.ApiClient{}).ResourceVersion
	errorsBefore := strings.Count(logs.String(), `"name":"second","namespace":"`+ns+`"`)
	consistently(t, 6*time.Second, "the conflicted ApiClient left alone", func() (bool, string) {
		ac := get(t, ns, "second", &keyportv1.ApiClient{})
		n := strings.Count(logs.String(), `"name":"second","namespace":"`+ns+`"`) - errorsBefore
		return ac.ResourceVersion == quiet && n == 0, fmt.Sprintf("rewritten: %t, %d log lines", ac.ResourceVersion != quiet, n)
	})
	if s := get(t, ns, "someone-elses", &corev1.Secret{}); string(s.Data["token"]) != "theirs" || len(s.OwnerReferences) != 0 {
		t.Errorf("the foreign Secret was touched: %v", s.OwnerReferences)
	}

	// The Secret goes: the ApiClient takes the name without waiting.
	if err := env.Client.Delete(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "first")
	if _, _, ok := tokenIn(t, ns, "someone-elses"); !ok {
		t.Error("the freed name holds no token")
	}
}
