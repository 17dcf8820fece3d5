//! Retries, timeouts, bad bodies, concurrency, and secrets kept out of every error.

mod common;
use common::*;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbtoken::{Client, ErrorKind};

const TOKEN_PATH: &str = "/oidc/v1/token";

fn client(m: &MockServer, tag: &str, extra: &[(&str, &str)]) -> Client {
    let (mut cfg, _f) = file_oidc(m, tag);
    for (k, v) in extra {
        cfg = cfg.env(k, v);
    }
    Client::new(cfg).unwrap()
}

#[test]
fn two_503s_then_success_takes_three_requests() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::status(503).times(2));
    let c = client(&m, "503", &[]);
    assert!(m.is_issued(c.token().unwrap().access_token()));
    assert_eq!(m.count(TOKEN_PATH), 3);
}

#[test]
fn retry_after_is_honoured() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::status(429).retry_after("2"));
    let c = client(&m, "retry-after", &[]);
    let start = Instant::now();
    c.token().unwrap();
    // Our own first backoff is at most 250 ms; waiting 2 s means Retry-After was used.
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(m.count(TOKEN_PATH), 2);
}

#[test]
fn retry_after_beyond_the_deadline_gives_up_at_once() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::status(503).retry_after("120"));
    let c = client(
        &m,
        "retry-after-long",
        &[("DATABRICKS_RETRY_TIMEOUT_SECONDS", "5")],
    );
    let start = Instant::now();
    let err = c.token().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(err.http_status(), Some(503));
    assert!(err.to_string().contains("gave up after 1 attempt"), "{err}");
    assert_eq!(m.count(TOKEN_PATH), 1);
}

#[test]
fn a_rate_limited_exchange_waits_out_retry_after_and_gets_its_token() {
    let m = MockServer::start();
    // One exchange every two seconds, one at a time.
    m.set_rate_limit(Some(mock::RateLimit::new(0.5, 1).unwrap()));
    let (a, b) = (client(&m, "limited-a", &[]), client(&m, "limited-b", &[]));
    assert!(m.is_issued(a.token().unwrap().access_token()));
    // The bucket is empty: b is refused with Retry-After: 2 (or 1 if it came late), waits it
    // (plus up to a quarter) and gets its token on the retry; the caller never sees the 429.
    assert!(m.is_issued(b.token().unwrap().access_token()));
    let ex = m.exchanges();
    let statuses: Vec<u16> = ex.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [200, 429, 200]);
    // Retried no sooner than the bucket refilled: two seconds after the first exchange.
    let waited = ex[2].at - ex[0].at;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert_eq!(
        b.stats().failures,
        0,
        "retried within the request, not a failed refresh"
    );
}

#[test]
fn bad_request_is_not_retried_and_its_description_is_surfaced() {
    let m = MockServer::start();
    m.set_policy(
        "https://another-issuer.example",
        mock::AUDIENCE,
        mock::SUBJECT,
    );
    let jwt = jwt_file("policy");
    let cfg = config(&m).env("DATABRICKS_OIDC_TOKEN_FILEPATH", jwt.to_str().unwrap());
    let err = Client::new(cfg).unwrap().token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(err.http_status(), Some(400));
    assert_eq!(err.server_error(), Some("invalid_request"));
    let desc = err.server_description().unwrap();
    assert!(desc.contains("issuer"), "{desc}");
    let text = err.to_string();
    assert!(
        text.contains(desc),
        "the server's words must be in the message: {text}"
    );
    assert!(text.contains(&format!("iss={}", mock::ISSUER)), "{text}");
    assert!(text.contains("account-wide federation policy"), "{text}");
    assert_eq!(m.count(TOKEN_PATH), 1);
    let content = std::fs::read_to_string(&jwt).unwrap();
    assert_no_secret(&format!("{err} {err:?}"), &[content.trim()]);
}

#[test]
fn injected_400s_are_not_retried() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::status(400).times(3));
    let err = client(&m, "400", &[]).token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(m.count(TOKEN_PATH), 1);
}

#[test]
fn stalled_server_times_out_within_the_configured_bound() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::delay(Duration::from_secs(20)).times(10));
    let c = client(
        &m,
        "stall",
        &[
            ("DATABRICKS_HTTP_TIMEOUT_SECONDS", "1"),
            ("DATABRICKS_RETRY_TIMEOUT_SECONDS", "2"),
        ],
    );
    let start = Instant::now();
    let err = c.token().unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("timed out"), "{err}");
    // Deadline 2 s, plus discovery GETs (fast) and scheduling slack.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn oversized_body_is_refused() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::body(FaultBody::Oversized));
    let err = client(&m, "big", &[]).token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("larger than 64 KiB"), "{err}");
}

#[test]
fn non_json_body_is_refused() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::body(FaultBody::NotJson));
    let err = client(&m, "html", &[]).token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("not a JSON object"), "{err}");
    assert!(!err.to_string().contains("<html>"));
}

#[test]
fn truncated_body_is_a_transport_error_and_retried() {
    let m = MockServer::start();
    m.fault(TOKEN_PATH, Fault::body(FaultBody::Truncated));
    let c = client(&m, "truncated", &[]);
    assert!(m.is_issued(c.token().unwrap().access_token()));
    assert_eq!(m.count(TOKEN_PATH), 2);
}

