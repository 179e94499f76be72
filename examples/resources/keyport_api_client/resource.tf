variable "client_secret" {
  type      = string
  sensitive = true
}

# A client of a standard OAuth 2.0 issuer. The secret is write-only: the
# provider stores it in the credentials Secret and never in state; bump
# client_secret_wo_version to write a rotated one.
resource "keyport_api_client" "datasharing" {
  name                     = "datasharing-uat"
  environment              = "uat"
  preset                   = "OAuth2ClientCredentials"
  token_url                = "https://example.b2clogin.com/example.onmicrosoft.com/B2C_1A_CLIENTCREDENTIALS/oauth2/v2.0/token"
  client_id                = "8d1f0c2e-datasharing"
  client_secret_wo         = var.client_secret
  client_secret_wo_version = 1
  scopes                   = ["https://example.onmicrosoft.com/ingestion/.default"]
}

# Workloads mount this Secret.
output "token_secret" {
  value = keyport_api_client.datasharing.output_secret_name
}
