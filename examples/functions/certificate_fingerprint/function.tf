# The SHA-256 fingerprint (upper-case hex) of the first certificate in a PEM.
output "m2m_fingerprint" {
  value = provider::keyport::certificate_fingerprint(file("${path.module}/m2m-user.crt"))
}
