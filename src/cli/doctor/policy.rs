//! `--policy FILE`: a federation policy (the JSON of `databricks account
//! …-federation-policy create`, with or without the `oidc_policy` wrapper) and the prediction
//! of its verdict on this token: issuer, audiences (default: the account id), the subject
//! claim named by `subject_claim` (default `sub`), and the keys it carries (`jwks_json`,
//! `jwks_uri`), which the issuer checks then use instead of discovery.

use std::path::{Path, PathBuf};

use miniserde::json::{Object, Value};

use dbtoken::issuer::printable;
use dbtoken::jws::Jws;

use super::Report;

pub struct Policy {
    pub path: PathBuf,
    fields: Object,
    /// `jwks_json` as text (the API takes a string; an object is accepted too).
    pub jwks_json: Option<String>,
    pub jwks_uri: Option<String>,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --policy {}: {e}", path.display()))?;
        let root = match miniserde::json::from_str::<Value>(&text) {
            Ok(Value::Object(o)) => o,
            _ => return Err(format!("--policy {} is not a JSON object", path.display())),
        };
        let fields = match root.get("oidc_policy") {
            Some(Value::Object(o)) => o.clone(),
            _ => root,
        };
        let jwks_json = match fields.get("jwks_json") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(v @ Value::Object(_)) => Some(miniserde::json::to_string(v)),
            _ => None,
        };
        let jwks_uri = match fields.get("jwks_uri") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        Ok(Policy {
            path: path.to_path_buf(),
            fields,
            jwks_json,
            jwks_uri,
        })
    }

    fn get(&self, k: &str) -> Option<String> {
        match self.fields.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// Predict whether this policy accepts the token; mismatches become problems.
    pub fn check(&self, jws: &Jws, account_id: Option<&str>, r: &mut Report) {
        r.section("policy check");
        r.text("policy file", self.path.display().to_string());
        let mut ok = true;
        let mut verdict = |r: &mut Report, field: &str, pass: bool, detail: String| {
            ok &= pass;
            let mark = if pass { "match:" } else { "MISMATCH:" };
            r.text(field, format!("{mark} {detail}"));
        };
        let claim_str = |name: &str| match jws.claim(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("the token's '{}' is not a string", printable(name))),
            None => Err(format!("the token has no '{}' claim", printable(name))),
        };
        let iss = claim_str("iss").unwrap_or_default();
        let piss = self.get("issuer").unwrap_or_default();
        verdict(
            r,
            "issuer",
            piss == iss,
            format!("policy '{}', token '{}'", printable(&piss), printable(&iss)),
        );
        let aud: Vec<String> = match jws.claim("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => strings(a),
            _ => Vec::new(),
        };
        let paud = match self.fields.get("audiences") {
            Some(Value::Array(a)) if !a.is_empty() => strings(a),
            _ => account_id.map(|a| vec![a.to_string()]).unwrap_or_default(),
        };
        verdict(
            r,
            "audience",
            aud.iter().any(|a| paud.contains(a)),
            format!(
                "policy [{}], token [{}]",
                printable(&paud.join(", ")),
                printable(&aud.join(", "))
            ),
        );
        let claim = self.get("subject_claim").unwrap_or_else(|| "sub".into());
        match (self.get("subject"), claim_str(&claim)) {
            (Some(psub), Ok(sub)) => verdict(
                r,
                "subject",
                psub == sub,
                format!(
                    "policy '{}', token's {} '{}'",
                    printable(&psub),
                    printable(&claim),
                    printable(&sub)
                ),
            ),
            (Some(psub), Err(why)) => verdict(
                r,
                "subject",
                false,
                format!("policy '{}' via subject_claim: {why}", printable(&psub)),
            ),
            // Account-wide: the claim's value must name a Databricks user or service principal.
            (None, Ok(sub)) => r.text(
                "subject",
                format!(
                    "account-wide: the token's {} is '{}'; it must be a user's email or a service principal's application id",
                    printable(&claim),
                    printable(&sub)
                ),
            ),
            (None, Err(why)) => verdict(r, "subject", false, format!("subject_claim: {why}")),
        }
        if !ok {
            r.problem(format!(
                "the policy in {} would refuse this token (see policy check)",
                self.path.display()
            ));
        }
    }
}

fn strings(a: &[Value]) -> Vec<String> {
    a.iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}
