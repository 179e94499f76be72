package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

// Helpers for the acceptance tests. They run the real terraform binary
// (TF_ACC_TERRAFORM_PATH or terraform on PATH) with the provider in-process,
// against the real API server that TestMain starts (shared/testsupport/testenv). With
// TF_ACC unset, resource.Test skips them; `make test` sets TF_ACC=1.

func init() {
	// The wait polls the status; a short interval keeps the tests quick.
	pollInterval = 100 * time.Millisecond
}

// newFactories gives each test its own provider instance.
func newFactories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"keyport": func() (tfprotov6.ProviderServer, error) {
			return providerserver.NewProtocol6WithError(New("test")())()
		},
	}
}

// providerConfig is a provider block for the test's namespace, connected
// through a kubeconfig written from the control plane's rest.Config.
func providerConfig(t *testing.T, ns string) string {
	t.Helper()
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return providerBlock(kubeconfig, ns)
}

// providerBlock is a provider block that connects through kubeconfig, with
// ns as the default namespace.
func providerBlock(kubeconfig, ns string) string {
	return fmt.Sprintf("provider \"keyport\" {\n  config_path = %q\n  namespace   = %q\n}\n", kubeconfig, ns)
}

// secretForms are the ways a secret value could show up in state or plan:
// as it is, and base64-encoded as Kubernetes stores Secret data.
func secretForms(values []string) []string {
	var forms []string
	for _, v := range values {
		forms = append(forms, v, base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return forms
}

// noSecretInState fails when any of the values appears anywhere in the
// state Terraform holds (terraform show -json: every attribute, sensitive
// ones included).
func noSecretInState(values ...string) statecheck.StateCheck {
	return secretSearch{forms: secretForms(values)}
}

// secretSearch looks for the forms of secret values in a state or a plan.
type secretSearch struct{ forms []string }

func (s secretSearch) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = findForms(req.State, s.forms, "state")
}

// findForms fails when any of the forms (pairs from secretForms) appears in
// doc marshalled as JSON; where names doc in the error.
func findForms(doc any, forms []string, where string) error {
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	for i, f := range forms {
		if strings.Contains(string(raw), f) {
			return fmt.Errorf("secret value #%d found in the %s", i/2, where)
		}
	}
	return nil
}

// noSecretInPlan fails when any of the values appears in the plan.
func noSecretInPlan(values ...string) plancheck.PlanCheck {
	return secretSearch{forms: secretForms(values)}
}

func (s secretSearch) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = findForms(req.Plan, s.forms, "plan")
}

// object fetches a Keyport object from the test's cluster.
func object[O client.Object](t *testing.T, ns, name string, obj O) O {
	t.Helper()
	if err := env.Client.Get(context.Background(), ktypes.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %s/%s: %v", ns, name, err)
	}
	return obj
}

// conditionsOf points at an object's status fields the fake operator sets.
type fakeStatus struct {
	observedGeneration *int64
	conditions         *[]metav1.Condition
}

func statusFields(obj client.Object) fakeStatus {
	switch o := obj.(type) {
	case *keyportv1.ApiClient:
		return fakeStatus{&o.Status.ObservedGeneration, &o.Status.Conditions}
	case *keyportv1.M2MCertificate:
		return fakeStatus{&o.Status.ObservedGeneration, &o.Status.Conditions}
	case *keyportv1.IngestionChannel:
		return fakeStatus{&o.Status.ObservedGeneration, &o.Status.Conditions}
	case *keyportv1.NotificationChannel:
		return fakeStatus{&o.Status.ObservedGeneration, &o.Status.Conditions}
	}
	panic(fmt.Sprintf("no status for %T", obj))
}

// setStatus plays the operator: it writes observedGeneration and the
// conditions (each computed for generation) through the status
// subresource, after edit has had its say on the rest of the status.
func setStatus(ctx context.Context, obj client.Object, generation int64, edit func(client.Object), conds ...metav1.Condition) error {
	before := obj.DeepCopyObject().(client.Object)
	st := statusFields(obj)
	*st.observedGeneration = generation
	for _, c := range conds {
		c.ObservedGeneration = generation
		apimeta.SetStatusCondition(st.conditions, c)
	}
	if edit != nil {
		edit(obj)
	}
	return env.Client.Status().Patch(ctx, obj, client.MergeFrom(before))
}

// eventually polls get until it returns an object, then hands it over.
func eventually[O client.Object](ctx context.Context, key ktypes.NamespacedName, newObj func() O) (O, error) {
	for {
		obj := newObj()
		err := env.Client.Get(ctx, key, obj)
		if err == nil {
			return obj, nil
		}
		select {
		case <-ctx.Done():
			return obj, fmt.Errorf("%s never appeared: %w", key, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reportOnceCreated plays the operator in the background: once the
// ApiClient ns/name exists, it sets its status for the generation it was
// created with (edit and conds as for setStatus). It gives up after a
// minute or when the test ends.
func reportOnceCreated(t *testing.T, ns, name string, edit func(client.Object), conds ...metav1.Condition) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	go func() {
		ac, err := eventually(ctx, ktypes.NamespacedName{Namespace: ns, Name: name}, func() *keyportv1.ApiClient { return &keyportv1.ApiClient{} })
		if err != nil {
			return
		}
		_ = setStatus(ctx, ac, ac.Generation, edit, conds...)
	}()
}

// wrapped matches text however Terraform wraps it across lines.
func wrapped(text string) *regexp.Regexp {
	parts := strings.Fields(text)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `\s+`))
}

func readyCondition(status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: keyportv1.ConditionReady, Status: status, Reason: reason, Message: message}
}