#[test]
fn connection_refused_is_transient_and_bounded() {
    // A port nothing listens on: bind then drop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = jwt_file("refused");
    let cfg = dbtoken::Config::isolated()
        .env("DATABRICKS_HOST", &format!("https://127.0.0.1:{port}"))
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap())
        .env("DATABRICKS_RETRY_TIMEOUT_SECONDS", "1");
    let err = Client::new(cfg).unwrap().token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[test]
fn thirty_two_threads_on_a_cold_cache_make_one_exchange() {
    let m = MockServer::start();
    // Slow the exchange so every thread arrives while it is in flight.
    m.fault(TOKEN_PATH, Fault::delay(Duration::from_millis(300)));
    let c = client(&m, "herd", &[]);
    let barrier = Arc::new(std::sync::Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let (c, b) = (c.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                c.token().unwrap().access_token().to_string()
            })
        })
        .collect();
    let tokens: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(m.count(TOKEN_PATH), 1);
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "all threads must get the same token"
    );
    assert_eq!(c.stats().refreshes, 1);
}

#[test]
fn cached_token_is_served_without_requests() {
    let m = MockServer::start();
    let c = client(&m, "cached", &[]);
    let first = c.token().unwrap();
    let before = m.total();
    for _ in 0..1000 {
        assert_eq!(c.token().unwrap().access_token(), first.access_token());
    }
    assert_eq!(m.total(), before);
}

#[test]
fn no_secret_in_any_error_or_debug_text() {
    let m = MockServer::start();
    let jwt = mock::workload_jwt(3600);
    let dir = temp_dir("secrets");
    let f = write(&dir, "token", &jwt);
    let secret = "super-secret-client-secret";
    let mut texts = Vec::new();
    // A federation refusal.
    m.set_policy(mock::ISSUER, "other-audience", mock::SUBJECT);
    let c =
        Client::new(config(&m).env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap())).unwrap();
    let e = c.token().unwrap_err();
    texts.push(format!("{e} {e:?} {c:?}"));
    // An Entra refusal.
    let c = Client::new(
        config(&m)
            .env("DATABRICKS_AUTH_TYPE", "azure-workload-identity")
            .env("AZURE_FEDERATED_TOKEN_FILE", f.to_str().unwrap())
            .env("AZURE_CLIENT_ID", "unknown-app")
            .env("AZURE_TENANT_ID", mock::AZURE_TENANT_ID)
            .env("AZURE_AUTHORITY_HOST", &m.url()),
    )
    .unwrap();
    let e = c.token().unwrap_err();
    assert!(e.to_string().contains("AADSTS700016"), "{e}");
    texts.push(format!("{e} {e:?}"));
    // M2M refusal and config Debug with the secret.
    let cfg = config(&m)
        .env("DATABRICKS_CLIENT_ID", "x")
        .env("DATABRICKS_CLIENT_SECRET", secret);
    texts.push(format!("{:?}", cfg.resolve().unwrap()));
    let e = Client::new(cfg).unwrap().token().unwrap_err();
    texts.push(format!("{e} {e:?}"));
    // A token's Debug.
    m.reset();
    let c =
        Client::new(config(&m).env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap())).unwrap();
    let t = c.token().unwrap();
    texts.push(format!("{t:?} {c:?}"));
    let access = t.access_token().to_string();
    let payload = jwt.split('.').nth(1).unwrap();
    for text in &texts {
        assert_no_secret(text, &[&jwt, payload, secret, &access]);
    }
}

#[test]
fn the_retry_deadline_bounds_discovery_and_exchange_together() {
    let m = MockServer::start();
    // Every discovery document and the token endpoint stall for 20 s; one request may take
    // 30 s, but the whole acquisition has 2 s (retry_timeout_seconds).
    for path in [
        "/.well-known/databricks-config",
        "/oidc/.well-known/oauth-authorization-server",
        TOKEN_PATH,
    ] {
        m.fault(path, Fault::delay(Duration::from_secs(20)).times(10));
    }
    let c = client(
        &m,
        "deadline-all",
        &[
            ("DATABRICKS_HTTP_TIMEOUT_SECONDS", "30"),
            ("DATABRICKS_RETRY_TIMEOUT_SECONDS", "2"),
        ],
    );
    let start = Instant::now();
    let err = c.token().unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("retry_timeout_seconds"), "{err}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn short_lived_tokens_are_served_for_half_their_life_without_a_storm() {
    let m = MockServer::start();
    m.set_token_ttl(30); // under the 40 s margin
    let c = client(&m, "short-lived", &[]);
    let first = c.token().unwrap();
    for _ in 0..1000 {
        assert_eq!(c.token().unwrap().access_token(), first.access_token());
    }
    assert_eq!(m.count(TOKEN_PATH), 1, "one exchange, not one per call");
    // Due again after half its life: not at once (no refresh-every-second), not past expiry.
    let ahead = first
        .refresh_at()
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        ahead > Duration::from_secs(13) && ahead <= Duration::from_secs(15),
        "{ahead:?}"
    );
}
