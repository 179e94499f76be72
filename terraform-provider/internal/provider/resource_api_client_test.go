package provider

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

const (
	firstSecret  = "cs-first-Vq8#x1"
	secondSecret = "cs-second-Lr3%z9"
	password     = "pw-Zk4&m2"
)

// apiClientConfig is a port community system's client: password grant, a subscription key
// header from the credentials Secret, credentials written write-only.
// The secrets come in through ephemeral variables, as they should in real
// use: an ordinary variable's value would be saved in the plan.
func apiClientConfig(provider string, version int, scopes string) string {
	return provider + fmt.Sprintf(`
variable "client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "password" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "keyport_api_client" "cpu" {
  name        = "cpu-uat"
  environment = "uat"
  preset      = "PortCommunityPassword"
  token_url   = "https://login-uat.port.example.com/connect/token"
  client_id   = "cpu-app"

  client_secret_wo         = var.client_secret
  client_secret_wo_version = %d
  username                 = "api-user@example.com"
  password_wo              = var.password
  password_wo_version      = 1

  scopes = %s
  headers = [{
    name       = "Ocp-Apim-Subscription-Key"
    value_from = { name = "cpu-uat-credentials", key = "subscription_key" }
  }]
  refresh = {
    refresh_at_percent = 50
    propagation_budget = "2m"
  }
  output_template = { "bearer.txt" = "{{ .Authorization }}" }

  wait_for_ready = false
}
`, version, scopes)
}

func secrets(clientSecret string) config.Variables {
	return config.Variables{"client_secret": config.StringVariable(clientSecret), "password": config.StringVariable(password)}
}

