# The provider talks to the cluster where the Keyport operator runs, like the
# Kubernetes provider: a kubeconfig, or host/token/cluster_ca_certificate.
provider "keyport" {
  config_path = "~/.kube/config"
  namespace   = "integrations"
}
