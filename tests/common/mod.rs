//! Shared test support: configurations pointed at the loopback mock, temp dirs, JWT files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use dbtoken::Config;
#[allow(unused_imports)]
pub use dbtoken_mock::{self as mock, Fault, FaultBody, MockServer};

pub mod cli;

/// A config that sees only the mock: isolated from the process environment and any
/// `~/.databrickscfg`, trusting the mock's CA through `SSL_CERT_FILE`.
pub fn config(m: &MockServer) -> Config {
    Config::isolated()
        .env("SSL_CERT_FILE", m.ca_path().to_str().unwrap())
        .env("DATABRICKS_HOST", &m.url())
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "dbtoken-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write `content` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// A file holding a valid workload JWT, as kubelet would project it (with a trailing newline).
pub fn jwt_file(tag: &str) -> PathBuf {
    let d = temp_dir(tag);
    write(&d, "token", &format!("{}\n", mock::workload_jwt(3600)))
}

/// Config for file-oidc against the mock with a fresh JWT file.
pub fn file_oidc(m: &MockServer, tag: &str) -> (Config, PathBuf) {
    let f = jwt_file(tag);
    (
        config(m).env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap()),
        f,
    )
}

/// The token-endpoint POSTs the mock recorded.
pub fn posts(m: &MockServer, path: &str) -> Vec<mock::Recorded> {
    m.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .collect()
}

/// Assert that no text produced by the library shows any of the secrets. Never prints them.
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    for (i, s) in secrets.iter().enumerate() {
        assert!(!s.is_empty());
        assert!(
            !text.contains(s),
            "secret #{i} leaked into output (text withheld to keep it out of test logs)"
        );
    }
}
