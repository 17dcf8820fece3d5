//! The CLI's write, serve, exec and doctor subcommands, run as processes against the mock.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cmd(m: &MockServer, jwt: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dbtoken"));
    c.env_clear()
        .env("HOME", temp_dir("cmd-home"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABRICKS_HOST", m.url())
        .env("SSL_CERT_FILE", m.ca_path())
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", jwt)
        .env("DATABRICKS_CLIENT_ID", mock::SP_CLIENT_ID);
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sigterm(child: &Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

/// SIGTERM the child, require a clean exit within 5 s, and return what it logged.
fn stop(child: &mut Child) -> String {
    sigterm(child);
    assert_eq!(wait_exit(child, Duration::from_secs(5)), Some(0));
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[test]
fn write_once_is_atomic_with_mode_and_format() {
    let m = MockServer::start();
    let jwt = jwt_file("write");
    let dir = temp_dir("write-out");
    let out = dir.join("token");
    let o = cmd(&m, &jwt)
        .args(["write", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let raw = std::fs::read_to_string(&out).unwrap();
    assert!(raw.ends_with('\n') && m.is_issued(raw.trim_end()));
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // JSON in the metadata-service shape, with an explicit mode; no temp file is left behind.
    let o = cmd(&m, &jwt)
        .args(["write", "--format", "json", "--mode", "0640", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(m.is_issued(v["access_token"].as_str().unwrap()));
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_on"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_no_secret(&stderr(&o), &[v["access_token"].as_str().unwrap()]);
}

#[test]
fn write_usage_errors_exit_2() {
    let m = MockServer::start();
    let jwt = jwt_file("write-usage");
    for args in [
        &["write"][..],
        &["write", "--out", "/tmp/x", "--mode", "999"],
        &["write", "--out", "/tmp/x", "--format", "yaml"],
    ] {
        let o = cmd(&m, &jwt).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn write_watch_rewrites_before_expiry_and_stops_on_sigterm() {
    let m = MockServer::start();
    // 4 s tokens: short-lived, so fresh for half their life; the sidecar rewrites every 2 s.
    m.set_token_ttl(4);
    let jwt = jwt_file("watch");
    let out = temp_dir("watch-out").join("token");
    let mut child = cmd(&m, &jwt)
        .args(["write", "--watch", "--out"])
        .arg(&out)
        .env("DBTOKEN_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = std::collections::HashSet::new();
    while Instant::now() < deadline && seen.len() < 2 {
        if let Ok(t) = std::fs::read_to_string(&out) {
            seen.insert(t);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        seen.len() >= 2,
        "the sidecar did not rewrite the file with a new token"
    );
    let log = stop(&mut child);
    assert!(log.contains("SIGTERM received"), "{log}");
    let last = std::fs::read_to_string(&out).unwrap();
    assert!(m.is_issued(last.trim()));
    let tokens: Vec<&str> = seen.iter().map(|s| s.trim()).collect();
    assert_no_secret(&log, &tokens);
}

#[test]
fn write_watch_keeps_the_last_good_file_when_the_exchange_fails() {
    let m = MockServer::start();
    m.set_token_ttl(4);
    let jwt = jwt_file("watch-fail");
    let out = temp_dir("watch-fail-out").join("token");
    let mut child = cmd(&m, &jwt)
        .args(["write", "--watch", "--out"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !out.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let good = std::fs::read_to_string(&out).unwrap();
    // From now on the server refuses: the file must keep the last good token.
    m.set_policy("https://other-issuer", mock::AUDIENCE, mock::SUBJECT);
    // The 4 s token is due for refresh 2 s after it was obtained; wait past a failed refresh.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), good);
    let log = stop(&mut child);
    assert!(log.contains("keeping"), "{log}");
}

struct Serve {
    child: Child,
    url: String,
    port: u16,
}

fn serve(m: &MockServer, jwt: &std::path::Path, extra: &[&str]) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cmd(m, jwt)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = String::new();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        if let Some(u) = line.strip_prefix("DATABRICKS_METADATA_SERVICE_URL=") {
            url = u.to_string();
        }
    }
    assert_eq!(url, format!("http://127.0.0.1:{port}/token"));
    Serve { child, url, port }
}

fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn serve_speaks_metadata_service_and_refuses_bad_requests() {
    let m = MockServer::start();
    let jwt = jwt_file("serve");
    let mut s = serve(&m, &jwt, &[]);
    let host = m.url();
    let ok = [
        ("X-Databricks-Metadata-Version", "1"),
        ("X-Databricks-Host", host.as_str()),
    ];
    let (status, body) = get(s.port, "/token", &ok);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(m.is_issued(v["access_token"].as_str().unwrap()));
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_on"].is_u64());
    // The same token from the cache: one exchange for many requests.
    for _ in 0..20 {
        assert_eq!(get(s.port, "/token", &ok).0, 200);
    }
    assert_eq!(m.count("/oidc/v1/token"), 1);
    assert_eq!(
        get(s.port, "/token", &[("X-Databricks-Host", host.as_str())]).0,
        400
    );
    assert_eq!(
        get(
            s.port,
            "/token",
            &[
                ("X-Databricks-Metadata-Version", "2"),
                ("X-Databricks-Host", host.as_str())
            ]
        )
        .0,
        400
    );
    assert_eq!(
        get(s.port, "/token", &[("X-Databricks-Metadata-Version", "1")]).0,
        400
    );
    let (status, body) = get(
        s.port,
        "/token",
        &[
            ("X-Databricks-Metadata-Version", "1"),
            ("X-Databricks-Host", "https://other.example"),
        ],
    );
    assert_eq!(status, 403);
    assert!(
        !body.contains("dbmock-"),
        "a refused request must not get a token"
    );
    assert_eq!(get(s.port, "/other", &ok).0, 404);
    // An oversized head is refused, not buffered without bound.
    let big = "x".repeat(10_000);
    assert_eq!(get(s.port, "/token", &[("X-Big", big.as_str())]).0, 431);
    let log = stop(&mut s.child);
    assert!(log.contains("SIGTERM received"), "{log}");
    assert_no_secret(&log, &[v["access_token"].as_str().unwrap()]);
    assert!(!s.url.is_empty());
}

#[test]
fn serve_refuses_non_loopback_without_the_flag() {
    let m = MockServer::start();
    let jwt = jwt_file("serve-remote");
    let o = cmd(&m, &jwt)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("--allow-non-loopback"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn serve_keeps_connections_alive() {
    let m = MockServer::start();
    let jwt = jwt_file("serve-keepalive");
    let mut s = serve(&m, &jwt, &["--workers", "1"]);
    let mut conn = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let req = format!(
        "GET /token HTTP/1.1\r\nHost: x\r\nX-Databricks-Metadata-Version: 1\r\nX-Databricks-Host: {}\r\n\r\n",
        m.url()
    );
    // Two pipelined requests on one connection, one worker.
    conn.write_all(format!("{req}{req}").as_bytes()).unwrap();
    let mut reader = BufReader::new(conn);
    for _ in 0..2 {
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
    }
    stop(&mut s.child);
}

#[test]
fn exec_sets_pat_env_removes_federation_and_passes_status() {
    let m = MockServer::start();
    let jwt = jwt_file("exec");
    let o = cmd(&m, &jwt)
        .env("AZURE_FEDERATED_TOKEN_FILE", &jwt)
        .args(["exec", "--", "sh", "-c"])
        .arg("echo \"$DATABRICKS_HOST|$DATABRICKS_AUTH_TYPE|${DATABRICKS_OIDC_TOKEN_FILEPATH:-none}|${AZURE_FEDERATED_TOKEN_FILE:-none}|${DATABRICKS_CLIENT_ID:-none}\"; echo \"$DATABRICKS_TOKEN\" >&2; exit 7")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.trim(), format!("{}|pat|none|none|none", m.url()));
    assert!(m.is_issued(String::from_utf8(o.stderr).unwrap().trim()));
    // Signals pass through: the command is this process after exec.
    let o = cmd(&m, &jwt)
        .args(["exec", "sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(libc::SIGTERM));
    let o = cmd(&m, &jwt)
        .args(["exec", "--", "/nonexistent/cmd"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    let o = cmd(&m, &jwt).args(["exec"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn doctor_explains_and_prints_the_matching_policy() {
    let m = MockServer::start();
    let jwt = jwt_file("doctor");
    let o = cmd(&m, &jwt).arg("doctor").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    for want in [
        "file-oidc              applies",
        "pat                    skipped: needs DATABRICKS_TOKEN (token)",
        "(env DATABRICKS_OIDC_TOKEN_FILEPATH)",
        &format!("iss                    {}", mock::ISSUER),
        &format!("sub                    {}", mock::SUBJECT),
        "databricks account service-principal-federation-policy create <SP_NUMERIC_ID> --json",
        "resource \"databricks_service_principal_federation_policy\"",
        "result                 ok",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // The mock's default issuer is a reserved .test name: the only problem doctor finds is
    // that Databricks could never fetch its keys (tests/doctor.rs covers the issuer checks).
    let verdict = text.split("== verdict\n").nth(1).unwrap();
    assert_eq!(
        verdict.lines().filter(|l| l.starts_with("  - ")).count(),
        1,
        "{verdict}"
    );
    assert!(
        verdict.contains("issuer reachable: oidc.mock.dbtoken.test is a reserved name"),
        "{verdict}"
    );
    let jwt_text = std::fs::read_to_string(&jwt).unwrap();
    assert_no_secret(&text, &[jwt_text.trim()]);
    assert!(!text.contains("dbmock-"), "doctor printed an access token");
}

#[test]
fn doctor_json_and_a_refusal_with_its_fix() {
    let m = MockServer::start();
    m.set_policy(
        mock::ISSUER,
        mock::AUDIENCE,
        "system:serviceaccount:prod:etl",
    );
    let jwt = jwt_file("doctor-json");
    let o = cmd(&m, &jwt).args(["doctor", "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["auth_types"]["chosen"], "file-oidc");
    assert_eq!(v["exchange"]["result"], "failed");
    assert_eq!(v["exchange"]["http_status"], 400);
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains(&format!(
                "set the policy's subject to exactly '{}'",
                mock::SUBJECT
            ))),
        "{problems:?}"
    );
    let policy = v["federation_policy_for_this_token"]["json"]
        .as_str()
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy).unwrap();
    // An issuer Databricks cannot reach is not printed as if it could work.
    assert_eq!(
        policy["oidc_policy"]["issuer"],
        "<the cluster's public issuer URL>"
    );
    assert_eq!(policy["oidc_policy"]["subject"], mock::SUBJECT);
    assert_eq!(policy["oidc_policy"]["audiences"][0], mock::AUDIENCE);
}

#[test]
fn doctor_predicts_a_policy_mismatch() {
    let m = MockServer::start();
    let jwt = jwt_file("doctor-policy");
    let dir = temp_dir("doctor-policy");
    let policy = write(
        &dir,
        "policy.json",
        &format!(
            r#"{{"oidc_policy":{{"issuer":"{}","audiences":["wrong-aud"],"subject":"{}"}}}}"#,
            mock::ISSUER,
            mock::SUBJECT
        ),
    );
    let o = cmd(&m, &jwt)
        .args(["doctor", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("issuer                 match:"), "{text}");
    assert!(text.contains("audience               MISMATCH:"), "{text}");
    assert!(text.contains("subject                match:"), "{text}");
    assert!(text.contains("would refuse this token"), "{text}");
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in ["token", "write", "serve", "exec", "doctor"] {
        let o = Command::new(env!("CARGO_BIN_EXE_dbtoken"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let help = String::from_utf8(o.stdout).unwrap();
        assert!(
            help.contains(&format!("dbtoken {sub}")) && help.contains("Example"),
            "{sub}: {help}"
        );
    }
}
