//! `/healthz`, `/readyz` and `/metrics` of the two sidecars, `serve` and
//! `write --watch --health-listen`, answered on serve's event loop ([`super::serve::Server`]).
//!
//! - `/healthz`: 200 `ok` while the process answers (on the event loop, never behind an
//!   exchange, so a slow token endpoint does not get the sidecar restarted).
//! - `/readyz`: 200 while a token is at hand and usable (the cache's rule: the server's expiry
//!   less the margin, [`dbtoken::Token::usable_until`]) and refreshes are not failing
//!   [`FAILING_AFTER`] times in a row; otherwise 503 and one line saying why. For `serve` the
//!   check asks the cache for the token first (on a worker; a cache hit, or the refresh an SDK
//!   request would cause, paced by the cache's backoff); for `write` it reads what the file
//!   holds.
//! - `/metrics`: Prometheus text exposition format 0.0.4. The refresh numbers come from the
//!   library's cache ([`dbtoken::Client::stats`]); only the replies by status code are counted
//!   here, by the listener that sends them.
//!
//! No answer carries token material: the reason lines name error kinds, never messages.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use dbtoken::{CacheStats, ErrorKind, FailureCounts};

use super::log::{log_info, log_warn};
use super::serve::{
    Endpoints, Fresh, Reply, Route, Server, Wake, any_host_header, bind, connection_cap,
    token_reply,
};
use super::signals::Shutdown;

/// Refresh failures in a row after which `/readyz` is 503 even while the token is still
/// usable (the cache backs off 1, 2, 4 s... between them: a few seconds of failing, not one
/// blip).
pub const FAILING_AFTER: u32 = 3;

const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `write --watch` last put in its file, shared with its health listener.
#[derive(Default)]
pub struct FileState(Mutex<FileInner>);

#[derive(Default, Clone, Copy)]
struct FileInner {
    written: bool,
    usable_until: Option<SystemTime>,
    write_failed: bool,
}

impl FileState {
    /// The file now holds `token`.
    pub fn wrote(&self, token: &dbtoken::Token) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = FileInner {
            written: true,
            usable_until: token.usable_until(),
            write_failed: false,
        };
    }

    /// Writing the file failed (it keeps its previous content, if any).
    pub fn write_failed(&self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_failed = true;
    }

    fn get(&self) -> FileInner {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Sidecar {
    /// `serve`: ready when the cache holds a usable token.
    Serve,
    /// `write --watch`: ready when the file holds one.
    File(Arc<FileState>),
}

/// The endpoints of one sidecar.
pub struct Health {
    client: dbtoken::Client,
    sidecar: Sidecar,
    /// Replies sent, by status code.
    replies: Mutex<BTreeMap<u16, u64>>,
}

impl Health {
    pub fn serve(client: dbtoken::Client) -> Health {
        Health {
            client,
            sidecar: Sidecar::Serve,
            replies: Mutex::default(),
        }
    }

    pub fn file(client: dbtoken::Client, file: Arc<FileState>) -> Health {
        Health {
            client,
            sidecar: Sidecar::File(file),
            replies: Mutex::default(),
        }
    }

    /// `Ok(line)` when ready, `Err(reason)` when not.
    fn readiness(&self) -> Result<String, String> {
        let s = self.client.stats();
        let now = SystemTime::now();
        match &self.sidecar {
            Sidecar::Serve => judge(now, s.has_token, s.token_usable_until, &s),
            Sidecar::File(f) => {
                let f = f.get();
                if f.write_failed {
                    return Err("the last write of the token file failed (see the log)".into());
                }
                judge(now, f.written, f.usable_until, &s)
            }
        }
    }

    fn readyz(&self) -> Reply {
        match self.readiness() {
            Ok(line) => Reply::text(200, format!("{line}\n")),
            Err(why) => Reply::text(503, format!("not ready: {why}\n")),
        }
    }

    fn metrics(&self) -> Reply {
        let replies = self
            .replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let sidecar = match self.sidecar {
            Sidecar::Serve => "serve",
            Sidecar::File(_) => "write",
        };
        let body = render(
            SystemTime::now(),
            &self.client.stats(),
            self.readiness().is_ok(),
            &replies,
            sidecar,
        );
        Reply {
            status: 200,
            body,
            content_type: METRICS_TYPE,
        }
    }
}

/// Start a health-only listener (`--health-listen`: no token path) on `addr`, loopback unless
/// `allow_remote`, on a thread of its own: serve's event loop with one worker. It answers
/// with `health` (shared with serve's token listener, so the request counts are one set) and
/// stops with the process.
pub fn listen(
    addr: std::net::SocketAddr,
    allow_remote: bool,
    health: Arc<Health>,
    shutdown: &Shutdown,
) -> dbtoken::Result<std::net::SocketAddr> {
    let (listener, bound) = bind(
        addr,
        allow_remote,
        "--health-listen",
        "the health endpoints",
    )?;
    let wake = Wake::new().map_err(|e| dbtoken::Error::io(format!("cannot create a pipe: {e}")))?;
    let server = Server {
        listener,
        wake: Arc::new(wake),
        host: health.client.host().to_string(),
        endpoints: health,
        workers: 1,
        token_path: String::new(),
        any_host_header: any_host_header(allow_remote, bound),
    };
    let shutdown = shutdown.clone();
    std::thread::spawn(move || server.run(&shutdown, connection_cap()));
    log_info!("health endpoints on http://{bound}: /healthz /readyz /metrics");
    Ok(bound)
}

impl Endpoints for Health {
    fn now(&self, route: Route) -> Option<Reply> {
        match (route, &self.sidecar) {
            (Route::Healthz, _) => Some(Reply::text(200, "ok\n".into())),
            (Route::Metrics, _) => Some(self.metrics()),
            (Route::Readyz, Sidecar::File(_)) => Some(self.readyz()),
            (Route::Readyz, Sidecar::Serve) | (Route::Token, _) => None,
        }
    }

    fn work(&self, route: Route) -> (Reply, Option<Fresh>) {
        match (route, &self.sidecar) {
            (Route::Token, Sidecar::Serve) => token_reply(&self.client),
            (Route::Readyz, Sidecar::Serve) => {
                // What an SDK request would do now: a cache hit, or the refresh that is due.
                let before = self.client.stats().refreshes;
                if let Err(e) = self.client.token() {
                    if self.client.stats().refreshes > before {
                        log_warn!("{e}");
                    }
                }
                (self.readyz(), None)
            }
            (Route::Token, Sidecar::File(_)) => (Reply::text(404, "not found\n".into()), None),
            (r, _) => (self.now(r).unwrap_or_else(|| self.readyz()), None),
        }
    }

    fn sent(&self, status: u16) {
        let mut r = self.replies.lock().unwrap_or_else(|p| p.into_inner());
        *r.entry(status).or_default() += 1;
    }
}

/// The label of an error kind in reasons and metrics.
fn kind_label(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Config => "config",
        ErrorKind::FederatedToken => "federated_token",
        ErrorKind::Rejected => "rejected",
        ErrorKind::Transient => "transient",
        ErrorKind::Io => "io",
    }
}

