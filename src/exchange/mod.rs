//! The token flows: Databricks token federation (with a JWT read from a file or variable, or
//! requested from a CI system: `ci.rs`) and OAuth M2M (same endpoint discovery), Microsoft Entra
//! workload identity, Entra applications and managed identities (`azure.rs`). Each turns
//! configuration plus, where needed, a federated JWT into an [`Issued`] token.

pub(crate) mod azure;
pub(crate) mod ci;
pub(crate) mod databricks;
pub(crate) mod discovery;
pub(crate) mod entra;

use std::sync::Arc;
use std::time::Duration;

use miniserde::json::{Number, Object, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::http::Reply;
use crate::token::Secret;

/// Lifetime assumed when a server omits `expires_in` (or sends one that is not a number):
/// short, so an unknown lifetime is refreshed soon rather than trusted long.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Shortest lifetime taken from a server: `expires_in` of 0 or below ("already expired") is
/// read as 1 s, so the cache's rule for short lifetimes (fresh for half of it) caps a broken
/// server at two exchanges a second per client instead of one per call.
pub(crate) const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest lifetime taken from a server: 24 h, the longest access token Entra ID issues
/// (configurable token lifetimes top out at one day) and the longest projected
/// service-account token kubelet mints; Databricks OAuth tokens live 1 h. Anything longer
/// (`9223372036854775807`, `1e300`) is a broken or hostile server, and is read as 24 h.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

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
        )
        .with_retry_after(reply.retry_after));
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
    let ttl = match lifetime(obj.get("expires_in")) {
        Ok(ttl) => ttl,
        Err((ttl, why)) => {
            crate::warn::warn(&format!(
                "{url}: expires_in {why}; using {} s (accepted: {} s to {} h)",
                ttl.as_secs(),
                MIN_TTL.as_secs(),
                MAX_TTL.as_secs() / 3600
            ));
            ttl
        }
    };
    Ok(Issued {
        access_token,
        token_type,
        ttl: Some(ttl),
    })
}

/// A token reply's `expires_in` as a lifetime within `MIN_TTL..=MAX_TTL`. `Err` carries the
/// lifetime used instead and why, for a warning; an absent value (or JSON `null`) is the
/// quiet `DEFAULT_TTL` (RFC 6749 makes the field optional). Integers, floats and numeric
/// strings are accepted, as the SDKs' JSON decoders do; nothing here can overflow.
pub(crate) fn lifetime(v: Option<&Value>) -> std::result::Result<Duration, (Duration, String)> {
    let secs: f64 = match v {
        None | Some(Value::Null) => return Ok(DEFAULT_TTL),
        Some(Value::Number(Number::U64(n))) => *n as f64,
        Some(Value::Number(Number::I64(n))) => *n as f64,
        Some(Value::Number(Number::F64(f))) => *f,
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => f,
            _ => {
                return Err((DEFAULT_TTL, "is not a number".to_string()));
            }
        },
        Some(_) => return Err((DEFAULT_TTL, "is not a number".to_string())),
    };
    if secs.is_nan() {
        return Err((DEFAULT_TTL, "is not a number".to_string()));
    }
    // Shown in whole seconds (`as` truncates and saturates): formatting floats would cost
    // the static binary 16 KB of its size budget.
    let whole = secs as i64;
    if secs < MIN_TTL.as_secs_f64() {
        let why = if secs <= 0.0 {
            format!("is {whole} s (the token would be expired already)")
        } else {
            format!("is under {} s", MIN_TTL.as_secs())
        };
        return Err((MIN_TTL, why));
    }
    if secs > MAX_TTL.as_secs_f64() {
        return Err((
            MAX_TTL,
            format!("is at least {whole} s, over {} h", MAX_TTL.as_secs() / 3600),
        ));
    }
    // In range, so `from_secs_f64` cannot panic; whole seconds, as the SDKs count them.
    Ok(Duration::from_secs(secs as u64))
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

    /// `expires_in` as Databricks and Entra send it, and as broken or hostile servers do:
    /// every value gives a lifetime within 1 s ..= 24 h, never a panic.
    #[test]
    fn expires_in_is_clamped_for_every_shape() {
        let ttl = |raw: &str| {
            let body = format!(r#"{{"access_token":"x","expires_in":{raw}}}"#);
            parse_token_reply("u", reply(200, &body), None)
                .unwrap()
                .ttl
                .unwrap()
                .as_secs()
        };
        let day = MAX_TTL.as_secs();
        for (raw, want) in [
            ("3599", 3599),
            ("0", 1),
            ("-1", 1),
            ("-9223372036854775808", 1),
            ("9223372036854775807", day),
            ("18446744073709551615", day),
            ("1e300", day),
            ("-1e300", 1),
            ("3599.9", 3599),
            ("0.25", 1),
            ("86401", day),
            (r#""3599""#, 3599),
            (r#""1e300""#, day),
            (r#""-5""#, 1),
            (r#""soon""#, 300),
            (r#""NaN""#, 300),
            (r#""inf""#, 300),
            ("true", 300),
            ("null", 300),
            ("{}", 300),
        ] {
            assert_eq!(ttl(raw), want, "expires_in {raw}");
        }
        let absent = parse_token_reply("u", reply(200, r#"{"access_token":"x"}"#), None);
        assert_eq!(absent.unwrap().ttl, Some(DEFAULT_TTL));
        assert!(lifetime(Some(&Value::Number(Number::U64(3600)))).is_ok());
        let (_, why) = lifetime(Some(&Value::Number(Number::I64(-7)))).unwrap_err();
        assert!(why.contains("expired already"), "{why}");
        let (_, why) = lifetime(Some(&Value::Number(Number::F64(1e300)))).unwrap_err();
        assert!(why.contains("over 24 h"), "{why}");
        let (_, why) = lifetime(Some(&Value::Number(Number::F64(90000.5)))).unwrap_err();
        assert_eq!(why, "is at least 90000 s, over 24 h");
        let (_, why) = lifetime(Some(&Value::Number(Number::F64(0.25)))).unwrap_err();
        assert_eq!(why, "is under 1 s");
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
