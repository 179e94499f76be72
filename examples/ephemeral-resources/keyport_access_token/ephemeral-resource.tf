# The current token of an ApiClient, for use elsewhere in the same run and
# never stored: here it configures another provider (any provider that takes
# a token or headers works the same way). api_client_id is known only once the
# ApiClient exists and is Ready, so Terraform reads the token after applying it.
resource "keyport_api_client" "payments" {
  name        = "payments-test"
  environment = "test"
  preset      = "PaymentJSON"
  token_url   = "https://authn.payments.example.com/v1/public/project-test/oauth2/token"
  credentials = { secret_name = "payments-test-credentials" }
}

ephemeral "keyport_access_token" "payments" {
  api_client_id = keyport_api_client.payments.id
}

provider "restapi" {
  uri     = "https://api.payments.example.com"
  headers = ephemeral.keyport_access_token.payments.headers
}

# Or without the operator: the provider asks the token endpoint itself, with
# the same token code and presets, for a token needed only during this run.
variable "bootstrap_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

ephemeral "keyport_access_token" "bootstrap" {
  client = {
    token_url     = "https://login-uat.port.example.com/connect/token"
    preset        = "OAuth2ClientCredentials"
    client_id     = "cpu-bootstrap"
    client_secret = var.bootstrap_client_secret
    scopes        = ["notifications.write"]
  }
}
