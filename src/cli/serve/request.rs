//! `serve`'s request heads: parsing (httparse), routing and the protocol's checks as one pure
//! function of the bytes read so far. No I/O, clock or logging, and nothing from the rest of
//! the crate (std and httparse only), so the fuzz target `fuzz/fuzz_targets/serve_request.rs`
//! includes this file as it is.
//!
//! Routing is one table, [`route`]: a new endpoint is a [`Route`] variant, a line there and
//! its handler in `serve/mod.rs`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A request head larger than this is refused (431).
pub const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// What the server accepts.
pub struct Policy<'a> {
    /// The path of the token (`--path`); empty for a listener without one (`write`'s health
    /// listener).
    pub token_path: &'a str,
    /// The Databricks host served; `X-Databricks-Host` must name it.
    pub host: &'a str,
    /// `--allow-non-loopback`: any `Host` header; otherwise a loopback name or address only
    /// (a browser tricked by DNS rebinding sends the attacker's name).
    pub any_host_header: bool,
}

/// The endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The metadata-service token.
    Token,
    /// `/healthz`: the process answers.
    Healthz,
    /// `/readyz`: a fresh token is at hand.
    Readyz,
    /// `/metrics`: Prometheus text exposition.
    Metrics,
}

/// The paths of the health endpoints (no metadata headers; never token material).
pub const HEALTH_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// A reply that is not the endpoint's answer: a status and a description for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// Not a complete head yet: read more.
    Partial,
    /// A complete head of `len` bytes (the bytes after it belong to the next request).
    Complete {
        len: usize,
        keep_alive: bool,
        action: Result<Route, Refusal>,
    },
    /// Unusable input (malformed, oversized, or with a body): reply and close.
    Invalid(Refusal),
}

/// Parse and check the head at the start of `buf`.
pub fn parse(buf: &[u8], policy: &Policy<'_>) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Head::Invalid(refuse(431, "request head over 8 KiB"));
        }
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Invalid(refuse(431, "more than 32 header fields"));
        }
        Err(e) => return Head::Invalid(refuse(400, format!("malformed HTTP request: {e}"))),
    };
    if len > MAX_HEAD {
        return Head::Invalid(refuse(431, "request head over 8 KiB"));
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| {
                std::str::from_utf8(h.value)
                    .map(str::trim)
                    .unwrap_or("\u{fffd}")
            })
    };
    let has_body =
        header("content-length").is_some_and(|v| v != "0") || header("transfer-encoding").is_some();
    if has_body {
        return Head::Invalid(refuse(400, "a metadata-service request has no body"));
    }
    let keep_alive = req.version == Some(1)
        && !header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    let action = check(&req, &header, policy);
    Head::Complete {
        len,
        keep_alive,
        action,
    }
}

/// The one map from path to endpoint.
pub fn route(path: &str, policy: &Policy<'_>) -> Option<Route> {
    if !policy.token_path.is_empty() && path == policy.token_path {
        return Some(Route::Token);
    }
    match path {
        "/healthz" => Some(Route::Healthz),
        "/readyz" => Some(Route::Readyz),
        "/metrics" => Some(Route::Metrics),
        _ => None,
    }
}

