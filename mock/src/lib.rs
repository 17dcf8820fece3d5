//! Loopback HTTPS stand-in for the Databricks OIDC token endpoints, Databricks
//! discovery, OAuth M2M and the Microsoft Entra ID token endpoint.
//!
//! Test support only: strict about what clients send, records every request,
//! and can inject faults per path. See `MockServer`. The token endpoints can be
//! rate-limited, and every exchange is recorded with its instant (see `limit`).

mod ci_oidc;
mod handlers;
mod http;
mod issuer;
mod jwt;
mod limit;
mod tls;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use ci_oidc::{
    ADO_ACCESS_TOKEN, ADO_HOST_TYPE, ADO_JOB_ID, ADO_PLAN_ID, ADO_PROJECT_ID, APP_SERVICE_HEADER,
    AZURE_CLIENT_SECRET, GITHUB_REQUEST_TOKEN, MSI_CLIENT_ID,
};
pub use issuer::{Alg, ES256_KID, ISSUER_PATH, RS256_KID};
pub use jwt::{azure_jwt, jwt, workload_jwt};
pub use limit::{Exchange, MAX_RATE, MIN_RATE, RateLimit, Second, per_second};

/// Databricks account id served by the mock (and default federation policy audience).
pub const ACCOUNT_ID: &str = "7f4a1c2e-0000-4000-8000-00000000acc7";
/// Service principal application id of the default federation policy.
pub const SP_CLIENT_ID: &str = "5c3b7e9a-0000-4000-8000-0000000005b1";
/// OAuth M2M client id accepted by the `client_credentials` grant.
pub const M2M_CLIENT_ID: &str = "mock-m2m-client";
/// OAuth M2M client secret accepted by the `client_credentials` grant.
pub const M2M_SECRET: &str = "mock-m2m-secret-value";
/// Entra ID tenant accepted at `/{tenant}/oauth2/v2.0/token`.
pub const AZURE_TENANT_ID: &str = "0a1b2c3d-0000-4000-8000-00000000e7a1";
/// Entra ID application (client) id accepted by the mock.
pub const AZURE_CLIENT_ID: &str = "9e8d7c6b-0000-4000-8000-0000000a2c1d";
/// Default federation policy issuer.
pub const ISSUER: &str = "https://oidc.mock.dbtoken.test/cluster-1";
/// Default federation policy subject.
pub const SUBJECT: &str = "system:serviceaccount:default:dbtoken";
/// Default federation policy audience (the account id, as Databricks does).
pub const AUDIENCE: &str = ACCOUNT_ID;
/// Audience Entra ID requires on a federated client assertion.
pub const AZURE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// The Azure Databricks resource scope Entra expects.
pub const AZURE_DATABRICKS_SCOPE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";

/// Most recent requests kept by the recorder (counts are never capped).
const MAX_RECORDS: usize = 10_000;
/// Most recent issued tokens remembered.
const MAX_ISSUED: usize = 100_000;
/// Most recent token-endpoint exchanges kept (24 MB at most; counts are never capped).
const MAX_EXCHANGES: usize = 1_000_000;

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string, as sent (percent-encoded).
    pub query: String,
    /// Header names lower-cased, values as sent (including `authorization`).
    pub headers: Vec<(String, String)>,
    /// Form fields in order (empty unless the body parsed as a urlencoded form).
    pub form: Vec<(String, String)>,
}

