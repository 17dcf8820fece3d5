//! HTTPS transport: ureq (blocking) over rustls with the ring provider.
//!
//! Policy lives here, once: trusted roots (built-in Mozilla roots + `SSL_CERT_FILE` +
//! `ca_bundle`), proxy from the environment (never for loopback), timeouts, no redirects,
//! a cap on response bodies, `User-Agent: dbtoken/<version>`, `http://` only for loopback,
//! and retries of 429/500/502/503/504 and transport errors with jittered exponential
//! backoff that honours `Retry-After` (plus up to a quarter more, so a fleet refused in one
//! second does not retry in one second) within an overall deadline.
//!
//! One [`Deadline`] (`retry_timeout_seconds`) covers a whole token acquisition: every
//! discovery GET and the token POST with its retries draw from it, so a silent server costs
//! at most that long. A certificate that cannot be trusted (unknown issuer, wrong name,
//! expired, not yet valid) is a configuration error, answered at once and never retried.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::config::Config as UreqConfig;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::{Key, Resolved};
use crate::error::{Error, ErrorKind, Result};

/// Responses larger than this are refused; token responses are well under 8 KiB.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
const USER_AGENT: &str = concat!("dbtoken/", env!("CARGO_PKG_VERSION"));

/// Timeouts and the retry deadline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
    pub retry_deadline: Duration,
}

/// One HTTP answer (any status) with its body read under the cap.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<Duration>,
    /// How many requests were sent to obtain this answer.
    pub attempts: u32,
    /// Why retrying stopped, when this is a retryable answer that was not retried.
    pub gave_up: Option<String>,
}

/// The time budget of one token acquisition (discovery included), from
/// `retry_timeout_seconds`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// Time left, zero once past.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    fn passed(&self) -> bool {
        self.remaining().is_zero()
    }
}

pub(crate) struct Http {
    proxied: Agent,
    direct: Agent,
    timeouts: Timeouts,
}

