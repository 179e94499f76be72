# An M2MCertificate is imported by namespace/name.
terraform import keyport_m2m_certificate.bank integrations/bank-m2m
