//! The `dbtoken` binary as a process against the mock: its command, plain HTTP/1.1 GETs to a
//! loopback listener, and a clean stop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{MockServer, mock, temp_dir};

/// `dbtoken` with an empty environment but the mock's host, CA and a federated token file.
pub fn dbtoken(m: &MockServer, jwt: &Path) -> Command {
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

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port` with a loopback Host (unless `headers` has one); the status,
/// the headers and the body. `None` while nothing listens there.
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// Poll `GET path` until its status is `want` (within `within`); the last body.
pub fn wait_status(port: u16, path: &str, want: u16, within: Duration) -> Result<String, String> {
    wait_for(port, path, within, |status, _| status == want)
}

/// Poll `GET path` until `done(status, body)` (within `within`); the body, or the last answer.
pub fn wait_for(
    port: u16,
    path: &str,
    within: Duration,
    done: impl Fn(u16, &str) -> bool,
) -> Result<String, String> {
    let deadline = Instant::now() + within;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        if let Some((status, _, body)) = http_get(port, path, &[]) {
            if done(status, &body) {
                return Ok(body);
            }
            last = format!("{status} {body}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last)
}

/// Wait up to `within` for the child to exit; its code (`None`: killed after the wait).
pub fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
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

/// SIGTERM the child, require a clean exit within 2 s, and return what it logged.
pub fn stop(child: &mut Child) -> String {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(wait_exit(child, Duration::from_secs(2)), Some(0));
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut log).unwrap();
    }
    log
}
