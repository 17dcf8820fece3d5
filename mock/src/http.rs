//! Minimal HTTP/1.1 over rustls: keep-alive, Content-Length bodies, strict limits.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

use crate::Shared;

/// Request bodies above this are answered with 413.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;
const IDLE: Duration = Duration::from_secs(30);
/// Read poll interval, so connection threads notice shutdown.
const POLL: Duration = Duration::from_millis(200);

pub(crate) struct Request {
    pub method: String,
    /// Path without query string.
    pub path: String,
    /// The query string (after `?`), as sent.
    pub query: String,
    /// Lower-cased names, values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Content-Length exceeded `MAX_BODY`; body was not read.
    pub too_large: bool,
    /// Client asked to close (Connection: close or HTTP/1.0).
    pub close: bool,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) enum BodyMode {
    Full,
    /// Declare `Content-Length: declared`, write only `sent` bytes, then drop the connection.
    Truncated {
        declared: usize,
        sent: usize,
    },
}

pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub mode: BodyMode,
    pub close: bool,
}

impl Response {
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: value.to_string().into_bytes(),
            mode: BodyMode::Full,
            close: false,
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }
}

enum Next {
    Request(Request),
    /// Protocol error: answer and close.
    Reject(Response),
    Closed,
}

pub(crate) fn serve_connection(tcp: TcpStream, shared: &Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(POLL));
    let _ = tcp.set_write_timeout(Some(IDLE));
    let Ok(conn) = ServerConnection::new(Arc::clone(&shared.tls)) else {
        return;
    };
    let mut stream = StreamOwned::new(conn, tcp);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match read_request(&mut stream, &mut buf, shared) {
            Next::Closed => return,
            Next::Reject(resp) => {
                let _ = write_response(&mut stream, &resp, true);
                close(&mut stream);
                return;
            }
            Next::Request(req) => {
                let resp = crate::handlers::handle(shared, &req);
                let close_after = req.close
                    || resp.close
                    || req.too_large
                    || shared.shutdown.load(Ordering::SeqCst);
                if write_response(&mut stream, &resp, close_after).is_err() {
                    return;
                }
                if let BodyMode::Truncated { .. } = resp.mode {
                    // Drop mid-body, without close_notify, like a broken upstream.
                    let _ = stream.sock.shutdown(std::net::Shutdown::Both);
                    return;
                }
                if close_after {
                    close(&mut stream);
                    return;
                }
            }
        }
    }
}

fn close(stream: &mut StreamOwned<ServerConnection, TcpStream>) {
    stream.conn.send_close_notify();
    let _ = stream.flush();
    let _ = stream.sock.shutdown(std::net::Shutdown::Write);
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Read more bytes into `buf`. Ok(false) = EOF / give up.
fn fill<S: Read>(stream: &mut S, buf: &mut Vec<u8>, shared: &Shared, deadline: Instant) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if shared.shutdown.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return false;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return false,
        }
    }
}

fn error_response(status: u16, msg: &str) -> Response {
    let mut r = Response::json(
        status,
        &serde_json::json!({"error": "invalid_request", "error_description": msg}),
    );
    r.close = true;
    r
}

fn read_request<S: Read + Write>(stream: &mut S, buf: &mut Vec<u8>, shared: &Shared) -> Next {
    let deadline = Instant::now() + IDLE;
    // Head.
    let (head_len, method, path, query, headers, close) = loop {
        let mut hdrs = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hdrs);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let method = req.method.unwrap_or("").to_string();
                let target = req.path.unwrap_or("");
                let path = target.split(['?', '#']).next().unwrap_or("").to_string();
                let query = target
                    .split('#')
                    .next()
                    .and_then(|t| t.split_once('?'))
                    .map_or(String::new(), |(_, q)| q.to_string());
                let headers: Vec<(String, String)> = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let conn_hdr = headers
                    .iter()
                    .filter(|(k, _)| k == "connection")
                    .any(|(_, v)| v.to_ascii_lowercase().contains("close"));
                let close = conn_hdr || req.version == Some(0);
                break (n, method, path, query, headers, close);
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Next::Reject(error_response(431, "request head too large"));
                }
                if !fill(stream, buf, shared, deadline) {
                    return Next::Closed;
                }
            }
            Err(e) => return Next::Reject(error_response(400, &format!("malformed HTTP: {e}"))),
        }
    };
    buf.drain(..head_len);

    if headers.iter().any(|(k, _)| k == "transfer-encoding") {
        return Next::Reject(error_response(
            411,
            "Transfer-Encoding is not supported by the mock; send Content-Length",
        ));
    }
    let lengths: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k == "content-length")
        .map(|(_, v)| v.trim())
        .collect();
    let len = match lengths.as_slice() {
        [] => 0,
        [one] => match one.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Next::Reject(error_response(400, "invalid Content-Length")),
        },
        _ => return Next::Reject(error_response(400, "duplicate Content-Length")),
    };

    let mut req = Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
        too_large: false,
        close,
    };
    if len > MAX_BODY {
        req.too_large = true;
        return Next::Request(req);
    }
    let expects_continue = req
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue
        && buf.len() < len
        && (stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() || stream.flush().is_err())
    {
        return Next::Closed;
    }
    while buf.len() < len {
        if !fill(stream, buf, shared, deadline) {
            return Next::Closed;
        }
    }
    req.body = buf.drain(..len).collect();
    Next::Request(req)
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response<W: Write>(w: &mut W, resp: &Response, close: bool) -> io::Result<()> {
    let (declared, sent) = match resp.mode {
        BodyMode::Full => (resp.body.len(), resp.body.len()),
        BodyMode::Truncated { declared, sent } => (declared, sent.min(resp.body.len())),
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        declared,
        if close { "close" } else { "keep-alive" },
    );
    for (k, v) in &resp.headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body[..sent]);
    w.write_all(&out)?;
    w.flush()
}
