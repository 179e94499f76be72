package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

// TestAccApiClientDataSource reads the status the real operator wrote for
// two ApiClients declared outside Terraform: one that works and one whose
// secret the platform refuses.
func TestAccApiClientDataSource(t *testing.T) {
	ns, kubeconfig := withOperator(t)
	ctx := context.Background()
	for name, secret := range map[string]string{"good": clientSecret, "refused": "not-the-secret"} {
		if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials", Namespace: ns},
			StringData: map[string]string{"client_id": clientID, "client_secret": secret}}); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, &keyportv1.ApiClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keyportv1.ApiClientSpec{
			TokenURL: sb.URL() + "/connect/token", Credentials: &keyportv1.CredentialsSource{SecretName: name + "-credentials"},
			TLS: &keyportv1.TLSSettings{CABundle: &keyportv1.SecretKeySelector{Name: "sandbox-ca", Key: "ca.crt"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	optest.Eventually(t, 30*time.Second, "both ApiClients reported on", func() (bool, string) {
		for _, name := range []string{"good", "refused"} {
			ac := object(t, ns, name, &keyportv1.ApiClient{})
			if len(ac.Status.Conditions) == 0 {
				return false, name + " has no conditions yet"
			}
		}
		return true, ""
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config: providerBlock(kubeconfig, ns) + fmt.Sprintf(`
data "keyport_api_client" "good" {
  name = "good"
}

data "keyport_api_client" "refused" {
  name      = "refused"
  namespace = %q
}
`, ns),
			Check: resource.ComposeTestCheckFunc(
				resource.TestCheckResourceAttr("data.keyport_api_client.good", "id", ns+"/good"),
				resource.TestCheckResourceAttr("data.keyport_api_client.good", "ready", "true"),
				resource.TestCheckResourceAttr("data.keyport_api_client.good", "reason", keyportv1.ReasonTokenRefreshed),
				resource.TestCheckResourceAttr("data.keyport_api_client.good", "output_secret_name", "good-token"),
				resource.TestCheckResourceAttr("data.keyport_api_client.good", "consecutive_failures", "0"),
				resource.TestMatchResourceAttr("data.keyport_api_client.good", "token_expires_at", regexp.MustCompile(`^\d{4}-\d\d-\d\dT`)),
				resource.TestCheckResourceAttr("data.keyport_api_client.refused", "ready", "false"),
				resource.TestCheckResourceAttr("data.keyport_api_client.refused", "reason", keyportv1.ReasonInvalidCredentials),
				resource.TestCheckResourceAttr("data.keyport_api_client.refused", "degraded", "true"),
				noValueInState(clientSecret),
			),
		}, {
			Config: providerBlock(kubeconfig, ns) + `
data "keyport_api_client" "missing" {
  name = "does-not-exist"
}
`,
			ExpectError: regexp.MustCompile(`There is no ApiClient ` + ns + `/does-not-exist`),
		}},
	})
}
