//! End-to-end checks of the mock over real TLS, with the mock CA as the only root.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use dbtoken_mock::{
    ACCOUNT_ID, AZURE_CLIENT_ID, AZURE_TENANT_ID, Fault, FaultBody, M2M_CLIENT_ID, M2M_SECRET,
    MockServer, RateLimit, SP_CLIENT_ID, azure_jwt, workload_jwt,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn client_config(server: &MockServer) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(server.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One request on a fresh connection (`Connection: close`), reading to EOF.
/// `host` is used for SNI and the Host header; the TCP connection always goes to 127.0.0.1.
fn send(
    server: &MockServer,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from(host.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(client_config(server), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.port(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tls.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn exchange(server: &MockServer, path: &str, jwt: &str) -> Reply {
    let body = form(&[
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", jwt),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("scope", "all-apis"),
        ("client_id", SP_CLIENT_ID),
    ]);
    send(server, "127.0.0.1", "POST", path, &[FORM], &body)
}

#[test]
fn databricks_config_per_host() {
    let server = MockServer::start();
    let r = send(
        &server,
        "127.0.0.1",
        "GET",
        "/.well-known/databricks-config",
        &[],
        "",
    );
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["oidc_endpoint"], format!("{}/oidc", server.url()));
    assert_eq!(j["account_id"], ACCOUNT_ID);
    assert_eq!(j["workspace_id"], "1234567890123456");

    let r = send(
        &server,
        "accounts.localhost",
        "GET",
        "/.well-known/databricks-config",
        &[],
        "",
    );
    let j = r.json();
    assert_eq!(
        j["oidc_endpoint"],
        format!("{}/oidc/accounts/{{account_id}}", server.accounts_url())
    );
    assert!(j.get("workspace_id").is_none());

    let path = format!("/oidc/accounts/{ACCOUNT_ID}/.well-known/oauth-authorization-server");
    let j = send(&server, "accounts.localhost", "GET", &path, &[], "").json();
    assert_eq!(
        j["token_endpoint"],
        format!(
            "{}/oidc/accounts/{ACCOUNT_ID}/v1/token",
            server.accounts_url()
        )
    );

    server.set_discovery(false, false);
    let r = send(
        &server,
        "127.0.0.1",
        "GET",
        "/.well-known/databricks-config",
        &[],
        "",
    );
    assert_eq!(r.status, 404);
    let r = send(
        &server,
        "127.0.0.1",
        "GET",
        "/oidc/.well-known/oauth-authorization-server",
        &[],
        "",
    );
    assert_eq!(r.status, 404);
    assert_eq!(server.count("/.well-known/databricks-config"), 3);
}

#[test]
fn token_exchange_success_and_scim() {
    let server = MockServer::start();
    let r = exchange(&server, "/oidc/v1/token", &workload_jwt(600));
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let token = j["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("dbmock-"));
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 3600);
    assert_eq!(j["scope"], "all-apis");
    assert_eq!(server.count("/oidc/v1/token"), 1);
    assert!(server.is_issued(&token));

    let rec = &server.requests()[0];
    assert_eq!(rec.method, "POST");
    assert_eq!(rec.field("scope"), Some("all-apis"));
    assert_eq!(rec.header("Authorization"), None);
    assert_eq!(
        rec.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    let bearer = format!("Bearer {token}");
    let me = "/api/2.0/preview/scim/v2/Me";
    let r = send(
        &server,
        "127.0.0.1",
        "GET",
        me,
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["userName"], "dbtoken-mock-sp");
    let r = send(
        &server,
        "127.0.0.1",
        "GET",
        me,
        &[("Authorization", "Bearer nope")],
        "",
    );
    assert_eq!(r.status, 401);

    // Account endpoint works too; wrong account id is a 404.
    let r = exchange(
        &server,
        &format!("/oidc/accounts/{ACCOUNT_ID}/v1/token"),
        &workload_jwt(600),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = exchange(&server, "/oidc/accounts/other/v1/token", &workload_jwt(600));
    assert_eq!(r.status, 404);
}

#[test]
fn token_exchange_is_strict_and_never_echoes_the_jwt() {
    let server = MockServer::start();
    server.set_policy(
        "https://other-issuer.test",
        ACCOUNT_ID,
        "system:serviceaccount:x:y",
    );
    let jwt = workload_jwt(600);
    let r = exchange(&server, "/oidc/v1/token", &jwt);
    assert_eq!(r.status, 400);
    let j = r.json();
    assert_eq!(j["error"], "invalid_request");
    let desc = j["error_description"].as_str().unwrap();
    assert!(desc.contains("issuer"), "{desc}");
    assert!(!r.body.contains(&jwt));
    assert!(!r.body.contains(jwt.split('.').nth(1).unwrap()));
    server.reset();

    let r = exchange(&server, "/oidc/v1/token", &workload_jwt(-10));
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Wrong content type, unknown field, duplicate field, Authorization header.
    let body = form(&[
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", &jwt),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("scope", "all-apis"),
    ]);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/oidc/v1/token",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(r.status, 400);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/oidc/v1/token",
        &[FORM],
        &format!("{body}&audience=x"),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("'audience'"));
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/oidc/v1/token",
        &[FORM],
        &format!("{body}&scope=sql"),
    );
    assert_eq!(r.status, 400);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/oidc/v1/token",
        &[FORM, ("Authorization", "Bearer x")],
        &body,
    );
    assert_eq!(r.status, 400);
    // Without client_id (account-wide policy) it is fine.
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/oidc/v1/token",
        &[FORM],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn client_credentials_and_entra() {
    let server = MockServer::start();
    let body = form(&[("grant_type", "client_credentials"), ("scope", "all-apis")]);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/oidc/v1/token",
        &[FORM],
        &body,
    );
    assert_eq!(r.status, 401);
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{M2M_CLIENT_ID}:{M2M_SECRET}"))
    );
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/oidc/v1/token",
        &[FORM, ("Authorization", &basic)],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let path = format!("/{AZURE_TENANT_ID}/oauth2/v2.0/token");
    let entra = |client_id: &str, assertion: &str| {
        form(&[
            ("client_assertion", assertion),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_id", client_id),
            ("grant_type", "client_credentials"),
            ("scope", "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"),
        ])
    };
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        &path,
        &[FORM],
        &entra(AZURE_CLIENT_ID, &azure_jwt(600)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ext_expires_in"], 3600);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        &path,
        &[FORM],
        &entra("nobody", &azure_jwt(600)),
    );
    assert!(r.body.contains("AADSTS700016"), "{}", r.body);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        &path,
        &[FORM],
        &entra(AZURE_CLIENT_ID, &azure_jwt(-5)),
    );
    assert!(r.body.contains("AADSTS700024"), "{}", r.body);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        &path,
        &[FORM],
        &entra(AZURE_CLIENT_ID, &workload_jwt(600)),
    );
    assert!(r.body.contains("AADSTS70021"), "{}", r.body);
}

