package provider

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ktypes "k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
	"github.com/keyport-dev/keyport/operator/controllers/m2mcertificate"
	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
	"github.com/keyport-dev/keyport/shared/testsupport/testenv/optest"
)

const bundlePassphrase = "p12-passphrase-Hq7!"

// bankBundle is a provider-issued PKCS#12 bundle, as a bank hands it out.
func bankBundle(t *testing.T, ca *certstest.CA, cn, passphrase string) (b64, thumbprint string) {
	t.Helper()
	leaf, err := ca.Issue(cn, certstest.Options{KeyType: certstest.RSA})
	if err != nil {
		t.Fatal(err)
	}
	data, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(data), certs.Thumbprint(leaf.Cert)
}

func m2mConfig(provider string, bundleVersion, passphraseVersion int) string {
	return provider + fmt.Sprintf(`
variable "bundle" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "passphrase" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "keyport_m2m_certificate" "bank" {
  name                  = "bank-m2m"
  pkcs12_wo             = var.bundle
  pkcs12_wo_version     = %d
  passphrase_wo         = var.passphrase
  passphrase_wo_version = %d
  expiry_warning        = "720h"
  timeouts {
    create = "1m"
    update = "1m"
  }
}
`, bundleVersion, passphraseVersion)
}

// TestAccM2MCertificate_PKCS12WriteOnlyWithTheOperator runs the real
// M2MCertificate controller: a bundle and passphrase given write-only become
// a Ready certificate whose thumbprint the resource reports; a new bundle
// (same generation: only the Secret changes) is waited for and reported; a
// wrong passphrase fails at once with the operator's WrongPassphrase; and
// neither bundle nor passphrase is ever in state or plan.
func TestAccM2MCertificate_PKCS12WriteOnlyWithTheOperator(t *testing.T) {
	ns := env.Namespace(t)
	optest.Start(t, env, ns, func(mgr ctrl.Manager) error {
		return (&m2mcertificate.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorderFor("keyport-m2mcertificate")}).SetupWithManager(mgr)
	})
	provider := providerConfig(t, ns)
	ca, err := certstest.NewCA("Bank M2M CA")
	if err != nil {
		t.Fatal(err)
	}
	first, firstThumbprint := bankBundle(t, ca, "m2m-user", bundlePassphrase)
	second, secondThumbprint := bankBundle(t, ca, "m2m-user-renewed", bundlePassphrase)
	vars := func(bundle, passphrase string) config.Variables {
		return config.Variables{"bundle": config.StringVariable(bundle), "passphrase": config.StringVariable(passphrase)}
	}
	secretsUsed := []string{first, second, bundlePassphrase, "wrong-passphrase"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		CheckDestroy: func(*terraform.State) error {
			// The provider created the bundle Secret; it goes with the resource.
			err := env.Client.Get(context.Background(), ktypes.NamespacedName{Namespace: ns, Name: "bank-m2m-pkcs12"}, &corev1.Secret{})
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("bundle Secret still there after destroy: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:          m2mConfig(provider, 1, 1),
				ConfigVariables: vars(first, bundlePassphrase),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					noSecretInPlan(secretsUsed...),
				}},
				ConfigStateChecks: []statecheck.StateCheck{noSecretInState(secretsUsed...)},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("keyport_m2m_certificate.bank", "sha1_thumbprint", firstThumbprint),
					resource.TestCheckResourceAttr("keyport_m2m_certificate.bank", "output_secret_name", "bank-m2m-tls"),
					resource.TestCheckResourceAttr("keyport_m2m_certificate.bank", "pkcs12.secret_name", "bank-m2m-pkcs12"),
					resource.TestCheckResourceAttr("keyport_m2m_certificate.bank", "pkcs12.passphrase.name", "bank-m2m-pkcs12"),
					resource.TestCheckResourceAttr("keyport_m2m_certificate.bank", "pkcs12.passphrase.key", "passphrase"),
					resource.TestCheckResourceAttr("keyport_m2m_certificate.bank", "expiry_warning", "720h"),
					resource.TestCheckResourceAttrSet("keyport_m2m_certificate.bank", "not_after"),
					resource.TestCheckNoResourceAttr("keyport_m2m_certificate.bank", "pkcs12_wo"),
				),
			},
			{
				// A renewed bundle: the spec is unchanged, so the wait must
				// see the operator react to the Secret before it reads the
				// new thumbprint.
				Config:            m2mConfig(provider, 2, 1),
				ConfigVariables:   vars(second, bundlePassphrase),
				ConfigStateChecks: []statecheck.StateCheck{noSecretInState(secretsUsed...)},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("keyport_m2m_certificate.bank", "sha1_thumbprint", secondThumbprint),
					func(*terraform.State) error {
						out := object(t, ns, "bank-m2m-tls", &corev1.Secret{})
						list, err := certs.DecodeCertificatesPEM(out.Data[corev1.TLSCertKey])
						if err != nil || certs.Thumbprint(list[0]) != secondThumbprint {
							return fmt.Errorf("the output Secret does not hold the renewed certificate")
						}
						return nil
					},
				),
			},
			{
				ResourceName:            "keyport_m2m_certificate.bank",
				ConfigVariables:         vars(second, bundlePassphrase),
				ImportState:             true,
				ImportStateId:           ns + "/bank-m2m",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"pkcs12_wo_version", "passphrase_wo_version", "timeouts"},
			},
			{
				// A wrong passphrase: the operator keeps the previous
				// certificate but reports WrongPassphrase, and the apply
				// says so at once.
				Config:          m2mConfig(provider, 2, 2),
				ConfigVariables: vars(second, "wrong-passphrase"),
				ExpectError:     wrapped("WrongPassphrase"),
			},
		},
	})
}

// TestAccM2MCertificate_SwitchingTheSourceReplaces: the CRD forbids
// switching the source, so the plan replaces the resource instead.
func TestAccM2MCertificate_SwitchingTheSourceReplaces(t *testing.T) {
	ns := env.Namespace(t)
	provider := providerConfig(t, ns)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{
			{
				Config: provider + `
resource "keyport_m2m_certificate" "dev" {
  name           = "softpos-developer"
  secret_ref     = { name = "softpos-developer-tls" }
  expiry_warning = "1440h"
  wait_for_ready = false
}
`,
				Check: func(*terraform.State) error {
					c := object(t, ns, "softpos-developer", &keyportv1.M2MCertificate{})
					if c.Spec.SecretRef == nil || c.Spec.SecretRef.Name != "softpos-developer-tls" || c.Spec.ExpiryWarning.Duration.Hours() != 1440 {
						return fmt.Errorf("applied spec is not the declared one: %+v", c.Spec)
					}
					return nil
				},
			},
			{
				Config: provider + `
resource "keyport_m2m_certificate" "dev" {
  name = "softpos-developer"
  cert_manager = {
    issuer_ref  = { name = "internal-ca", kind = "ClusterIssuer" }
    common_name = "softpos.example.com"
    private_key = { algorithm = "ECDSA", size = 256 }
    duration    = "2160h"
  }
  expiry_warning = "1440h"
  wait_for_ready = false
}
`,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_m2m_certificate.dev", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: func(*terraform.State) error {
					c := object(t, ns, "softpos-developer", &keyportv1.M2MCertificate{})
					if c.Spec.SecretRef != nil || c.Spec.CertManager == nil || c.Spec.CertManager.Duration.Hours() != 2160 {
						return fmt.Errorf("the replacement does not have the new source: %+v", c.Spec)
					}
					return nil
				},
			},
		},
	})
}