fn check<'h>(
    req: &httparse::Request<'_, '_>,
    header: &dyn Fn(&str) -> Option<&'h str>,
    policy: &Policy<'_>,
) -> Result<Route, Refusal> {
    if !policy.any_host_header {
        match header("host") {
            Some(h) if loopback_host(h) => {}
            Some(h) => {
                return Err(refuse(
                    403,
                    format!(
                        "Host '{}' is not a loopback name or address (start serve with --allow-non-loopback to accept it)",
                        shorten(h)
                    ),
                ));
            }
            None => return Err(refuse(400, "missing Host header")),
        }
    }
    let path = req.path.unwrap_or("").split('?').next().unwrap_or("");
    let Some(route) = route(path, policy) else {
        return Err(refuse(
            404,
            if policy.token_path.is_empty() {
                "this server answers /healthz, /readyz and /metrics".to_string()
            } else {
                format!("the token is served at {}", policy.token_path)
            },
        ));
    };
    if req.method != Some("GET") {
        return Err(refuse(405, "use GET"));
    }
    match route {
        Route::Token => {
            match header("x-databricks-metadata-version") {
                Some("1") => {}
                Some(v) => {
                    return Err(refuse(
                        400,
                        format!(
                            "unsupported X-Databricks-Metadata-Version '{}'; this server speaks version 1",
                            shorten(v)
                        ),
                    ));
                }
                None => return Err(refuse(400, "missing X-Databricks-Metadata-Version header")),
            }
            match header("x-databricks-host") {
                Some(h) if same_host(h, policy.host) => Ok(route),
                Some(h) => Err(refuse(
                    403,
                    format!(
                        "X-Databricks-Host '{}' does not match the served host {}",
                        shorten(h),
                        policy.host
                    ),
                )),
                None => Err(refuse(400, "missing X-Databricks-Host header")),
            }
        }
        Route::Healthz | Route::Readyz | Route::Metrics => Ok(route),
    }
}

/// A client's value as quoted back: at most 100 characters.
fn shorten(s: &str) -> &str {
    match s.char_indices().nth(100) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `localhost`, an address in 127.0.0.0/8, or `[::1]` (also `[::ffff:127.x.y.z]`), each with
/// an optional port.
pub fn loopback_host(h: &str) -> bool {
    let port_ok = |p: &str| p.is_empty() || (p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if let Some(rest) = h.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after.strip_prefix(':') {
            Some(p) if !p.is_empty() => p,
            Some(_) => return false,
            None if after.is_empty() => "",
            None => return false,
        };
        return port_ok(port)
            && addr.parse::<Ipv6Addr>().is_ok_and(|a| {
                a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            });
    }
    let (name, port) = match h.split_once(':') {
        Some((n, p)) if !p.is_empty() => (n, p),
        Some(_) => return false,
        None => (h, ""),
    };
    port_ok(port)
        && (name.eq_ignore_ascii_case("localhost")
            || name.eq_ignore_ascii_case("localhost.")
            || name.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback()))
}

