# An ApiClient is imported by namespace/name. Write-only credentials are not
# imported: add them with a new *_wo_version to write them again.
terraform import keyport_api_client.cpu_uat integrations/cpu-uat
