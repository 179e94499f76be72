# The Terraform half of `make demo`: three partner-platform resources declared
# in HCL and applied by the Keyport provider built from this repository and
# installed from its release archive through a filesystem mirror, as a
# released provider is (no registry). `make demo` fills the variables: the local
# cluster, the sandbox standing in for the platforms, and the webhook receiver
# it runs. Secrets arrive as ephemeral variables (TF_VAR_...): they reach the
# credentials Secrets in the cluster through write-only arguments and never
# the plan or the state.

terraform {
  required_version = ">= 1.11"
  required_providers {
    keyport = {
      source = "keyport-dev/keyport"
    }
  }
}

variable "kubeconfig" {
  type = string
}

variable "namespace" {
  type = string
}

variable "sandbox_url" {
  description = "Base URL of the platform (the Keyport sandbox in the demo)."
  type        = string
}

variable "propagation_budget" {
  description = "How long a Secret update takes to reach the pods that mount it: the kubelet's sync period and half of it again (a minute: 2m)."
  type        = string
  default     = "2m"
}

variable "webhook_url" {
  description = "Where the platform delivers notifications (the demo's receiver)."
  type        = string
}

variable "cpu_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "cpu_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "datasharing_client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "keyport" {
  config_path = var.kubeconfig
  namespace   = var.namespace
}

# The sandbox's CA certificate is in the Secret sandbox-ca (created by the
# demo); a real platform has a public certificate and needs no ca_bundle.
locals {
  sandbox_tls = {
    ca_bundle = { name = "sandbox-ca", key = "ca.crt" }
  }
  # The demo's tokens are short so that rotations show; the budget follows
  # the kubelet the demo runs (2m, the default, fits a kubelet that syncs
  # every minute).
  demo_refresh = {
    refresh_at_percent = 50
    propagation_budget = var.propagation_budget
  }
}

# A port community system's API. Password grant with client credentials.
resource "keyport_api_client" "cpu" {
  name        = "cpu-uat"
  environment = "uat"
  preset      = "PortCommunityPassword"
  token_url   = "${var.sandbox_url}/connect/token"
  client_id   = "cpu-integration"

  client_secret_wo         = var.cpu_client_secret
  client_secret_wo_version = 1
  username                 = "api-user@example.com"
  password_wo              = var.cpu_password
  password_wo_version      = 1

  tls     = local.sandbox_tls
  refresh = local.demo_refresh
}

# A data-sharing platform's client and one customer's ingestion
# channel (onboarded at the platform beforehand, as the platform does it).
resource "keyport_api_client" "datasharing" {
  name        = "datasharing-uat"
  environment = "uat"
  preset      = "OAuth2ClientCredentials"
  token_url   = "${var.sandbox_url}/connect/token"
  client_id   = "datasharing-app"

  client_secret_wo         = var.datasharing_client_secret
  client_secret_wo_version = 1

  tls     = local.sandbox_tls
  refresh = local.demo_refresh
}

resource "keyport_ingestion_channel" "acme" {
  name            = "acme-uat"
  api_client_name = keyport_api_client.datasharing.name
  customer        = "acme-logistics"
  environment     = "uat"
  base_url        = var.sandbox_url
  channel_id      = "7f3e2a10-acme"
  message_type    = "ContainerEvent"
  media_type      = "application/json"
  platform = {
    driver          = "generic-rest"
    api_client_name = keyport_api_client.datasharing.name
    management_url  = var.sandbox_url
    parameters      = { "channels.nextPath" = "next" }
  }
}

# The port community system again: it delivers visit notifications to our webhook
# with a bearer token that Keyport generates, registers and writes to the
# Secret cpu-webhook for the receiving workload.
resource "keyport_notification_channel" "visits" {
  name = "cpu-uat-visits"
  platform = {
    # The generic REST driver fits the sandbox's management API with its
    # defaults, except that the sandbox pages its channel list with "next".
    driver          = "generic-rest"
    api_client_name = keyport_api_client.cpu.name
    management_url  = var.sandbox_url
    parameters      = { "channels.nextPath" = "next" }
  }
  channel_name = "visit-updates"
  webhook_url  = var.webhook_url
  event_types  = ["VisitCreated"]
  authentication = {
    type                  = "StaticBearer"
    generated_secret_name = "cpu-webhook"
  }
  deletion_policy = "Delete"
}

output "token_secret" {
  value = keyport_api_client.cpu.output_secret_name
}

output "ingestion_secret" {
  value = keyport_ingestion_channel.acme.output_secret_name
}

output "platform_channel_id" {
  value = keyport_notification_channel.visits.channel_id
}
