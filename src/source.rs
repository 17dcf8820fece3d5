//! Where the federated JWT comes from: a file (re-opened on every read, because kubelet
//! rotates projected tokens by swapping a `..data` symlink) or an environment variable.

use std::io::Read;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::jwt::{self, Claims};
use crate::time::{human_duration, rfc3339, unix_now};
use crate::token::Secret;

/// Largest federated token file read. Kubernetes tokens are 1–2 KiB.
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;
/// Clock skew tolerated on `nbf` and `iat`.
const SKEW_SECS: i64 = 60;

/// A source of federated JWTs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A file, read afresh on every exchange. `var` names what configured it, for messages.
    File { path: PathBuf, var: String },
    /// An environment variable's value, read when the source is built.
    Env { var: String, value: Secret },
}

/// A federated JWT that was read and passed the local checks.
#[derive(Clone, Debug)]
pub struct FederatedToken {
    /// The JWT. Never log it.
    pub jwt: Secret,
    /// Its decoded (unverified) claims.
    pub claims: Claims,
}

impl TokenSource {
    /// Human description: "file /var/run/... (AZURE_FEDERATED_TOKEN_FILE)".
    pub fn describe(&self) -> String {
        match self {
            TokenSource::File { path, var } => format!("file {} ({var})", path.display()),
            TokenSource::Env { var, .. } => format!("variable {var}"),
        }
    }

    /// Read the JWT now and check that it is a JWT that is currently valid.
    pub fn read(&self) -> Result<FederatedToken> {
        let text = match self {
            TokenSource::File { path, .. } => read_capped(path).map_err(|why| {
                Error::federated(format!(
                    "cannot read federated token {}: {why}",
                    self.describe()
                ))
            })?,
            TokenSource::Env { value, .. } => value.expose().trim().to_string(),
        };
        if text.is_empty() {
            return Err(Error::federated(format!(
                "federated token {} is empty",
                self.describe()
            )));
        }
        let claims = jwt::decode(&text).map_err(|why| {
            Error::federated(format!("federated token {}: {why}", self.describe()))
        })?;
        check_times(&claims, unix_now()).map_err(|why| {
            Error::federated(format!("federated token {} {why}", self.describe()))
        })?;
        Ok(FederatedToken {
            jwt: Secret::new(text),
            claims,
        })
    }
}

fn read_capped(path: &std::path::Path) -> std::result::Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            "no such file (is the projected service-account token volume mounted?)".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (check the volume's defaultMode and the pod's runAsUser/fsGroup)"
                .to_string()
        }
        _ => e.to_string(),
    })?;
    let mut buf = Vec::new();
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_TOKEN_BYTES {
        return Err(format!(
            "larger than {} KiB, which no JWT is",
            MAX_TOKEN_BYTES / 1024
        ));
    }
    let text = String::from_utf8(buf).map_err(|_| "not UTF-8 text".to_string())?;
    Ok(text.trim().to_string())
}

/// Refuse tokens that cannot be accepted now.
pub(crate) fn check_times(c: &Claims, now: i64) -> std::result::Result<(), String> {
    if let Some(exp) = c.exp {
        if now >= exp {
            return Err(format!(
                "expired at {} ({} ago); kubelet refreshes projected tokens at 80% of their \
                 lifetime, so a stale file means the token is not being rotated (is the pod's \
                 volume a projected serviceAccountToken, and is this the path it mounts?)",
                rfc3339(exp),
                human_duration(now.saturating_sub(exp))
            ));
        }
    }
    if let Some(nbf) = c.nbf {
        if nbf > now.saturating_add(SKEW_SECS) {
            return Err(format!(
                "is not valid before {} (in {}); check this machine's clock",
                rfc3339(nbf),
                human_duration(nbf.saturating_sub(now))
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_checked_with_skew() {
        let c = |exp, nbf| Claims {
            exp,
            nbf,
            ..Claims::default()
        };
        assert!(check_times(&c(Some(100), None), 99).is_ok());
        let e = check_times(&c(Some(100), None), 100).unwrap_err();
        assert!(e.contains("expired at 1970-01-01T00:01:40Z"), "{e}");
        assert!(check_times(&c(None, Some(150)), 100).is_ok());
        let e = check_times(&c(None, Some(200)), 100).unwrap_err();
        assert!(e.contains("not valid before"), "{e}");
        assert!(check_times(&c(None, None), 0).is_ok());
    }
}
