//! `pat`: a personal access token, used as is.

use std::sync::Arc;

use super::{Ctx, Facts, Flow, Judged, Kind};
use crate::config::Key;
use crate::error::Result;
use crate::exchange::Issued;
use crate::http::Http;
use crate::token::Secret;

pub(crate) const KIND: Kind = Kind {
    name: "pat",
    keys: &[Key::Token],
    optional: &[],
    vars: &[],
    #[cfg(test)]
    also: "",
    #[cfg(test)]
    does: "uses the token as is; no expiry, no request",
    judge,
};

struct Pat {
    token: Secret,
    from: String,
}

fn judge(c: &Ctx<'_>) -> Judged {
    c.need(&[Key::Token])?;
    Ok(Box::new(Pat {
        token: Secret::new(c.get(Key::Token)),
        from: c.cfg.describe(Key::Token),
    }))
}

impl Flow for Pat {
    fn fetch(&self, _http: &Http) -> Result<Issued> {
        Ok(Issued {
            access_token: self.token.clone(),
            token_type: Arc::from("Bearer"),
            ttl: None,
        })
    }
    fn facts(&self) -> Facts<'_> {
        Facts {
            uses: format!("uses {}", self.from),
            endpoint: None,
            source: None,
            client_id: None,
            discovery: None,
            requested: None,
        }
    }
}
