//! The `Client`: configuration resolved once, a flow, an HTTP agent and the token cache.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::auth::{self, AuthType, Plan};
use crate::cache::{Cache, CacheStats};
use crate::config::{Config, Resolved};
use crate::error::{Error, Result};
use crate::exchange::databricks::{Federation, M2m};
use crate::exchange::discovery::{Discovery, Endpoint};
use crate::exchange::entra::Entra;
use crate::exchange::{Issued, scope_param};
use crate::http::Http;
use crate::source::TokenSource;
use crate::token::{Secret, Token};

enum Flow {
    Pat(Secret),
    M2m(M2m),
    Federation(Federation),
    Entra(Entra),
}

struct Inner {
    auth_type: AuthType,
    host: String,
    account_level: bool,
    flow: Flow,
    http: Http,
    cache: Cache,
}

/// A Databricks token provider. `Send + Sync`; clones share one cache, so any number of
/// threads calling [`Client::token`] cause at most one token request at a time.
///
/// ```no_run
/// let client = dbtoken::Client::from_env()?;
/// let token = client.token()?;
/// // Authorization: {token_type} {access_token}
/// let header = token.authorization_header();
/// # Ok::<(), dbtoken::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("auth_type", &self.inner.auth_type)
            .field("host", &self.inner.host)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client configured from the environment and `~/.databrickscfg`, as the CLI is.
    pub fn from_env() -> Result<Client> {
        Client::new(Config::new())
    }

    /// A client from explicit configuration (environment and config file fill the gaps unless
    /// the configuration is [`Config::isolated`]).
    pub fn new(config: Config) -> Result<Client> {
        Client::from_resolved(&config.resolve()?)
    }

    /// A client from already resolved configuration.
    pub fn from_resolved(cfg: &Resolved) -> Result<Client> {
        let (auth_type, host, plan) = auth::choose(cfg)?;
        let http = Http::new(cfg)?;
        let account_id = cfg.get("account_id").map(str::to_string);
        if host.account && account_id.is_none() && auth_type != AuthType::Pat {
            return Err(Error::config(format!(
                "{} is an account host: set DATABRICKS_ACCOUNT_ID (account_id) to your Databricks account id",
                host.url
            )));
        }
        if let Some(u) = cfg.get("discovery_url") {
            crate::http::check_url(u).map_err(|e| e.context(&cfg.describe("discovery_url")))?;
        }
        let discovery = || {
            Discovery::new(
                host.url.clone(),
                account_id.clone(),
                host.account,
                cfg.get("discovery_url").map(str::to_string),
            )
        };
        let scope = scope_param(cfg.get("scopes"));
        let flow = match plan {
            Plan::Pat(token) => Flow::Pat(token),
            Plan::M2m {
                client_id,
                client_secret,
            } => Flow::M2m(M2m {
                discovery: discovery(),
                client_id,
                client_secret,
                scope,
            }),
            Plan::Federation { source, client_id } => Flow::Federation(Federation {
                discovery: discovery(),
                source,
                client_id,
                scope,
            }),
            Plan::Entra {
                source,
                tenant_id,
                client_id,
                authority,
            } => {
                crate::http::check_url(&authority)
                    .map_err(|e| e.context(&cfg.describe("azure_authority_host")))?;
                Flow::Entra(Entra {
                    authority,
                    tenant_id,
                    client_id,
                    source,
                })
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                auth_type,
                host: host.url,
                account_level: host.account,
                flow,
                http,
                cache: Cache::new(),
            }),
        })
    }

    /// A valid token: from the cache while fresh, otherwise obtained now (see the crate docs
    /// for the refresh rules).
    pub fn token(&self) -> Result<Token> {
        self.with_token(Token::clone)
    }

    /// Like [`Client::token`], but lends the token to `f` instead of cloning it: a cache hit
    /// then costs a shared read lock and a clock read, with no allocation and no atomic
    /// reference counting (this is what the C ABI uses to copy the token out).
    pub fn with_token<R>(&self, f: impl FnOnce(&Token) -> R) -> Result<R> {
        self.inner.cache.get_with(&Instant::now, || self.fetch(), f)
    }

    fn fetch(&self) -> Result<(Token, Option<std::time::Duration>)> {
        let inner = &*self.inner;
        let started = SystemTime::now();
        let issued: Issued = match &inner.flow {
            Flow::Pat(t) => return Ok((Token::new(t.clone(), "Bearer".into(), None), None)),
            Flow::M2m(f) => f.fetch(&inner.http),
            Flow::Federation(f) => f.fetch(&inner.http),
            Flow::Entra(f) => f.fetch(&inner.http),
        }
        .map_err(|e| e.context(inner.auth_type.name()))?;
        // Checked: a lifetime arrives clamped to 24 h, but no server number may panic here.
        let at = |d| started.checked_add(d);
        let expires_at = issued.ttl.and_then(at);
        let timeline = issued.ttl.map(crate::cache::timeline);
        let refresh_at = timeline.and_then(|(stale, _)| at(stale));
        let usable_until = timeline.and_then(|(_, expired)| at(expired));
        Ok((
            Token::new(issued.access_token, issued.token_type, expires_at)
                .with_refresh_at(refresh_at)
                .with_usable_until(usable_until),
            issued.ttl,
        ))
    }

    /// The auth type in use.
    pub fn auth_type(&self) -> AuthType {
        self.inner.auth_type
    }

    /// The normalized Databricks host.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Whether the host is an account console host (`https://accounts.…`).
    pub fn is_account_level(&self) -> bool {
        self.inner.account_level
    }

    /// The token endpoint and how it was found: known after the first exchange for Databricks
    /// flows, always for Entra, never for PAT.
    pub fn token_endpoint(&self) -> Option<Endpoint> {
        match &self.inner.flow {
            Flow::Pat(_) => None,
            Flow::M2m(f) => f.discovery.cached(),
            Flow::Federation(f) => f.discovery.cached(),
            Flow::Entra(f) => Some(Endpoint {
                url: f.token_url(),
                via: "Entra authority (AZURE_AUTHORITY_HOST) and tenant".into(),
            }),
        }
    }

    /// Where the federated JWT is read from, for flows that use one.
    pub fn federated_token_source(&self) -> Option<&TokenSource> {
        match &self.inner.flow {
            Flow::Federation(f) => Some(&f.source),
            Flow::Entra(f) => Some(&f.source),
            _ => None,
        }
    }

    /// The service principal application id sent as `client_id` in token federation
    /// (`None`: an account-wide policy), or the Entra application id.
    pub fn federation_client_id(&self) -> Option<&str> {
        match &self.inner.flow {
            Flow::Federation(f) => f.client_id.as_deref(),
            Flow::Entra(f) => Some(&f.client_id),
            _ => None,
        }
    }

    /// Find the token endpoint now (Databricks flows run discovery, best effort, and cache
    /// it), without exchanging anything. `None` for PAT.
    pub fn discover(&self) -> Result<Option<Endpoint>> {
        let http = &self.inner.http;
        match &self.inner.flow {
            Flow::Pat(_) => Ok(None),
            Flow::M2m(f) => f.discovery.token_endpoint(http).map(Some),
            Flow::Federation(f) => f.discovery.token_endpoint(http).map(Some),
            Flow::Entra(_) => Ok(self.token_endpoint()),
        }
    }

    /// Refresh counters of this client's cache and the state of its token (for health checks
    /// and metrics; never the token itself).
    pub fn stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Client>();
    is::<Token>();
    is::<Error>();
}