impl Http {
    pub fn new(cfg: &Resolved) -> Result<Http> {
        let timeouts = Timeouts {
            connect: cfg.seconds(Key::ConnectTimeoutSeconds, 10)?,
            request: cfg.seconds(Key::HttpTimeoutSeconds, 30)?,
            retry_deadline: cfg.seconds(Key::RetryTimeoutSeconds, 60)?,
        };
        let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()))
            .collect();
        if let Some(path) = cfg.env_var("SSL_CERT_FILE") {
            roots.extend(load_pem(&path, "SSL_CERT_FILE")?);
        }
        if let Some(path) = cfg.get(Key::CaBundle) {
            roots.extend(load_pem(path, &cfg.describe(Key::CaBundle))?);
        }
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .unversioned_rustls_crypto_provider(Arc::new(crate::tls::provider()))
            .build();
        let proxy = if cfg.uses_process_env() {
            ureq::Proxy::try_from_env()
        } else {
            None
        };
        let build = |proxy: Option<ureq::Proxy>| {
            let config = UreqConfig::builder()
                .tls_config(tls.clone())
                .proxy(proxy)
                .http_status_as_error(false)
                .max_redirects(0)
                .user_agent(USER_AGENT)
                .accept("application/json")
                .timeout_connect(Some(timeouts.connect))
                .timeout_global(Some(timeouts.request))
                .max_idle_connections_per_host(2)
                .build();
            Agent::with_parts(config, DefaultConnector::default(), LocalhostResolver)
        };
        Ok(Http {
            proxied: build(proxy),
            direct: build(None),
            timeouts,
        })
    }

    fn agent(&self, url: &str) -> Result<&Agent> {
        check_url(url)?;
        // Like Go's ProxyFromEnvironment: `localhost` and loopback addresses never go through
        // a proxy (other `*.localhost` names follow HTTPS_PROXY/NO_PROXY as usual).
        let direct = url_host(url).is_some_and(|h| {
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || Some(h) == url_host(IMDS))
        });
        Ok(if direct { &self.direct } else { &self.proxied })
    }

    /// Start the clock of one token acquisition.
    pub fn deadline(&self) -> Deadline {
        let budget = self.timeouts.retry_deadline;
        let now = Instant::now();
        Deadline {
            at: now.checked_add(budget).unwrap_or(now),
            budget,
        }
    }

    /// This request's timeout: the per-request timeout, or less when the deadline is near.
    fn timeout(&self, deadline: &Deadline) -> Duration {
        deadline
            .remaining()
            .min(self.timeouts.request)
            .max(Duration::from_millis(1))
    }

    fn out_of_time(&self, url: &str, deadline: &Deadline) -> Error {
        Error::transient(format!(
            "no time left for the request to {url}: the {}s deadline of this token request \
             (retry_timeout_seconds) passed, spent on endpoint discovery that got no timely \
             answer; is the host reachable?",
            deadline.budget.as_secs()
        ))
    }

    /// One GET with no retries (discovery is best effort), within `deadline`.
    pub fn get(&self, url: &str, deadline: &Deadline) -> Result<Reply> {
        self.get_with(url, &[], &[], deadline)
    }

    /// One GET with extra headers and query parameters (encoded here), no retries, within
    /// `deadline`: GitHub's ID token endpoint and the Azure instance metadata service, which
    /// the SDKs do not retry either.
    pub fn get_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        query: &[(&str, &str)],
        deadline: &Deadline,
    ) -> Result<Reply> {
        let agent = self.agent(url)?;
        if deadline.passed() {
            return Err(self.out_of_time(url, deadline));
        }
        let mut full = url.to_string();
        for (i, (k, v)) in query.iter().enumerate() {
            full.push(if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            });
            percent_encode(k, &mut full);
            full.push('=');
            percent_encode(v, &mut full);
        }
        let mut req = agent
            .get(&full)
            .config()
            .timeout_global(Some(self.timeout(deadline)))
            .build();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read_reply(url, req.call().map_err(|e| transport(url, e))?, 1)
    }

    /// POST a form, retrying transient failures until `deadline`. Returns the last answer
    /// (whatever its status) or the last transport error.
    pub fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: Option<&str>,
        deadline: &Deadline,
    ) -> Result<Reply> {
        let agent = self.agent(url)?;
        if deadline.passed() {
            return Err(self.out_of_time(url, deadline));
        }
        let deadline_at = deadline.at;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut req = agent
                .post(url)
                .config()
                .timeout_global(Some(self.timeout(deadline)))
                .build();
            if let Some(h) = authorization {
                req = req.header("Authorization", h);
            }
            let outcome = req
                .send_form(form.iter().copied())
                .map_err(|e| transport(url, e))
                .and_then(|r| read_reply(url, r, attempt));
            let (wait, result) = match outcome {
                Ok(reply) if is_retryable(reply.status) => {
                    (retry_wait(reply.retry_after, attempt), Ok(reply))
                }
                Err(e) if e.kind() == ErrorKind::Transient && e.http_status().is_none() => {
                    (backoff(attempt), Err(e))
                }
                other => return other,
            };
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|t| t >= deadline_at)
            {
                let why = format!(
                    "gave up after {attempt} attempt(s): the next one ({}s away) would pass the {}s retry deadline (retry_timeout_seconds)",
                    // Whole seconds rounded up, in integers: formatting a float would link
                    // core's float printing (~9 KB) into the static binary for this one message.
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                    deadline.budget.as_secs()
                );
                return match result {
                    Ok(mut reply) => {
                        reply.gave_up = Some(why);
                        Ok(reply)
                    }
                    Err(e) => Err(e.context(&why)),
                };
            }
            std::thread::sleep(wait);
        }
    }
}

/// Percent-encode all but RFC 3986's unreserved characters (a query key or value).
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// The wait before retrying a retryable answer: its `Retry-After` plus up to a quarter more,
/// else the backoff.
fn retry_wait(retry_after: Option<Duration>, attempt: u32) -> Duration {
    retry_after.map_or_else(
        || backoff(attempt),
        |r| crate::time::plus_up_to_a_quarter(r, crate::time::jitter()),
    )
}

