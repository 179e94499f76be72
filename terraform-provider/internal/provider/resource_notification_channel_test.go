package provider

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	keyportv1 "github.com/keyport-dev/keyport/api/v1alpha1"
)

const testFinalizer = "keyport.dev/test-registration"

// TestAccNotificationChannel_DeleteWaitsForTheOperator plays the operator:
// it registers the channel (status.channelID, Ready) and holds a finalizer
// until it has removed the registration. A destroy waits for that, and says
// so when it times out.
func TestAccNotificationChannel_DeleteWaitsForTheOperator(t *testing.T) {
	ns := env.Namespace(t)
	provider := providerConfig(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	key := ktypes.NamespacedName{Namespace: ns, Name: "cpu-visits"}
	var holdRegistration atomic.Bool // while set, the "platform" refuses to let go
	go func() {
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			nc := &keyportv1.NotificationChannel{}
			if err := env.Client.Get(ctx, key, nc); err != nil {
				continue
			}
			if !nc.DeletionTimestamp.IsZero() {
				if !holdRegistration.Load() && controllerutil.RemoveFinalizer(nc, testFinalizer) {
					_ = env.Client.Update(ctx, nc)
				}
				continue
			}
			if controllerutil.AddFinalizer(nc, testFinalizer) {
				_ = env.Client.Update(ctx, nc)
				continue
			}
			if nc.Status.ObservedGeneration != nc.Generation {
				_ = setStatus(ctx, nc, nc.Generation, func(o client.Object) {
					o.(*keyportv1.NotificationChannel).Status.ChannelID = "ch-" + string(nc.UID)[:8]
				}, readyCondition(metav1.ConditionTrue, keyportv1.ReasonChannelRegistered, "registered at the platform"))
			}
		}
	}()
	config := provider + `
resource "keyport_notification_channel" "visits" {
  name = "cpu-visits"
  platform = {
    driver          = "generic-rest"
    api_client_name = "cpu-uat"
    management_url  = "https://api-uat.port.example.com/notification-channels"
  }
  channel_name = "visit-updates"
  webhook_url  = "https://hooks.example.com/cpu/visits"
  event_types  = ["VisitCreated", "VisitUpdated"]
  authentication = {
    type = "OAuth2ClientCredentials"
    oauth2 = {
      token_url = "https://auth.example.com/oauth2/token"
      client_id = "cpu-platform"
      scopes    = ["notifications.write"]
    }
    generated_secret_name = "cpu-webhook-client"
  }
  timeouts {
    create = "1m"
    delete = "3s"
  }
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: newFactories(),
		CheckDestroy: func(*terraform.State) error {
			if err := env.Client.Get(ctx, key, &keyportv1.NotificationChannel{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("NotificationChannel still there after destroy: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrWith("keyport_notification_channel.visits", "channel_id", func(v string) error {
						if len(v) != len("ch-")+8 {
							return fmt.Errorf("channel_id %q is not the operator's", v)
						}
						return nil
					}),
					resource.TestCheckResourceAttr("keyport_notification_channel.visits", "method", "POST"),
					resource.TestCheckResourceAttr("keyport_notification_channel.visits", "channel_type", "HTTPSWebhook"),
					resource.TestCheckResourceAttr("keyport_notification_channel.visits", "deletion_policy", "Delete"),
				),
			},
			{
				// The platform will not let go: the destroy times out and says why.
				PreConfig:   func() { holdRegistration.Store(true) },
				Config:      config,
				Destroy:     true,
				ExpectError: wrapped("finalizers " + testFinalizer + " are still present"),
			},
			{
				// The operator finishes; the object is gone, so Terraform
				// plans and creates it again.
				PreConfig: func() {
					holdRegistration.Store(false)
					if _, err := eventuallyGone(ctx, key); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
			},
			// The final destroy succeeds only after the operator removed its
			// finalizer: CheckDestroy finds the object gone.
		},
	})
}

func eventuallyGone(ctx context.Context, key ktypes.NamespacedName) (bool, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := env.Client.Get(ctx, key, &keyportv1.NotificationChannel{}); apierrors.IsNotFound(err) {
			return true, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false, fmt.Errorf("%s still exists", key)
}
