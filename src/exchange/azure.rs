//! Azure identities the SDKs turn into an Azure Databricks token without a projected file:
//! an Entra application with a client secret or a GitHub Actions ID token (the v1 token
//! endpoint with `resource`, as databricks-sdk-go and -py send it), and managed identities
//! (the instance metadata service, or App Service's `IDENTITY_ENDPOINT`).

use super::ci::IdTokenRequest;
use super::discovery::Endpoint;
use super::{Issued, parse_token_reply};
use crate::error::{ErrorKind, Result};
use crate::http::Http;
use crate::token::Secret;

/// The Azure Databricks first-party application: the `resource` of v1 token requests.
pub(crate) const AZURE_DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The audience Entra requires on a federated client assertion.
pub(crate) const ENTRA_AUDIENCE: &str = "api://AzureADTokenExchange";

/// How an Entra application proves itself.
pub(crate) enum Credential {
    Secret(Secret),
    GitHub(IdTokenRequest),
}

/// `client_credentials` at `{authority}/{tenant}/oauth2/token` for the Azure Databricks resource.
pub(crate) struct EntraApp {
    pub authority: String,
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
}

impl EntraApp {
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/token",
            self.authority.trim_end_matches('/'),
            self.tenant_id
        )
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.token_url(),
            via: "Entra authority (AZURE_AUTHORITY_HOST) and tenant".into(),
        }
    }

    pub fn fetch(&self, http: &Http) -> Result<Issued> {
        let url = self.token_url();
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("resource", AZURE_DATABRICKS_RESOURCE),
        ];
        let deadline = http.deadline();
        let assertion;
        let secret = match &self.credential {
            Credential::Secret(s) => {
                form.push(("client_secret", s.expose()));
                s.expose()
            }
            Credential::GitHub(request) => {
                assertion = request.fetch(http, ENTRA_AUDIENCE, &deadline)?;
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", assertion.jwt.expose()));
                assertion.jwt.expose()
            }
        };
        let reply = http.post_form(&url, &form, None, &deadline)?;
        parse_token_reply(&url, reply, Some(secret)).map_err(|e| {
            if e.kind() != ErrorKind::Rejected {
                return e;
            }
            e.advice(match &self.credential {
                Credential::Secret(_) => "check ARM_CLIENT_ID, ARM_TENANT_ID and ARM_CLIENT_SECRET: the secret must be a current client secret of that application",
                Credential::GitHub(_) => "the application needs a federated credential for this repository's GitHub token (issuer https://token.actions.githubusercontent.com, audience api://AzureADTokenExchange)",
            })
        })
    }
}

/// A managed identity's token for the Azure Databricks resource.
pub(crate) struct ManagedIdentity {
    /// The full token URL.
    pub url: String,
    /// The header that proves the caller is on the machine.
    pub header: (&'static str, Secret),
    pub api_version: &'static str,
    /// A user-assigned identity; `None`: the system-assigned one.
    pub client_id: Option<String>,
    pub via: &'static str,
}

impl ManagedIdentity {
    /// The instance metadata service at `authority` (`http://169.254.169.254` unless overridden).
    pub fn imds(authority: &str, client_id: Option<String>) -> ManagedIdentity {
        ManagedIdentity {
            url: format!(
                "{}/metadata/identity/oauth2/token",
                authority.trim_end_matches('/')
            ),
            header: ("Metadata", Secret::new("true")),
            api_version: "2018-02-01",
            client_id,
            via: "Azure instance metadata service",
        }
    }

    /// App Service / Functions: `IDENTITY_ENDPOINT` with the `IDENTITY_HEADER` secret.
    pub fn app_service(endpoint: &str, header: &str, client_id: Option<String>) -> ManagedIdentity {
        ManagedIdentity {
            url: endpoint.to_string(),
            header: ("X-IDENTITY-HEADER", Secret::new(header)),
            api_version: "2019-08-01",
            client_id,
            via: "IDENTITY_ENDPOINT (App Service managed identity)",
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            via: self.via.into(),
        }
    }

    pub fn fetch(&self, http: &Http) -> Result<Issued> {
        let mut query = vec![
            ("api-version", self.api_version),
            ("resource", AZURE_DATABRICKS_RESOURCE),
        ];
        if let Some(id) = &self.client_id {
            query.push(("client_id", id.as_str()));
        }
        let (name, value) = (&self.header.0, &self.header.1);
        let reply = http.get_with(
            &self.url,
            &[(name, value.expose())],
            &query,
            &http.deadline(),
        )?;
        parse_token_reply(&self.url, reply, Some(value.expose())).map_err(|e| {
            if e.kind() != ErrorKind::Rejected {
                return e;
            }
            e.advice(match &self.client_id {
                Some(_) => "is the user-assigned identity of ARM_CLIENT_ID assigned to this machine, and a user of the workspace?",
                None => "is a system-assigned identity enabled on this machine (or set ARM_CLIENT_ID to a user-assigned one), and a user of the workspace?",
            })
        })
    }
}
