# The provider talks to the cluster where the Keyport operator runs, configured
# like the Kubernetes provider: a kubeconfig (config_path, config_paths,
# config_context) or host with token / client certificate / exec plugin.
# Every attribute falls back to the Kubernetes provider's environment variable
# (KUBE_CONFIG_PATH, KUBE_HOST, KUBE_TOKEN, ...); KUBECONFIG is read last.
provider "keyport" {
  config_path    = "~/.kube/config"
  config_context = "prod-eu"

  # Resources that set no namespace go here.
  namespace = "integrations"
}

# Or, for a managed cluster, without a kubeconfig:
#
# provider "keyport" {
#   host                   = data.aws_eks_cluster.this.endpoint
#   cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
#   exec {
#     api_version = "client.authentication.k8s.io/v1beta1"
#     command     = "aws"
#     args        = ["eks", "get-token", "--cluster-name", "prod-eu"]
#   }
#   namespace = "integrations"
# }
