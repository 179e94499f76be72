package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/keyport-dev/keyport/shared/certs"
	"github.com/keyport-dev/keyport/shared/testsupport/certstest"
)

// TestAccCertificateFingerprintFunction: the SHA-256 fingerprint of the
// first certificate of a chain, as keyport_m2m_certificate reports it.
func TestAccCertificateFingerprintFunction(t *testing.T) {
	ca, err := certstest.NewCA("Fingerprint CA")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ca.Intermediate("Fingerprint Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.Issue("client", certstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leaf.Chain = append(leaf.Chain, inter.Cert)
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_8_0)},
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf("output \"fp\" {\n  value = provider::keyport::certificate_fingerprint(%q)\n}\n"+
				"output \"tp\" {\n  value = provider::keyport::certificate_thumbprint(%q)\n}\n", leaf.CertPEM(), leaf.CertPEM()),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckOutput("fp", certs.Fingerprint256(leaf.Cert)),
				resource.TestCheckOutput("tp", certs.Thumbprint(leaf.Cert)),
			),
		}, {
			Config:      "output \"fp\" {\n  value = provider::keyport::certificate_fingerprint(\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\")\n}\n",
			ExpectError: wrapped("pem holds no certificate"),
		}},
	})
}
