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
    m.set_token_ttl(1); // fresh for 0.5 s: a call after that exchanges again
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
    std::thread::sleep(std::time::Duration::from_millis(600));
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

/// Run `f` on a thread and fail (instead of hanging the suite) if it takes over `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("did not return within {secs} s (hung)"))
}

/// A token path that is not a regular file is refused at once, naming the file, the
/// variable and what the path is: no request, no hang.
fn not_a_regular_file(path: &std::path::Path, var: &str, says: &str) {
    let m = MockServer::start();
    let cfg = config(&m)
        .env("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net")
        .env("DATABRICKS_AUTH_TYPE", "file-oidc")
        .env(var, path.to_str().unwrap());
    let cfg = if var == "DATABRICKS_OIDC_TOKEN_FILEPATH" {
        cfg.env("DATABRICKS_HOST", &m.url())
    } else {
        cfg.env("DATABRICKS_AUTH_TYPE", "azure-workload-identity")
            .env("AZURE_CLIENT_ID", mock::AZURE_CLIENT_ID)
            .env("AZURE_TENANT_ID", mock::AZURE_TENANT_ID)
            .env("AZURE_AUTHORITY_HOST", &m.url())
    };
    let started = std::time::Instant::now();
    let err = within(5, move || Client::new(cfg).unwrap().token().unwrap_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(err.kind(), ErrorKind::FederatedToken, "{err}");
    let text = err.to_string();
    assert!(text.contains(path.to_str().unwrap()), "{text}");
    assert!(text.contains(var), "{text}");
    assert!(text.contains(says), "{text}");
    assert!(text.contains("not a regular file"), "{text}");
    assert_eq!(m.total(), 0);
}

#[test]
fn a_fifo_as_the_token_path_is_refused_without_hanging() {
    let dir = temp_dir("fifo");
    let fifo = dir.join("token");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    not_a_regular_file(&fifo, "DATABRICKS_OIDC_TOKEN_FILEPATH", "a FIFO");
    not_a_regular_file(&fifo, "AZURE_FEDERATED_TOKEN_FILE", "a FIFO");
    // Through a symlink too, as kubelet's ..data layout resolves.
    let link = dir.join("link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    not_a_regular_file(&link, "DATABRICKS_OIDC_TOKEN_FILEPATH", "a FIFO");
}

#[test]
fn a_directory_or_device_as_the_token_path_is_refused() {
    let dir = temp_dir("dir-token");
    not_a_regular_file(&dir, "DATABRICKS_OIDC_TOKEN_FILEPATH", "a directory");
    // /dev/zero would stream forever; it is refused before it is opened.
    let zero = std::path::Path::new("/dev/zero");
    if zero.exists() {
        not_a_regular_file(zero, "DATABRICKS_OIDC_TOKEN_FILEPATH", "a device");
    }
}

/// `exp` and `nbf` at the edges of what a JSON number can say: no panic, a clear verdict.
#[test]
fn extreme_time_claims_are_judged_without_overflow() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = |exp: serde_json::Value, nbf: serde_json::Value| {
        mock::jwt(
            &serde_json::json!({"iss": mock::ISSUER, "sub": mock::SUBJECT,
            "aud": [mock::AUDIENCE], "exp": exp, "nbf": nbf}),
        )
    };
    use serde_json::json;
    for (exp, nbf, verdict) in [
        (
            json!(i64::MIN),
            json!(0),
            Some("expired at 0001-01-01T00:00:00Z"),
        ),
        (json!(-1), json!(0), Some("expired at 1969-12-31T23:59:59Z")),
        (json!(0), json!(0), Some("expired at 1970-01-01T00:00:00Z")),
        (json!("-1e300"), json!(0), Some("expired")),
        (
            json!(now + 3600),
            json!(i64::MAX),
            Some("not valid before 9999-12-31T23:59:59Z"),
        ),
        (
            json!(now + 3600),
            json!(1e300),
            Some("not valid before 9999"),
        ),
        (
            json!(now + 3600),
            json!(u64::MAX),
            Some("not valid before 9999"),
        ),
        (json!(now + 3600), json!(i64::MIN), None),
        (json!(i64::MAX), json!(0), None),
        (json!(1e300), json!(-1e300), None),
        (json!(u64::MAX), json!("0"), None),
        (
            json!(format!("{}", now + 3600)),
            json!(format!("{now}")),
            None,
        ),
    ] {
        let jwt = claims(exp.clone(), nbf.clone());
        let m = MockServer::start();
        let dir = temp_dir("extreme");
        let f = write(&dir, "token", &jwt);
        let cfg = config(&m).env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap());
        let got = Client::new(cfg).unwrap().token();
        match verdict {
            Some(says) => {
                let err = got.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::FederatedToken, "exp {exp} nbf {nbf}");
                assert!(err.to_string().contains(says), "exp {exp} nbf {nbf}: {err}");
                assert_no_secret(&format!("{err} {err:?}"), &[&jwt]);
                assert_eq!(m.total(), 0);
            }
            // Passes the local check, so the exchange is attempted (the mock itself refuses
            // an `exp` that is not a JSON number).
            None => {
                assert_eq!(m.count(TOKEN_PATH), 1, "exp {exp} nbf {nbf}");
                match got {
                    Ok(t) => assert!(m.is_issued(t.access_token())),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::Rejected, "exp {exp}: {e}"),
                }
            }
        }
    }
}
