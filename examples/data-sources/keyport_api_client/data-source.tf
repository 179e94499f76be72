# The status of an ApiClient, declared here or by someone else: for outputs,
# preconditions or monitoring. The token itself is not read.
data "keyport_api_client" "cpu_uat" {
  name = "cpu-uat"
}

output "cpu_uat_token_secret" {
  value = data.keyport_api_client.cpu_uat.output_secret_name
}

check "cpu_uat_works" {
  assert {
    condition     = data.keyport_api_client.cpu_uat.ready
    error_message = "ApiClient cpu-uat is not Ready: ${data.keyport_api_client.cpu_uat.reason}: ${data.keyport_api_client.cpu_uat.message}"
  }
}
