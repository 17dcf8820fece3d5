//! `dbtoken-mock`: run the mock server as a process (for C/Go/Java tests, demos, benchmarks).

use std::io::{Read, Write};
use std::process::exit;

const USAGE: &str = "usage: dbtoken-mock [--port N] [--ca-out PATH] [--jwt-out PATH] \
[--azure-jwt-out PATH] [--token-ttl SECS] [--rate-limit PER_SECOND [--rate-burst N]] \
[--exit-on-stdin-eof]

Serves loopback HTTPS on 127.0.0.1 and prints one JSON line with url, accounts_url,
ca_file and the ids the mock accepts. Runs until killed, or until stdin reaches EOF
with --exit-on-stdin-eof.

--rate-limit puts one token bucket in front of every token endpoint: bursts of up to
--rate-burst requests (default: a second's worth), refilled at PER_SECOND (0.01 to
1000000; 0.5 is one every two seconds); past it, 429 with Retry-After. GET /_mock/exchanges lists every token request with its time and status.";

fn die(msg: &str) -> ! {
    eprintln!("dbtoken-mock: {msg}\n{USAGE}");
    exit(2)
}

fn write_file(path: &str, contents: &str) {
    if let Err(e) = std::fs::write(path, contents) {
        eprintln!("dbtoken-mock: cannot write {path}: {e}");
        exit(1);
    }
}

fn main() {
    let mut port: u16 = 0;
    let mut ca_out = None;
    let mut jwt_out = None;
    let mut azure_jwt_out = None;
    let mut token_ttl = None;
    let mut rate = None;
    let mut burst = None;
    let mut exit_on_eof = false;

    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| die(&format!("{name} needs a value")))
        };
        match name.as_str() {
            "--port" => port = value().parse().unwrap_or_else(|_| die("bad --port")),
            "--ca-out" => ca_out = Some(value()),
            "--jwt-out" => jwt_out = Some(value()),
            "--azure-jwt-out" => azure_jwt_out = Some(value()),
            "--token-ttl" => {
                token_ttl = Some(
                    value()
                        .parse::<u64>()
                        .unwrap_or_else(|_| die("bad --token-ttl")),
                )
            }
            "--rate-limit" => {
                rate = Some(
                    value()
                        .parse::<f64>()
                        .unwrap_or_else(|_| die("bad --rate-limit")),
                )
            }
            "--rate-burst" => {
                burst = Some(
                    value()
                        .parse::<u64>()
                        .unwrap_or_else(|_| die("bad --rate-burst")),
                )
            }
            "--exit-on-stdin-eof" => exit_on_eof = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => die(&format!("unknown argument '{other}'")),
        }
    }

    let limit = match (rate, burst) {
        (None, None) => None,
        (None, Some(_)) => die("--rate-burst needs --rate-limit"),
        (Some(r), b) => Some(
            dbtoken_mock::RateLimit::new(r, b.unwrap_or(dbtoken_mock::RateLimit::default_burst(r)))
                .unwrap_or_else(|e| die(&format!("bad --rate-limit/--rate-burst: {e}"))),
        ),
    };

    let server = dbtoken_mock::MockServer::start_on(port);
    if let Some(ttl) = token_ttl {
        server.set_default_token_ttl(ttl);
    }
    if limit.is_some() {
        server.set_default_rate_limit(limit);
    }
    let ca_file = match &ca_out {
        Some(path) => {
            write_file(path, &server.ca_pem());
            std::path::PathBuf::from(path)
        }
        None => server.ca_path(),
    };
    if let Some(path) = &jwt_out {
        write_file(path, &dbtoken_mock::workload_jwt(3600));
    }
    if let Some(path) = &azure_jwt_out {
        write_file(path, &dbtoken_mock::azure_jwt(3600));
    }

    let line = serde_json::json!({
        "url": server.url(),
        "accounts_url": server.accounts_url(),
        "ca_file": ca_file.to_string_lossy(),
        "account_id": dbtoken_mock::ACCOUNT_ID,
        "sp_client_id": dbtoken_mock::SP_CLIENT_ID,
        "m2m_client_id": dbtoken_mock::M2M_CLIENT_ID,
        "azure_tenant_id": dbtoken_mock::AZURE_TENANT_ID,
        "azure_client_id": dbtoken_mock::AZURE_CLIENT_ID,
    });
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        exit(1);
    }
    drop(out);

    if exit_on_eof {
        let mut sink = [0u8; 4096];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        drop(server); // removes the temp dir
    } else {
        loop {
            std::thread::park();
        }
    }
}
