# The same policy with the Databricks Terraform provider (account-level provider).
variable "service_principal_id" { type = number }       # numeric id of the service principal
variable "aks_oidc_issuer" { type = string }            # az aks show --query oidcIssuerProfile.issuerUrl
variable "databricks_account_id" { type = string }

resource "databricks_service_principal_federation_policy" "etl" {
  service_principal_id = var.service_principal_id
  policy_id            = "aks-data-etl"
  oidc_policy = {
    issuer    = var.aks_oidc_issuer
    audiences = [var.databricks_account_id]
    subject   = "system:serviceaccount:data:etl"
  }
}
