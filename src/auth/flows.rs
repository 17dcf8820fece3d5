//! How each exchange obtains a token, as a [`Flow`]: the glue between the auth types (which
//! judge configuration) and the exchanges in `src/exchange/` (which speak HTTP). Types that
//! share an exchange share its flow here.

use super::{Facts, Flow};
use crate::error::Result;
use crate::exchange::Issued;
use crate::exchange::azure::{Credential, EntraApp, ManagedIdentity};
use crate::exchange::databricks::{Federation, M2m, Subject};
use crate::exchange::discovery::Endpoint;
use crate::exchange::entra::Entra;
use crate::http::Http;

impl Flow for M2m {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        M2m::fetch(self, http)
    }
    fn facts(&self) -> Facts<'_> {
        Facts {
            uses: format!(
                "uses service principal {} and its OAuth secret",
                self.client_id
            ),
            endpoint: self.discovery.cached(),
            source: None,
            client_id: Some(&self.client_id),
            discovery: Some(&self.discovery),
            requested: None,
        }
    }
}

impl Flow for Federation {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        Federation::fetch(self, http)
    }
    fn facts(&self) -> Facts<'_> {
        let (from, source, requested) = match &self.subject {
            Subject::Read(s) => (format!("the JWT in {}", s.describe()), Some(s), None),
            Subject::Requested(r) => (r.request.describe().to_string(), None, Some(r)),
        };
        let policy = match &self.client_id {
            Some(id) => format!("service principal {id}"),
            None => "an account-wide policy (no client_id)".to_string(),
        };
        Facts {
            uses: format!("uses {from} with {policy}"),
            endpoint: self.discovery.cached(),
            source,
            client_id: self.client_id.as_deref(),
            discovery: Some(&self.discovery),
            requested,
        }
    }
}

impl Flow for Entra {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        Entra::fetch(self, http)
    }
    fn facts(&self) -> Facts<'_> {
        Facts {
            uses: format!(
                "uses the JWT in {} as a client assertion for Entra application {}",
                self.source.describe(),
                self.client_id
            ),
            endpoint: Some(Endpoint {
                url: self.token_url(),
                via: "Entra authority (AZURE_AUTHORITY_HOST) and tenant".into(),
            }),
            source: Some(&self.source),
            client_id: Some(&self.client_id),
            discovery: None,
            requested: None,
        }
    }
}

impl Flow for EntraApp {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        EntraApp::fetch(self, http)
    }
    fn facts(&self) -> Facts<'_> {
        let with = match &self.credential {
            Credential::Secret(_) => "its client secret",
            Credential::GitHub(r) => r.describe(),
        };
        Facts {
            uses: format!(
                "uses Entra application {} in tenant {} with {with}",
                self.client_id, self.tenant_id
            ),
            endpoint: Some(self.endpoint()),
            source: None,
            client_id: Some(&self.client_id),
            discovery: None,
            requested: None,
        }
    }
}

impl Flow for ManagedIdentity {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        ManagedIdentity::fetch(self, http)
    }
    fn facts(&self) -> Facts<'_> {
        let id = self.client_id.as_deref().unwrap_or("system-assigned");
        Facts {
            uses: format!("uses the managed identity ({id}) through {}", self.url),
            endpoint: Some(self.endpoint()),
            source: None,
            client_id: self.client_id.as_deref(),
            discovery: None,
            requested: None,
        }
    }
}
