//! A discoverable OIDC issuer at `{base}/issuer`, as a Kubernetes cluster with a published
//! issuer serves it: `/issuer/.well-known/openid-configuration` and the JWK set at
//! `/issuer/jwks` (one RS256 and one ES256 key), plus JWTs truly signed with those keys.
//!
//! The RSA key is a fixed test key (`issuer_rsa_key.pem`; ring cannot generate RSA keys), the
//! P-256 key is generated at start. The token exchange verifies the signature of any subject
//! token whose `iss` is this issuer, as Databricks would.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RsaKeyPair,
};
use serde_json::{Value, json};

use crate::http::{Request, Response};

/// Path of the issuer under the mock's base URL.
pub const ISSUER_PATH: &str = "/issuer";
/// `kid` of the RS256 key.
pub const RS256_KID: &str = "mock-rs256";
/// `kid` of the ES256 key.
pub const ES256_KID: &str = "mock-es256";

const RSA_PKCS8_PEM: &str = include_str!("issuer_rsa_key.pem");

/// A signing algorithm the mock issuer signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }

    /// The `kid` of this algorithm's published key.
    pub fn kid(self) -> &'static str {
        match self {
            Alg::RS256 => RS256_KID,
            Alg::ES256 => ES256_KID,
        }
    }
}

pub(crate) struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Keys {
    pub(crate) fn new() -> Result<Keys, String> {
        let der: String = RSA_PKCS8_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD
            .decode(der)
            .map_err(|e| format!("RSA key PEM: {e}"))?;
        let rsa = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("RSA key: {e}"))?;
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| format!("P-256 key: {e}"))?;
        let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng)
            .map_err(|e| format!("P-256 key: {e}"))?;
        Ok(Keys { rsa, ec, rng })
    }

    pub(crate) fn jwks(&self) -> Value {
        let rsa = PublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
        let point = self.ec.public_key().as_ref();
        json!({"keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": RS256_KID,
             "n": URL_SAFE_NO_PAD.encode(&rsa.n), "e": URL_SAFE_NO_PAD.encode(&rsa.e)},
            {"kty": "EC", "use": "sig", "alg": "ES256", "kid": ES256_KID, "crv": "P-256",
             "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])},
        ]})
    }

    /// A compact JWS of `claims` signed with `alg`'s key, announcing `kid`.
    pub(crate) fn sign(&self, alg: Alg, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": alg.name(), "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = match alg {
            Alg::RS256 => {
                let mut sig = vec![0u8; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &self.rng,
                        input.as_bytes(),
                        &mut sig,
                    )
                    .expect("RSA signing with a valid key");
                sig
            }
            Alg::ES256 => self
                .ec
                .sign(&self.rng, input.as_bytes())
                .expect("ECDSA signing with a valid key")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// Verify a token this issuer signed, as Databricks does before reading its claims.
    pub(crate) fn verify(&self, token: &str) -> Result<(), &'static str> {
        let (input, sig) = token.rsplit_once('.').ok_or("is not a JWT")?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| "has a signature that is not base64url")?;
        let header = input.split('.').next().unwrap_or_default();
        let header: Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or("has a header that is not JSON")?;
        let kid = header["kid"].as_str().unwrap_or_default();
        let ok = match (header["alg"].as_str(), kid) {
            (Some("RS256"), RS256_KID) => {
                let c = PublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
                c.verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    input.as_bytes(),
                    &sig,
                )
            }
            (Some("ES256"), ES256_KID) => signature::UnparsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                self.ec.public_key().as_ref(),
            )
            .verify(input.as_bytes(), &sig),
            _ => return Err("names a key (kid) the issuer does not publish"),
        };
        ok.map_err(|_| "has a signature that does not verify")
    }
}

/// Answer the issuer's documents; `None` for any other path.
pub(crate) fn route(keys: &Keys, req: &Request, base: &str) -> Option<Response> {
    let issuer = format!("{base}{ISSUER_PATH}");
    let body = match req.path.strip_prefix(ISSUER_PATH)? {
        "/.well-known/openid-configuration" => json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }),
        "/jwks" => keys.jwks(),
        _ => return None,
    };
    Some(Response::json(200, &body))
}
