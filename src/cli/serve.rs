//! `dbtoken serve`: the Databricks SDKs' `metadata-service` protocol on loopback, so unmodified
//! SDKs, the Databricks CLI or Terraform in another container of the pod get fresh tokens with
//! `DATABRICKS_AUTH_TYPE=metadata-service` and `DATABRICKS_METADATA_SERVICE_URL`.
//!
//! `GET <path>` with `X-Databricks-Metadata-Version: 1` and `X-Databricks-Host: <host>` answers
//! `{"access_token","token_type","expires_on"}` from the shared cache. Requests are parsed by
//! httparse, bounded in size and time; a fixed pool of threads serves them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::log::{log_debug, log_info, log_warn};
use super::signals::{self, Shutdown};
use super::token_json;

pub struct Args {
    pub listen: SocketAddr,
    pub path: String,
    pub allow_remote: bool,
    pub workers: usize,
    pub profile: Option<String>,
}

const MAX_HEAD: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Reads wake this often to notice a shutdown while a keep-alive connection idles.
const POLL: Duration = Duration::from_millis(200);
const KEEPALIVE_REQUESTS: usize = 1000;

struct Server {
    client: dbtoken::Client,
    host: String,
    path: String,
    stopping: Arc<AtomicBool>,
    served: AtomicU64,
}

