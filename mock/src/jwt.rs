//! Unsigned-but-well-formed JWTs for tests, and claim decoding for the server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::{AUDIENCE, AZURE_AUDIENCE, ISSUER, SUBJECT};

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A JWT with header `{"alg":"RS256","typ":"JWT","kid":"mock"}`, the given claims
/// and 32 bytes of fake signature. Not verifiable; the mock does not check signatures.
pub fn jwt(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "mock"});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode([0x5au8; 32]),
    )
}

fn claims(aud: &str, lifetime_secs: i64) -> Value {
    let now = now_secs();
    json!({
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": [aud],
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_secs,
    })
}

/// Workload token matching the default federation policy; negative lifetime = expired.
pub fn workload_jwt(lifetime_secs: i64) -> String {
    jwt(&claims(AUDIENCE, lifetime_secs))
}

/// Like `workload_jwt` but with audience `api://AzureADTokenExchange` (for Entra).
pub fn azure_jwt(lifetime_secs: i64) -> String {
    jwt(&claims(AZURE_AUDIENCE, lifetime_secs))
}

/// Decode a compact JWT's payload. Errors never include the token.
pub(crate) fn decode_claims(token: &str) -> Result<Map<String, Value>, &'static str> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
        return Err("is not a JWT (expected three base64url segments)");
    }
    let header = URL_SAFE_NO_PAD
        .decode(parts[0])
        .map_err(|_| "has a header that is not base64url (without padding)")?;
    match serde_json::from_slice::<Value>(&header) {
        Ok(Value::Object(_)) => {}
        _ => return Err("has a header that is not a JSON object"),
    }
    let payload = URL_SAFE_NO_PAD
        .decode(parts[1])
        .map_err(|_| "has a payload that is not base64url (without padding)")?;
    match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("has a payload that is not a JSON object"),
    }
}

/// `aud` as a list (string or array of strings).
pub(crate) fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> &'a str {
    claims.get(name).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn num_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_f64).map(|f| f as i64)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for unix seconds (for Entra-like error texts).
pub(crate) fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_dates() {
        let c = decode_claims(&workload_jwt(60)).unwrap();
        assert_eq!(str_claim(&c, "iss"), ISSUER);
        assert_eq!(audiences(&c), vec![AUDIENCE.to_string()]);
        assert!(decode_claims("a.b").is_err());
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_709_251_199), "2024-02-29T23:59:59Z");
    }
}