// TestAccApiClient_LifecycleWithoutOperator covers what needs no operator:
// server-side apply, the write-only credentials in their Secret (and nowhere
// in state or plan), import, an update with a rotated secret, drift repair
// and re-creation after deletion, and a destroy that takes the provider's
// keys out of a Secret it shares.
func TestAccApiClient_LifecycleWithoutOperator(t *testing.T) {
	ns := env.Namespace(t)
	provider := providerConfig(t, ns)
	ctx := context.Background()
	key := ktypes.NamespacedName{Namespace: ns, Name: "cpu-uat"}
	// The subscription key was put there by someone else.
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cpu-uat-credentials", Namespace: ns},
		Data: map[string][]byte{"subscription_key": []byte("sub-key")}}); err != nil {
		t.Fatal(err)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		CheckDestroy: func(*terraform.State) error {
			if err := env.Client.Get(ctx, key, &keyportv1.ApiClient{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("ApiClient still there after destroy: %v", err)
			}
			s := object(t, ns, "cpu-uat-credentials", &corev1.Secret{})
			if len(s.Data) != 1 || string(s.Data["subscription_key"]) != "sub-key" {
				return fmt.Errorf("destroy should leave only the subscription key in the shared Secret, found keys %v", keys(s.Data))
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:          apiClientConfig(provider, 1, `["openid"]`),
				ConfigVariables: secrets(firstSecret),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_api_client.cpu", plancheck.ResourceActionCreate),
					noSecretInPlan(firstSecret, password),
				}},
				ConfigStateChecks: []statecheck.StateCheck{noSecretInState(firstSecret, password)},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("keyport_api_client.cpu", "id", ns+"/cpu-uat"),
					resource.TestCheckResourceAttr("keyport_api_client.cpu", "namespace", ns),
					resource.TestCheckResourceAttr("keyport_api_client.cpu", "credentials.secret_name", "cpu-uat-credentials"),
					resource.TestCheckNoResourceAttr("keyport_api_client.cpu", "client_secret_wo"),
					resource.TestCheckNoResourceAttr("keyport_api_client.cpu", "password_wo"),
					func(*terraform.State) error {
						ac := object(t, ns, "cpu-uat", &keyportv1.ApiClient{})
						if ac.Spec.Preset != keyportv1.PresetPortCommunityPassword || ac.Spec.Environment != "uat" ||
							ac.Spec.Credentials == nil || ac.Spec.Credentials.SecretName != "cpu-uat-credentials" ||
							ac.Spec.Refresh == nil || ac.Spec.Refresh.PropagationBudget.Duration != 2*time.Minute ||
							len(ac.Spec.Headers) != 1 || ac.Spec.Headers[0].ValueFrom.Key != "subscription_key" {
							return fmt.Errorf("applied spec is not the declared one: %+v", ac.Spec)
						}
						if !managedBy(ac, fieldManager, metav1.ManagedFieldsOperationApply) {
							return fmt.Errorf("ApiClient not server-side applied by %s: %v", fieldManager, ac.ManagedFields)
						}
						return secretHolds(t, ns, "cpu-uat-credentials", map[string]string{
							"client_secret": firstSecret, "password": password, "username": "api-user@example.com", "subscription_key": "sub-key"})
					},
				),
			},
			{
				ResourceName:      "keyport_api_client.cpu",
				ConfigVariables:   secrets(firstSecret),
				ImportState:       true,
				ImportStateId:     ns + "/cpu-uat",
				ImportStateVerify: true,
				// The versions and the user name live in state and the Secret only.
				ImportStateVerifyIgnore: []string{"client_secret_wo_version", "password_wo_version", "username", "wait_for_ready"},
			},
			{
				// Rotate the client secret and change a scope in one apply.
				Config:          apiClientConfig(provider, 2, `["openid", "visits.read"]`),
				ConfigVariables: secrets(secondSecret),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_api_client.cpu", plancheck.ResourceActionUpdate),
					noSecretInPlan(firstSecret, secondSecret, password),
				}},
				ConfigStateChecks: []statecheck.StateCheck{noSecretInState(firstSecret, secondSecret, password)},
				Check: func(*terraform.State) error {
					ac := object(t, ns, "cpu-uat", &keyportv1.ApiClient{})
					if !slices.Equal(ac.Spec.Scopes, []string{"openid", "visits.read"}) || ac.Generation != 2 {
						return fmt.Errorf("update not applied: generation %d, scopes %v", ac.Generation, ac.Spec.Scopes)
					}
					return secretHolds(t, ns, "cpu-uat-credentials", map[string]string{"client_secret": secondSecret, "password": password})
				},
			},
			{
				// Someone edits the spec behind Terraform's back: the plan
				// shows it and the apply puts it back.
				PreConfig: func() {
					ac := object(t, ns, "cpu-uat", &keyportv1.ApiClient{})
					ac.Spec.Scopes = []string{"everything"}
					ac.Spec.TokenURL = "https://evil.example.com/token"
					if err := env.Client.Update(ctx, ac, client.FieldOwner("kubectl-edit")); err != nil {
						t.Fatal(err)
					}
				},
				Config:          apiClientConfig(provider, 2, `["openid", "visits.read"]`),
				ConfigVariables: secrets(secondSecret),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_api_client.cpu", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					ac := object(t, ns, "cpu-uat", &keyportv1.ApiClient{})
					if ac.Spec.TokenURL != "https://login-uat.port.example.com/connect/token" || !slices.Equal(ac.Spec.Scopes, []string{"openid", "visits.read"}) {
						return fmt.Errorf("drift not repaired: %s %v", ac.Spec.TokenURL, ac.Spec.Scopes)
					}
					return nil
				},
			},
			{
				// Deleted behind Terraform's back: planned and created again.
				PreConfig: func() {
					if err := env.Client.Delete(ctx, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: "cpu-uat", Namespace: ns}}); err != nil {
						t.Fatal(err)
					}
				},
				Config:          apiClientConfig(provider, 2, `["openid", "visits.read"]`),
				ConfigVariables: secrets(secondSecret),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_api_client.cpu", plancheck.ResourceActionCreate),
				}},
				Check: func(*terraform.State) error {
					object(t, ns, "cpu-uat", &keyportv1.ApiClient{})
					return secretHolds(t, ns, "cpu-uat-credentials", map[string]string{"client_secret": secondSecret})
				},
			},
		},
	})
}

// TestAccApiClient_ExistingCredentialsSecret: a Secret the user manages is
// referenced and left exactly as it was, also on destroy.
func TestAccApiClient_ExistingCredentialsSecret(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "payments-credentials", Namespace: ns},
		Data: map[string][]byte{"id": []byte("app"), "secret": []byte("s3cr3t")}}); err != nil {
		t.Fatal(err)
	}
	untouched := func(*terraform.State) error {
		s := object(t, ns, "payments-credentials", &corev1.Secret{})
		for _, f := range s.ManagedFields {
			if strings.HasPrefix(f.Manager, fieldManager) {
				return fmt.Errorf("the provider wrote into a Secret it only references")
			}
		}
		return secretHolds(t, ns, "payments-credentials", map[string]string{"id": "app", "secret": "s3cr3t"})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		CheckDestroy:             untouched,
		Steps: []resource.TestStep{{
			Config: providerConfig(t, ns) + `
resource "keyport_api_client" "payments" {
  name      = "payments-test"
  preset    = "PaymentJSON"
  token_url = "https://authn.payments.example.com/oauth2/token"
  credentials = {
    secret_name       = "payments-credentials"
    client_id_key     = "id"
    client_secret_key = "secret"
  }
  output_secret_name = "payments-token"
  wait_for_ready     = false
}
`,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("keyport_api_client.payments", "credentials.secret_name", "payments-credentials"),
				resource.TestCheckResourceAttr("keyport_api_client.payments", "output_secret_name", "payments-token"),
				untouched,
			),
		}},
	})
}

