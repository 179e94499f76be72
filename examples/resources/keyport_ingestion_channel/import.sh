# An IngestionChannel is imported by namespace/name.
terraform import keyport_ingestion_channel.acme_uat integrations/acme-uat