/// Exponential backoff from 250 ms, capped at 10 s, with "equal jitter".
fn backoff(attempt: u32) -> Duration {
    let base = crate::time::backoff(attempt, Duration::from_millis(250), Duration::from_secs(10));
    let half = base.as_millis() as u64 / 2;
    Duration::from_millis(half + crate::time::jitter() % (half + 1))
}

fn parse_retry_after(v: &str) -> Option<Duration> {
    // Delay-seconds only; an HTTP-date falls back to our own backoff.
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

fn read_reply(
    url: &str,
    mut resp: ureq::http::Response<ureq::Body>,
    attempts: u32,
) -> Result<Reply> {
    let status = resp.status().as_u16();
    if (300..400).contains(&status) {
        let to = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(no Location)");
        return Err(Error::http(
            ErrorKind::Rejected,
            format!(
                "{url} answered HTTP {status}, a redirect to {to}; dbtoken does not follow redirects: configure the final URL"
            ),
            status,
            None,
            None,
        ));
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_string()
        .map_err(|e| match e {
            // Carries the status, so it is not retried: a body this large will not shrink.
            ureq::Error::BodyExceedsLimit(_) => Error::http(
                ErrorKind::Transient,
                format!(
                    "the response from {url} (HTTP {status}) is larger than {} KiB; refused",
                    MAX_BODY_BYTES / 1024
                ),
                status,
                None,
                None,
            ),
            other => transport(url, other).context("reading the response body"),
        })?;
    Ok(Reply {
        status,
        body,
        retry_after,
        attempts,
        gave_up: None,
    })
}

fn transport(url: &str, e: ureq::Error) -> Error {
    if let Some(why) = untrusted_certificate(&e) {
        return Error::config(format!(
            "request to {url} failed: the server's TLS certificate {why}; not retried"
        ))
        .advice(
            "if the server is right (a TLS-inspecting proxy, a private CA), add the CA that \
             signed its certificate with SSL_CERT_FILE or ca_bundle (DATABRICKS_CA_BUNDLE), \
             a PEM file; otherwise check the host URL and the machine's clock",
        );
    }
    let what = match &e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found (check the host name and DNS)".to_string(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_string()
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => format!(
            "TLS failure: {e} (behind a TLS-inspecting proxy? add its CA with SSL_CERT_FILE or ca_bundle)"
        ),
        _ => e.to_string(),
    };
    Error::transient(format!("request to {url} failed: {what}"))
}

/// Why the server's certificate cannot be trusted, when that is the failure: a permanent
/// condition that retrying cannot fix. rustls reports it directly or inside an I/O error.
fn untrusted_certificate(e: &ureq::Error) -> Option<String> {
    let tls = match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    }?;
    certificate_problem(tls)
}

fn certificate_problem(e: &rustls::Error) -> Option<String> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = e else {
        return None;
    };
    Some(match c {
        C::UnknownIssuer => "is signed by an unknown issuer (no trusted CA)".to_string(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "does not name this host".to_string()
        }
        C::Expired | C::ExpiredContext { .. } => "has expired".to_string(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".to_string(),
        C::Revoked => "has been revoked".to_string(),
        other => format!("is invalid ({other:?})"),
    })
}

fn load_pem(path: &str, var: &str) -> Result<Vec<Certificate<'static>>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::config(format!("cannot read CA file {path} ({var}): {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::config(format!(
                    "CA file {path} ({var}) is not valid PEM: {e}"
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::config(format!(
            "CA file {path} ({var}) holds no PEM certificate"
        )));
    }
    Ok(certs)
}

/// The host of an `http(s)://host[:port]/...` URL, without brackets.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_loopback_url(url: &str) -> bool {
    url_host(url).is_some_and(is_loopback_host)
}

/// The Azure instance metadata service: plain HTTP to a link-local address, never proxied.
pub(crate) const IMDS: &str = "http://169.254.169.254";

