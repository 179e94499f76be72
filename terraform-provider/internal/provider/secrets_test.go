package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
)

// TestWriteSecrets runs the write-only bookkeeping against the real API
// server: what is written when, and what is left behind.
func TestWriteSecrets(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	get := func(name string) *corev1.Secret {
		s := &corev1.Secret{}
		if err := env.Client.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return s
	}
	// Someone else's key shares the Secret.
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		Data: map[string][]byte{"subscription_key": []byte("sub")}}); err != nil {
		t.Fatal(err)
	}
	mgr := secretManager("api_client", "cpu")
	v1 := []storedValue{
		{id: "client_secret", secret: "creds", key: "client_secret", version: "1", value: []byte("one")},
		{id: "password", secret: "creds", key: "password", version: "1", value: []byte("pw")},
	}

	t.Run("a new value is written next to the others' keys", func(t *testing.T) {
		changed, err := writeSecrets(ctx, env.Client, ns, mgr, v1, nil)
		if err != nil || !changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
		s := get("creds")
		if string(s.Data["client_secret"]) != "one" || string(s.Data["password"]) != "pw" || string(s.Data["subscription_key"]) != "sub" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("the same versions write nothing, whatever the values", func(t *testing.T) {
		before := get("creds").ResourceVersion
		again := []storedValue{v1[0], v1[1]}
		again[0].value = []byte("changed without a new version")
		changed, err := writeSecrets(ctx, env.Client, ns, mgr, again, v1)
		if err != nil || changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
		if get("creds").ResourceVersion != before {
			t.Error("the Secret was written although no version changed")
		}
	})
	t.Run("a new version with the same value writes but changes nothing", func(t *testing.T) {
		bumped := []storedValue{v1[0], v1[1]}
		bumped[0].version = "2"
		changed, err := writeSecrets(ctx, env.Client, ns, mgr, bumped, v1)
		if err != nil || changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
	})
	t.Run("a rotated value is written and reported as a change", func(t *testing.T) {
		rotated := []storedValue{v1[0], v1[1]}
		rotated[0].version, rotated[0].value = "3", []byte("three")
		changed, err := writeSecrets(ctx, env.Client, ns, mgr, rotated, v1)
		if err != nil || !changed {
			t.Fatalf("changed %v, err %v", changed, err)
		}
		if s := get("creds"); string(s.Data["client_secret"]) != "three" || string(s.Data["password"]) != "pw" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("a value that moves to another key leaves the old key", func(t *testing.T) {
		prior := []storedValue{{id: "client_secret", secret: "creds", key: "client_secret", version: "3"}, v1[1]}
		moved := []storedValue{{id: "client_secret", secret: "creds", key: "secret", version: "3", value: []byte("three")}, v1[1]}
		if _, err := writeSecrets(ctx, env.Client, ns, mgr, moved, prior); err != nil {
			t.Fatal(err)
		}
		s := get("creds")
		if _, ok := s.Data["client_secret"]; ok || string(s.Data["secret"]) != "three" || string(s.Data["subscription_key"]) != "sub" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("a value that moves to another Secret leaves the old Secret with the others' keys", func(t *testing.T) {
		prior := []storedValue{{id: "client_secret", secret: "creds", key: "secret", version: "3"}, {id: "password", secret: "creds", key: "password", version: "1"}}
		moved := []storedValue{{id: "client_secret", secret: "own", key: "client_secret", version: "3", value: []byte("three")}}
		if _, err := writeSecrets(ctx, env.Client, ns, mgr, moved, prior); err != nil {
			t.Fatal(err)
		}
		if s := get("creds"); len(s.Data) != 1 || string(s.Data["subscription_key"]) != "sub" {
			t.Errorf("the shared Secret kept the provider's keys: %v", keys(s.Data))
		}
		if s := get("own"); string(s.Data["client_secret"]) != "three" {
			t.Errorf("keys %v", keys(s.Data))
		}
	})
	t.Run("releasing a Secret only the provider wrote deletes it", func(t *testing.T) {
		if err := releaseSecrets(ctx, env.Client, ns, mgr, []storedValue{{secret: "own"}, {secret: "never-existed"}}); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: "own"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("the provider's own Secret is still there: %v", err)
		}
		if _, ok := get("creds").Data["subscription_key"]; !ok {
			t.Error("the shared Secret lost someone else's key")
		}
	})
}

// TestResourcesSharingASecretOwnOnlyTheirKeys: two resources write into
// one Secret, each as its own field manager. Writing or releasing one
// leaves the other's keys, and the Secret goes with the last key.
func TestResourcesSharingASecretOwnOnlyTheirKeys(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	a, b := secretManager("api_client", "a"), secretManager("api_client", "b")
	va := []storedValue{{id: "client_secret", secret: "shared", key: "a_secret", version: "1", value: []byte("sa")}}
	vb := []storedValue{{id: "client_secret", secret: "shared", key: "b_secret", version: "1", value: []byte("sb")}}
	for _, w := range []struct {
		manager string
		values  []storedValue
	}{{a, va}, {b, vb}} {
		if _, err := writeSecrets(ctx, env.Client, ns, w.manager, w.values, nil); err != nil {
			t.Fatal(err)
		}
	}
	shared := object(t, ns, "shared", &corev1.Secret{})
	if string(shared.Data["a_secret"]) != "sa" || string(shared.Data["b_secret"]) != "sb" {
		t.Fatalf("after both applies the Secret holds %v, want a_secret and b_secret", keys(shared.Data))
	}

	clash := []storedValue{{id: "client_secret", secret: "shared", key: "a_secret", version: "1", value: []byte("sb")}}
	_, err := writeSecrets(ctx, env.Client, ns, b, clash, vb)
	if err == nil || !strings.Contains(err.Error(), `keyport_api_client named "a"`) {
		t.Errorf("b writing a's key: %v, want an error naming a", err)
	}
	if got := object(t, ns, "shared", &corev1.Secret{}); string(got.Data["a_secret"]) != "sa" {
		t.Error("b overwrote a's key")
	}

	if err := releaseSecrets(ctx, env.Client, ns, a, va); err != nil {
		t.Fatal(err)
	}
	shared = object(t, ns, "shared", &corev1.Secret{})
	if _, still := shared.Data["a_secret"]; still || string(shared.Data["b_secret"]) != "sb" {
		t.Fatalf("after releasing a the Secret holds %v, want only b_secret", keys(shared.Data))
	}
	if err := releaseSecrets(ctx, env.Client, ns, b, vb); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, ktypes.NamespacedName{Namespace: ns, Name: "shared"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Secret is still there with no key left: %v", err)
	}
}

// TestKeysOfEarlierVersionsAreReleased: earlier provider versions wrote
// every resource's keys as one field manager. A release takes over the
// keys state names as the resource's, and removes them, not the others'.
func TestKeysOfEarlierVersionsAreReleased(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	earlier := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: ns},
		Data: map[string][]byte{"a_secret": []byte("sa"), "b_secret": []byte("sb")}}
	if _, err := applyObject(ctx, env.Client, earlier, fieldManager); err != nil {
		t.Fatal(err)
	}
	if err := releaseSecrets(ctx, env.Client, ns, secretManager("api_client", "a"), []storedValue{{secret: "shared", key: "a_secret"}}); err != nil {
		t.Fatal(err)
	}
	if s := object(t, ns, "shared", &corev1.Secret{}); len(s.Data) != 1 || string(s.Data["b_secret"]) != "sb" {
		t.Errorf("the Secret holds %v, want only b_secret", keys(s.Data))
	}
}

func TestSecretManagersFitTheAPIsLimit(t *testing.T) {
	long := strings.Repeat("n", 253)
	m1, m2 := secretManager("notification_channel", long), secretManager("notification_channel", long[:252]+"m")
	if len(m1) > 128 || m1 == m2 {
		t.Errorf("managers %q and %q: want at most 128 characters, and different for different names", m1, m2)
	}
}

// sharedCredentialsConfig declares the clients named in secrets, each
// writing its secret (from an ephemeral variable) into its own key of one
// credentials Secret.
func sharedCredentialsConfig(provider string, names ...string) string {
	out := provider
	for _, n := range names {
		out += fmt.Sprintf(`
variable "%[1]s_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "keyport_api_client" "%[1]s" {
  name      = "%[1]s"
  token_url = "https://login.example.com/connect/token"
  client_id = "%[1]s-app"
  credentials = {
    secret_name       = "shared-credentials"
    client_secret_key = "%[1]s_secret"
  }
  client_secret_wo         = var.%[1]s_secret
  client_secret_wo_version = 1
  wait_for_ready           = false
}
`, n)
	}
	return out
}

// TestAccApiClient_TwoClientsShareOneCredentialsSecret: two clients whose
// secrets live in one Secret. Both keys are there after the apply;
// destroying one leaves the other's key and the Secret; destroying the
// last removes the Secret.
func TestAccApiClient_TwoClientsShareOneCredentialsSecret(t *testing.T) {
	ns := env.Namespace(t)
	provider := providerConfig(t, ns)
	variables := config.Variables{"alpha_secret": config.StringVariable("alpha-Xq7#"), "beta_secret": config.StringVariable("beta-Wm2%")}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		CheckDestroy: func(*terraform.State) error {
			if err := env.Client.Get(context.Background(), ktypes.NamespacedName{Namespace: ns, Name: "shared-credentials"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("the credentials Secret is still there with both clients destroyed: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:          sharedCredentialsConfig(provider, "alpha", "beta"),
				ConfigVariables: variables,
				Check: func(*terraform.State) error {
					return secretHolds(t, ns, "shared-credentials", map[string]string{"alpha_secret": "alpha-Xq7#", "beta_secret": "beta-Wm2%"})
				},
			},
			{
				Config:          sharedCredentialsConfig(provider, "beta"),
				ConfigVariables: config.Variables{"beta_secret": variables["beta_secret"]},
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_api_client.alpha", plancheck.ResourceActionDestroy),
					plancheck.ExpectResourceAction("keyport_api_client.beta", plancheck.ResourceActionNoop),
				}},
				Check: func(*terraform.State) error {
					s := object(t, ns, "shared-credentials", &corev1.Secret{})
					if _, still := s.Data["alpha_secret"]; still {
						return fmt.Errorf("the destroyed client's key is still in the Secret: %v", keys(s.Data))
					}
					return secretHolds(t, ns, "shared-credentials", map[string]string{"beta_secret": "beta-Wm2%"})
				},
			},
		},
	})
}