#[test]
fn faults_apply_once_then_normal() {
    let server = MockServer::start();
    server.fault("/oidc/v1/token", Fault::status(503).retry_after("1"));
    let r = exchange(&server, "/oidc/v1/token", &workload_jwt(600));
    assert_eq!(r.status, 503);
    assert!(r.head.contains("Retry-After: 1"), "{}", r.head);
    assert_eq!(r.json()["error_description"], "injected 503");
    let r = exchange(&server, "/oidc/v1/token", &workload_jwt(600));
    assert_eq!(r.status, 200);
    assert_eq!(server.count("/oidc/v1/token"), 2);

    server.fault("/oidc/v1/token", Fault::body(FaultBody::NotJson).times(2));
    for _ in 0..2 {
        let r = exchange(&server, "/oidc/v1/token", &workload_jwt(600));
        assert!(r.head.contains("text/html") && r.body.contains("502 Bad Gateway"));
    }
    server.fault("/oidc/v1/token", Fault::body(FaultBody::Oversized));
    let r = exchange(&server, "/oidc/v1/token", &workload_jwt(600));
    assert!(r.body.len() > 1024 * 1024);
    assert_eq!(server.count("/oidc/v1/token"), 5);
}

#[test]
fn control_endpoints_and_keep_alive() {
    let server = MockServer::start();
    let fault = r#"{"path":"/.well-known/databricks-config","status":500,"times":1}"#;
    let r = send(&server, "127.0.0.1", "POST", "/_mock/fault", &[], fault);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/_mock/config",
        &[],
        r#"{"token_ttl_secs":5,"bogus":1}"#,
    );
    assert_eq!(r.status, 400);
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        "/_mock/config",
        &[],
        r#"{"token_ttl_secs":5}"#,
    );
    assert_eq!(r.status, 200);

    // Two requests on one connection.
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(
        client_config(&server),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let req = "GET /.well-known/databricks-config HTTP/1.1\r\nHost: localhost\r\n\r\n";
    tls.write_all(format!("{req}{req}").as_bytes()).unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while seen.matches("HTTP/1.1 ").count() < 2 || !seen.ends_with('}') {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    assert!(seen.starts_with("HTTP/1.1 500"));
    assert!(seen.contains("HTTP/1.1 200"));

    let stats = send(&server, "127.0.0.1", "GET", "/_mock/stats", &[], "").json();
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["requests"]["/.well-known/databricks-config"], 2);
    send(&server, "127.0.0.1", "POST", "/_mock/reset", &[], "");
    assert_eq!(server.total(), 0);
    let r = exchange(&server, "/oidc/v1/token", &workload_jwt(600));
    assert_eq!(r.json()["expires_in"], 3600);
}

