//! Microsoft Entra ID workload identity: the federated JWT as a client assertion, for a token
//! whose audience is the Azure Databricks resource. Azure Databricks accepts it as a Bearer.

use super::{Issued, parse_token_reply};
use crate::error::{Error, ErrorKind, Result};
use crate::http::Http;
use crate::source::{FederatedToken, TokenSource};

/// The Azure Databricks first-party application id; its `/.default` scope.
pub(crate) const AZURE_DATABRICKS_SCOPE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";
pub(crate) const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) struct Entra {
    pub authority: String,
    pub tenant_id: String,
    pub client_id: String,
    pub source: TokenSource,
}

impl Entra {
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant_id
        )
    }

    pub fn fetch(&self, http: &Http) -> Result<Issued> {
        let assertion = self.source.read()?;
        let url = self.token_url();
        let form = [
            ("client_assertion", assertion.jwt.expose()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_id", self.client_id.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", AZURE_DATABRICKS_SCOPE),
        ];
        let reply = http.post_form(&url, &form, None, &http.deadline())?;
        parse_token_reply(&url, reply, Some(assertion.jwt.expose()))
            .map_err(|e| self.explain(e, &assertion))
    }

    fn explain(&self, e: Error, a: &FederatedToken) -> Error {
        if e.kind() != ErrorKind::Rejected {
            return e;
        }
        let desc = e.server_description().unwrap_or_default();
        let c = &a.claims;
        let claims = format!(
            "iss={}, sub={}, aud={}",
            c.iss.as_deref().unwrap_or("(none)"),
            c.sub.as_deref().unwrap_or("(none)"),
            c.aud.join(",")
        );
        let hint = if desc.contains("AADSTS700016") {
            format!(
                "Entra does not know application {} in tenant {}: check AZURE_CLIENT_ID and AZURE_TENANT_ID (the workload identity webhook sets them from the service account's azure.workload.identity/client-id annotation)",
                self.client_id, self.tenant_id
            )
        } else if desc.contains("AADSTS70021") {
            format!(
                "no federated identity credential on application {} matches the token ({claims}); add one with that issuer and subject and audience api://AzureADTokenExchange",
                self.client_id
            )
        } else if desc.contains("AADSTS700024") {
            "the assertion is outside its valid time range: the token file is stale or the clock is wrong".to_string()
        } else if desc.contains("AADSTS70023") {
            "the service-account token lives longer than Entra accepts (25 h): lower expirationSeconds of the projected volume".to_string()
        } else {
            format!("Entra refused the assertion ({claims})")
        };
        e.advice(&hint)
    }
}
