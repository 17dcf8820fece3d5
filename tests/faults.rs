//! The fault matrix: a misbehaving loopback server (`tests/common/rogue.rs`) and the mock
//! with untrusted certificates. For each fault: the error kind (the CLI's exit code), an upper
//! bound on the time it takes, and that neither the JWT nor any access token reaches the
//! error's Display or Debug (or, for the CLI runs, stderr). Small configured timeouts keep
//! the whole file to a few seconds.

mod common;
#[path = "common/rogue.rs"]
mod rogue;

use common::*;
use rogue::{Misbehave, Rogue};

use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use dbtoken::{Client, Config, Error, ErrorKind};

const ROGUE_TOKEN: &str = "rogue-access-token-0123456789abcdef";

/// A JWT file and a file-oidc configuration against `host`, with short timeouts.
fn federation(host: &str, http_timeout: &str, retry_timeout: &str) -> (Config, String) {
    let jwt = mock::workload_jwt(3600);
    let f = write(&temp_dir("faults"), "token", &jwt);
    let cfg = Config::isolated()
        .env("DATABRICKS_HOST", host)
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap())
        .env("DATABRICKS_HTTP_TIMEOUT_SECONDS", http_timeout)
        .env("DATABRICKS_RETRY_TIMEOUT_SECONDS", retry_timeout);
    (cfg, jwt)
}

/// The same JWT as an Entra client assertion, the authority being `authority`.
fn entra(authority: &str) -> (Config, String) {
    let jwt = mock::azure_jwt(3600);
    let f = write(&temp_dir("faults-entra"), "token", &jwt);
    let cfg = Config::isolated()
        .env("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net")
        .env("DATABRICKS_AUTH_TYPE", "azure-workload-identity")
        .env("AZURE_FEDERATED_TOKEN_FILE", f.to_str().unwrap())
        .env("AZURE_CLIENT_ID", mock::AZURE_CLIENT_ID)
        .env("AZURE_TENANT_ID", mock::AZURE_TENANT_ID)
        .env("AZURE_AUTHORITY_HOST", authority)
        .env("DATABRICKS_RETRY_TIMEOUT_SECONDS", "2");
    (cfg, jwt)
}

/// Run on a thread; fail rather than hang when it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("hung: no answer within {limit:?}"))
}

