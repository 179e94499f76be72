variable "bundle_passphrase" {
  type      = string
  sensitive = true
  ephemeral = true
}

# A bank's M2M API: the bank issues the client certificate as a
# passphrase-protected PKCS#12 download. Bundle and passphrase are write-only:
# the provider writes them into the Secret bank-m2m-pkcs12 and never into
# state. Bump the *_wo_version when the bank issues a new bundle.
resource "keyport_m2m_certificate" "bank" {
  name                  = "bank-m2m"
  pkcs12_wo             = filebase64("${path.module}/m2m-user.p12")
  pkcs12_wo_version     = 1
  passphrase_wo         = var.bundle_passphrase
  passphrase_wo_version = 1
  expiry_warning        = "720h"
}

# A certificate issued and renewed by cert-manager.
resource "keyport_m2m_certificate" "partner" {
  name = "partner-client"
  cert_manager = {
    issuer_ref    = { name = "internal-ca", kind = "ClusterIssuer" }
    common_name   = "keyport-client.example.com"
    organizations = ["Example Logistics"]
    private_key   = { algorithm = "ECDSA", size = 256 }
    duration      = "2160h"
    renew_before  = "360h"
  }
}

# An existing kubernetes.io/tls Secret, as it is.
resource "keyport_m2m_certificate" "softpos" {
  name           = "softpos-developer"
  secret_ref     = { name = "softpos-developer-tls" }
  expiry_warning = "1440h"
}

# The thumbprint the bank binds into its tokens.
output "bank_thumbprint" {
  value = keyport_m2m_certificate.bank.sha1_thumbprint
}
