//! The token flows: Databricks token federation and OAuth M2M (same endpoint discovery),
//! Microsoft Entra workload identity, and PAT passthrough. Each turns configuration plus,
//! where needed, a federated JWT into an [`Issued`] token.

pub(crate) mod databricks;
pub(crate) mod discovery;
pub(crate) mod entra;

use std::sync::Arc;
use std::time::Duration;

use miniserde::json::{Object, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::http::Reply;
use crate::token::Secret;

/// Lifetime assumed when a server omits `expires_in`: short, so an unknown lifetime is
/// refreshed soon rather than trusted long.
const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Longest lifetime believed from `expires_in`: larger values (up to `i64::MAX`, `1e300`)
/// would overflow the clock arithmetic of the client and the cache (reproduced by fuzz/token_reply).
const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// A token as a server issued it, before the cache stamps its expiry.
#[derive(Debug)]
pub(crate) struct Issued {
    pub access_token: Secret,
    pub token_type: Arc<str>,
    pub ttl: Option<Duration>,
}

/// Turn a token endpoint's answer into a token or an error that names the URL, the status and
/// the server's own words. `secret` is scrubbed from anything the server said.
pub(crate) fn parse_token_reply(url: &str, reply: Reply, secret: Option<&str>) -> Result<Issued> {
    let scrub = |s: String| match secret {
        Some(t) if !t.is_empty() && s.contains(t) => s.replace(t, "[REDACTED]"),
        _ => s,
    };
    if !(200..300).contains(&reply.status) {
        let (error, description) = server_error_fields(&reply.body);
        let (error, description) = (error.map(scrub), description.map(scrub));
        let kind = if reply.status == 429 || reply.status >= 500 {
            ErrorKind::Transient
        } else {
            ErrorKind::Rejected
        };
        let said = match (&error, &description) {
            (Some(e), Some(d)) => format!("{e}: {d}"),
            (Some(e), None) => e.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) if reply.body.trim().is_empty() => "(empty body)".to_string(),
            (None, None) => "(no OAuth error in the body)".to_string(),
        };
        let tries = match (&reply.gave_up, reply.attempts) {
            (Some(why), _) => format!(" ({why})"),
            (None, n) if n > 1 => format!(" after {n} attempts"),
            _ => String::new(),
        };
        return Err(Error::http(
            kind,
            format!("{url} answered HTTP {}{tries}: {said}", reply.status),
            reply.status,
            error,
            description,
        ));
    }
    let obj = match miniserde::json::from_str::<Value>(&reply.body) {
        Ok(Value::Object(o)) => o,
        _ => {
            return Err(Error::transient(format!(
                "{url} answered HTTP {} with a body that is not a JSON object ({} bytes); \
                 is a proxy or gateway answering instead of Databricks?",
                reply.status,
                reply.body.len()
            )));
        }
    };
    let access_token = match obj.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => Secret::new(s.as_str()),
        _ => {
            return Err(Error::transient(format!(
                "{url} answered HTTP {} without an access_token field",
                reply.status
            )));
        }
    };
    let token_type: Arc<str> = match obj.get("token_type") {
        Some(Value::String(s)) if !s.is_empty() => Arc::from(s.as_str()),
        _ => Arc::from("Bearer"),
    };
    let ttl = obj
        .get("expires_in")
        .and_then(crate::jwt::number)
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64).min(MAX_TTL))
        .or(Some(DEFAULT_TTL));
    Ok(Issued {
        access_token,
        token_type,
        ttl,
    })
}

/// `error`/`error_description`, or `errorCode`/`errorSummary`, or Databricks API
/// `error_code`/`message`.
fn server_error_fields(body: &str) -> (Option<String>, Option<String>) {
    let Ok(Value::Object(o)) = miniserde::json::from_str::<Value>(body) else {
        return (None, None);
    };
    let pick = |keys: &[&str]| keys.iter().find_map(|k| string(&o, k));
    (
        pick(&["error", "errorCode", "error_code"]),
        pick(&["error_description", "errorSummary", "message"]),
    )
}

pub(crate) fn string(o: &Object, key: &str) -> Option<String> {
    match o.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `scopes` configured as space or comma separated: sorted, de-duplicated, space-joined
/// (as the SDKs send them). Default `all-apis`.
pub(crate) fn scope_param(configured: Option<&str>) -> String {
    let mut scopes: Vec<&str> = configured
        .unwrap_or("")
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.is_empty() {
        return "all-apis".to_string();
    }
    scopes.sort_unstable();
    scopes.dedup();
    scopes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            retry_after: None,
            attempts: 1,
            gave_up: None,
        }
    }

    #[test]
    fn parses_success_and_string_expiry() {
        let t = parse_token_reply(
            "u",
            reply(
                200,
                r#"{"access_token":"x","token_type":"Bearer","expires_in":"3599"}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(t.ttl, Some(Duration::from_secs(3599)));
        assert_eq!(&*t.token_type, "Bearer");
    }

    #[test]
    fn surfaces_server_words_and_scrubs_secret() {
        let e = parse_token_reply(
            "https://h/oidc/v1/token",
            reply(
                400,
                r#"{"error":"invalid_request","error_description":"bad token eyJsecret"}"#,
            ),
            Some("eyJsecret"),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert_eq!(e.http_status(), Some(400));
        assert_eq!(e.server_error(), Some("invalid_request"));
        assert_eq!(e.server_description(), Some("bad token [REDACTED]"));
        assert!(!e.to_string().contains("eyJsecret"));
        let e = parse_token_reply(
            "u",
            reply(401, r#"{"errorCode":"E","errorSummary":"S"}"#),
            None,
        )
        .unwrap_err();
        assert_eq!(
            (e.server_error(), e.server_description()),
            (Some("E"), Some("S"))
        );
    }

    #[test]
    fn garbage_is_refused_cleanly() {
        let e = parse_token_reply("u", reply(200, "<html>"), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transient);
        let e = parse_token_reply("u", reply(200, r#"{"token_type":"Bearer"}"#), None).unwrap_err();
        assert!(e.to_string().contains("without an access_token"));
    }

    #[test]
    fn scopes_sorted_deduplicated() {
        assert_eq!(scope_param(None), "all-apis");
        assert_eq!(scope_param(Some("sql, all-apis sql")), "all-apis sql");
    }
}
