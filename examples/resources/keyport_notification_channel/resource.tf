# A port community system delivers notifications to an HTTPS webhook. Before
# each call it fetches a token from our own token endpoint with client
# credentials; the operator generates that client secret and writes it to the
# Secret cpu-webhook-client for the receiving workload. Destroying the
# resource waits until the operator has removed the registration.
resource "keyport_notification_channel" "cpu_visits" {
  name = "cpu-uat-visits"
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
  deletion_policy = "Delete"

  timeouts {
    delete = "10m"
  }
}

output "platform_channel_id" {
  value = keyport_notification_channel.cpu_visits.channel_id
}
