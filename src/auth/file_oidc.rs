//! `file-oidc`: token federation with a JWT from a file, re-read on every exchange.

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::databricks::Subject;

pub(crate) const KIND: Kind = Kind {
    name: "file-oidc",
    keys: &[Key::OidcTokenFilepath],
    optional: &[Key::ClientId],
    vars: &[],
    #[cfg(test)]
    also: " (or, on a non-Azure host, `AZURE_FEDERATED_TOKEN_FILE`)",
    #[cfg(test)]
    does: "RFC 8693 token federation with the JWT from the file, re-read on every exchange",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    let key = if c.cfg.get(Key::OidcTokenFilepath).is_some() {
        Key::OidcTokenFilepath
    } else if c.cfg.get(Key::AzureFederatedTokenFile).is_some() && !c.host.azure {
        // The AKS projected token serves token federation on a non-Azure workspace too.
        Key::AzureFederatedTokenFile
    } else {
        return Err(c.missing(&[Key::OidcTokenFilepath]));
    };
    Ok(Box::new(c.federation(Subject::Read(c.file_source(key)))))
}
