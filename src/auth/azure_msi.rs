//! `azure-msi`: the machine's managed identity, through the Azure instance metadata service
//! (or App Service's `IDENTITY_ENDPOINT`, as azure-identity reads it).

use super::{Ctx, Judged, Kind, checked};
use crate::config::Key;
use crate::exchange::azure::ManagedIdentity;
use crate::http::IMDS;

pub(crate) const KIND: Kind = Kind {
    name: "azure-msi",
    keys: &[Key::AzureUseMsi],
    optional: &[Key::AzureClientId, Key::AzureImdsAuthorityHost],
    vars: &[],
    #[cfg(test)]
    also: " = `true`, an Azure Databricks host",
    #[cfg(test)]
    does: "GET `http://169.254.169.254/metadata/identity/oauth2/token` with `Metadata: true`, `resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d` and `client_id` when `azure_client_id` names a user-assigned identity (`AZURE_POD_IDENTITY_AUTHORITY_HOST` overrides the address); with `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` set (App Service), that endpoint with `X-IDENTITY-HEADER`",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    // As Go's strconv.ParseBool reads ARM_USE_MSI in databricks-sdk-go.
    let on = c.cfg.get(Key::AzureUseMsi).is_some_and(|v| {
        ["1", "t", "true"]
            .iter()
            .any(|t| v.trim().eq_ignore_ascii_case(t))
    });
    let mut missing = c.need_on_azure(&[]).err().unwrap_or_default();
    if !on {
        missing.insert(0, "ARM_USE_MSI=true (azure_use_msi)".to_string());
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let client_id = c.opt(Key::AzureClientId);
    let app_service = c
        .cfg
        .env_var("IDENTITY_ENDPOINT")
        .zip(c.cfg.env_var("IDENTITY_HEADER"));
    Ok(Box::new(match app_service {
        Some((endpoint, header)) => ManagedIdentity::app_service(
            &checked(endpoint, "IDENTITY_ENDPOINT")?,
            &header,
            client_id,
        ),
        None => ManagedIdentity::imds(&c.url(Key::AzureImdsAuthorityHost, IMDS)?, client_id),
    }))
}
