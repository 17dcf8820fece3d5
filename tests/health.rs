//! `/healthz`, `/readyz` and `/metrics` of `dbtoken serve` and `dbtoken write --watch
//! --health-listen`, as processes over real sockets against the mock: readiness before the
//! first token, turning 503 when the mock starts refusing and 200 again when it recovers, the
//! metrics that count it, and no token in any answer. (The Prometheus parser's view of the
//! same output: tests/health.sh.)

mod common;
use common::cli::{dbtoken, free_port, http_get, stop, wait_exit, wait_for, wait_status};
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The mock refuses every exchange (a federation policy for another issuer), or accepts again.
fn refuse(m: &MockServer, refusing: bool) {
    let issuer = if refusing {
        "https://other-issuer.example"
    } else {
        mock::ISSUER
    };
    m.set_policy(issuer, mock::AUDIENCE, mock::SUBJECT);
}

/// `dbtoken serve` on a free port; returns after it printed its environment (cache warmed).
fn serve(m: &MockServer, tag: &str) -> (Child, u16) {
    let port = free_port();
    let mut child = dbtoken(m, &jwt_file(tag))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    (child, port)
}

/// The value of the sample `name` (with its labels, e.g. `x{code="200"}`) in a scrape.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A log of readiness transitions with their times, printed for the closing note.
struct Transitions(Instant, Vec<String>);

impl Transitions {
    fn new() -> Transitions {
        Transitions(Instant::now(), Vec::new())
    }

    fn saw(&mut self, what: &str, body: &str) {
        let line = format!(
            "{:6.2}s {what}: {}",
            self.0.elapsed().as_secs_f64(),
            body.trim()
        );
        eprintln!("{line}");
        self.1.push(line);
    }
}

#[test]
fn serve_readiness_follows_the_token_and_metrics_count_it() {
    let m = MockServer::start();
    // A 4 s token is usable for 2 s (short-lifetime rule), so expiry comes quickly.
    m.set_token_ttl(4);
    let (mut child, port) = serve(&m, "health-serve");
    let mut t = Transitions::new();

    // Healthy: every path answers without metadata headers.
    let (status, head, body) = http_get(port, "/healthz", &[]).unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(head.contains("Content-Type: text/plain"), "{head}");
    let body = wait_status(port, "/readyz", 200, Duration::from_secs(5)).unwrap();
    assert!(body.starts_with("ok: token usable for "), "{body}");
    t.saw("ready", &body);
    let (status, _, tok) = http_get(
        port,
        "/token",
        &[
            ("X-Databricks-Metadata-Version", "1"),
            ("X-Databricks-Host", &m.url()),
        ],
    )
    .unwrap();
    assert_eq!(status, 200, "{tok}");
    let token: serde_json::Value = serde_json::from_str(&tok).unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    assert!(m.is_issued(&token));

    // The mock refuses: once the token is past its usable time, 503 with the reason.
    refuse(&m, true);
    let down = wait_status(port, "/readyz", 503, Duration::from_secs(6)).unwrap();
    t.saw("not ready", &down);
    assert!(
        down.starts_with("not ready: the token expired at "),
        "{down}"
    );
    assert!(down.ends_with("last: rejected\n"), "{down}");
    assert_eq!(down.lines().count(), 1);
    let (_, head, scrape) = http_get(port, "/metrics", &[]).unwrap();
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert_eq!(sample(&scrape, "dbtoken_ready"), Some(0.0));
    let rejected = "dbtoken_refresh_failures_by_kind_total{kind=\"rejected\"}";
    assert!(sample(&scrape, rejected).unwrap() >= 1.0, "{scrape}");
    assert!(sample(&scrape, "dbtoken_refresh_consecutive_failures").unwrap() >= 1.0);
    assert!(sample(&scrape, "dbtoken_token_expiry_seconds").unwrap() < 2.0);

    // The mock recovers: ready again after the cache's backoff.
    refuse(&m, false);
    let up = wait_status(port, "/readyz", 200, Duration::from_secs(10)).unwrap();
    t.saw("ready again", &up);
    let (_, _, scrape) = http_get(port, "/metrics", &[]).unwrap();
    assert_eq!(sample(&scrape, "dbtoken_ready"), Some(1.0), "{scrape}");
    assert_eq!(
        sample(&scrape, "dbtoken_refresh_consecutive_failures"),
        Some(0.0)
    );
    let total = sample(&scrape, "dbtoken_refresh_failures_total").unwrap();
    assert!(total >= 1.0 && total == sample(&scrape, rejected).unwrap());
    assert!(sample(&scrape, "dbtoken_refreshes_total").unwrap() > total);
    let success = sample(&scrape, "dbtoken_last_refresh_success_timestamp_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - success).abs() < 10.0, "{success} vs {now}");
    assert!(sample(&scrape, "dbtoken_http_requests_total{code=\"503\"}").unwrap() >= 1.0);
    assert!(sample(&scrape, "dbtoken_http_requests_total{code=\"200\"}").unwrap() >= 4.0);
    assert_eq!(
        sample(
            &scrape,
            &format!(
                "dbtoken_build_info{{version=\"{}\",sidecar=\"serve\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );

    // The Host rule still applies; unknown paths and methods are refused.
    let (status, _, _) = http_get(port, "/readyz", &[("Host", "evil.example")]).unwrap();
    assert_ne!(status, 200);
    let log = stop(&mut child);
    assert_no_secret(&format!("{scrape}{down}{up}{log}"), &[&token]);
    assert!(t.1.len() == 3);
}

#[test]
fn serve_is_not_ready_before_the_first_token() {
    let m = MockServer::start();
    refuse(&m, true);
    let (mut child, port) = serve(&m, "health-first");
    let (status, _, body) = http_get(port, "/healthz", &[]).unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "ok\n"),
        "alive without a token"
    );
    let (status, _, body) = http_get(port, "/readyz", &[]).unwrap();
    assert_eq!(status, 503);
    assert!(
        body.starts_with("not ready: no token yet; ") && body.contains("last: rejected"),
        "{body}"
    );
    let (_, _, scrape) = http_get(port, "/metrics", &[]).unwrap();
    assert_eq!(sample(&scrape, "dbtoken_token_expiry_seconds"), None);
    assert_eq!(
        sample(&scrape, "dbtoken_last_refresh_success_timestamp_seconds"),
        None
    );
    refuse(&m, false);
    wait_status(port, "/readyz", 200, Duration::from_secs(10)).unwrap();
    stop(&mut child);
}

#[test]
fn serve_refuses_a_token_path_taken_by_health() {
    let m = MockServer::start();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let o = dbtoken(&m, &jwt_file("health-path"))
            .args(["serve", "--listen", "127.0.0.1:0", "--path", path])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{path}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("taken by the health endpoints"), "{err}");
    }
}

