//! Finding the OAuth token endpoint the way the Databricks SDKs do, best effort, in order:
//! 1. `discovery_url` → its `token_endpoint`;
//! 2. `{host}/.well-known/databricks-config` → `oidc_endpoint` (`{account_id}` substituted)
//!    + `/.well-known/oauth-authorization-server` → `token_endpoint`;
//! 3. by host type: a workspace's `{host}/oidc/.well-known/oauth-authorization-server`,
//!    else `{host}/oidc/v1/token`; an account host's `{host}/oidc/accounts/{id}/v1/token`.
//!
//! The result is cached per client once any step got an HTTP answer.

use std::sync::Mutex;

use miniserde::json::Value;

use super::string;
use crate::error::{Error, Result};
use crate::http::{Deadline, Http};

/// The token endpoint in use and how it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The token URL.
    pub url: String,
    /// How it was found, for diagnostics.
    pub via: String,
}

pub(crate) struct Discovery {
    pub host: String,
    pub account_id: Option<String>,
    pub account_level: bool,
    pub discovery_url: Option<String>,
    cached: Mutex<Option<Endpoint>>,
    /// The first of `token_federation_default_oidc_audiences` in the host's metadata.
    default_audience: Mutex<Option<String>>,
}

impl Discovery {
    pub fn new(
        host: String,
        account_id: Option<String>,
        account_level: bool,
        discovery_url: Option<String>,
    ) -> Discovery {
        Discovery {
            host,
            account_id,
            account_level,
            discovery_url,
            cached: Mutex::new(None),
            default_audience: Mutex::new(None),
        }
    }

    /// The host's default OIDC audience, once `/.well-known/databricks-config` named one.
    pub fn default_audience(&self) -> Option<String> {
        self.default_audience
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn cached(&self) -> Option<Endpoint> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The token endpoint, discovering it now (within `retry_timeout_seconds`) when not cached.
    pub fn token_endpoint(&self, http: &Http) -> Result<Endpoint> {
        self.token_endpoint_within(http, &http.deadline())
    }

    /// The token endpoint; discovery GETs draw from the caller's `deadline`.
    pub fn token_endpoint_within(&self, http: &Http, deadline: &Deadline) -> Result<Endpoint> {
        if let Some(e) = self.cached() {
            return Ok(e);
        }
        let (endpoint, cacheable) = self.discover(http, deadline)?;
        if cacheable {
            *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(endpoint.clone());
        }
        Ok(endpoint)
    }

    fn discover(&self, http: &Http, deadline: &Deadline) -> Result<(Endpoint, bool)> {
        let mut answered = false;
        if let Some(url) = &self.discovery_url {
            if let Some(t) = token_endpoint_from(http, deadline, url, &mut answered) {
                return Ok((found(t, format!("discovery_url {url}")), true));
            }
        }
        let well_known = format!("{}/.well-known/databricks-config", self.host);
        let mut account_id = self.account_id.clone();
        match http.get(&well_known, deadline) {
            Ok(reply) if reply.status == 200 => {
                answered = true;
                let read = read_databricks_config(&reply.body, account_id);
                account_id = read.account_id;
                if let Some(aud) = read.default_audience {
                    *self
                        .default_audience
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(aud);
                }
                if let Some(doc) = read.oauth_metadata {
                    if let Some(t) = token_endpoint_from(http, deadline, &doc, &mut answered) {
                        return Ok((found(t, format!("{well_known} → {doc}")), true));
                    }
                }
            }
            Ok(_) => answered = true,
            Err(_) => {}
        }
        if self.account_level {
            let Some(id) = account_id else {
                return Err(Error::config(format!(
                    "{} is an account host: set DATABRICKS_ACCOUNT_ID (account_id) to your Databricks account id",
                    self.host
                )));
            };
            let url = format!("{}/oidc/accounts/{id}/v1/token", self.host);
            return Ok((found(url, "account host default".into()), answered));
        }
        let doc = format!("{}/oidc/.well-known/oauth-authorization-server", self.host);
        if let Some(t) = token_endpoint_from(http, deadline, &doc, &mut answered) {
            return Ok((found(t, doc), true));
        }
        let url = format!("{}/oidc/v1/token", self.host);
        Ok((
            found(url, "workspace default (discovery unavailable)".into()),
            answered,
        ))
    }
}

fn found(url: String, via: String) -> Endpoint {
    Endpoint { url, via }
}

/// GET a discovery document and return its `token_endpoint`; `answered` is set when the
/// server gave any HTTP answer (so a fallback may be cached).
fn token_endpoint_from(
    http: &Http,
    deadline: &Deadline,
    url: &str,
    answered: &mut bool,
) -> Option<String> {
    let reply = http.get(url, deadline).ok()?;
    *answered = true;
    if reply.status != 200 {
        return None;
    }
    token_endpoint_in(&reply.body)
}

/// The `token_endpoint` of an OAuth/OpenID metadata document, when it is an acceptable URL.
pub(crate) fn token_endpoint_in(body: &str) -> Option<String> {
    match miniserde::json::from_str::<Value>(body) {
        Ok(Value::Object(o)) => {
            string(&o, "token_endpoint").filter(|t| crate::http::check_url(t).is_ok())
        }
        _ => None,
    }
}

/// The Databricks account id that `{host}/.well-known/databricks-config` publishes (one GET,
/// no retries, bounded by `http_timeout_seconds`), for diagnostics such as `doctor`'s default
/// policy audience. `Ok(None)` when the document answers without one.
pub fn databricks_account_id(cfg: &crate::config::Resolved, host: &str) -> Result<Option<String>> {
    let url = format!(
        "{}/.well-known/databricks-config",
        host.trim_end_matches('/')
    );
    let http = Http::new(cfg)?;
    let reply = http.get(&url, &http.deadline())?;
    if reply.status != 200 {
        return Ok(None);
    }
    Ok(read_databricks_config(&reply.body, None).account_id)
}

/// What a `/.well-known/databricks-config` document says, read once.
pub(crate) struct DatabricksConfig {
    /// The account id (a configured one wins over the document's).
    pub account_id: Option<String>,
    /// The OAuth metadata URL under its `oidc_endpoint`, `{account_id}` substituted.
    pub oauth_metadata: Option<String>,
    /// The first of `token_federation_default_oidc_audiences`, if not empty.
    pub default_audience: Option<String>,
}

/// Read a `/.well-known/databricks-config` document.
pub(crate) fn read_databricks_config(body: &str, account_id: Option<String>) -> DatabricksConfig {
    let Ok(Value::Object(o)) = miniserde::json::from_str::<Value>(body) else {
        return DatabricksConfig {
            account_id,
            oauth_metadata: None,
            default_audience: None,
        };
    };
    let account_id = account_id.or_else(|| string(&o, "account_id"));
    let oauth_metadata = string(&o, "oidc_endpoint").and_then(|oidc| {
        let oidc = match &account_id {
            Some(id) => oidc.replace("{account_id}", id),
            None => oidc,
        };
        (!oidc.contains("{account_id}")).then(|| {
            format!(
                "{}/.well-known/oauth-authorization-server",
                oidc.trim_end_matches('/')
            )
        })
    });
    let default_audience = match o.get("token_federation_default_oidc_audiences") {
        Some(Value::Array(a)) => match a.first() {
            Some(Value::String(first)) if !first.is_empty() => Some(first.clone()),
            _ => None,
        },
        _ => None,
    };
    DatabricksConfig {
        account_id,
        oauth_metadata,
        default_audience,
    }
}
