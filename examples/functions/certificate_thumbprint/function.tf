# The SHA-1 thumbprint (upper-case hex) a bank binds into its tokens.
output "m2m_thumbprint" {
  value = provider::keyport::certificate_thumbprint(file("${path.module}/m2m-user.crt"))
}