#[test]
fn write_watch_health_listen_is_ready_while_the_file_holds_a_usable_token() {
    let m = MockServer::start();
    m.set_token_ttl(6);
    refuse(&m, true);
    let out = temp_dir("health-write").join("token");
    let port = free_port();
    let mut child = dbtoken(&m, &jwt_file("health-write"))
        .args(["write", "--watch", "--out"])
        .arg(&out)
        .args(["--health-listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut t = Transitions::new();
    // Before the first token: alive, not ready, no file.
    wait_status(port, "/healthz", 200, Duration::from_secs(5)).unwrap();
    let body = wait_status(port, "/readyz", 503, Duration::from_secs(5)).unwrap();
    t.saw("not ready", &body);
    assert!(body.starts_with("not ready: no token yet"), "{body}");
    assert!(!out.exists());
    // The mock accepts: ready once the file holds the token.
    refuse(&m, false);
    let body = wait_status(port, "/readyz", 200, Duration::from_secs(10)).unwrap();
    t.saw("ready", &body);
    let token = std::fs::read_to_string(&out).unwrap();
    assert!(m.is_issued(&token));
    // The mock refuses: the file keeps the last token; once it is past its usable time and a
    // refresh failed, 503. (A token under 20 s is rewritten at half-life, which is also where
    // the cache stops using it: a 503 can flicker there for a moment before each rewrite.)
    refuse(&m, true);
    let body = wait_for(port, "/readyz", Duration::from_secs(10), |s, b| {
        s == 503 && b.contains("failed in a row")
    })
    .unwrap();
    t.saw("not ready", &body);
    assert!(
        body.starts_with("not ready: the token expired at "),
        "{body}"
    );
    assert!(body.ends_with("last: rejected\n"), "{body}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        token,
        "last good file kept"
    );
    let (_, _, scrape) = http_get(port, "/metrics", &[]).unwrap();
    assert!(scrape.contains("sidecar=\"write\""), "{scrape}");
    assert_eq!(sample(&scrape, "dbtoken_ready"), Some(0.0));
    assert!(sample(&scrape, "dbtoken_refresh_failures_total").unwrap() >= 1.0);
    // Recovery.
    refuse(&m, false);
    let up = wait_status(port, "/readyz", 200, Duration::from_secs(15)).unwrap();
    t.saw("ready again", &up);
    let (status, _, _) = http_get(
        port,
        "/token",
        &[
            ("X-Databricks-Metadata-Version", "1"),
            ("X-Databricks-Host", &m.url()),
        ],
    )
    .unwrap();
    assert_eq!(status, 404, "no token over the health listener");
    let log = stop(&mut child);
    let now = std::fs::read_to_string(&out).unwrap();
    assert_no_secret(&format!("{scrape}{body}{up}{log}"), &[&token, &now]);
}

#[test]
fn write_health_listen_needs_watch_and_loopback() {
    let m = MockServer::start();
    let out = temp_dir("health-args").join("token");
    let o = dbtoken(&m, &jwt_file("health-args"))
        .args(["write", "--health-listen", "127.0.0.1:0", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let mut child = dbtoken(&m, &jwt_file("health-args"))
        .args(["write", "--watch", "--health-listen", "0.0.0.0:0", "--out"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(3));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("--health-listen 0.0.0.0:0") && err.contains("--allow-non-loopback"),
        "{err}"
    );
    // Allowed explicitly, it binds all addresses (answering on loopback here).
    let port = free_port();
    let mut child = dbtoken(&m, &jwt_file("health-args"))
        .args(["write", "--watch", "--allow-non-loopback", "--out"])
        .arg(&out)
        .args(["--health-listen", &format!("0.0.0.0:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_status(port, "/readyz", 200, Duration::from_secs(10)).unwrap();
    stop(&mut child);
}
