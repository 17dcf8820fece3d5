//! Reading the claims of a JWT without verifying its signature.
//!
//! dbtoken never trusts these claims: the server verifies the signature. They are read to
//! refuse, before any request, a token that cannot work (not a JWT, expired, not yet valid),
//! and to tell the user which federation policy would accept it.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use miniserde::json::{Number, Object, Value};

use crate::exchange::string;

/// The registered claims dbtoken reads from a federated token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// `iss`: the issuer (for AKS, the cluster's OIDC issuer URL).
    pub iss: Option<String>,
    /// `sub`: the subject (for Kubernetes, `system:serviceaccount:<ns>:<sa>`).
    pub sub: Option<String>,
    /// `aud`: the audiences (a string or an array in the token).
    pub aud: Vec<String>,
    /// `exp`, Unix seconds, clamped to [`MIN_UNIX_TIME`]`..=`[`MAX_UNIX_TIME`].
    pub exp: Option<i64>,
    /// `nbf`, Unix seconds, clamped likewise.
    pub nbf: Option<i64>,
    /// `iat`, Unix seconds, clamped likewise.
    pub iat: Option<i64>,
    /// `alg` from the header.
    pub alg: Option<String>,
}

/// Decode the header and payload of a compact JWS. The error says what is wrong in terms that
/// never repeat the token's text.
pub fn decode(token: &str) -> Result<Claims, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let n = token.split('.').count();
        return Err(format!(
            "it is not a JWT: expected 3 base64url segments separated by '.', found {n}"
        ));
    };
    let header = object(header, "header")?;
    let payload = object(payload, "payload")?;
    Ok(Claims {
        iss: string(&payload, "iss"),
        sub: string(&payload, "sub"),
        aud: match payload.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        exp: int(&payload, "exp"),
        nbf: int(&payload, "nbf"),
        iat: int(&payload, "iat"),
        alg: string(&header, "alg"),
    })
}

fn object(segment: &str, what: &str) -> Result<Object, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .or_else(|_| URL_SAFE.decode(segment))
        .map_err(|_| format!("it is not a JWT: the {what} is not base64url"))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| format!("it is not a JWT: the {what} is not UTF-8"))?;
    match miniserde::json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(format!("it is not a JWT: the {what} is not a JSON object")),
    }
}

/// Earliest time claim kept: 0001-01-01T00:00:00Z. Claims are clamped to years 1..=9999 (what
/// RFC 3339 can write), so any arithmetic between a claim and the clock fits in an `i64`.
pub const MIN_UNIX_TIME: i64 = -62_135_596_800;
/// Latest time claim kept: 9999-12-31T23:59:59Z.
pub const MAX_UNIX_TIME: i64 = 253_402_300_799;

/// A NumericDate claim: an integer, a float (truncated) or a numeric string, clamped to
/// `MIN_UNIX_TIME..=MAX_UNIX_TIME` (`exp: 1e300` is "far future", not "absent").
pub(crate) fn number(v: &Value) -> Option<i64> {
    let n = match v {
        Value::Number(Number::U64(n)) => i64::try_from(*n).unwrap_or(i64::MAX),
        Value::Number(Number::I64(n)) => *n,
        // `as` saturates for floats out of range; NaN is not a time.
        Value::Number(Number::F64(f)) if !f.is_nan() => *f as i64,
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<i64>() {
                Ok(n) => n,
                Err(_) => match s.parse::<f64>() {
                    Ok(f) if !f.is_nan() => f as i64,
                    _ => return None,
                },
            }
        }
        _ => return None,
    };
    Some(n.clamp(MIN_UNIX_TIME, MAX_UNIX_TIME))
}

fn int(o: &Object, key: &str) -> Option<i64> {
    o.get(key).and_then(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn reads_claims_with_string_or_array_audience() {
        let t = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(
                r#"{"iss":"https://i","sub":"system:serviceaccount:ns:sa","aud":"a","exp":2000000000,"nbf":1,"iat":1}"#
            )
        );
        let c = decode(&t).unwrap();
        assert_eq!(c.iss.as_deref(), Some("https://i"));
        assert_eq!(c.aud, vec!["a"]);
        assert_eq!(c.exp, Some(2_000_000_000));
        assert_eq!(c.alg.as_deref(), Some("RS256"));
        let t2 = format!("{}.{}.sig", enc("{}"), enc(r#"{"aud":["x","y"]}"#));
        assert_eq!(decode(&t2).unwrap().aud, vec!["x", "y"]);
    }

    /// `exp`, `nbf` and `iat` as integers, floats, strings, 0, negative and huge: each is a
    /// time within years 1..=9999, so later arithmetic cannot overflow.
    #[test]
    fn time_claims_of_every_shape_are_clamped() {
        for claim in ["exp", "nbf", "iat"] {
            for (raw, want) in [
                ("0", Some(0)),
                ("-1", Some(-1)),
                ("1700000000", Some(1_700_000_000)),
                ("1700000000.9", Some(1_700_000_000)),
                ("9223372036854775807", Some(MAX_UNIX_TIME)),
                ("18446744073709551615", Some(MAX_UNIX_TIME)),
                ("-9223372036854775808", Some(MIN_UNIX_TIME)),
                ("1e300", Some(MAX_UNIX_TIME)),
                ("-1e300", Some(MIN_UNIX_TIME)),
                (r#""1700000000""#, Some(1_700_000_000)),
                (r#""1e300""#, Some(MAX_UNIX_TIME)),
                (r#""-9223372036854775808""#, Some(MIN_UNIX_TIME)),
                (r#""tomorrow""#, None),
                ("null", None),
                ("[]", None),
            ] {
                let t = format!(
                    "{}.{}.sig",
                    enc("{}"),
                    enc(&format!(r#"{{"{claim}":{raw}}}"#))
                );
                let c = decode(&t).unwrap();
                let got = match claim {
                    "exp" => c.exp,
                    "nbf" => c.nbf,
                    _ => c.iat,
                };
                assert_eq!(got, want, "{claim}: {raw}");
            }
        }
        assert_eq!(crate::time::rfc3339(MAX_UNIX_TIME), "9999-12-31T23:59:59Z");
        assert_eq!(crate::time::rfc3339(MIN_UNIX_TIME), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn refuses_non_jwts_without_echoing_them() {
        for bad in [
            "secret-opaque-token",
            "a.b",
            "a.b.c.d",
            "!!.??.x",
            "e30.bm90IGpzb24.x",
        ] {
            let err = decode(bad).unwrap_err();
            assert!(err.starts_with("it is not a JWT"), "{err}");
            assert!(!err.contains(bad), "{err}");
        }
    }
}