/// The readiness rule: a token at hand (`has_token`), still usable at `now`, and refreshes
/// not failing [`FAILING_AFTER`] times in a row. `Ok(line)` or `Err(reason)`, one line each.
pub fn judge(
    now: SystemTime,
    has_token: bool,
    usable_until: Option<SystemTime>,
    s: &CacheStats,
) -> Result<String, String> {
    let failing = match s.last_failure {
        Some(k) if s.consecutive_failures > 0 => format!(
            "{} refresh(es) failed in a row, last: {}",
            s.consecutive_failures,
            kind_label(k)
        ),
        _ => String::new(),
    };
    let with_failing = |what: String| {
        if failing.is_empty() {
            what
        } else {
            format!("{what}; {failing}")
        }
    };
    if !has_token {
        return Err(with_failing("no token yet".into()));
    }
    if let Some(u) = usable_until {
        if now >= u {
            return Err(with_failing(format!(
                "the token expired at {}",
                dbtoken::rfc3339(unix(u) as i64)
            )));
        }
    }
    if s.consecutive_failures >= FAILING_AFTER {
        return Err(format!("refreshes keep failing: {failing}"));
    }
    Ok(match usable_until {
        Some(u) => format!(
            "ok: token usable for {}s",
            u.duration_since(now).unwrap_or_default().as_secs()
        ),
        None => "ok: token does not expire".into(),
    })
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The metrics in the Prometheus text exposition format 0.0.4.
pub fn render(
    now: SystemTime,
    s: &CacheStats,
    ready: bool,
    replies: &BTreeMap<u16, u64>,
    sidecar: &str,
) -> String {
    let mut o = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(o, "{name}{labels} {value}");
        }
    };
    let one = |v: String| vec![(String::new(), v)];
    family(
        "dbtoken_build_info",
        "gauge",
        "The running dbtoken: its version and sidecar (serve or write); always 1.",
        &[(
            format!(
                "{{version=\"{}\",sidecar=\"{sidecar}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
            "1".into(),
        )],
    );
    family(
        "dbtoken_ready",
        "gauge",
        "1 while /readyz answers 200, else 0.",
        &one(u8::from(ready).to_string()),
    );
    if let Some(exp) = s.token_expires_at {
        let left = match exp.duration_since(now) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        family(
            "dbtoken_token_expiry_seconds",
            "gauge",
            "Seconds until the cached token expires (the server's expiry; negative once past).",
            &one(format!("{left:.3}")),
        );
        family(
            "dbtoken_token_expiry_timestamp_seconds",
            "gauge",
            "Unix time at which the cached token expires.",
            &one(format!("{:.3}", unix(exp))),
        );
    }
    if let Some(at) = s.token_refresh_at {
        family(
            "dbtoken_token_refresh_timestamp_seconds",
            "gauge",
            "Unix time of the next refresh-ahead of the cached token (drawn per token, jittered).",
            &one(format!("{:.3}", unix(at))),
        );
    }
    family(
        "dbtoken_refreshes_total",
        "counter",
        "Token refreshes started (each one token request, retries included).",
        &one(s.refreshes.to_string()),
    );
    family(
        "dbtoken_refresh_failures_total",
        "counter",
        "Token refreshes that failed.",
        &one(s.failures.to_string()),
    );
    let by_kind: Vec<_> = FailureCounts::KINDS
        .iter()
        .map(|k| {
            (
                format!("{{kind=\"{}\"}}", kind_label(*k)),
                s.failures_by_kind.get(*k).to_string(),
            )
        })
        .collect();
    family(
        "dbtoken_refresh_failures_by_kind_total",
        "counter",
        "Token refreshes that failed, by error kind (config, federated_token, rejected, transient, io).",
        &by_kind,
    );
    family(
        "dbtoken_refresh_consecutive_failures",
        "gauge",
        "Token refreshes that failed since the last success.",
        &one(s.consecutive_failures.to_string()),
    );
    if let Some(t) = s.last_success {
        family(
            "dbtoken_last_refresh_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful token refresh.",
            &one(format!("{:.3}", unix(t))),
        );
    }
    let codes: Vec<_> = replies
        .iter()
        .map(|(code, n)| (format!("{{code=\"{code}\"}}"), n.to_string()))
        .collect();
    family(
        "dbtoken_http_requests_total",
        "counter",
        "HTTP replies sent by this sidecar (all its listeners), by status code.",
        &codes,
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stats(failures: u32, kind: Option<ErrorKind>) -> CacheStats {
        CacheStats {
            consecutive_failures: failures,
            last_failure: kind,
            ..CacheStats::default()
        }
    }

    #[test]
    fn readiness_rules() {
        let now = SystemTime::now();
        let later = Some(now + Duration::from_secs(100));
        let earlier = Some(now - Duration::from_secs(1));
        let ok = stats(0, None);
        assert_eq!(
            judge(now, true, later, &ok),
            Ok("ok: token usable for 100s".into())
        );
        assert_eq!(
            judge(now, true, None, &ok),
            Ok("ok: token does not expire".into())
        );
        assert_eq!(judge(now, false, None, &ok), Err("no token yet".into()));
        let down = stats(2, Some(ErrorKind::Transient));
        assert_eq!(
            judge(now, false, None, &down),
            Err("no token yet; 2 refresh(es) failed in a row, last: transient".into())
        );
        let e = judge(now, true, earlier, &ok).unwrap_err();
        assert!(e.starts_with("the token expired at 20"), "{e}");
        // Two failures with a usable token: still ready (stale-if-error); three: not.
        assert!(judge(now, true, later, &down).is_ok());
        let failing = stats(FAILING_AFTER, Some(ErrorKind::Rejected));
        assert_eq!(
            judge(now, true, later, &failing),
            Err("refreshes keep failing: 3 refresh(es) failed in a row, last: rejected".into())
        );
    }

    #[test]
    fn metrics_text() {
        let now = SystemTime::now();
        let mut s = stats(0, None);
        s.refreshes = 2;
        s.token_expires_at = Some(now + Duration::from_secs(60));
        s.token_refresh_at = Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_123));
        let text = render(
            now,
            &s,
            true,
            &BTreeMap::from([(200, 5), (503, 1)]),
            "serve",
        );
        for line in [
            "dbtoken_ready 1",
            "dbtoken_refreshes_total 2",
            "dbtoken_token_expiry_seconds 60.000",
            "dbtoken_token_refresh_timestamp_seconds 1800000.123",
            "dbtoken_refresh_failures_by_kind_total{kind=\"io\"} 0",
            "dbtoken_http_requests_total{code=\"503\"} 1",
            "# TYPE dbtoken_refreshes_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("last_refresh_success"), "no success yet");
    }
}
