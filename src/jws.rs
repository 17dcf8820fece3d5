//! Verifying a compact JWS (a JWT, RS256 or ES256) against a JWK set, with ring — the crypto rustls already
//! links. Used by `doctor` to predict what Databricks will check: the token's `kid` is among
//! the issuer's published keys and the signature verifies with that key.
//!
//! Nothing here repeats the token's text in an error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use miniserde::json::{Object, Value};
use ring::signature as sig;

/// A compact JWS split into its parts; the signature is not verified yet.
#[derive(Debug)]
pub struct Jws {
    header: Object,
    payload: Object,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// One public key of a JWK set (RFC 7517), as far as verification needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// `kid`.
    pub kid: Option<String>,
    /// `alg`, when the set names it.
    pub alg: Option<String>,
    key: Key,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        crv: String,
        point: Vec<u8>,
    },
    /// A key type or curve dbtoken cannot use (named for messages).
    Other(String),
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| format!("{field} is not base64url"))
}

fn json_object(bytes: &[u8], what: &str) -> Result<Object, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("the {what} is not UTF-8"))?;
    match miniserde::json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(format!("the {what} is not a JSON object")),
    }
}

fn str_of<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    match o.get(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

impl Jws {
    /// Split and decode a compact JWS (`header.payload.signature`).
    pub fn parse(token: &str) -> Result<Jws, String> {
        let token = token.trim();
        let mut parts = token.splitn(4, '.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("it is not a compact JWS (three base64url segments)".into());
        };
        Ok(Jws {
            header: json_object(&b64("the header", h)?, "header")?,
            payload: json_object(&b64("the payload", p)?, "payload")?,
            signing_input: token.as_bytes()[..h.len() + 1 + p.len()].to_vec(),
            signature: b64("the signature", s)?,
        })
    }

    /// The header's `alg`.
    pub fn alg(&self) -> Option<&str> {
        str_of(&self.header, "alg")
    }

    /// The header's `kid`.
    pub fn kid(&self) -> Option<&str> {
        str_of(&self.header, "kid")
    }

    /// A claim of the payload, as JSON.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.payload.get(name)
    }

    /// Verify the signature with `key`: RS256 or ES256, the algorithms Databricks token
    /// federation accepts. The error says why in one phrase.
    pub fn verify(&self, key: &Jwk) -> Result<(), String> {
        let alg = self.alg().unwrap_or("(none)");
        if let Some(want) = &key.alg {
            if want != alg {
                return Err(format!(
                    "the key is for {want}, the token is signed with {alg}"
                ));
            }
        }
        let (msg, s) = (&self.signing_input[..], &self.signature[..]);
        let ok = match (alg, &key.key) {
            ("RS256", Key::Rsa { n, e }) => sig::RsaPublicKeyComponents { n, e }.verify(
                &sig::RSA_PKCS1_2048_8192_SHA256,
                msg,
                s,
            ),
            ("ES256", Key::Ec { crv, point }) if crv == "P-256" => {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).verify(msg, s)
            }
            (_, Key::Other(what)) => {
                return Err(format!("the key is {what}, which dbtoken cannot use"));
            }
            _ => {
                return Err(format!(
                    "the token's alg {alg} does not fit the key ({})",
                    key.describe()
                ));
            }
        };
        ok.map_err(|_| format!("the {alg} signature does not verify with this key"))
    }
}

impl Jwk {
    fn describe(&self) -> String {
        match &self.key {
            Key::Rsa { n, .. } => format!("RSA {} bits", n.len() * 8),
            Key::Ec { crv, .. } => format!("EC {crv}"),
            Key::Other(s) => s.clone(),
        }
    }

