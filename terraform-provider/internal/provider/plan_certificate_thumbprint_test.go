package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keyport-dev/keyport/shared/certs"
)

// TestAccApiClient_UpdatePlansNoThumbprintWithoutACertificate: an update of
// a client without a certificate plans certificate_thumbprint as null, not
// "(known after apply)"; for a client with one it stays unknown until the
// operator says which certificate it used, and then is that one's.
func TestAccApiClient_UpdatePlansNoThumbprintWithoutACertificate(t *testing.T) {
	ns, kubeconfig := withOperator(t)
	certPEM, keyPEM, err := sb.IssueClientCert("tf-thumbprint")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "client-tls", Namespace: ns},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}}); err != nil {
		t.Fatal(err)
	}
	list, _ := certs.DecodeCertificatesPEM(certPEM)
	thumbprint := certs.Thumbprint(list[0])
	config := func(percent int) string {
		client := func(name, extra string) string {
			return fmt.Sprintf(`
resource "keyport_api_client" %[1]q {
  name                     = %[1]q
  token_url                = %[2]q
  preset                   = "OAuth2ClientCredentials"
  client_id                = %[3]q
  client_secret_wo         = %[4]q
  client_secret_wo_version = 1
  tls = {
    ca_bundle = { name = "sandbox-ca", key = "ca.crt" }
  }
  refresh = { refresh_at_percent = %[5]d }
  %[6]s
  timeouts {
    create = "60s"
    update = "60s"
  }
}
`, name, sb.URL()+"/connect/token", clientID, clientSecret, percent, extra)
		}
		return providerBlock(kubeconfig, ns) +
			client("plain", "") + client("mtls", `client_certificate = { secret_name = "client-tls" }`)
	}
	thumbprintPath := tfjsonpath.New("certificate_thumbprint")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{
			{
				Config: config(50),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue("keyport_api_client.plain", thumbprintPath, knownvalue.Null()),
					plancheck.ExpectUnknownValue("keyport_api_client.mtls", thumbprintPath),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr("keyport_api_client.plain", "certificate_thumbprint"),
					resource.TestCheckResourceAttr("keyport_api_client.mtls", "certificate_thumbprint", thumbprint),
				),
			},
			{
				// An update: the client without a certificate plans no
				// thumbprint; after the apply the next plan is empty (the
				// test framework checks that after every step).
				Config: config(60),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_api_client.plain", plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue("keyport_api_client.plain", thumbprintPath, knownvalue.Null()),
					plancheck.ExpectUnknownValue("keyport_api_client.mtls", thumbprintPath),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr("keyport_api_client.plain", "certificate_thumbprint"),
					resource.TestCheckResourceAttr("keyport_api_client.mtls", "certificate_thumbprint", thumbprint),
				),
			},
		},
	})
}
