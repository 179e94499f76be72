# A data-sharing platform: one ingestion channel per customer and environment,
# https://{environment}/ingestion/{channel-id}. The operator keeps a Secret with
# the URL, content type, message type and a valid token of the ApiClient.
resource "keyport_ingestion_channel" "acme_uat" {
  name            = "acme-uat"
  api_client_name = keyport_api_client.datasharing_uat.name
  customer        = "acme-logistics"
  environment     = "uat"
  base_url        = "https://ingestion-uat.datasharing.example.com"
  channel_id      = "7f3e2a10-acme"
  message_type    = "ContainerEvent"
  media_type      = "application/json"
}

resource "keyport_ingestion_channel" "globex_uat" {
  name            = "globex-uat"
  api_client_name = keyport_api_client.datasharing_uat.name
  customer        = "globex-shipping"
  environment     = "uat"
  base_url        = "https://ingestion-uat.datasharing.example.com"
  channel_id      = "91bd44c2-globex"
  message_type    = "ContainerEvent"
  media_type      = "application/xml"
}

variable "datasharing_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "keyport_api_client" "datasharing_uat" {
  name                     = "datasharing-uat"
  environment              = "uat"
  preset                   = "OAuth2ClientCredentials"
  token_url                = "https://example.b2clogin.com/example.onmicrosoft.com/B2C_1A_CLIENTCREDENTIALS/oauth2/v2.0/token"
  client_id                = "8d1f0c2e-datasharing"
  client_secret_wo         = var.datasharing_client_secret
  client_secret_wo_version = 1
  scopes                   = ["https://example.onmicrosoft.com/ingestion/.default"]
}