    fn from_object(o: &Object) -> Result<Jwk, String> {
        let field = |k: &str| str_of(o, k).ok_or_else(|| format!("a key has no '{k}'"));
        let kid = str_of(o, "kid").map(str::to_string);
        let name = |k: &str| match &kid {
            Some(id) => format!("key '{id}': '{k}'"),
            None => format!("'{k}'"),
        };
        let key = match field("kty")? {
            "RSA" => Key::Rsa {
                n: b64(&name("n"), field("n")?)?,
                e: b64(&name("e"), field("e")?)?,
            },
            "EC" => {
                let crv = field("crv")?.to_string();
                let mut point = vec![4u8];
                point.extend(b64(&name("x"), field("x")?)?);
                point.extend(b64(&name("y"), field("y")?)?);
                Key::Ec { crv, point }
            }
            other => Key::Other(format!("kty {other}")),
        };
        if str_of(o, "use").is_some_and(|u| u != "sig") {
            return Ok(Jwk {
                kid,
                alg: None,
                key: Key::Other("not a signing key (use is not 'sig')".into()),
            });
        }
        Ok(Jwk {
            kid,
            alg: str_of(o, "alg").map(str::to_string),
            key,
        })
    }
}

/// Parse a JWK set (`{"keys":[...]}`). Keys of unknown types are kept (so a `kid` lookup can
/// say what the key is); a malformed key of a known type is an error.
pub fn parse_jwks(text: &str) -> Result<Vec<Jwk>, String> {
    let root = json_object(text.as_bytes(), "JWK set")?;
    let Some(Value::Array(keys)) = root.get("keys") else {
        return Err("the JWK set has no 'keys' array".into());
    };
    keys.iter()
        .map(|k| match k {
            Value::Object(o) => Jwk::from_object(o),
            _ => Err("a key of the JWK set is not a JSON object".into()),
        })
        .collect()
}

/// The key of `keys` the token names with its `kid`. Without a `kid`, the only key is taken
/// when there is exactly one.
pub fn find_key<'a>(keys: &'a [Jwk], kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(id) => keys.iter().find(|k| k.kid.as_deref() == Some(id)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

    fn enc(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn es256(kid: &str, payload: &str) -> (String, String) {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap();
        let input = format!(
            "{}.{}",
            enc(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#).as_bytes()),
            enc(payload.as_bytes())
        );
        let s = kp.sign(&rng, input.as_bytes()).unwrap();
        let point = kp.public_key().as_ref();
        let jwks = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"{kid}","use":"sig","x":"{}","y":"{}"}},{{"kty":"oct","kid":"sym"}}]}}"#,
            enc(&point[1..33]),
            enc(&point[33..])
        );
        (format!("{input}.{}", enc(s.as_ref())), jwks)
    }

    #[test]
    fn es256_verifies_and_tampering_fails() {
        let (jwt, jwks) = es256("k1", r#"{"sub":"a"}"#);
        let keys = parse_jwks(&jwks).unwrap();
        let jws = Jws::parse(&jwt).unwrap();
        assert_eq!(jws.kid(), Some("k1"));
        let key = find_key(&keys, jws.kid()).unwrap();
        jws.verify(key).unwrap();
        // Another payload under the same signature.
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], enc(br#"{"sub":"b"}"#), parts[2]);
        let err = Jws::parse(&forged).unwrap().verify(key).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        // A key of the wrong type, an unknown kid.
        let sym = find_key(&keys, Some("sym")).unwrap();
        assert!(jws.verify(sym).unwrap_err().contains("kty oct"));
        assert!(find_key(&keys, Some("nope")).is_none());
        assert!(find_key(&keys, None).is_none());
    }

    #[test]
    fn malformed_input_is_an_error_that_does_not_echo_it() {
        for bad in ["x", "a.b", "!!.e30.e30", "e30.e30.!!"] {
            let e = Jws::parse(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
        assert!(parse_jwks("[]").is_err());
        assert!(parse_jwks(r#"{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}"#).is_err());
        assert!(parse_jwks(r#"{"keys":[{"kty":"RSA"}]}"#).is_err());
    }
}
