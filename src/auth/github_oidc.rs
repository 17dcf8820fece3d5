//! `github-oidc`: GitHub Actions' ID token (requested with the audience rule), then token
//! federation. Needs `permissions: id-token: write` in the workflow.

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::ci::IdTokenRequest;
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "github-oidc",
    keys: &[
        Key::ACTIONS_ID_TOKEN_REQUEST_URL,
        Key::ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    ],
    optional: &[Key::CLIENT_ID, Key::TOKEN_AUDIENCE],
    vars: &[],
    also: "",
    does: "requests GitHub's ID token for the audience (`token_audience`, else the host's default OIDC audience, else the account id on an account host, else the token endpoint URL), then RFC 8693 token federation",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    c.need(KIND.keys)?;
    Ok(Box::new(c.ci_federation(github(c)?)))
}

/// GitHub's ID token request (shared with `github-oidc-azure`).
pub(crate) fn github(c: &Ctx<'_>) -> Result<IdTokenRequest, Vec<String>> {
    Ok(IdTokenRequest::GitHub {
        url: c.url(Key::ACTIONS_ID_TOKEN_REQUEST_URL, "")?,
        bearer: Secret::new(c.get(Key::ACTIONS_ID_TOKEN_REQUEST_TOKEN)),
    })
}
