//! `oauth-m2m`: a service principal's OAuth secret (`client_credentials`, HTTP Basic).

use super::{Ctx, Judged, Kind};
use crate::config::Key;
use crate::exchange::databricks::M2m;
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "oauth-m2m",
    keys: &[Key::CLIENT_ID, Key::CLIENT_SECRET],
    optional: &[],
    vars: &[],
    also: "",
    does: "`client_credentials` at the Databricks token endpoint, HTTP Basic auth",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    c.need(&[Key::CLIENT_ID, Key::CLIENT_SECRET])?;
    Ok(Box::new(M2m {
        discovery: c.discovery(),
        client_id: c.get(Key::CLIENT_ID),
        client_secret: Secret::new(c.get(Key::CLIENT_SECRET)),
        scope: c.scope(),
    }))
}
