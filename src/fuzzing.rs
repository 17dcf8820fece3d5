//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz). Not an API: compiled only with
//! the `fuzzing` feature (the fuzz crate turns it on) and in this crate's own tests, which
//! replay the crashes the fuzzers found. Each function runs one internal parser on untrusted
//! text exactly as the library does, plus the arithmetic the library does next with its result.

use std::time::{Duration, Instant, SystemTime};

use crate::exchange::{discovery, parse_token_reply};
use crate::http::Reply;

/// The claims of a JWT, then the validity check against the clock (at `now`, Unix seconds)
/// that `TokenSource::read` applies. Returns the error text, if any.
pub fn jwt(token: &str, now: i64) -> Result<crate::Claims, String> {
    let claims = crate::jwt::decode(token)?;
    crate::source::check_times(&claims, now)?;
    Ok(claims)
}

/// A token endpoint's answer (`status`, `body`) as the exchange flows read it: the access
/// token and its lifetime, or the error message (which must not contain `secret`).
pub fn token_reply(
    status: u16,
    body: &str,
    secret: Option<&str>,
) -> Result<(String, String, Option<Duration>), crate::Error> {
    let reply = Reply {
        status,
        body: body.to_string(),
        retry_after: None,
        attempts: 1,
        gave_up: None,
    };
    let issued = parse_token_reply("https://fuzz.invalid/oidc/v1/token", reply, secret)?;
    if let Some(ttl) = issued.ttl {
        // What the client and the cache do next with a lifetime: it must be representable.
        assert!(
            SystemTime::now().checked_add(ttl).is_some()
                && Instant::now().checked_add(ttl).is_some(),
            "a token lifetime of {ttl:?} overflows the clock"
        );
    }
    Ok((
        issued.access_token.expose().to_string(),
        issued.token_type.to_string(),
        issued.ttl,
    ))
}

/// Sections of an INI file in order, each with its `key = value` pairs.
pub type Sections = Vec<(String, Vec<(String, String)>)>;

/// The sections of a `.databrickscfg` file, or the line number and reason it is refused.
pub fn databrickscfg(text: &str) -> Result<Sections, (usize, String)> {
    let sections = crate::config::parse_ini(text)?;
    Ok(sections
        .into_iter()
        .map(|(name, kv)| (name, kv.into_iter().collect()))
        .collect())
}

/// The `token_endpoint` of an OAuth authorization-server metadata document (or OpenID
/// configuration), when it names an acceptable URL.
pub fn oauth_metadata(body: &str) -> Option<String> {
    discovery::token_endpoint_in(body)
}

/// What a `/.well-known/databricks-config` document says: the account id (`account_id` wins
/// over the document's) and the OAuth metadata URL its `oidc_endpoint` points to.
pub fn databricks_config(body: &str, account_id: Option<&str>) -> (Option<String>, Option<String>) {
    let read = discovery::read_databricks_config(body, account_id.map(str::to_string));
    (read.account_id, read.oauth_metadata)
}

/// Inputs that crashed a fuzz target, replayed in the ordinary test suite.
#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn jwt_with(payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode("{}"),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn jwt_times_at_the_ends_of_i64_do_not_overflow() {
        // `now - exp` overflowed for an `exp` near i64::MIN.
        let e = jwt(&jwt_with(r#"{"exp":-9223372036854775000}"#), 1_800_000_000).unwrap_err();
        assert!(e.contains("expired at"), "{e}");
        // `now + 60 s` of skew overflowed for a clock near i64::MAX.
        assert!(jwt(&jwt_with(r#"{"nbf":1900000000}"#), i64::MAX).is_ok());
        let e = jwt(&jwt_with(r#"{"nbf":9223372036854775807}"#), i64::MIN).unwrap_err();
        assert!(e.contains("not valid before"), "{e}");
        assert!(jwt(&jwt_with(r#"{"exp":1e300,"nbf":-1e300}"#), 0).is_ok());
    }

    #[test]
    fn huge_expires_in_is_clamped_not_a_clock_overflow() {
        for v in [
            "9223372036854775807",
            "1e300",
            "1e19",
            "\"9223372036854775807\"",
        ] {
            let body = format!(r#"{{"access_token":"x","expires_in":{v}}}"#);
            let (_, _, ttl) = token_reply(200, &body, None).unwrap();
            let ttl = ttl.unwrap();
            // Clamped to the longest lifetime believed (24 h), never wrapped or panicked.
            assert_eq!(ttl, Duration::from_secs(24 * 3600), "{v}");
        }
        let (_, _, ttl) =
            token_reply(200, r#"{"access_token":"x","expires_in":3600}"#, None).unwrap();
        assert_eq!(ttl, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn discovery_documents_are_read_as_before() {
        let doc = r#"{"account_id":"a1","oidc_endpoint":"https://h/oidc/accounts/{account_id}/"}"#;
        assert_eq!(
            databricks_config(doc, None),
            (
                Some("a1".into()),
                Some("https://h/oidc/accounts/a1/.well-known/oauth-authorization-server".into())
            )
        );
        // A configured account id wins; an unfilled placeholder gives no URL.
        assert_eq!(
            databricks_config(doc, Some("cfg")).0.as_deref(),
            Some("cfg")
        );
        let unfilled = r#"{"oidc_endpoint":"https://h/oidc/accounts/{account_id}"}"#;
        assert_eq!(databricks_config(unfilled, None), (None, None));
        assert_eq!(
            databricks_config("[1]", Some("x")),
            (Some("x".into()), None)
        );
        assert_eq!(
            oauth_metadata(r#"{"token_endpoint":"https://h/oidc/v1/token"}"#).as_deref(),
            Some("https://h/oidc/v1/token")
        );
        assert_eq!(
            oauth_metadata(r#"{"token_endpoint":"http://evil.example/t"}"#),
            None
        );
    }

    #[test]
    fn databrickscfg_refusals_name_their_line() {
        assert_eq!(databrickscfg("[a]\nk = v\n[b").unwrap_err().0, 3);
        let s = databrickscfg("host = h\n[p]\nk: v = w\n").unwrap();
        assert_eq!(s.len(), 2);
    }
}
