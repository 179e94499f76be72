package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/apiclient"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

var (
	env *testenv.Env
	sb  *sandbox.Sandbox
)

const (
	clientID     = "tf-app"
	clientSecret = "tf-client-secret-Qx7!"
)

// TestMain runs the provider against a real API server with the real
// ApiClient controller and the sandbox, through the real terraform binary
// (TF_ACC_TERRAFORM_PATH, or terraform on PATH).
func TestMain(m *testing.M) {
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		if p, err := exec.LookPath("terraform"); err == nil {
			_ = os.Setenv("TF_ACC_TERRAFORM_PATH", p)
		}
	}
	var err error
	sb, err = sandbox.Start(sandbox.Config{Clients: []sandbox.Client{{ID: clientID, Secret: clientSecret}}, Seed: 17})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.Main(m, &env)
}

// withOperator gives a test a namespace with the ApiClient controller
// running, the sandbox's CA in Secret sandbox-ca, and a kubeconfig.
func withOperator(t *testing.T) (string, string) {
	t.Helper()
	ns := env.Namespace(t)
	optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		return (&apiclient.Reconciler{Client: mgr.GetClient(), MACKey: []byte("0123456789abcdef0123456789abcdef")}).SetupWithManager(mgr)
	})
	if err := env.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": sb.CACertPEM()}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ns, kubeconfig
}

var factories = map[string]func() (tfprotov6.ProviderServer, error){
	"keyport": providerserver.NewProtocol6WithError(New("test")()),
}

func TestAccApiClient_SecretWriteOnlyAndReady(t *testing.T) {
	ns, kubeconfig := withOperator(t)
	config := func(version int) string {
		return providerBlock(kubeconfig, ns) + fmt.Sprintf(`
resource "keyport_api_client" "cpu" {
  name                     = "cpu"
  token_url                = %q
  preset                   = "OAuth2ClientCredentials"
  client_id                = %q
  client_secret_wo         = %q
  client_secret_wo_version = %d
  tls = {
    ca_bundle = { name = "sandbox-ca", key = "ca.crt" }
  }
  timeouts {
    create = "60s"
  }
}
`, sb.URL()+"/connect/token", clientID, clientSecret, version)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				Config: config(1),
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr("keyport_api_client.cpu", "id", ns+"/cpu"),
					resource.TestCheckResourceAttr("keyport_api_client.cpu", "output_secret_name", "cpu-token"),
					resource.TestCheckResourceAttr("keyport_api_client.cpu", "credentials.secret_name", "cpu-credentials"),
					resource.TestCheckNoResourceAttr("keyport_api_client.cpu", "client_secret_wo"),
					noValueInState(clientSecret),
					validTokenInCluster(ns, "cpu-token"),
				),
			},
			{
				ResourceName:      "keyport_api_client.cpu",
				ImportState:       true,
				ImportStateId:     ns + "/cpu",
				ImportStateVerify: true,
				// Provider-side settings and the version counter live only in state.
				ImportStateVerifyIgnore: []string{"client_secret_wo_version", "token_expires_at", "timeouts"},
			},
		},
	})
}

// noValueInState fails when value appears anywhere in the state.
func noValueInState(value string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for name, rs := range s.RootModule().Resources {
			for k, v := range rs.Primary.Attributes {
				if strings.Contains(v, value) {
					return fmt.Errorf("%s.%s holds a secret value", name, k)
				}
			}
		}
		return nil
	}
}

// validTokenInCluster checks that the operator made the declared client real.
func validTokenInCluster(ns, secret string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		s := &corev1.Secret{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: secret}, s); err != nil {
			return err
		}
		tok, err := tokensecret.Parse(s.Data)
		if err != nil {
			return err
		}
		_, err = sb.Validate(tok.AccessToken)
		return err
	}
}

func TestAccCertificateThumbprintFunction(t *testing.T) {
	certPEM, _, err := sb.IssueClientCert("fn")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := certs.DecodeCertificatesPEM(certPEM)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf("output \"tp\" {\n  value = provider::keyport::certificate_thumbprint(%q)\n}\n", string(certPEM)),
			Check:  resource.TestCheckOutput("tp", certs.Thumbprint(list[0])),
		}, {
			Config:      "output \"tp\" {\n  value = provider::keyport::certificate_thumbprint(\"not a certificate\")\n}\n",
			ExpectError: regexp.MustCompile("pem holds no certificate"),
		}},
	})
}

// TestAccApiClient_FailsFastWithTheOperatorsReason: a wrong secret is
// reported from the operator's own condition, without waiting out the
// timeout.
func TestAccApiClient_FailsFastWithTheOperatorsReason(t *testing.T) {
	ns, kubeconfig := withOperator(t)
	// Failing fast is measured against what the test sets: the create
	// timeout and the provider's poll interval (pollInterval, 100 ms in
	// tests). The reason is known after one token request to the sandbox on
	// loopback, one status write and the next poll; with terraform's plan,
	// apply and destroy around it that is about two seconds. A provider
	// that waited out the timeout would take ten minutes, one that waited
	// for the condition to settle over the operator's retries a good part
	// of them. A twentieth of the timeout (30 s, 300 polls) tells the two
	// apart and leaves a loaded machine more than ten times the time the
	// test needs.
	const createTimeout = 10 * time.Minute
	fast := createTimeout / 20
	start := time.Now()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config: providerBlock(kubeconfig, ns) + fmt.Sprintf(`
resource "keyport_api_client" "wrong" {
  name                     = "wrong"
  token_url                = %q
  client_id                = %q
  client_secret_wo         = "not-the-secret"
  client_secret_wo_version = 1
  tls = {
    ca_bundle = { name = "sandbox-ca", key = "ca.crt" }
  }
  timeouts {
    create = %q
  }
}
`, sb.URL()+"/connect/token", clientID, createTimeout),
			ExpectError: regexp.MustCompile(`InvalidCredentials`),
		}},
	})
	if elapsed := time.Since(start); elapsed > fast {
		t.Errorf("the apply failed after %s, want well under the %s create timeout (at most %s)", elapsed.Round(time.Millisecond), createTimeout, fast)
	}
}

// TestAccApiClient_IgnoresAStaleReady plays the operator: a Ready=True for
// an older generation must not end the wait; the Ready of the applied
// generation does.
func TestAccApiClient_IgnoresAStaleReady(t *testing.T) {
	ns := env.Namespace(t)
	var sawStale atomic.Bool
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			ac := &keyportv1.ApiClient{}
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "stale"}, ac); err != nil {
				continue
			}
			observed := ac.Generation - 1 // stale first
			if sawStale.Load() {
				observed = ac.Generation
			}
			if err := setStatus(ctx, ac, observed, func(o client.Object) {
				o.(*keyportv1.ApiClient).Status.OutputSecretName = "stale-token"
			}, readyCondition(metav1.ConditionTrue, keyportv1.ReasonTokenRefreshed, "played by the test")); err != nil {
				continue
			}
			if observed == ac.Generation {
				return
			}
			// Give the provider a few polls with only the stale Ready.
			time.Sleep(3 * time.Second)
			sawStale.Store(true)
		}
	}()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config: providerConfig(t, ns) + `
resource "keyport_api_client" "stale" {
  name      = "stale"
  token_url = "https://login.example.com/token"
  client_id = "x"
  credentials = { secret_name = "absent" }
  timeouts {
    create = "60s"
  }
}
`,
			Check: func(*terraform.State) error {
				if !sawStale.Load() {
					return fmt.Errorf("the wait ended on a Ready of an older generation")
				}
				return nil
			},
		}},
	})
}
