//! The `dbtoken` binary: output shapes and documented exit codes.

mod common;
use common::*;

use std::process::{Command, Output};

fn dbtoken(env: &[(&str, &str)], args: &[&str]) -> Output {
    let home = temp_dir("cli-home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbtoken"));
    cmd.env_clear().env("HOME", &home).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn base_env(m: &MockServer, jwt: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("DATABRICKS_HOST", m.url()),
        ("SSL_CERT_FILE", m.ca_path().to_str().unwrap().to_string()),
        (
            "DATABRICKS_OIDC_TOKEN_FILEPATH",
            jwt.to_str().unwrap().to_string(),
        ),
    ]
}

fn run(env: &[(&'static str, String)], args: &[&str]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    dbtoken(&env, args)
}

#[test]
fn token_prints_the_token_and_a_newline() {
    let m = MockServer::start();
    let jwt = jwt_file("cli");
    let out = run(&base_env(&m, &jwt), &["token"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.ends_with('\n') && stdout.lines().count() == 1);
    assert!(
        m.is_issued(stdout.trim_end()),
        "stdout is not the issued token"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn token_json_has_the_four_fields() {
    let m = MockServer::start();
    let jwt = jwt_file("cli-json");
    let out = run(&base_env(&m, &jwt), &["token", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(m.is_issued(v["access_token"].as_str().unwrap()));
    assert_eq!(v["token_type"], "Bearer");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let on = v["expires_on"].as_u64().unwrap();
    assert!((now + 3500..=now + 3601).contains(&on));
    assert!((3500..=3600).contains(&v["expires_in"].as_u64().unwrap()));
    assert_eq!(v.as_object().unwrap().len(), 4);
}

#[test]
fn profile_flag_selects_the_profile() {
    let m = MockServer::start();
    let jwt = jwt_file("cli-profile");
    let d = temp_dir("cli-cfg");
    let file = write(
        &d,
        "cfg",
        &format!(
            "[ci]\nhost = {}\noidc_token_filepath = {}\n",
            m.url(),
            jwt.display()
        ),
    );
    let env = vec![
        ("SSL_CERT_FILE", m.ca_path().to_str().unwrap().to_string()),
        ("DATABRICKS_CONFIG_FILE", file.to_str().unwrap().to_string()),
    ];
    let out = run(&env, &["token", "--profile", "ci"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&env, &["token", "--profile", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nope'"));
}

#[test]
fn exit_codes_are_as_documented() {
    let m = MockServer::start();
    let jwt = jwt_file("cli-codes");
    // 2: usage
    assert_eq!(dbtoken(&[], &["tokn"]).status.code(), Some(2));
    assert_eq!(dbtoken(&[], &["token", "--bogus"]).status.code(), Some(2));
    assert_eq!(dbtoken(&[], &[]).status.code(), Some(2));
    // 3: configuration
    let out = dbtoken(&[], &["token"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABRICKS_HOST"));
    assert!(out.stdout.is_empty());
    // 4: federated token
    let mut env = base_env(&m, &jwt);
    env[2].1 = "/nonexistent/token".into();
    assert_eq!(run(&env, &["token"]).status.code(), Some(4));
    // 5: rejected by the server
    m.set_policy("https://other", mock::AUDIENCE, mock::SUBJECT);
    let out = run(&base_env(&m, &jwt), &["token"]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid_request"), "{stderr}");
    let content = std::fs::read_to_string(&jwt).unwrap();
    assert_no_secret(&stderr, &[content.trim()]);
    // 6: network
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = base_env(&m, &jwt);
    env[0].1 = format!("https://127.0.0.1:{port}");
    env.push(("DATABRICKS_RETRY_TIMEOUT_SECONDS", "1".into()));
    assert_eq!(run(&env, &["token"]).status.code(), Some(6));
}

#[test]
fn help_and_version() {
    let out = dbtoken(&[], &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("EXIT CODES") && help.contains("DBTOKEN_LOG"));
    for sub in ["token", "write", "serve", "exec", "doctor"] {
        assert!(
            help.contains(&format!("\n    {sub} ")),
            "{sub} missing from --help"
        );
    }
    let out = dbtoken(&[], &["--version"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("dbtoken {}", env!("CARGO_PKG_VERSION"))
    );
}
