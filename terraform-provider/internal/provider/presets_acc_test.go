package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/dialect"
	"github.com/keyport-dev/keyport/shared/testsupport/sandbox"
	"github.com/keyport-dev/keyport/shared/tokensecret"
)

// presetCase declares a client of one preset in Terraform, as a user of
// that platform would, against the sandbox endpoint that speaks it.
type presetCase struct {
	// path and endpoint are the sandbox's token endpoint for the preset and
	// the name it counts requests under.
	path, endpoint string
	client         sandbox.Client
	// args are the resource's credentials arguments.
	args string
	// certificate: the client presents a certificate the sandbox issued.
	certificate bool
	// stored is what the credentials Secret must hold afterwards: the keys
	// the operator reads for the preset, and only those.
	stored map[string]string
}

// presetCases has one case per preset of the table; a preset added without
// one fails the test.
var presetCases = map[keyportv1.Preset]presetCase{
	keyportv1.PresetPortCommunityPassword: {
		path: "/connect/token", endpoint: sandbox.EndpointConnectToken,
		client: sandbox.Client{ID: "tf-pcs", Secret: "pcs-secret-1", Username: "pcs-user", Password: "pcs-pass-1"},
		args: `client_id                = "tf-pcs"
  client_secret_wo         = "pcs-secret-1"
  client_secret_wo_version = 1
  username                 = "pcs-user"
  password_wo              = "pcs-pass-1"
  password_wo_version      = 1`,
		stored: map[string]string{"client_secret": "pcs-secret-1", "username": "pcs-user", "password": "pcs-pass-1"},
	},
	keyportv1.PresetOAuth2ClientCredentials: {
		path: "/connect/token", endpoint: sandbox.EndpointConnectToken,
		client: sandbox.Client{ID: "tf-oauth2", Secret: "oauth2-secret-1"},
		args: `client_id                = "tf-oauth2"
  client_secret_wo         = "oauth2-secret-1"
  client_secret_wo_version = 1`,
		stored: map[string]string{"client_secret": "oauth2-secret-1"},
	},
	// The bank's Basic credentials are a user name and a password; the
	// password given as the client secret lands where the operator reads it.
	keyportv1.PresetBankM2M: {
		path: "/m2m/token", endpoint: sandbox.EndpointM2MToken,
		client: sandbox.Client{ID: "tf-bank", Username: "tf-bank-user", Password: "bank-pass-1"},
		args: `username                 = "tf-bank-user"
  client_secret_wo         = "bank-pass-1"
  client_secret_wo_version = 1`,
		certificate: true,
		stored:      map[string]string{"username": "tf-bank-user", "password": "bank-pass-1"},
	},
	keyportv1.PresetPaymentJSON: {
		path: "/oauth2/token", endpoint: sandbox.EndpointJSONToken,
		client: sandbox.Client{ID: "tf-payment", Secret: "payment-secret-1"},
		args: `client_id                = "tf-payment"
  client_secret_wo         = "payment-secret-1"
  client_secret_wo_version = 1`,
		stored: map[string]string{"client_secret": "payment-secret-1"},
	},
	keyportv1.PresetSoftPOS: {
		path: "/softpos/appenrollment/token", endpoint: sandbox.EndpointSoftPOSToken,
		client: sandbox.Client{ID: "tf-softpos", Secret: "softpos-secret-1"},
		args: `client_id                = "tf-softpos"
  client_secret_wo         = "softpos-secret-1"
  client_secret_wo_version = 1`,
		certificate: true,
		stored:      map[string]string{"client_secret": "softpos-secret-1"},
	},
}