/// Only `https://`, or `http://` to a loopback host or to [`IMDS`].
pub(crate) fn check_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    let ok = lower.starts_with("https://")
        || (lower.starts_with("http://") && is_loopback_url(url))
        || lower == IMDS
        || lower.starts_with(&format!("{IMDS}/"));
    if !ok || url_host(url).is_none_or(str::is_empty) {
        return Err(Error::config(format!(
            "refusing URL {url}: only https:// is allowed (http:// only to loopback hosts)"
        )));
    }
    Ok(())
}

/// Resolves `localhost` and `*.localhost` to 127.0.0.1 as RFC 6761 §6.3 asks, without DNS;
/// everything else goes to the system resolver.
#[derive(Debug)]
struct LocalhostResolver;

impl Resolver for LocalhostResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &UreqConfig,
        timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let ip = if let Ok(ip) = literal.parse::<IpAddr>() {
            // An address needs no lookup (and no resolver thread).
            Some(ip)
        } else if host == "localhost" || host.ends_with(".localhost") {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            None
        };
        if let Some(ip) = ip {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        DefaultResolver::default().resolve(uri, config, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert!(check_url("http://169.254.169.254/metadata/identity/oauth2/token").is_ok());
        assert!(check_url("http://169.254.169.254.evil.example/").is_err());
        let mut q = String::new();
        percent_encode("api://Azure AD~x", &mut q);
        assert_eq!(q, "api%3A%2F%2FAzure%20AD~x");
        assert_eq!(url_host("https://a.b:443/x"), Some("a.b"));
        assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
        assert!(check_url("https://adb-1.2.azuredatabricks.net").is_ok());
        assert!(check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("http://accounts.localhost:1").is_ok());
        assert!(check_url("http://[::1]:1/").is_ok());
        let e = check_url("http://example.com/token").unwrap_err();
        assert!(e.to_string().contains("only https://"), "{e}");
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://").is_err());
    }

    #[test]
    fn permanent_certificate_failures_are_recognised() {
        use rustls::CertificateError as C;
        for (c, says) in [
            (C::UnknownIssuer, "unknown issuer"),
            (C::NotValidForName, "does not name this host"),
            (C::Expired, "has expired"),
            (C::NotValidYet, "not valid yet"),
        ] {
            let e = ureq::Error::Rustls(rustls::Error::InvalidCertificate(c));
            let err = transport("https://h", e);
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains(says), "{err}");
            assert!(err.to_string().contains("SSL_CERT_FILE"), "{err}");
            assert!(err.to_string().contains("DATABRICKS_CA_BUNDLE"), "{err}");
        }
        let wrapped = std::io::Error::other(rustls::Error::InvalidCertificate(C::UnknownIssuer));
        assert_eq!(
            transport("https://h", ureq::Error::Io(wrapped)).kind(),
            ErrorKind::Config
        );
        let other = rustls::Error::General("handshake".into());
        assert_eq!(
            transport("https://h", ureq::Error::Rustls(other)).kind(),
            ErrorKind::Transient
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let b = backoff(attempt);
            assert!(b <= Duration::from_secs(10), "{attempt}: {b:?}");
            let floor = (250u64 << (attempt - 1).min(6)).min(10_000) / 2;
            assert!(b >= Duration::from_millis(floor), "{attempt}: {b:?}");
        }
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("99999999999999999999"),
            None,
            "not a u64: our own backoff"
        );
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn a_retry_after_is_waited_plus_up_to_a_quarter_spread_over_a_fleet() {
        let s = Duration::from_secs;
        let waits: Vec<Duration> = (0..1000).map(|_| retry_wait(Some(s(2)), 1)).collect();
        assert!(
            waits
                .iter()
                .all(|w| (s(2)..=Duration::from_millis(2500)).contains(w))
        );
        let (lo, hi) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        assert!(
            *lo < Duration::from_millis(2050) && *hi > Duration::from_millis(2450),
            "{lo:?}..{hi:?}: not spread"
        );
        // Bounded: the longest Retry-After parse_retry_after passes, an hour, stays finite.
        assert!(retry_wait(parse_retry_after("99999"), 1) <= s(4500));
        // Without Retry-After: the backoff.
        assert!(retry_wait(None, 1) <= Duration::from_millis(250));
    }
}
