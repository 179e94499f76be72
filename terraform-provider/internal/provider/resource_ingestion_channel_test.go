package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

func ingestionConfig(provider, customer, messageType string) string {
	return provider + fmt.Sprintf(`
resource "keyport_ingestion_channel" "acme" {
  name            = "acme-uat"
  api_client_name = "datasharing-uat"
  customer        = %q
  environment     = "uat"
  base_url        = "https://ingestion-uat.datasharing.example.com"
  channel_id      = "7f3e2a10-acme"
  message_type    = %q
  platform = {
    driver          = "generic-rest"
    api_client_name = "datasharing-uat"
    management_url  = "https://platform.example.com/api"
    parameters      = { tenant = "acme" }
  }
  wait_for_ready = false
}
`, customer, messageType)
}

// TestAccIngestionChannel_Lifecycle: create (the API server's default media
// type is planned, not drift), import, an in-place update, a replacement
// when the customer changes, and re-creation after a deletion behind
// Terraform's back.
func TestAccIngestionChannel_Lifecycle(t *testing.T) {
	ns := env.Namespace(t)
	provider := providerConfig(t, ns)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		Steps: []resource.TestStep{
			{
				Config: ingestionConfig(provider, "acme-logistics", "ContainerEvent"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("keyport_ingestion_channel.acme", "media_type", "application/json"),
					resource.TestCheckResourceAttr("keyport_ingestion_channel.acme", "platform.allow_insecure_http", "false"),
					func(*terraform.State) error {
						c := object(t, ns, "acme-uat", &keyportv1.IngestionChannel{})
						if c.Spec.ChannelID != "7f3e2a10-acme" || c.Spec.Platform == nil || c.Spec.Platform.Parameters["tenant"] != "acme" ||
							c.Spec.MediaType != "application/json" || c.Spec.Customer != "acme-logistics" {
							return fmt.Errorf("applied spec is not the declared one: %+v", c.Spec)
						}
						return nil
					},
				),
			},
			{
				ResourceName:            "keyport_ingestion_channel.acme",
				ImportState:             true,
				ImportStateId:           ns + "/acme-uat",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"wait_for_ready"},
			},
			{
				Config: ingestionConfig(provider, "acme-logistics", "ContainerEventV2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_ingestion_channel.acme", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					if c := object(t, ns, "acme-uat", &keyportv1.IngestionChannel{}); c.Spec.MessageType != "ContainerEventV2" {
						return fmt.Errorf("message type not updated: %s", c.Spec.MessageType)
					}
					return nil
				},
			},
			{
				// A channel belongs to one customer: a new customer is a new channel.
				Config: ingestionConfig(provider, "acme-shipping", "ContainerEventV2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_ingestion_channel.acme", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: func(*terraform.State) error {
					if c := object(t, ns, "acme-uat", &keyportv1.IngestionChannel{}); c.Spec.Customer != "acme-shipping" {
						return fmt.Errorf("customer not replaced: %s", c.Spec.Customer)
					}
					return nil
				},
			},
			{
				PreConfig: func() {
					if err := env.Client.Delete(context.Background(), &keyportv1.IngestionChannel{ObjectMeta: metav1.ObjectMeta{Name: "acme-uat", Namespace: ns}}); err != nil {
						t.Fatal(err)
					}
				},
				Config: ingestionConfig(provider, "acme-shipping", "ContainerEventV2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("keyport_ingestion_channel.acme", plancheck.ResourceActionCreate),
				}},
			},
		},
	})
}
