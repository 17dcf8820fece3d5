//! `azure-client-secret`: an Entra application's client secret; the Entra token is the Azure
//! Databricks bearer.

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::azure::{Credential, EntraApp};
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "azure-client-secret",
    keys: &[
        Key::AZURE_CLIENT_ID,
        Key::AZURE_CLIENT_SECRET,
        Key::AZURE_TENANT_ID,
    ],
    optional: &[Key::AZURE_AUTHORITY_HOST],
    vars: &[],
    also: ", an Azure Databricks host",
    does: "`client_credentials` with the secret at Entra (`{authority}/{tenant}/oauth2/token`, `resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d`)",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    let mut missing = c.missing(KIND.keys);
    c.need_azure(&mut missing);
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(Box::new(EntraApp {
        authority: c.entra_authority()?,
        tenant_id: c.get(Key::AZURE_TENANT_ID),
        client_id: c.get(Key::AZURE_CLIENT_ID),
        credential: Credential::Secret(Secret::new(c.get(Key::AZURE_CLIENT_SECRET))),
    }))
}
