//! Databricks' own token endpoint: RFC 8693 token federation, and OAuth M2M with a secret.

use base64::Engine as _;

use super::ci::Requested;
use super::discovery::{Discovery, Endpoint};
use super::{Issued, parse_token_reply};
use crate::error::{Error, ErrorKind, Result};
use crate::http::Http;
use crate::source::{FederatedToken, TokenSource};
use crate::token::Secret;

const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const SUBJECT_TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Where the federated JWT comes from: read from a file or variable, or requested from a CI
/// system (with an audience dbtoken chooses).
pub(crate) enum Subject {
    Read(TokenSource),
    Requested(Requested),
}

/// Token federation: exchange the federated JWT at the Databricks token endpoint.
pub(crate) struct Federation {
    pub discovery: Discovery,
    pub subject: Subject,
    /// Service principal application id: `Some` for a service-principal federation policy,
    /// `None` for an account-wide policy (then `client_id` is not sent).
    pub client_id: Option<String>,
    pub scope: String,
}

impl Federation {
    pub fn fetch(&self, http: &Http) -> Result<Issued> {
        // One deadline for discovery, the ID token request and the exchange
        // (retry_timeout_seconds).
        let deadline = http.deadline();
        let (subject, endpoint, from) = match &self.subject {
            Subject::Read(source) => {
                let subject = source.read()?;
                (
                    subject,
                    self.discovery.token_endpoint_within(http, &deadline)?,
                    source.describe(),
                )
            }
            Subject::Requested(r) => {
                let endpoint = self.discovery.token_endpoint_within(http, &deadline)?;
                let audience = r.audience(&self.discovery, &endpoint);
                (
                    r.request.fetch(http, &audience.value, &deadline)?,
                    endpoint,
                    r.request.describe().to_string(),
                )
            }
        };
        let mut form = vec![
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", subject.jwt.expose()),
            ("subject_token_type", SUBJECT_TOKEN_TYPE_JWT),
            ("scope", self.scope.as_str()),
        ];
        if let Some(id) = &self.client_id {
            form.push(("client_id", id.as_str()));
        }
        let reply = http.post_form(&endpoint.url, &form, None, &deadline)?;
        parse_token_reply(&endpoint.url, reply, Some(subject.jwt.expose()))
            .map_err(|e| self.explain(e, &subject, &endpoint, &from))
    }

    /// Add what a user needs to fix a refusal: the claims a policy must match.
    fn explain(
        &self,
        e: Error,
        subject: &FederatedToken,
        endpoint: &Endpoint,
        from: &str,
    ) -> Error {
        if e.kind() != ErrorKind::Rejected {
            return e;
        }
        let c = &subject.claims;
        let policy = match &self.client_id {
            Some(id) => format!("a federation policy of service principal {id}"),
            None => "an account-wide federation policy (no client_id was sent; set DATABRICKS_CLIENT_ID to use a service principal's policy)".to_string(),
        };
        e.advice(&format!(
            "{policy} must accept iss={}, aud={}, sub={} (the claims of the JWT in {from}; token endpoint found via {})",
            c.iss.as_deref().unwrap_or("(none)"),
            if c.aud.is_empty() { "(none)".to_string() } else { c.aud.join(",") },
            c.sub.as_deref().unwrap_or("(none)"),
            endpoint.via,
        ))
    }
}

/// OAuth M2M: `client_credentials` with the service principal's secret (HTTP Basic).
pub(crate) struct M2m {
    pub discovery: Discovery,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: String,
}

impl M2m {
    pub fn fetch(&self, http: &Http) -> Result<Issued> {
        let deadline = http.deadline();
        let endpoint = self.discovery.token_endpoint_within(http, &deadline)?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.client_secret.expose()
        ));
        let authorization = format!("Basic {basic}");
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", self.scope.as_str()),
        ];
        let reply = http.post_form(&endpoint.url, &form, Some(&authorization), &deadline)?;
        parse_token_reply(&endpoint.url, reply, Some(self.client_secret.expose())).map_err(|e| {
            if e.kind() == ErrorKind::Rejected {
                e.advice(&format!(
                    "check DATABRICKS_CLIENT_ID ({}) and DATABRICKS_CLIENT_SECRET: the secret must be an OAuth secret of that service principal",
                    self.client_id
                ))
            } else {
                e
            }
        })
    }
}