#[test]
fn drop_stops_server_and_removes_ca_file() {
    let server = MockServer::start();
    let ca = server.ca_path();
    let port = server.port();
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    drop(server);
    assert!(!ca.exists());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn delay_and_truncated_faults() {
    let server = MockServer::start();
    server.fault(
        "/.well-known/databricks-config",
        Fault::delay(Duration::from_millis(300)),
    );
    let started = std::time::Instant::now();
    let r = send(
        &server,
        "127.0.0.1",
        "GET",
        "/.well-known/databricks-config",
        &[],
        "",
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);

    server.fault("/oidc/v1/token", Fault::body(FaultBody::Truncated));
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(&server), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"POST /oidc/v1/token HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let err = tls.read_to_end(&mut raw).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains("Content-Length: 200"));
    assert_eq!(raw.split_once("\r\n\r\n").unwrap().1.len(), 20);
    assert_eq!(server.count("/oidc/v1/token"), 1);
}

/// `Retry-After` of a reply, if any.
fn retry_after(r: &Reply) -> Option<&str> {
    r.head
        .lines()
        .find_map(|l| l.strip_prefix("Retry-After: "))
        .map(str::trim)
}

#[test]
fn rate_limit_lets_a_burst_through_then_429_with_retry_after_then_refills() {
    let server = MockServer::start();
    // One bucket for every token endpoint: bursts of 3, one more per second.
    server.set_rate_limit(Some(RateLimit::new(1.0, 3).unwrap()));
    let jwt = workload_jwt(600);
    let paths = [
        "/oidc/v1/token",
        &format!("/oidc/accounts/{ACCOUNT_ID}/v1/token"),
    ];
    let started = std::time::Instant::now();
    let mut admitted = 0;
    let refused = loop {
        let r = exchange(&server, paths[admitted % 2], &jwt);
        if r.status == 429 {
            break r;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        admitted += 1;
        assert!(admitted < 100, "never refused");
    };
    // The burst, plus what the bucket refilled while those requests ran (slow machines).
    let refill = started.elapsed().as_secs() as usize + 1;
    assert!(
        (3..=3 + refill).contains(&admitted),
        "{admitted} admitted before the first 429"
    );
    assert_eq!(retry_after(&refused), Some("1"), "{}", refused.head);
    let body = refused.json();
    assert_eq!(body["error"], "temporarily_unavailable");
    let why = body["error_description"].as_str().unwrap();
    assert!(why.contains("1 per second") && why.contains("3"), "{why}");
    // Refused before being looked at: even a request with no form is a 429 now.
    let r = send(&server, "127.0.0.1", "POST", "/oidc/v1/token", &[], "");
    assert_eq!(r.status, 429);
    // Other endpoints are not limited.
    let r = send(
        &server,
        "127.0.0.1",
        "GET",
        "/.well-known/databricks-config",
        &[],
        "",
    );
    assert_eq!(r.status, 200);

    // After Retry-After the bucket holds a request again.
    std::thread::sleep(Duration::from_millis(1100));
    let r = exchange(&server, "/oidc/v1/token", &jwt);
    assert_eq!(r.status, 200, "{}", r.body);

    // Every token request recorded in arrival order with its status, 429s included.
    let ex = server.exchanges();
    let statuses: Vec<u16> = ex.iter().map(|e| e.status).collect();
    let mut want = vec![200; admitted];
    want.extend([429, 429, 200]);
    assert_eq!(statuses, want);
    assert!(ex.windows(2).all(|w| w[0].at <= w[1].at));
    let seconds = dbtoken_mock::per_second(&ex, ex[0].at);
    assert_eq!(seconds.iter().map(|s| s.requests).sum::<usize>(), ex.len());
    assert_eq!(seconds.iter().map(|s| s.refused).sum::<usize>(), 2);

    // The same over HTTP, for scripts.
    let j = send(&server, "127.0.0.1", "GET", "/_mock/exchanges", &[], "").json();
    assert_eq!(j["rate_limit"]["per_second"].as_f64(), Some(1.0));
    assert_eq!(j["rate_limit"]["burst"], 3);
    assert_eq!(j["total"], ex.len());
    assert_eq!(j["refused"], 2);
    let list = j["exchanges"].as_array().unwrap();
    assert_eq!(list.len(), ex.len());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let first_ms = list[0]["unix_ms"].as_u64().unwrap();
    assert!(now_ms - first_ms < 60_000, "{first_ms} vs now {now_ms}");
    let per_second = j["per_second"].as_array().unwrap();
    assert_eq!(per_second[0]["unix"], first_ms / 1000);
    let sum = |k: &str| {
        per_second
            .iter()
            .map(|s| s[k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!((sum("requests"), sum("refused")), (ex.len() as u64, 2));
}

#[test]
fn rate_limit_is_set_and_lifted_over_the_control_api() {
    let server = MockServer::start();
    let config = |body: &str| send(&server, "127.0.0.1", "POST", "/_mock/config", &[], body);
    for bad in [
        r#"{"rate_limit":{"per_second":0}}"#,
        r#"{"rate_limit":{"per_second":0.001}}"#,
        r#"{"rate_limit":{"per_second":1,"burst":0}}"#,
        r#"{"rate_limit":{"per_second":99999999999}}"#,
        r#"{"rate_limit":{"per_second":-1}}"#,
        r#"{"rate_limit":{"per_second":"1"}}"#,
        r#"{"rate_limit":{"per_second":1,"burst":1.5}}"#,
        r#"{"rate_limit":{"burst":2}}"#,
        r#"{"rate_limit":{"per_second":1,"bogus":1}}"#,
        r#"{"rate_limit":5}"#,
    ] {
        let r = config(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let jwt = workload_jwt(600);
    assert_eq!(exchange(&server, "/oidc/v1/token", &jwt).status, 200);
    // One every five seconds, the burst a second's worth (1): one request, then refused.
    assert_eq!(config(r#"{"rate_limit":{"per_second":0.2}}"#).status, 200);
    assert_eq!(exchange(&server, "/oidc/v1/token", &jwt).status, 200);
    let r = exchange(&server, "/oidc/v1/token", &jwt);
    assert_eq!(r.status, 429);
    let after: u64 = retry_after(&r).unwrap().parse().unwrap();
    assert!((1..=5).contains(&after), "Retry-After: {after}");
    // Entra's endpoint shares the bucket.
    let form = format!(
        "client_assertion={}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_id={AZURE_CLIENT_ID}&grant_type=client_credentials&scope=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d%2F.default",
        azure_jwt(600)
    );
    let r = send(
        &server,
        "127.0.0.1",
        "POST",
        &format!("/{AZURE_TENANT_ID}/oauth2/v2.0/token"),
        &[FORM],
        &form,
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(config(r#"{"rate_limit":null}"#).status, 200);
    assert_eq!(exchange(&server, "/oidc/v1/token", &jwt).status, 200);
    let j = send(&server, "127.0.0.1", "GET", "/_mock/exchanges", &[], "").json();
    assert_eq!(j["rate_limit"], Value::Null);
    assert_eq!(
        (j["total"].as_u64(), j["refused"].as_u64()),
        (Some(5), Some(2))
    );

    // reset() restores the default limit with a full bucket and forgets the exchanges.
    server.set_default_rate_limit(Some(RateLimit::new(0.2, 2).unwrap()));
    assert_eq!(config(r#"{"rate_limit":null}"#).status, 200);
    send(&server, "127.0.0.1", "POST", "/_mock/reset", &[], "");
    assert!(server.exchanges().is_empty());
    let statuses: Vec<u16> = (0..3)
        .map(|_| exchange(&server, "/oidc/v1/token", &jwt).status)
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(server.exchanges().len(), 3);
}