// TestAccApiClient_EveryPresetGetsAToken: for each preset, a client
// declared in Terraform with write-only credentials gets a token from the
// sandbox endpoint of its platform, through the real operator. All presets
// share one namespace, one operator and one apply.
func TestAccApiClient_EveryPresetGetsAToken(t *testing.T) {
	for _, p := range dialect.Presets {
		if _, ok := presetCases[p.Name]; !ok {
			t.Fatalf("preset %s has no case in presetCases", p.Name)
		}
	}
	ns, kubeconfig := withOperator(t)
	var config strings.Builder
	config.WriteString(providerBlock(kubeconfig, ns))
	thumbprints := map[keyportv1.Preset]string{}
	var secrets []string
	for _, name := range slices.Sorted(maps.Keys(presetCases)) {
		c := presetCases[name]
		sb.AddClient(c.client)
		secrets = append(secrets, c.client.Secret, c.client.Password)
		res := resourceName(name)
		certificate := ""
		if c.certificate {
			thumbprints[name] = tlsSecret(t, ns, res+"-cert", c.client.ID)
			certificate = fmt.Sprintf("client_certificate = { secret_name = %q }", res+"-cert")
		}
		fmt.Fprintf(&config, `
resource "keyport_api_client" %q {
  name      = %q
  token_url = %q
  preset    = %q
  %s
  %s
  tls = {
    ca_bundle = { name = "sandbox-ca", key = "ca.crt" }
  }
  timeouts {
    create = "120s"
  }
}
`, res, res, sb.URL()+c.path, name, c.args, certificate)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config: config.String(),
			Check: resource.ComposeTestCheckFunc(
				noValueInAnyState(secrets...),
				func(*terraform.State) error {
					var problems []string
					for _, name := range slices.Sorted(maps.Keys(presetCases)) {
						if err := checkPreset(ns, name, presetCases[name], thumbprints[name]); err != nil {
							problems = append(problems, fmt.Sprintf("%s: %v", name, err))
						}
					}
					if len(problems) > 0 {
						return fmt.Errorf("%s", strings.Join(problems, "\n"))
					}
					return nil
				},
			),
		}},
	})
}

// resourceName is the object name of the preset's client.
func resourceName(p keyportv1.Preset) string { return strings.ToLower(string(p)) }

// tlsSecret writes a client certificate the sandbox issued for clientID
// into a kubernetes.io/tls Secret and returns its thumbprint.
func tlsSecret(t *testing.T, ns, name, clientID string) string {
	t.Helper()
	certPEM, keyPEM, err := sb.IssueClientCert(clientID)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}); err != nil {
		t.Fatal(err)
	}
	list, err := certs.DecodeCertificatesPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certs.Thumbprint(list[0])
}

// checkPreset checks what a user of the preset would: the token in the
// output Secret is one the platform's endpoint issued to this client (over
// the client's certificate, where the preset needs one), and the
// credentials Secret holds the keys the operator reads.
func checkPreset(ns string, name keyportv1.Preset, c presetCase, thumbprint string) error {
	res := resourceName(name)
	out := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: res + "-token"}, out); err != nil {
		return err
	}
	tok, err := tokensecret.Parse(out.Data)
	if err != nil {
		return err
	}
	claims, err := sb.Validate(tok.AccessToken)
	if err != nil {
		return err
	}
	if claims.Subject != c.client.ID {
		return fmt.Errorf("the token was issued to %q, want %q", claims.Subject, c.client.ID)
	}
	if claims.Thumbprint != thumbprint {
		return fmt.Errorf("the token is bound to certificate %q, want %q", claims.Thumbprint, thumbprint)
	}
	if n := sb.Counters()[c.endpoint][c.client.ID].Succeeded; n == 0 {
		return fmt.Errorf("the sandbox's %s endpoint issued this client no token", c.endpoint)
	}
	cred := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: res + "-credentials"}, cred); err != nil {
		return err
	}
	stored := map[string]string{}
	for k, v := range cred.Data {
		stored[k] = string(v)
	}
	if !maps.Equal(stored, c.stored) {
		return fmt.Errorf("the credentials Secret holds the keys %v, want %v", slices.Sorted(maps.Keys(stored)), slices.Sorted(maps.Keys(c.stored)))
	}
	return nil
}

// noValueInAnyState fails when any of the non-empty values appears in the
// state.
func noValueInAnyState(values ...string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, v := range values {
			if v == "" {
				continue
			}
			if err := noValueInState(v)(s); err != nil {
				return err
			}
		}
		return nil
	}
}
