# An existing ApiClient is imported by namespace/name.
terraform import keyport_api_client.datasharing integrations/datasharing-uat
