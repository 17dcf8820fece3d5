//! The `Client`: configuration resolved once, a flow, an HTTP agent and the token cache.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::auth::{self, Audience, AuthType, Flow};
use crate::cache::{Cache, CacheStats};
use crate::config::{Config, Key, Resolved};
use crate::error::{Error, Result};
use crate::exchange::discovery::Endpoint;
use crate::http::Http;
use crate::source::TokenSource;
use crate::token::Token;

struct Inner {
    auth_type: AuthType,
    host: String,
    account_level: bool,
    flow: Box<dyn Flow>,
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
        let (auth_type, host, flow) = auth::choose(cfg)?;
        let http = Http::new(cfg)?;
        if host.account && cfg.get(Key::AccountId).is_none() && !auth_type.is(&auth::pat::KIND) {
            return Err(Error::config(format!(
                "{} is an account host: set DATABRICKS_ACCOUNT_ID (account_id) to your Databricks account id",
                host.url
            )));
        }
        if let Some(u) = cfg.get(Key::DiscoveryUrl) {
            crate::http::check_url(u).map_err(|e| e.context(&cfg.describe(Key::DiscoveryUrl)))?;
        }
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
        let issued = inner
            .flow
            .fetch(&inner.http)
            .map_err(|e| e.context(inner.auth_type.name()))?;
        // Checked: a lifetime arrives clamped to 24 h, but no server number may panic here.
        let at = |d| started.checked_add(d);
        let expires_at = issued.ttl.and_then(at);
        // refresh_at is the cache's to set: it draws the jittered refresh point.
        let timeline = issued.ttl.map(crate::cache::timeline);
        let usable_until = timeline.and_then(|(_, expired)| at(expired));
        Ok((
            Token::new(issued.access_token, issued.token_type, expires_at)
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
    /// flows, always for Entra and managed identities, never for PAT.
    pub fn token_endpoint(&self) -> Option<Endpoint> {
        self.inner.flow.facts().endpoint
    }

    /// Where the federated JWT is read from, for flows that read one from a file or variable.
    pub fn federated_token_source(&self) -> Option<&TokenSource> {
        self.inner.flow.facts().source
    }

    /// The service principal application id sent as `client_id` in token federation
    /// (`None`: an account-wide policy), or the Entra application / managed identity id.
    pub fn federation_client_id(&self) -> Option<&str> {
        self.inner.flow.facts().client_id
    }

    /// Find the token endpoint now (Databricks flows run discovery, best effort, and cache
    /// it), without exchanging anything. `None` for PAT.
    pub fn discover(&self) -> Result<Option<Endpoint>> {
        let facts = self.inner.flow.facts();
        match facts.discovery {
            Some(d) => d.token_endpoint(&self.inner.http).map(Some),
            None => Ok(facts.endpoint),
        }
    }

    /// For auth types that request their own ID token (github-oidc, azure-devops-oidc): the
    /// audience they ask for and the rule that gave it (runs discovery).
    pub(crate) fn id_token_audience(&self) -> Option<Result<Audience>> {
        let facts = self.inner.flow.facts();
        let (requested, discovery) = (facts.requested?, facts.discovery?);
        Some(
            discovery
                .token_endpoint(&self.inner.http)
                .map(|ep| requested.audience(discovery, &ep)),
        )
    }

    /// `bench/fleet.sh`'s "before" arm: this client refreshes every token at the SDKs' rule
    /// point, `expiry - min(ttl/2, 20 min)`, with no jitter, as dbtoken did before. Not an
    /// API: compiled only with the `bench` feature.
    #[cfg(feature = "bench")]
    #[doc(hidden)]
    pub fn without_refresh_jitter(self) -> Client {
        self.inner.cache.set_jitter(false);
        self
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