impl Recorded {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First form field with this name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Response body shapes a fault can force.
#[derive(Clone, Copy, Debug)]
pub enum FaultBody {
    /// 200, `Content-Length: 200`, 20 bytes of JSON, then the connection is dropped.
    Truncated,
    /// 200, a JSON-ish body slightly over 1 MiB with a correct Content-Length.
    Oversized,
    /// 200 (unless a status is given), an HTML error page with `Content-Type: text/html`.
    NotJson,
}

/// A fault injected for one exact path (see `MockServer::fault`).
#[derive(Clone, Debug, Default)]
pub struct Fault {
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    pub delay: Duration,
    pub body: Option<FaultBody>,
    /// How many requests this fault applies to; 0 is treated as 1.
    pub times: usize,
}

impl Fault {
    pub fn status(s: u16) -> Fault {
        Fault {
            status: Some(s),
            ..Fault::default()
        }
    }
    pub fn retry_after(mut self, v: &str) -> Fault {
        self.retry_after = Some(v.to_string());
        self
    }
    pub fn delay(d: Duration) -> Fault {
        Fault {
            delay: d,
            ..Fault::default()
        }
    }
    pub fn body(b: FaultBody) -> Fault {
        Fault {
            body: Some(b),
            ..Fault::default()
        }
    }
    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub token_ttl: u64,
    pub databricks_config: bool,
    pub oauth_discovery: bool,
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub sp_client_id: String,
    /// `token_federation_default_oidc_audiences` of `databricks-config` (absent when empty).
    pub default_audiences: Vec<String>,
    /// The token endpoints' rate limit (`None`: unlimited).
    pub rate_limit: Option<RateLimit>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            token_ttl: 3600,
            databricks_config: true,
            oauth_discovery: true,
            issuer: ISSUER.to_string(),
            audience: AUDIENCE.to_string(),
            subject: SUBJECT.to_string(),
            sp_client_id: SP_CLIENT_ID.to_string(),
            default_audiences: Vec::new(),
            rate_limit: None,
        }
    }
}

#[allow(dead_code)] // flow/endpoint are kept for debugging (Debug output)
#[derive(Debug)]
pub(crate) struct Issued {
    pub expires_at: Instant,
    pub flow: &'static str,
    pub endpoint: String,
}

#[derive(Default)]
pub(crate) struct State {
    pub config: Config,
    pub defaults: Config,
    pub counts: BTreeMap<String, usize>,
    pub total: usize,
    pub records: VecDeque<Recorded>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub issued: HashMap<String, Issued>,
    pub issued_order: VecDeque<String>,
    /// The rate limit's bucket; `None` is a full one (no request since the limit was set).
    pub bucket: Option<limit::Bucket>,
    pub exchanges: VecDeque<Exchange>,
}

impl State {
    pub(crate) fn record(&mut self, rec: Recorded) {
        *self.counts.entry(rec.path.clone()).or_insert(0) += 1;
        self.total += 1;
        if self.records.len() >= MAX_RECORDS {
            self.records.pop_front();
        }
        self.records.push_back(rec);
    }

    pub(crate) fn pop_fault(&mut self, path: &str) -> Option<Fault> {
        let queue = self.faults.get_mut(path)?;
        let front = queue.front_mut()?;
        let fault = front.clone();
        if front.times <= 1 {
            queue.pop_front();
        } else {
            front.times -= 1;
        }
        if queue.is_empty() {
            self.faults.remove(path);
        }
        Some(fault)
    }

    pub(crate) fn add_fault(&mut self, path: &str, fault: Fault) {
        self.faults
            .entry(path.to_string())
            .or_default()
            .push_back(fault);
    }

    pub(crate) fn reset(&mut self) {
        self.config = self.defaults.clone();
        self.counts.clear();
        self.total = 0;
        self.records.clear();
        self.faults.clear();
        self.bucket = None;
        self.exchanges.clear();
    }

