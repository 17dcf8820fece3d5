//! `github-oidc-azure`: GitHub Actions' ID token (audience `api://AzureADTokenExchange`) as
//! an Entra client assertion; the Entra token is the Azure Databricks bearer.

use super::azure_client_secret::entra_app;
use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::azure::Credential;

pub(crate) const KIND: Kind = Kind {
    name: "github-oidc-azure",
    keys: &[
        Key::ActionsIdTokenRequestUrl,
        Key::ActionsIdTokenRequestToken,
        Key::AzureClientId,
        Key::AzureTenantId,
    ],
    optional: &[Key::AzureAuthorityHost],
    vars: &[],
    #[cfg(test)]
    also: ", an Azure Databricks host",
    #[cfg(test)]
    does: "requests GitHub's ID token for `api://AzureADTokenExchange` and sends it as a client assertion to Entra (`{authority}/{tenant}/oauth2/token`, `resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d`)",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    c.need_on_azure(KIND.keys)?;
    let github = super::github_oidc::github(c)?;
    Ok(Box::new(entra_app(c, Credential::GitHub(github))?))
}
