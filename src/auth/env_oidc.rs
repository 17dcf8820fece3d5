//! `env-oidc`: token federation with a JWT from an environment variable.

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::databricks::Subject;
use crate::source::TokenSource;
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "env-oidc",
    keys: &[],
    optional: &[Key::OidcTokenEnv, Key::ClientId],
    vars: &[DEFAULT_VAR],
    #[cfg(test)]
    also: " (or the variable `DATABRICKS_OIDC_TOKEN_ENV` names)",
    #[cfg(test)]
    does: "RFC 8693 token federation with the JWT from that variable",
    judge,
};

const DEFAULT_VAR: &str = "DATABRICKS_OIDC_TOKEN";

fn judge(c: &Ctx<'_>) -> Judged {
    let var = c
        .opt(Key::OidcTokenEnv)
        .unwrap_or_else(|| DEFAULT_VAR.to_string());
    let Some(value) = c.cfg.env_var(&var) else {
        return Err(vec![var]);
    };
    Ok(Box::new(c.federation(Subject::Read(TokenSource::Env {
        var,
        value: Secret::new(value),
    }))))
}
