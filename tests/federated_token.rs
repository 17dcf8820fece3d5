//! The federated token: re-read on every exchange (kubelet rotation), refused locally when it
//! cannot work, and never shown.

mod common;
use common::*;

use dbtoken::{Client, ErrorKind};

const TOKEN_PATH: &str = "/oidc/v1/token";

#[cfg(unix)]
#[test]
fn kubelet_symlink_swap_sends_the_new_jwt() {
    use std::os::unix::fs::symlink;
    let m = MockServer::start();
    m.set_token_ttl(1); // every token() call exchanges again
    // The layout kubelet's atomic writer makes: token -> ..data/token, ..data -> ..<timestamp>
    let dir = temp_dir("kubelet");
    let (jwt1, jwt2) = (mock::workload_jwt(3600), mock::workload_jwt(7200));
    assert_ne!(jwt1, jwt2);
    std::fs::create_dir(dir.join("..2026_11_28_10_00_00.1")).unwrap();
    write(&dir.join("..2026_11_28_10_00_00.1"), "token", &jwt1);
    symlink("..2026_11_28_10_00_00.1", dir.join("..data")).unwrap();
    symlink("..data/token", dir.join("token")).unwrap();
    let cfg = config(&m).env(
        "DATABRICKS_OIDC_TOKEN_FILEPATH",
        dir.join("token").to_str().unwrap(),
    );
    let client = Client::new(cfg).unwrap();
    client.token().unwrap();

    // Rotate: new timestamped dir, new ..data symlink renamed over the old one.
    std::fs::create_dir(dir.join("..2026_11_28_10_48_00.2")).unwrap();
    write(&dir.join("..2026_11_28_10_48_00.2"), "token", &jwt2);
    symlink("..2026_11_28_10_48_00.2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.join("..2026_11_28_10_00_00.1")).unwrap();
    client.token().unwrap();

    let sent: Vec<String> = posts(&m, TOKEN_PATH)
        .iter()
        .map(|p| p.field("subject_token").unwrap().to_string())
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(sent[0] == jwt1, "first exchange did not send the first JWT");
    assert!(
        sent[1] == jwt2,
        "second exchange did not send the rotated JWT"
    );
}

fn refused_locally(content: &str, expect: &str) {
    let m = MockServer::start();
    let dir = temp_dir("bad-jwt");
    let f = write(&dir, "token", content);
    let cfg = config(&m).env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap());
    let err = Client::new(cfg).unwrap().token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FederatedToken, "{err}");
    let text = err.to_string();
    assert!(text.contains(expect), "{text}");
    assert!(
        text.contains(f.to_str().unwrap()),
        "error must name the file: {text}"
    );
    assert!(text.contains("DATABRICKS_OIDC_TOKEN_FILEPATH"), "{text}");
    assert_eq!(
        m.total(),
        0,
        "no request may be sent for a token that cannot work"
    );
    if content.trim().len() > 8 {
        assert_no_secret(&format!("{err} {err:?}"), &[content.trim()]);
    }
}

#[test]
fn expired_jwt_is_refused_before_any_request() {
    refused_locally(&mock::workload_jwt(-120), "expired at 20");
}

#[test]
fn not_yet_valid_jwt_is_refused_before_any_request() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let jwt = mock::jwt(
        &serde_json::json!({"iss": mock::ISSUER, "sub": mock::SUBJECT,
        "aud": [mock::AUDIENCE], "nbf": now + 3600, "exp": now + 7200}),
    );
    refused_locally(&jwt, "not valid before");
}

#[test]
fn malformed_jwt_is_refused_before_any_request() {
    refused_locally("this-is-an-opaque-secret-not-a-jwt", "not a JWT");
    refused_locally("aaaa.bbbb.cccc", "not a JWT");
    refused_locally("   \n", "is empty");
}

#[test]
fn oversized_file_is_refused() {
    refused_locally(&"a".repeat(70 * 1024), "larger than 64 KiB");
}

#[test]
fn missing_file_names_the_path() {
    let m = MockServer::start();
    let cfg = config(&m).env(
        "DATABRICKS_OIDC_TOKEN_FILEPATH",
        "/nonexistent/dbtoken/token",
    );
    let err = Client::new(cfg).unwrap().token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FederatedToken);
    assert!(
        err.to_string().contains("/nonexistent/dbtoken/token"),
        "{err}"
    );
    assert!(err.to_string().contains("no such file"), "{err}");
    assert_eq!(m.total(), 0);
}
