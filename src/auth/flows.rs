//! How each exchange obtains a token, as a [`Flow`]: the glue between the auth types (which
//! judge configuration) and the exchanges in `src/exchange/` (which speak HTTP). Types that
//! share an exchange share its flow here.

use super::{Audience, Flow};
use crate::error::Result;
use crate::exchange::Issued;
use crate::exchange::azure::{Credential, EntraApp, ManagedIdentity};
use crate::exchange::databricks::{Federation, M2m, Subject};
use crate::exchange::discovery::{Discovery, Endpoint};
use crate::exchange::entra::Entra;
use crate::http::Http;
use crate::source::TokenSource;

fn policy(client_id: Option<&str>) -> String {
    match client_id {
        Some(id) => format!(" with service principal {id}"),
        None => " with an account-wide policy (no client_id)".to_string(),
    }
}

fn discovered(d: &Discovery, http: &Http) -> Result<Option<Endpoint>> {
    d.token_endpoint(http).map(Some)
}

impl Flow for M2m {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        M2m::fetch(self, http)
    }
    fn uses(&self) -> String {
        format!(
            "uses service principal {} and its OAuth secret",
            self.client_id
        )
    }
    fn endpoint(&self) -> Option<Endpoint> {
        self.discovery.cached()
    }
    fn discover(&self, http: &Http) -> Result<Option<Endpoint>> {
        discovered(&self.discovery, http)
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

impl Flow for Federation {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        Federation::fetch(self, http)
    }
    fn uses(&self) -> String {
        let from = match &self.subject {
            Subject::Read(source) => format!("the JWT in {}", source.describe()),
            Subject::Requested(r) => r.request.describe(),
        };
        format!("uses {from}{}", policy(self.client_id.as_deref()))
    }
    fn endpoint(&self) -> Option<Endpoint> {
        self.discovery.cached()
    }
    fn discover(&self, http: &Http) -> Result<Option<Endpoint>> {
        discovered(&self.discovery, http)
    }
    fn federated_source(&self) -> Option<&TokenSource> {
        match &self.subject {
            Subject::Read(source) => Some(source),
            Subject::Requested(_) => None,
        }
    }
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    fn audience(&self, http: &Http) -> Option<Result<Audience>> {
        let Subject::Requested(r) = &self.subject else {
            return None;
        };
        Some(
            self.discovery
                .token_endpoint(http)
                .map(|ep| r.audience(&self.discovery, &ep)),
        )
    }
}

impl Flow for Entra {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        Entra::fetch(self, http)
    }
    fn uses(&self) -> String {
        format!(
            "uses the JWT in {} as a client assertion for Entra application {}",
            self.source.describe(),
            self.client_id
        )
    }
    fn endpoint(&self) -> Option<Endpoint> {
        Some(Endpoint {
            url: self.token_url(),
            via: "Entra authority (AZURE_AUTHORITY_HOST) and tenant".into(),
        })
    }
    fn federated_source(&self) -> Option<&TokenSource> {
        Some(&self.source)
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

impl Flow for EntraApp {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        EntraApp::fetch(self, http)
    }
    fn uses(&self) -> String {
        match &self.credential {
            Credential::Secret(_) => format!(
                "uses Entra application {} in tenant {} with its client secret",
                self.client_id, self.tenant_id
            ),
            Credential::GitHub(r) => format!(
                "uses {} as a client assertion for Entra application {} in tenant {}",
                r.describe(),
                self.client_id,
                self.tenant_id
            ),
        }
    }
    fn endpoint(&self) -> Option<Endpoint> {
        Some(EntraApp::endpoint(self))
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

impl Flow for ManagedIdentity {
    fn fetch(&self, http: &Http) -> Result<Issued> {
        ManagedIdentity::fetch(self, http)
    }
    fn uses(&self) -> String {
        match &self.client_id {
            Some(id) => format!("uses user-assigned identity {id} through {}", self.url),
            None => format!("uses the system-assigned identity through {}", self.url),
        }
    }
    fn endpoint(&self) -> Option<Endpoint> {
        Some(ManagedIdentity::endpoint(self))
    }
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
}