/// The token request must fail with `kind`, in less than `bound`, showing no secret.
fn fails(cfg: Config, jwt: &str, kind: ErrorKind, bound: Duration) -> Error {
    let start = Instant::now();
    let err = within(bound + Duration::from_secs(10), move || {
        Client::new(cfg).unwrap().token().unwrap_err()
    });
    let took = start.elapsed();
    assert!(took < bound, "took {took:?}, bound {bound:?}: {err}");
    assert_eq!(err.kind(), kind, "{err}");
    let payload = jwt.split('.').nth(1).unwrap();
    assert_no_secret(&format!("{err} {err:?}"), &[jwt, payload, ROGUE_TOKEN]);
    err
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_silent_server_costs_at_most_the_retry_deadline_discovery_included() {
    // The per-request timeout is 30 s; the 1 s deadline of the whole acquisition must win,
    // from the first discovery GET on.
    let r = Rogue::always(Misbehave::Silent);
    let (cfg, jwt) = federation(&r.url(), "30", "1");
    let err = fails(cfg, &jwt, ErrorKind::Transient, secs(3));
    assert!(err.to_string().contains("retry_timeout_seconds"), "{err}");
    assert!(r.gets() >= 1, "discovery was asked first");
}

#[test]
fn a_token_endpoint_that_never_answers_times_out() {
    let r = Rogue::start(Misbehave::Silent, Misbehave::NotFound);
    let (cfg, jwt) = federation(&r.url(), "0.5", "1");
    let err = fails(cfg, &jwt, ErrorKind::Transient, secs(3));
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(r.posts() >= 1);
}

#[test]
fn a_reset_in_the_middle_of_the_body_is_retried_within_the_deadline() {
    let r = Rogue::start(Misbehave::ResetMidBody, Misbehave::NotFound);
    let (cfg, jwt) = federation(&r.url(), "1", "1");
    fails(cfg, &jwt, ErrorKind::Transient, secs(3));
    assert!(r.posts() >= 2, "a transport failure is retried");
}

#[test]
fn a_truncated_body_is_retried_within_the_deadline() {
    let r = Rogue::start(Misbehave::Truncate, Misbehave::NotFound);
    let (cfg, jwt) = federation(&r.url(), "1", "1");
    fails(cfg, &jwt, ErrorKind::Transient, secs(3));
    assert!(r.posts() >= 2);
}

#[test]
fn a_ten_megabyte_body_is_refused_at_64_kib_and_not_retried() {
    let r = Rogue::start(Misbehave::Huge(10 << 20), Misbehave::NotFound);
    let (cfg, jwt) = federation(&r.url(), "5", "5");
    let err = fails(cfg, &jwt, ErrorKind::Transient, secs(3));
    assert!(err.to_string().contains("larger than 64 KiB"), "{err}");
    assert_eq!(r.posts(), 1);
}

#[test]
fn bytes_that_are_not_http_fail_cleanly() {
    let r = Rogue::always(Misbehave::Garbage);
    let (cfg, jwt) = federation(&r.url(), "1", "1");
    fails(cfg, &jwt, ErrorKind::Transient, secs(3));
}

#[test]
fn a_body_that_is_not_json_fails_at_once() {
    let r = Rogue::start(
        Misbehave::json(r#"<html>{"access_token":"rogue-access-token-0123456789abcdef""#),
        Misbehave::NotFound,
    );
    let (cfg, jwt) = federation(&r.url(), "5", "5");
    let err = fails(cfg, &jwt, ErrorKind::Transient, secs(2));
    assert!(err.to_string().contains("not a JSON object"), "{err}");
    assert_eq!(r.posts(), 1);
}

#[test]
fn too_many_requests_with_retry_after_3600_gives_up_at_once() {
    let body = r#"{"error":"slow_down","error_description":"come back in an hour"}"#;
    let r = Rogue::start(
        Misbehave::Answer(
            429,
            vec![("Retry-After".into(), "3600".into())],
            body.into(),
        ),
        Misbehave::NotFound,
    );
    // The default 60 s deadline: waiting an hour (or a minute) would pass it, so no wait.
    let (cfg, jwt) = federation(&r.url(), "30", "60");
    let err = fails(cfg, &jwt, ErrorKind::Transient, secs(2));
    assert_eq!(err.http_status(), Some(429));
    assert!(err.to_string().contains("gave up after 1 attempt"), "{err}");
    // Retry-After plus up to a quarter of jitter.
    let text = err.to_string();
    let away: u64 = text
        .split_once("next one (")
        .and_then(|(_, rest)| rest.split_once("s away)"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no wait in {text}"));
    assert!((3600..=4500).contains(&away), "{err}");
    assert!(err.to_string().contains("come back in an hour"), "{err}");
    assert_eq!(r.posts(), 1);
}

#[test]
fn a_redirect_is_not_followed() {
    let r = Rogue::start(
        Misbehave::Answer(
            302,
            vec![("Location".into(), "http://127.0.0.1:9/elsewhere".into())],
            String::new(),
        ),
        Misbehave::NotFound,
    );
    let (cfg, jwt) = federation(&r.url(), "5", "5");
    let err = fails(cfg, &jwt, ErrorKind::Rejected, secs(2));
    assert!(
        err.to_string().contains("does not follow redirects"),
        "{err}"
    );
    assert_eq!(r.posts(), 1);
}

#[test]
fn an_untrusted_certificate_is_not_retried_and_names_the_fix() {
    let m = MockServer::start();
    // No SSL_CERT_FILE: the mock's CA is unknown.
    let (cfg, jwt) = federation(&m.url(), "30", "60");
    let err = fails(cfg, &jwt, ErrorKind::Config, secs(2));
    let text = err.to_string();
    assert!(text.contains("unknown issuer"), "{text}");
    assert!(text.contains("SSL_CERT_FILE"), "{text}");
    assert!(text.contains("ca_bundle (DATABRICKS_CA_BUNDLE)"), "{text}");
    assert!(text.contains("not retried"), "{text}");
    assert_eq!(m.total(), 0, "no request got through");
}

#[test]
fn a_certificate_for_another_name_is_not_retried() {
    let m = MockServer::start();
    let host = format!("https://not-in-the-cert.localhost:{}", m.port());
    let (cfg, jwt) = federation(&host, "30", "60");
    let cfg = cfg.env("SSL_CERT_FILE", m.ca_path().to_str().unwrap());
    let err = fails(cfg, &jwt, ErrorKind::Config, secs(2));
    assert!(err.to_string().contains("does not name this host"), "{err}");
    assert_eq!(m.total(), 0);
}

#[test]
fn an_expired_certificate_is_not_retried() {
    let r = Rogue::tls_expired();
    let (cfg, jwt) = federation(&r.url(), "30", "60");
    let cfg = cfg.env("SSL_CERT_FILE", r.ca_path().to_str().unwrap());
    let err = fails(cfg, &jwt, ErrorKind::Config, secs(2));
    assert!(err.to_string().contains("has expired"), "{err}");
}

/// Warnings the library emitted in this process.
fn warnings() -> &'static Mutex<Vec<String>> {
    static W: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    W.get_or_init(|| {
        dbtoken::set_warning_hook(|w| warnings().lock().unwrap().push(w.to_string()));
        Mutex::new(Vec::new())
    })
}

/// Hostile `expires_in` values from the Databricks and the Entra token endpoint: a token
/// with a lifetime in 1 s ..= 24 h, a warning, no panic, and no refresh storm.
#[test]
fn hostile_expires_in_is_clamped_for_databricks_and_entra() {
    let _ = warnings();
    let day = Duration::from_secs(24 * 3600);
    for raw in [
        "9223372036854775807",
        "18446744073709551616",
        "1e300",
        r#""1e300""#,
        "-1",
        "0",
        "-9223372036854775808",
        "-1e300",
        r#""soon""#,
    ] {
        let body = format!(
            r#"{{"access_token":"{ROGUE_TOKEN}","token_type":"Bearer","expires_in":{raw}}}"#
        );
        for flow in ["databricks", "entra"] {
            let r = Rogue::start(Misbehave::json(&body), Misbehave::NotFound);
            let (cfg, jwt) = match flow {
                "databricks" => federation(&r.url(), "5", "5"),
                _ => entra(&r.url()),
            };
            let client = Client::new(cfg).unwrap();
            let t = within(secs(10), {
                let client = client.clone();
                move || client.token()
            })
            .unwrap_or_else(|e| panic!("{flow} expires_in {raw}: {e}"));
            assert_eq!(t.access_token(), ROGUE_TOKEN);
            let left = t.expires_in().unwrap();
            assert!(left <= day, "{flow} {raw}: {left:?}");
            assert!(t.refresh_at().unwrap() <= t.expires_at().unwrap());
            // However short the lifetime, a burst of calls is not a burst of exchanges.
            for _ in 0..200 {
                client.token().unwrap();
            }
            assert!(r.posts() <= 2, "{flow} {raw}: {} exchanges", r.posts());
            let said = warnings().lock().unwrap().clone();
            let mine: Vec<&String> = said.iter().filter(|w| w.contains(&r.url())).collect();
            assert!(
                mine.iter().any(|w| w.contains("expires_in")),
                "{flow} {raw}: no warning in {said:?}"
            );
            let all = said.join("\n");
            assert_no_secret(&all, &[&jwt, ROGUE_TOKEN]);
        }
    }
}

// ---- the CLI binary on three of the faults: exit code, time, and a stderr without secrets.

fn dbtoken(host: &str, jwt_file: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dbtoken"));
    c.env_clear()
        .env("HOME", temp_dir("faults-home"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABRICKS_HOST", host)
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", jwt_file);
    c
}

fn run(mut c: Command, bound: Duration) -> (Option<i32>, String, String) {
    let start = Instant::now();
    let o = within(bound + secs(10), move || c.output().unwrap());
    assert!(start.elapsed() < bound, "took {:?}", start.elapsed());
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn cli_exit_codes_and_stderr_under_faults() {
    let jwt = mock::workload_jwt(3600);
    let dir = temp_dir("faults-cli");
    let f = write(&dir, "token", &jwt);
    let payload = jwt.split('.').nth(1).unwrap().to_string();

    // A silent server: exit 6 within the deadline.
    let r = Rogue::always(Misbehave::Silent);
    let mut c = dbtoken(&r.url(), &f);
    c.args(["token"])
        .env("DATABRICKS_HTTP_TIMEOUT_SECONDS", "30")
        .env("DATABRICKS_RETRY_TIMEOUT_SECONDS", "1");
    let (code, out, err) = run(c, secs(4));
    assert_eq!(code, Some(6), "{err}");
    assert!(out.is_empty());
    assert_no_secret(&err, &[&jwt, &payload]);

    // An untrusted certificate: exit 3, the fix named, at once.
    let m = MockServer::start();
    let mut c = dbtoken(&m.url(), &f);
    c.arg("token");
    let (code, _, err) = run(c, secs(3));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("SSL_CERT_FILE"), "{err}");
    assert_no_secret(&err, &[&jwt, &payload]);

    // A lifetime of 9223372036854775807 s: a token and a warning (exit 0), no crash.
    let body = format!(
        r#"{{"access_token":"{ROGUE_TOKEN}","token_type":"Bearer","expires_in":9223372036854775807}}"#
    );
    let r = Rogue::start(Misbehave::json(&body), Misbehave::NotFound);
    let mut c = dbtoken(&r.url(), &f);
    c.args(["token", "--json"]);
    let (code, out, err) = run(c, secs(3));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(ROGUE_TOKEN));
    assert!(
        out.contains("\"expires_in\":86400") || out.contains("\"expires_in\":86399"),
        "{out}"
    );
    assert!(err.contains("expires_in"), "{err}");
    assert_no_secret(&err, &[&jwt, &payload, ROGUE_TOKEN]);

    // A FIFO as the token file: exit 4 at once, naming file and variable.
    let fifo = dir.join("fifo");
    let cpath = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    let mut c = dbtoken(&r.url(), &fifo);
    c.arg("token");
    let (code, _, err) = run(c, secs(3));
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("FIFO") && err.contains("DATABRICKS_OIDC_TOKEN_FILEPATH"),
        "{err}"
    );
}
