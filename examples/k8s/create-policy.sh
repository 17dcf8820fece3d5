#!/usr/bin/env bash
# Create the service principal federation policy that accepts the etl pod's projected token.
# ISSUER: az aks show -g RG -n CLUSTER --query oidcIssuerProfile.issuerUrl -o tsv
# SP_ID:  the service principal's numeric id in the account (databricks account service-principals list)
# `dbtoken doctor` in the pod prints this command with the token's own iss/aud/sub filled in.
set -euo pipefail
: "${SP_ID:?set SP_ID to the service principal's numeric id}"
databricks account service-principal-federation-policy create "$SP_ID" \
  --json "$(cat "$(dirname "$0")/federation-policy.json")"
