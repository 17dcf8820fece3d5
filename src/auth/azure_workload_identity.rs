//! `azure-workload-identity`: the AKS webhook's projected token as an Entra client assertion.

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::entra::Entra;

pub(crate) const KIND: Kind = Kind {
    name: "azure-workload-identity",
    keys: &[
        Key::AzureFederatedTokenFile,
        Key::AzureClientId,
        Key::AzureTenantId,
    ],
    optional: &[Key::AzureAuthorityHost],
    vars: &[],
    #[cfg(test)]
    also: ", an Azure Databricks host",
    #[cfg(test)]
    does: "the JWT as an Entra client assertion for scope `2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default`; the Entra token is the Databricks bearer",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    c.need_on_azure(KIND.keys)?;
    Ok(Box::new(Entra {
        authority: c.entra_authority()?,
        tenant_id: c.get(Key::AzureTenantId),
        client_id: c.get(Key::AzureClientId),
        source: c.file_source(Key::AzureFederatedTokenFile),
    }))
}
