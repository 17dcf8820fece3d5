//! `oauth-m2m`: a service principal's OAuth secret (`client_credentials`, HTTP Basic).

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::databricks::M2m;
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "oauth-m2m",
    keys: &[Key::ClientId, Key::ClientSecret],
    optional: &[],
    vars: &[],
    #[cfg(test)]
    also: "",
    #[cfg(test)]
    does: "`client_credentials` at the Databricks token endpoint, HTTP Basic auth",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    c.need(&[Key::ClientId, Key::ClientSecret])?;
    Ok(Box::new(M2m {
        discovery: c.discovery(),
        client_id: c.get(Key::ClientId),
        client_secret: Secret::new(c.get(Key::ClientSecret)),
        scope: c.scope(),
    }))
}
