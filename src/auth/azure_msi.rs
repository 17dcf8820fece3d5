//! `azure-msi`: the machine's managed identity, through the Azure instance metadata service
//! (or App Service's `IDENTITY_ENDPOINT`, as azure-identity reads it).

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::azure::ManagedIdentity;
use crate::http::IMDS;

pub(crate) const KIND: Kind = Kind {
    name: "azure-msi",
    keys: &[Key::AZURE_USE_MSI],
    optional: &[Key::AZURE_CLIENT_ID, Key::AZURE_IMDS_AUTHORITY_HOST],
    vars: &[],
    also: " = `true`, an Azure Databricks host",
    does: "GET `http://169.254.169.254/metadata/identity/oauth2/token` with `Metadata: true`, `resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d` and `client_id` when `azure_client_id` names a user-assigned identity (`AZURE_POD_IDENTITY_AUTHORITY_HOST` overrides the address); with `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` set (App Service), that endpoint with `X-IDENTITY-HEADER`",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    let mut missing = Vec::new();
    match c.cfg.get(Key::AZURE_USE_MSI) {
        None => missing.push(format!(
            "{}=true ({})",
            Key::AZURE_USE_MSI.env()[0],
            Key::AZURE_USE_MSI
        )),
        Some(v)
            if !["1", "t", "true"]
                .iter()
                .any(|t| v.trim().eq_ignore_ascii_case(t)) =>
        {
            missing.push(format!(
                "{}=true (it is '{v}')",
                c.cfg.describe(Key::AZURE_USE_MSI)
            ))
        }
        Some(_) => {}
    }
    if let Err(more) = c.need_on_azure(&[]) {
        missing.extend(more);
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let client_id = c.opt(Key::AZURE_CLIENT_ID);
    let app_service = c
        .cfg
        .env_var("IDENTITY_ENDPOINT")
        .zip(c.cfg.env_var("IDENTITY_HEADER"));
    Ok(Box::new(match app_service {
        Some((endpoint, header)) => {
            crate::http::check_url(&endpoint)
                .map_err(|e| vec![format!("a valid IDENTITY_ENDPOINT: {}", e.message())])?;
            ManagedIdentity::app_service(&endpoint, &header, client_id)
        }
        None => ManagedIdentity::imds(&c.url(Key::AZURE_IMDS_AUTHORITY_HOST, IMDS)?, client_id),
    }))
}