// TestAccApiClient_WaitsForTheGenerationItWrote plays the operator. On an
// update, a Ready=True left from the previous generation must not end the
// wait; on a rotated secret (same generation), the status must move first.
func TestAccApiClient_WaitsForTheGenerationItWrote(t *testing.T) {
	ns := env.Namespace(t)
	provider := providerConfig(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key := ktypes.NamespacedName{Namespace: ns, Name: "waiter"}
	config := func(scope string, version int, secret string) string {
		return provider + fmt.Sprintf(`
resource "keyport_api_client" "waiter" {
  name                     = "waiter"
  token_url                = "https://login.example.com/token"
  client_id                = "waiter"
  client_secret_wo         = %q
  client_secret_wo_version = %d
  scopes                   = [%q]
  timeouts {
    create = "1m"
    update = "1m"
  }
}
`, secret, version, scope)
	}
	var answered atomic.Int64 // the generation the fake operator last made Ready
	expiry := metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second))
	// answer waits for the provider's write, leaves a stale status in place
	// for a while (the provider must keep waiting), then reports Ready.
	answer := func(wantGeneration int64, secretChanged bool) {
		go func() {
			for ctx.Err() == nil {
				ac, err := eventually(ctx, key, func() *keyportv1.ApiClient { return &keyportv1.ApiClient{} })
				if err != nil {
					return
				}
				s := &corev1.Secret{}
				_ = env.Client.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: "waiter-credentials"}, s)
				if ac.Generation == wantGeneration && (!secretChanged || string(s.Data["client_secret"]) == secondSecret) {
					time.Sleep(1500 * time.Millisecond) // the stale Ready stays this long
					err := setStatus(ctx, ac, ac.Generation, func(o client.Object) {
						o.(*keyportv1.ApiClient).Status.OutputSecretName = "waiter-token"
						if secretChanged {
							o.(*keyportv1.ApiClient).Status.TokenExpiresAt = &expiry
						}
					}, readyCondition(metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, "played by the test"))
					if err == nil {
						answered.Store(ac.Generation)
						return
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	answeredBefore := func(gen int64) resource.TestCheckFunc {
		return func(*terraform.State) error {
			if answered.Load() != gen {
				return fmt.Errorf("apply returned before the operator reported generation %d Ready (a stale Ready ended the wait)", gen)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{
			{
				PreConfig: func() { answer(1, false) },
				Config:    config("a", 1, firstSecret),
				Check: resource.ComposeAggregateTestCheckFunc(answeredBefore(1),
					resource.TestCheckResourceAttr("keyport_api_client.waiter", "output_secret_name", "waiter-token")),
			},
			{
				// Generation 2; generation 1's Ready=True is still there.
				PreConfig: func() { answer(2, false) },
				Config:    config("b", 1, firstSecret),
				Check:     answeredBefore(2),
			},
			{
				// Only the secret rotates: the generation stays 2, so the
				// provider must wait for the status to move.
				PreConfig:         func() { answered.Store(0); answer(2, true) },
				Config:            config("b", 2, secondSecret),
				ConfigStateChecks: []statecheck.StateCheck{noSecretInState(firstSecret, secondSecret)},
				Check: resource.ComposeAggregateTestCheckFunc(answeredBefore(2),
					resource.TestCheckResourceAttr("keyport_api_client.waiter", "token_expires_at", expiry.UTC().Format(time.RFC3339))),
			},
		},
	})
}

// TestAccApiClient_FailsFastWithTheOperatorsMessage plays an operator that
// reports Ready=False InvalidCredentials: the apply fails at once with the
// operator's reason and message, long before the 10-minute timeout.
func TestAccApiClient_FailsFastWithTheOperatorsMessage(t *testing.T) {
	applyFailsFast(t, "rejected", readyCondition(metav1.ConditionFalse, keyportv1.ReasonInvalidCredentials,
		"the token endpoint login.example.com rejected client rejected: invalid_client"), `
resource "keyport_api_client" "rejected" {
  name                     = "rejected"
  token_url                = "https://login.example.com/token"
  client_id                = "rejected"
  client_secret_wo         = "wrong"
  client_secret_wo_version = 1
  timeouts {
    create = "10m"
  }
}
`, "InvalidCredentials: the token endpoint login.example.com rejected client rejected: invalid_client")
}

// TestAccApiClient_FailsFastOnAnOutputSecretConflict plays an operator
// that finds the output Secret name taken by a Secret that is not the
// ApiClient's: the apply fails at once with the operator's message instead
// of waiting for a name that does not free itself.
func TestAccApiClient_FailsFastOnAnOutputSecretConflict(t *testing.T) {
	applyFailsFast(t, "conflicted", readyCondition(metav1.ConditionFalse, keyportv1.ReasonOutputSecretConflict,
		`the output Secret "shared" already exists and it belongs to ApiClient "other"`), `
resource "keyport_api_client" "conflicted" {
  name                     = "conflicted"
  token_url                = "https://login.example.com/token"
  client_id                = "conflicted"
  client_secret_wo         = "secret"
  client_secret_wo_version = 1
  output_secret_name       = "shared"
  timeouts {
    create = "10m"
  }
}
`, `OutputSecretConflict: the output Secret "shared" already exists`)
}

// applyFailsFast applies config, an ApiClient name that may wait ten
// minutes for Ready, while the test plays an operator that reports cond on
// it: the apply must fail with want (however Terraform wraps it) long
// before the timeout.
func applyFailsFast(t *testing.T, name string, cond metav1.Condition, config, want string) {
	t.Helper()
	ns := env.Namespace(t)
	reportOnceCreated(t, ns, name, nil, cond)
	start := time.Now()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{{
			Config:      providerConfig(t, ns) + config,
			ExpectError: wrapped(want),
		}},
	})
	if elapsed := time.Since(start); elapsed > 2*time.Minute {
		t.Errorf("the failure took %v: it waited instead of failing fast", elapsed)
	}
}

// managedBy reports whether manager owns fields of obj through operation.
func managedBy(obj client.Object, manager string, op metav1.ManagedFieldsOperationType) bool {
	for _, f := range obj.GetManagedFields() {
		if f.Manager == manager && f.Operation == op {
			return true
		}
	}
	return false
}

// secretHolds checks the named Secret's keys.
func secretHolds(t *testing.T, ns, name string, want map[string]string) error {
	s := object(t, ns, name, &corev1.Secret{})
	for k, v := range want {
		if string(s.Data[k]) != v {
			return fmt.Errorf("Secret %s key %q does not hold the expected value (keys: %v)", name, k, keys(s.Data))
		}
	}
	return nil
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestAccApiClient_RefusedByTheAPIServer: a rule only the CRD checks (a
// BankM2M client needs a client certificate) fails the apply with the API
// server's message, and the credentials written a moment before are taken
// back, since no state will remember them.
func TestAccApiClient_RefusedByTheAPIServer(t *testing.T) {
	ns := env.Namespace(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{{
			Config: providerConfig(t, ns) + `
resource "keyport_api_client" "bank" {
  name                = "bank-sandbox"
  preset              = "BankM2M"
  token_url           = "https://auth.sandbox.bank.example.com/m2m/token"
  username            = "m2m-user"
  password_wo         = "bank-password"
  password_wo_version = 1
  wait_for_ready      = false
}
`,
			ExpectError: wrapped("set clientCertificate (an M2MCertificate or a kubernetes.io/tls Secret)"),
		}},
	})
	if os.Getenv(resource.EnvTfAcc) == "" {
		return // skipped
	}
	err := env.Client.Get(context.Background(), ktypes.NamespacedName{Namespace: ns, Name: "bank-sandbox-credentials"}, &corev1.Secret{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the credentials Secret outlived the refused apply: %v", err)
	}
}

// TestAccApiClient_RefreshStrategy applies strategy Latest with a retry
// margin, then switches back to Fraction with a percentage: each reaches the
// cluster as declared, and the API server's spelling of a duration (1m0s for
// 60s) shows no change in the plan that follows.
func TestAccApiClient_RefreshStrategy(t *testing.T) {
	ns := env.Namespace(t)
	provider := providerConfig(t, ns)
	cfg := func(refresh string) string {
		return provider + `
resource "keyport_api_client" "platform" {
  name           = "few-requests"
  token_url      = "https://login.example.com/connect/token"
  credentials    = { secret_name = "app-credentials" }
  refresh        = ` + refresh + `
  wait_for_ready = false
}
`
	}
	refreshOf := func() *keyportv1.RefreshPolicy {
		r := object(t, ns, "few-requests", &keyportv1.ApiClient{}).Spec.Refresh
		if r == nil {
			return &keyportv1.RefreshPolicy{}
		}
		return r
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{
			{
				Config: cfg(`{ strategy = "Latest", retry_margin = "60s" }`),
				Check: func(*terraform.State) error {
					r := refreshOf()
					if r.Strategy != keyportv1.RefreshLatest || r.RetryMargin == nil || r.RetryMargin.Duration != time.Minute || r.RefreshAtPercent != nil {
						return fmt.Errorf("applied refresh policy is not the declared one: %+v", r)
					}
					return nil
				},
			},
			{
				Config: cfg(`{ strategy = "Fraction", refresh_at_percent = 70 }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_api_client.platform", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					r := refreshOf()
					if r.Strategy != keyportv1.RefreshFraction || r.RetryMargin != nil || r.RefreshAtPercent == nil || *r.RefreshAtPercent != 70 {
						return fmt.Errorf("the switch to Fraction did not reach the cluster: %+v", r)
					}
					return nil
				},
			},
		},
	})
}