pub fn run(args: &Args) -> Result<(), dbtoken::Error> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(dbtoken::Error::config(format!(
            "refusing to listen on {}: the token would be reachable from other hosts; use a loopback address, or --allow-non-loopback if a network policy protects it",
            args.listen
        )));
    }
    if !args.path.starts_with('/') {
        return Err(dbtoken::Error::config(format!(
            "--path must start with '/', got '{}'",
            args.path
        )));
    }
    let listener = TcpListener::bind(args.listen)
        .map_err(|e| dbtoken::Error::io(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| dbtoken::Error::io(e.to_string()))?;
    let stopping = Arc::new(AtomicBool::new(false));
    let flag = stopping.clone();
    let shutdown = Shutdown::install(move || {
        flag.store(true, Ordering::SeqCst);
        // Wake the threads blocked in accept() so they see the flag.
        let wake = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        for _ in 0..64 {
            let _ = TcpStream::connect_timeout(&wake, Duration::from_millis(100));
        }
    });
    let client = super::client(args.profile.as_deref())?;
    let server = Arc::new(Server {
        host: client.host().to_string(),
        client,
        path: args.path.clone(),
        stopping,
        served: AtomicU64::new(0),
    });
    // Warm the cache so the first SDK request is answered at once; failure is only logged.
    if let Err(e) = server.client.token() {
        log_warn!("no token yet: {e}");
    }
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    println!("DATABRICKS_AUTH_TYPE=metadata-service");
    println!("DATABRICKS_HOST={}", server.host);
    println!(
        "DATABRICKS_METADATA_SERVICE_URL=http://{shown}{}",
        args.path
    );
    let _ = std::io::stdout().flush();
    log_info!(
        "serving metadata-service on http://{addr}{} for {} ({} workers)",
        args.path,
        server.host,
        args.workers
    );

    let workers: Vec<_> = (0..args.workers.max(1))
        .map(|_| {
            let listener = listener.try_clone().expect("clone listener");
            let server = server.clone();
            let shutdown = shutdown.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if shutdown.signal().is_some() {
                        server.stopping.store(true, Ordering::SeqCst);
                        break;
                    }
                    match conn {
                        Ok(stream) => server.connection(stream),
                        Err(e) => log_debug!("accept: {e}"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    log_info!(
        "{} received; stopped after {} requests",
        signals::name(shutdown.signal().unwrap_or(0)),
        server.served.load(Ordering::Relaxed)
    );
    Ok(())
}

struct Reply {
    status: u16,
    body: String,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    }
}

/// An OAuth-style error body: `{"error","error_description"}`.
fn json_error(status: u16, description: &str) -> Reply {
    let error = match status {
        404 => "not_found",
        503 => "temporarily_unavailable",
        _ => "invalid_request",
    };
    let mut o = miniserde::json::Object::new();
    o.insert("error".into(), miniserde::json::Value::String(error.into()));
    o.insert(
        "error_description".into(),
        miniserde::json::Value::String(description.into()),
    );
    Reply {
        status,
        body: miniserde::json::to_string(&miniserde::json::Value::Object(o)),
    }
}

impl Server {
    fn connection(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(POLL));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_nodelay(true);
        let mut buf = vec![0u8; MAX_HEAD];
        let mut filled = 0;
        let mut idle = Duration::ZERO;
        for _ in 0..KEEPALIVE_REQUESTS {
            // Read until a complete head (or the cap).
            let (reply, keep_alive, consumed) = loop {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&buf[..filled]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let (reply, keep) = self.answer(&req);
                        break (reply, keep, n);
                    }
                    Ok(httparse::Status::Partial) if filled == buf.len() => {
                        break (json_error(431, "request head over 8 KiB"), false, filled);
                    }
                    Ok(httparse::Status::Partial) => match stream.read(&mut buf[filled..]) {
                        Ok(0) => return,
                        Ok(n) => {
                            filled += n;
                            idle = Duration::ZERO;
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            // Idle keep-alive connections end on shutdown or after IO_TIMEOUT.
                            idle += POLL;
                            if idle >= IO_TIMEOUT || self.stopping.load(Ordering::Relaxed) {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Err(e) => {
                        let r = json_error(400, &format!("malformed HTTP request: {e}"));
                        break (r, false, filled);
                    }
                }
            };
            self.served.fetch_add(1, Ordering::Relaxed);
            let keep_alive = keep_alive && !self.stopping.load(Ordering::Relaxed);
            let head = format!(
                "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n\r\n",
                reply.status,
                reason(reply.status),
                reply.body.len(),
                if keep_alive { "keep-alive" } else { "close" }
            );
            let sent = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(reply.body.as_bytes()));
            if sent.is_err() {
                return;
            }
            if !keep_alive {
                // Let the client read the answer before the close: unread input would turn the
                // close into a reset that can destroy the response in flight.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let mut sink = [0u8; 4096];
                let mut drained = 0;
                while drained < 64 * 1024 {
                    match stream.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => drained += n,
                    }
                }
                return;
            }
            // Keep pipelined bytes that follow this request.
            let consumed = consumed.min(filled);
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
        }
    }

    /// The reply to one request head, and whether the connection may stay open.
    fn answer(&self, req: &httparse::Request<'_, '_>) -> (Reply, bool) {
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(str::trim)
        };
        let keep = req.version == Some(1)
            && !header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let has_body = header("content-length").is_some_and(|v| v != "0")
            || header("transfer-encoding").is_some();
        if has_body {
            return (
                json_error(400, "a metadata-service request has no body"),
                false,
            );
        }
        let path = req.path.unwrap_or("").split('?').next().unwrap_or("");
        let checked = self.check(
            path,
            req.method,
            header("x-databricks-metadata-version"),
            header("x-databricks-host"),
        );
        (
            checked.map_or_else(|refusal| refusal, |()| self.token_reply()),
            keep,
        )
    }

    /// The protocol's rules: path, method, version header, and the host this server serves.
    fn check(
        &self,
        path: &str,
        method: Option<&str>,
        version: Option<&str>,
        host: Option<&str>,
    ) -> Result<(), Reply> {
        if path != self.path {
            return Err(json_error(
                404,
                &format!("the token is served at {}", self.path),
            ));
        }
        if method != Some("GET") {
            return Err(json_error(405, "use GET"));
        }
        match version {
            Some("1") => {}
            Some(v) => {
                return Err(json_error(
                    400,
                    &format!(
                        "unsupported X-Databricks-Metadata-Version '{v}'; this server speaks version 1"
                    ),
                ));
            }
            None => {
                return Err(json_error(
                    400,
                    "missing X-Databricks-Metadata-Version header",
                ));
            }
        }
        match host {
            Some(h) if same_host(h, &self.host) => Ok(()),
            Some(h) => {
                log_warn!(
                    "refused a request for host {h}: this server serves {}",
                    self.host
                );
                Err(json_error(
                    403,
                    &format!(
                        "X-Databricks-Host '{h}' does not match the served host {}",
                        self.host
                    ),
                ))
            }
            None => Err(json_error(400, "missing X-Databricks-Host header")),
        }
    }

    fn token_reply(&self) -> Reply {
        let before = self.client.stats();
        let reply = match self.client.token() {
            Ok(t) => Reply {
                status: 200,
                body: token_json(&t, false),
            },
            Err(e) => {
                log_warn!("{e}");
                json_error(503, e.message())
            }
        };
        let after = self.client.stats();
        if after.refreshes > before.refreshes {
            log_info!(
                "refreshed the token ({} refreshes, {} failed)",
                after.refreshes,
                after.failures
            );
        }
        reply
    }
}

/// Hosts compare without scheme case, default port or trailing slash.
fn same_host(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim().trim_end_matches('/').to_ascii_lowercase();
        let s = if s.contains("://") {
            s
        } else {
            format!("https://{s}")
        };
        s.strip_suffix(":443").map(str::to_string).unwrap_or(s)
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::same_host;

    #[test]
    fn hosts_compare_loosely() {
        assert!(same_host(
            "https://Adb-1.azuredatabricks.net/",
            "https://adb-1.azuredatabricks.net"
        ));
        assert!(same_host(
            "adb-1.azuredatabricks.net",
            "https://adb-1.azuredatabricks.net:443"
        ));
        assert!(!same_host(
            "https://evil.example",
            "https://adb-1.azuredatabricks.net"
        ));
    }
}