/// Hosts compare without scheme case, default port or trailing slash.
pub fn same_host(a: &str, b: &str) -> bool {
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
    use super::*;

    const HOST: &str = "https://adb-1.azuredatabricks.net";

    fn policy(any: bool) -> Policy<'static> {
        Policy {
            token_path: "/token",
            host: HOST,
            any_host_header: any,
        }
    }

    fn req(host: &str, extra: &str) -> String {
        format!(
            "GET /token HTTP/1.1\r\nHost: {host}\r\nX-Databricks-Metadata-Version: 1\r\nX-Databricks-Host: {HOST}\r\n{extra}\r\n"
        )
    }

    fn status(h: Head) -> u16 {
        match h {
            Head::Complete { action: Ok(_), .. } => 200,
            Head::Complete { action: Err(r), .. } | Head::Invalid(r) => r.status,
            Head::Partial => 0,
        }
    }

    #[test]
    fn hosts_compare_loosely() {
        assert!(same_host("https://Adb-1.azuredatabricks.net/", HOST));
        assert!(same_host(
            "adb-1.azuredatabricks.net",
            &format!("{HOST}:443")
        ));
        assert!(!same_host("https://evil.example", HOST));
    }

    #[test]
    fn only_loopback_host_headers() {
        for ok in [
            "localhost",
            "LOCALHOST:8321",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8321",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(loopback_host(ok), "{ok}");
            assert_eq!(status(parse(req(ok, "").as_bytes(), &policy(false))), 200);
        }
        for bad in [
            "evil.example",
            "evil.example:8321",
            "localhost.evil.example",
            "10.0.0.1",
            "127.0.0.1.evil",
            "[::2]",
            "[::1",
            "127.0.0.1:",
            "127.0.0.1:99999999",
            "",
        ] {
            assert!(!loopback_host(bad), "{bad}");
            assert_eq!(
                status(parse(req(bad, "").as_bytes(), &policy(false))),
                403,
                "{bad}"
            );
            assert_eq!(status(parse(req(bad, "").as_bytes(), &policy(true))), 200);
        }
        let no_host = format!(
            "GET /token HTTP/1.1\r\nX-Databricks-Metadata-Version: 1\r\nX-Databricks-Host: {HOST}\r\n\r\n"
        );
        assert_eq!(status(parse(no_host.as_bytes(), &policy(false))), 400);
    }

    #[test]
    fn heads_are_partial_complete_or_refused() {
        let p = policy(false);
        let full = req("127.0.0.1", "");
        for cut in 0..full.len() {
            assert_eq!(parse(&full.as_bytes()[..cut], &p), Head::Partial, "{cut}");
        }
        // Pipelined: the length of the first head only.
        let two = format!("{full}{full}");
        match parse(two.as_bytes(), &p) {
            Head::Complete {
                len, keep_alive, ..
            } => {
                assert_eq!(len, full.len());
                assert!(keep_alive);
            }
            h => panic!("{h:?}"),
        }
        let close = req("127.0.0.1", "Connection: keep-alive, close\r\n");
        assert!(matches!(
            parse(close.as_bytes(), &p),
            Head::Complete {
                keep_alive: false,
                ..
            }
        ));
        assert_eq!(status(parse(b"GARBAGE\r\n\r\n", &p)), 400);
        assert!([400, 431].contains(&status(parse(&vec![b'a'; MAX_HEAD], &p))));
        let big = req("127.0.0.1", &format!("X-Big: {}\r\n", "x".repeat(MAX_HEAD)));
        assert_eq!(status(parse(&big.as_bytes()[..MAX_HEAD], &p)), 431);
        let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(status(parse(req("127.0.0.1", &many).as_bytes(), &p)), 431);
        let body = req("127.0.0.1", "Content-Length: 5\r\n");
        assert_eq!(status(parse(body.as_bytes(), &p)), 400);
        let post = full.replacen("GET", "POST", 1);
        assert_eq!(status(parse(post.as_bytes(), &p)), 405);
        let other = full.replacen("/token", "/other", 1);
        assert_eq!(status(parse(other.as_bytes(), &p)), 404);
        let v2 = full.replace("Version: 1", "Version: 2");
        assert_eq!(status(parse(v2.as_bytes(), &p)), 400);
        let evil = full.replace(HOST, "https://evil.example");
        assert_eq!(status(parse(evil.as_bytes(), &p)), 403);
    }

    #[test]
    fn health_paths_need_no_metadata_headers_but_a_loopback_host() {
        let action = |raw: &str, p: &Policy<'_>| match parse(raw.as_bytes(), p) {
            Head::Complete { action, .. } => action.map_err(|r| r.status),
            h => panic!("{h:?}"),
        };
        for (path, want) in [
            ("/healthz", Route::Healthz),
            ("/readyz?verbose", Route::Readyz),
            ("/metrics", Route::Metrics),
        ] {
            let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n");
            assert_eq!(action(&raw, &policy(false)), Ok(want), "{path}");
            let evil = raw.replace("127.0.0.1:9", "evil.example");
            assert_eq!(action(&evil, &policy(false)), Err(403), "{path}");
            let post = raw.replacen("GET", "POST", 1);
            assert_eq!(action(&post, &policy(false)), Err(405), "{path}");
        }
        // Without a token path (write's health listener) no path reaches the token.
        let none = Policy {
            token_path: "",
            ..policy(false)
        };
        let tok = req("127.0.0.1", "");
        assert_eq!(action(&tok, &none), Err(404));
        let empty = "GET  HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        assert!(!matches!(
            parse(empty.as_bytes(), &none),
            Head::Complete {
                action: Ok(Route::Token),
                ..
            }
        ));
    }
}