    /// Set the token endpoints' rate limit; the bucket starts full.
    pub(crate) fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.config.rate_limit = limit;
        self.bucket = None;
    }

    /// `None` when a request arriving `at` may pass; else the limit and the wait until one may.
    pub(crate) fn admit(&mut self, at: Instant) -> Option<(RateLimit, Duration)> {
        let limit = self.config.rate_limit?;
        let bucket = self
            .bucket
            .get_or_insert_with(|| limit::Bucket::full(limit, at));
        bucket.take(limit, at).err().map(|wait| (limit, wait))
    }

    /// The recorded exchanges sorted by arrival (they are recorded when answered).
    pub(crate) fn exchanges_by_arrival(&self) -> Vec<Exchange> {
        let mut v: Vec<Exchange> = self.exchanges.iter().copied().collect();
        v.sort_by_key(|e| e.at);
        v
    }

    pub(crate) fn record_exchange(&mut self, e: Exchange) {
        if self.exchanges.len() >= MAX_EXCHANGES {
            self.exchanges.pop_front();
        }
        self.exchanges.push_back(e);
    }

    pub(crate) fn remember(&mut self, token: String, issued: Issued) {
        while self.issued_order.len() >= MAX_ISSUED {
            if let Some(old) = self.issued_order.pop_front() {
                self.issued.remove(&old);
            }
        }
        self.issued_order.push_back(token.clone());
        self.issued.insert(token, issued);
    }

    pub(crate) fn is_valid(&self, token: &str) -> bool {
        self.issued
            .get(token)
            .is_some_and(|i| i.expires_at > Instant::now())
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    pub shutdown: AtomicBool,
    pub tls: Arc<rustls::ServerConfig>,
    pub port: u16,
    /// When the server started, on both clocks (to give exchange instants as Unix time).
    pub started: (Instant, std::time::SystemTime),
    pub token_counter: AtomicU64,
    pub issuer_keys: issuer::Keys,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The mock server. Dropping it stops accepting connections and removes its temp dir.
pub struct MockServer {
    shared: Arc<Shared>,
    ca_pem: String,
    dir: PathBuf,
    ca_path: PathBuf,
    accept: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Start on an ephemeral loopback port. Panics with a clear message on failure.
    pub fn start() -> MockServer {
        MockServer::start_on(0)
    }

    /// Start on `127.0.0.1:port` (0 = ephemeral). Panics with a clear message on failure.
    pub fn start_on(port: u16) -> MockServer {
        let tls = tls::generate()
            .unwrap_or_else(|e| panic!("dbtoken-mock: generating test certificates failed: {e}"));
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("dbtoken-mock: cannot bind 127.0.0.1:{port}: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("dbtoken-mock: local_addr failed: {e}"))
            .port();

        static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dbtoken-mock-{}-{}-{}",
            std::process::id(),
            DIR_COUNTER.fetch_add(1, Ordering::Relaxed),
            port
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
            panic!(
                "dbtoken-mock: cannot create temp dir {}: {e}",
                dir.display()
            )
        });
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, &tls.ca_pem)
            .unwrap_or_else(|e| panic!("dbtoken-mock: cannot write {}: {e}", ca_path.display()));

        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            shutdown: AtomicBool::new(false),
            tls: tls.config,
            port,
            started: (Instant::now(), std::time::SystemTime::now()),
            token_counter: AtomicU64::new(0),
            issuer_keys: issuer::Keys::new()
                .unwrap_or_else(|e| panic!("dbtoken-mock: issuer keys: {e}")),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name(format!("dbtoken-mock-accept-{port}"))
            .spawn(move || accept_loop(listener, accept_shared))
            .unwrap_or_else(|e| panic!("dbtoken-mock: cannot spawn accept thread: {e}"));

        MockServer {
            shared,
            ca_pem: tls.ca_pem,
            dir,
            ca_path,
            accept: Some(accept),
        }
    }

    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.shared.port)
    }

    /// `https://accounts.localhost:PORT` — connect to 127.0.0.1, send this Host/SNI.
    pub fn accounts_url(&self) -> String {
        format!("https://accounts.localhost:{}", self.shared.port)
    }

    /// The discoverable OIDC issuer the mock serves: `https://127.0.0.1:PORT/issuer`, with
    /// `/.well-known/openid-configuration` and its JWK set at `/issuer/jwks`.
    pub fn issuer_url(&self) -> String {
        format!("{}{ISSUER_PATH}", self.url())
    }

    /// A JWT with `claims`, truly signed by the mock issuer's `alg` key (kid announced).
    pub fn signed_jwt(&self, alg: Alg, claims: &serde_json::Value) -> String {
        self.shared.issuer_keys.sign(alg, alg.kid(), claims)
    }

    /// Like `signed_jwt`, announcing another `kid` (e.g. one the issuer does not publish).
    pub fn signed_jwt_with_kid(&self, alg: Alg, kid: &str, claims: &serde_json::Value) -> String {
        self.shared.issuer_keys.sign(alg, kid, claims)
    }

    /// A signed workload token from the mock issuer: `iss` = `issuer_url()`, `sub` =
    /// `SUBJECT`, `aud` = [`AUDIENCE`], valid for `lifetime_secs`.
    pub fn issuer_jwt(&self, alg: Alg, lifetime_secs: i64) -> String {
        let now = jwt::now_secs();
        self.signed_jwt(
            alg,
            &serde_json::json!({
                "iss": self.issuer_url(), "sub": SUBJECT, "aud": [AUDIENCE],
                "iat": now, "nbf": now, "exp": now + lifetime_secs,
            }),
        )
    }

    /// The issuer's JWK set as served at `/issuer/jwks` (for a policy's `jwks_json`).
    pub fn jwks_json(&self) -> String {
        self.shared.issuer_keys.jwks().to_string()
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The test CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Path of a file holding `ca_pem()`; removed when the server is dropped.
    pub fn ca_path(&self) -> PathBuf {
        self.ca_path.clone()
    }

    /// Requests seen for this exact path (no query) since start/reset.
    pub fn count(&self, path: &str) -> usize {
        self.shared.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// All (non-control) requests seen since start/reset.
    pub fn total(&self) -> usize {
        self.shared.lock().total
    }

    /// Recorded requests in arrival order (the most recent 10 000).
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().records.iter().cloned().collect()
    }

    /// Queue a fault for the next request(s) to this exact path.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.shared.lock().add_fault(path, fault);
    }

    /// `expires_in` of tokens issued from now on.
    pub fn set_token_ttl(&self, secs: u64) {
        self.shared.lock().config.token_ttl = secs;
    }

    /// Like `set_token_ttl`, and also the value `reset()` restores.
    pub fn set_default_token_ttl(&self, secs: u64) {
        let mut st = self.shared.lock();
        st.config.token_ttl = secs;
        st.defaults.token_ttl = secs;
    }

    /// Rate-limit the token endpoints (one bucket for all of them; see [`RateLimit`]), or
    /// lift the limit with `None`. The bucket starts full.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.lock().set_rate_limit(limit);
    }

    /// Like `set_rate_limit`, and also the limit `reset()` restores.
    pub fn set_default_rate_limit(&self, limit: Option<RateLimit>) {
        let mut st = self.shared.lock();
        st.set_rate_limit(limit);
        st.defaults.rate_limit = limit;
    }

    /// Every request to a token endpoint since start/reset (the most recent 1,000,000), in
    /// arrival order, with the status it got (429: refused by the rate limit).
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.lock().exchanges_by_arrival()
    }

    /// Enable/disable `/.well-known/databricks-config` and the oauth-authorization-server documents.
    pub fn set_discovery(&self, databricks_config: bool, oauth_discovery: bool) {
        let mut st = self.shared.lock();
        st.config.databricks_config = databricks_config;
        st.config.oauth_discovery = oauth_discovery;
    }

    /// Federation policy checked by the token exchange (issuer/subject also by Entra).
    /// Make `/.well-known/databricks-config` name these default OIDC audiences.
    pub fn set_default_audiences(&self, audiences: &[&str]) {
        self.shared.lock().config.default_audiences =
            audiences.iter().map(|a| a.to_string()).collect();
    }

    pub fn set_policy(&self, issuer: &str, audience: &str, subject: &str) {
        let mut st = self.shared.lock();
        st.config.issuer = issuer.to_string();
        st.config.audience = audience.to_string();
        st.config.subject = subject.to_string();
    }

    /// True if this server issued `token` and it has not expired yet.
    pub fn is_issued(&self, token: &str) -> bool {
        self.shared.lock().is_valid(token)
    }

    /// Clear counts, records, exchanges and faults; restore the default config (the rate
    /// limit's bucket starts full). Issued tokens stay valid.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.shared.port).into(),
            Duration::from_secs(2),
        );
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Transient accept errors (e.g. EMFILE): back off briefly.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let conn_shared = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name("dbtoken-mock-conn".to_string())
            .spawn(move || http::serve_connection(stream, &conn_shared));
    }
}
