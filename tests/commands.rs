//! The CLI's write, serve, exec and doctor subcommands, run as processes against the mock.

mod common;
use common::cli::{dbtoken as cmd, stop, wait_exit};
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sigterm(child: &Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
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
    // Raw is exactly the token, no newline (like Kubernetes token files and Vault Agent sinks).
    let raw = std::fs::read_to_string(&out).unwrap();
    assert!(m.is_issued(&raw), "{raw:?}");
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
fn write_watch_paces_short_lived_tokens_and_stops_on_sigterm() {
    let m = MockServer::start();
    // 4 s tokens: short-lived, so fresh for half their life; the sidecar rewrites every 2 s.
    m.set_token_ttl(4);
    let jwt = jwt_file("watch");
    let out = temp_dir("watch-out").join("token");
    let started = Instant::now();
    let mut child = cmd(&m, &jwt)
        .args(["write", "--watch", "--out"])
        .arg(&out)
        .env("DBTOKEN_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    while started.elapsed() < Duration::from_secs(7) {
        if let Ok(t) = std::fs::read_to_string(&out) {
            seen.insert(t);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = stop(&mut child);
    let exchanges = m.count("/oidc/v1/token");
    assert!(
        seen.len() >= 2,
        "the sidecar did not rewrite the file with a new token"
    );
    // One exchange about every 2 s (t = 0, 2, 4, 6); the old loop exchanged every second.
    assert!(
        (3..=5).contains(&exchanges),
        "{exchanges} exchanges in 7 s\n{log}"
    );
    assert!(
        !log.contains("WARN"),
        "a healthy short-lived token warned:\n{log}"
    );
    assert!(log.contains("SIGTERM received"), "{log}");
    let last = std::fs::read_to_string(&out).unwrap();
    assert!(m.is_issued(&last));
    let tokens: Vec<&str> = seen.iter().map(|s| s.as_str()).collect();
    assert_no_secret(&log, &tokens);
}

#[test]
fn write_watch_keeps_the_last_good_file_when_the_exchange_fails() {
    let m = MockServer::start();
    m.set_token_ttl(6);
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
    // The 6 s token is rewritten at half-life (3 s); wait past a failed refresh.
    std::thread::sleep(Duration::from_millis(4500));
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
        "GET /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Databricks-Metadata-Version: 1\r\nX-Databricks-Host: {}\r\n\r\n",
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

fn sigint(child: &Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

#[test]
fn signals_end_every_command_within_2s_even_mid_exchange() {
    let m = MockServer::start();
    // Every token request hangs for 30 s: each command below is inside an exchange when
    // signalled (token, write, write --watch, serve's start-up with 4 and 256 workers).
    m.fault(
        "/oidc/v1/token",
        mock::Fault::delay(Duration::from_secs(30)).times(100),
    );
    let jwt = jwt_file("signals");
    let out = temp_dir("signals-out");
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string()
    };
    type Case = (&'static str, Vec<String>, i32, i32);
    let cases: Vec<Case> = vec![
        ("token SIGTERM", vec!["token".into()], libc::SIGTERM, 143),
        ("token SIGINT", vec!["token".into()], libc::SIGINT, 130),
        (
            "write SIGTERM",
            vec![
                "write".into(),
                "--out".into(),
                out.join("a").display().to_string(),
            ],
            libc::SIGTERM,
            143,
        ),
        (
            "write --watch SIGTERM",
            vec![
                "write".into(),
                "--watch".into(),
                "--out".into(),
                out.join("b").display().to_string(),
            ],
            libc::SIGTERM,
            0,
        ),
        (
            "write --watch SIGINT",
            vec![
                "write".into(),
                "--watch".into(),
                "--out".into(),
                out.join("c").display().to_string(),
            ],
            libc::SIGINT,
            0,
        ),
        (
            "serve SIGTERM",
            vec![
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{}", port()),
            ],
            libc::SIGTERM,
            0,
        ),
        (
            "serve --workers 256 SIGTERM",
            vec![
                "serve".into(),
                "--workers".into(),
                "256".into(),
                "--listen".into(),
                format!("127.0.0.1:{}", port()),
            ],
            libc::SIGTERM,
            0,
        ),
    ];
    let mut children: Vec<(&str, Child, i32, i32)> = cases
        .into_iter()
        .map(|(name, args, sig, code)| {
            let child = cmd(&m, &jwt)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (name, child, sig, code)
        })
        .collect();
    // Wait until every command is inside its exchange.
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.count("/oidc/v1/token") < children.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(m.count("/oidc/v1/token") >= children.len());
    for (name, child, sig, code) in &mut children {
        let t = Instant::now();
        if *sig == libc::SIGINT {
            sigint(child)
        } else {
            sigterm(child)
        }
        let got = wait_exit(child, Duration::from_secs(2));
        let mut log = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert_eq!(got, Some(*code), "{name}: {:?}\n{log}", t.elapsed());
        eprintln!("{name}: exit {code} {:?} after the signal", t.elapsed());
        assert!(log.contains("received"), "{name}: {log}");
    }
    assert!(!out.join("a").exists(), "an interrupted write left a file");
}

#[test]
fn serve_exits_on_sigterm_with_256_workers_and_busy_connections() {
    let m = MockServer::start();
    let jwt = jwt_file("serve-many");
    let mut s = serve(&m, &jwt, &["--workers", "256"]);
    // Idle connections and one request in flight must not hold the exit.
    let _idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    let t = Instant::now();
    let log = stop(&mut s.child);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(log.contains("SIGTERM received"), "{log}");
}

/// Run `program` as user `nobody` (65534) when the tests run as root, else as ourselves.
fn as_other_user(program: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(program);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        c.uid(65534).gid(65534);
    }
    c
}

#[test]
fn write_never_writes_through_links_planted_by_another_user() {
    let m = MockServer::start();
    let jwt = jwt_file("links");
    // A shared directory like /tmp: world-writable with the sticky bit.
    let shared = temp_dir("links-shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim_dir = temp_dir("links-victim");
    let victim = victim_dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&victim_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another user plants a symlink at --out and at the temporary names of the next 2,000
    // process ids (the old predictable `.token.dbtoken-PID.tmp`), all pointing at the victim.
    let planted = as_other_user("perl")
        .current_dir(&shared)
        .args([
            "-e",
            r#"symlink($ARGV[0], "token") or die "token: $!";
               for my $p ($$ + 1 .. $$ + 2000) { symlink($ARGV[0], ".token.dbtoken-$p.tmp") or die "$!" }"#,
        ])
        .arg(&victim)
        .status()
        .unwrap();
    assert!(planted.success());
    let out = shared.join("token");
    let links_before = std::fs::read_dir(&shared).unwrap().count();
    let o = cmd(&m, &jwt)
        .args(["write", "--mode", "0640", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The victim is untouched, content and mode.
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777,
        0o644
    );
    // --out is now our regular file (the planted link was replaced, not followed).
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    assert!(m.is_issued(&std::fs::read_to_string(&out).unwrap()));
    // Every other planted link is still there, still a link, and no temporary file is left.
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), links_before);
    for e in std::fs::read_dir(&shared).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "token" {
            assert!(e.file_type().unwrap().is_symlink(), "{:?}", e.file_name());
            assert_eq!(std::fs::read_link(e.path()).unwrap(), victim);
        }
    }
}

/// Latency of one well-formed token request on a new connection.
fn timed_get(port: u16, host: &str) -> Duration {
    let t = Instant::now();
    let (status, body) = get(
        port,
        "/token",
        &[
            ("X-Databricks-Metadata-Version", "1"),
            ("X-Databricks-Host", host),
        ],
    );
    assert_eq!(status, 200, "{body}");
    t.elapsed()
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() - 1) * p / 100]
}

#[test]
fn serve_answers_while_1000_idle_and_100_slowloris_connections_are_open() {
    let m = MockServer::start();
    let jwt = jwt_file("serve-hostile");
    let mut s = serve(&m, &jwt, &[]);
    let host = m.url();
    let port = s.port;
    let _idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // 100 slowloris clients send a valid head one byte every 50 ms, never finishing it.
    let stop_slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slow_stop = stop_slow.clone();
    let slow = std::thread::spawn(move || {
        let head = b"GET /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Databricks-Metadata-Version: 1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let started = Instant::now();
        let mut conns: Vec<Option<TcpStream>> = (0..100)
            .map(|_| Some(TcpStream::connect(("127.0.0.1", port)).unwrap()))
            .collect();
        let mut closed_at = None;
        let mut i = 0;
        while !slow_stop.load(std::sync::atomic::Ordering::Relaxed) && i < head.len() {
            for c in conns.iter_mut() {
                if let Some(s) = c {
                    if s.write_all(&head[i..i + 1]).is_err() {
                        *c = None;
                        closed_at.get_or_insert(started.elapsed());
                    }
                }
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        closed_at
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut samples: Vec<Duration> = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            timed_get(port, &host)
        })
        .collect();
    let (p50, p99) = (percentile(&mut samples, 50), percentile(&mut samples, 99));
    eprintln!("with 1000 idle and 100 slowloris connections: p50 {p50:?}, p99 {p99:?}");
    // The bound is 100 ms; a busy 2-core CI machine gets generous slack.
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    // The whole-head deadline (10 s) closes slowloris connections although they keep sending.
    let closed_at = slow.join().unwrap();
    stop_slow.store(true, std::sync::atomic::Ordering::Relaxed);
    let closed_at = closed_at.expect("slowloris connections were never closed");
    assert!(
        closed_at >= Duration::from_secs(9) && closed_at < Duration::from_secs(13),
        "{closed_at:?}"
    );
    // DNS rebinding: a browser sends the attacker's name in Host.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "GET /token HTTP/1.1\r\nHost: evil.example:{port}\r\nX-Databricks-Metadata-Version: 1\r\nX-Databricks-Host: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(!resp.contains("dbmock-"), "{resp}");
    stop(&mut s.child);
}

#[test]
fn serve_caps_connections_by_closing_the_oldest_idle_one() {
    use std::os::unix::process::CommandExt;
    let m = MockServer::start();
    let jwt = jwt_file("serve-cap");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = cmd(&m, &jwt);
    c.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it lowers the child's descriptor limit to 256
    // (a cap of 192 connections) so the cap is reached with few connections.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines
        .next()
        .unwrap()
        .unwrap()
        .starts_with("DATABRICKS_METADATA")
    {}
    let mut idle: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let t = timed_get(port, &m.url());
    assert!(t < Duration::from_secs(1), "{t:?}");
    // The oldest idle connections were closed to make room (EOF), the newest kept.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut b = [0u8; 1];
    assert_eq!(
        idle[0].read(&mut b).unwrap(),
        0,
        "the oldest was not closed"
    );
    let last = idle.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(last.read(&mut b).is_err(), "the newest was closed");
    stop(&mut child);
}

#[test]
fn serve_answers_the_refreshed_token_after_refresh_at() {
    let m = MockServer::start();
    // 4 s tokens are short-lived: fresh for half their life, due for refresh after 2 s.
    m.set_token_ttl(4);
    let jwt = jwt_file("serve-refresh");
    let mut s = serve(&m, &jwt, &[]);
    let host = m.url();
    let ok = [
        ("X-Databricks-Metadata-Version", "1"),
        ("X-Databricks-Host", host.as_str()),
    ];
    let token = |body: &str| {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["access_token"].as_str().unwrap().to_string()
    };
    let first = token(&get(s.port, "/token", &ok).1);
    for _ in 0..10 {
        assert_eq!(token(&get(s.port, "/token", &ok).1), first);
    }
    std::thread::sleep(Duration::from_millis(2500));
    // The stale token may be served once while the refresh runs; then the new one.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut latest = first.clone();
    while latest == first && Instant::now() < deadline {
        latest = token(&get(s.port, "/token", &ok).1);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(
        latest, first,
        "serve kept answering the token past its refresh time"
    );
    assert!(m.is_issued(&latest));
    assert_eq!(m.count("/oidc/v1/token"), 2);
    stop(&mut s.child);
}

#[test]
fn a_loopback_token_listener_wants_a_loopback_host_even_with_allow_non_loopback() {
    // The manifests pass --allow-non-loopback for the health listener on the pod IP; the token
    // listener stays on loopback and must keep refusing a rebinding attacker's Host.
    let m = MockServer::start();
    let jwt = jwt_file("serve-host-rule");
    let mut s = serve(
        &m,
        &jwt,
        &["--allow-non-loopback", "--health-listen", "127.0.0.1:0"],
    );
    let host = m.url();
    let ask = |h: &str| {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        write!(
            c,
            "GET /token HTTP/1.1\r\nHost: {h}\r\nX-Databricks-Metadata-Version: 1\r\nX-Databricks-Host: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        resp
    };
    let refused = ask("evil.example");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(!refused.contains("dbmock-"), "{refused}");
    let ok = ask(&format!("127.0.0.1:{}", s.port));
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    stop(&mut s.child);
}
