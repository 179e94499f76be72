# Secrets come in through ephemeral variables (Terraform 1.10+), so that their
# values are kept out of the plan file as well as out of the state.
variable "client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "password" {
  type      = string
  sensitive = true
  ephemeral = true
}

# A port community system's API. Password grant, 1-hour tokens, and every API
# call carries the stakeholder's subscription key. The client secret and the
# password are write-only: the provider writes them into the credentials
# Secret (cpu-uat-credentials) and never into state. Bump a *_wo_version to
# write a rotated value.
resource "keyport_api_client" "cpu_uat" {
  name        = "cpu-uat"
  environment = "uat"
  preset      = "PortCommunityPassword"
  token_url   = "https://login-uat.port.example.com/connect/token"
  client_id   = "cpu-integration"

  client_secret_wo         = var.client_secret
  client_secret_wo_version = 1
  username                 = "api-user@example.com"
  password_wo              = var.password
  password_wo_version      = 1

  # The subscription key lives in a Secret you manage (here the same one).
  headers = [{
    name       = "Ocp-Apim-Subscription-Key"
    value_from = { name = "cpu-uat-credentials", key = "subscription_key" }
  }]

  refresh = {
    refresh_at_percent = 50
    propagation_budget = "2m"
  }

  timeouts {
    create = "5m"
  }
}

# A bank's M2M API over mutual TLS with a provider-issued
# certificate, credentials from an existing Secret.
resource "keyport_api_client" "bank_sandbox" {
  name        = "bank-sandbox"
  environment = "sandbox"
  preset      = "BankM2M"
  token_url   = "https://auth.sandbox.bank.example.com/m2m/token"
  credentials = {
    secret_name = "bank-sandbox-credentials"
  }
  client_certificate = {
    m2m_certificate_name = keyport_m2m_certificate.bank.name
  }
}

# Workloads mount this Secret: access_token, authorization, expires_at,
# headers.json.
output "cpu_token_secret" {
  value = keyport_api_client.cpu_uat.output_secret_name
}
