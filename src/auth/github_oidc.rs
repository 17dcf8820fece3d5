//! `github-oidc`: GitHub Actions' ID token (requested with the audience rule), then token
//! federation. Needs `permissions: id-token: write` in the workflow.

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::ci::IdTokenRequest;
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "github-oidc",
    keys: &[
        Key::ActionsIdTokenRequestUrl,
        Key::ActionsIdTokenRequestToken,
    ],
    optional: &[Key::ClientId, Key::TokenAudience],
    vars: &[],
    #[cfg(test)]
    also: "",
    #[cfg(test)]
    does: "requests GitHub's ID token for the audience (`token_audience`, else the host's default OIDC audience, else the account id on an account host, else the token endpoint URL), then RFC 8693 token federation",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    c.need(KIND.keys)?;
    Ok(Box::new(c.ci_federation(github(c)?)))
}

/// GitHub's ID token request (shared with `github-oidc-azure`).
pub(crate) fn github(c: &Ctx<'_>) -> Result<IdTokenRequest, Vec<String>> {
    Ok(IdTokenRequest::github(
        c.url(Key::ActionsIdTokenRequestUrl, "")?,
        Secret::new(c.get(Key::ActionsIdTokenRequestToken)),
    ))
}
