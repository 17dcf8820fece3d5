//! `azure-client-secret`: an Entra application's client secret; the Entra token is the Azure
//! Databricks bearer.

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::azure::{Credential, EntraApp};
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "azure-client-secret",
    keys: &[
        Key::AzureClientId,
        Key::AzureClientSecret,
        Key::AzureTenantId,
    ],
    optional: &[Key::AzureAuthorityHost],
    vars: &[],
    #[cfg(test)]
    also: ", an Azure Databricks host",
    #[cfg(test)]
    does: "`client_credentials` with the secret at Entra (`{authority}/{tenant}/oauth2/token`, `resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d`)",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    c.need_on_azure(KIND.keys)?;
    let secret = Secret::new(c.get(Key::AzureClientSecret));
    Ok(Box::new(entra_app(c, Credential::Secret(secret))?))
}

/// The Entra application of `azure_client_id` in `azure_tenant_id` (shared with
/// `github-oidc-azure`, which proves itself with GitHub's token instead of a secret).
pub(crate) fn entra_app(c: &Ctx<'_>, credential: Credential) -> Result<EntraApp, Vec<String>> {
    Ok(EntraApp {
        authority: c.entra_authority()?,
        tenant_id: c.get(Key::AzureTenantId),
        client_id: c.get(Key::AzureClientId),
        credential,
    })
}
