//! HTTPS_PROXY / NO_PROXY: the CLI tunnels through a CONNECT proxy (a tiny one on loopback).

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A CONNECT-only proxy that records each target and tunnels it to 127.0.0.1 on the same port.
fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() <= 2 {
                        break;
                    }
                }
                let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(first.trim().to_string());
                let port: u16 = target.rsplit(':').next().unwrap().parse().unwrap();
                let upstream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut client = client;
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut reader, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let mut upstream = upstream;
                let _ = std::io::copy(&mut upstream, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    (port, seen)
}

fn run(m: &MockServer, proxy_port: u16, no_proxy: Option<&str>) -> std::process::Output {
    let jwt = jwt_file("proxy");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbtoken"));
    cmd.env_clear()
        .env("HOME", temp_dir("proxy-home"))
        .env("DATABRICKS_HOST", m.accounts_url())
        .env("DATABRICKS_ACCOUNT_ID", mock::ACCOUNT_ID)
        .env("SSL_CERT_FILE", m.ca_path())
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", &jwt)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{proxy_port}"))
        .arg("token");
    if let Some(n) = no_proxy {
        cmd.env("NO_PROXY", n);
    }
    cmd.output().unwrap()
}

#[test]
fn https_proxy_tunnels_every_request() {
    let m = MockServer::start();
    let (port, seen) = connect_proxy();
    let out = run(&m, port, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(m.is_issued(String::from_utf8(out.stdout).unwrap().trim()));
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    let want = format!("CONNECT accounts.localhost:{} HTTP/1.1", m.port());
    assert!(seen.iter().all(|l| *l == want), "{seen:?}");
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let m = MockServer::start();
    let (port, seen) = connect_proxy();
    let out = run(&m, port, Some("example.org,accounts.localhost"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(seen.lock().unwrap().is_empty());
}
