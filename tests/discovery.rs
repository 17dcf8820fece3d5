//! Endpoint discovery in the SDKs' order, its fallback, and its per-client cache.

mod common;
use common::*;

use dbtoken::Client;

const WELL_KNOWN: &str = "/.well-known/databricks-config";
const OAUTH_DOC: &str = "/oidc/.well-known/oauth-authorization-server";
const TOKEN_PATH: &str = "/oidc/v1/token";

#[test]
fn databricks_config_then_oauth_document_then_cached() {
    let m = MockServer::start();
    m.set_token_ttl(1); // a 1 s token is fresh for 0.5 s: the second call exchanges again
    let (cfg, _f) = file_oidc(&m, "disc");
    let client = Client::new(cfg).unwrap();
    client.token().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    client.token().unwrap();
    assert_eq!(m.count(WELL_KNOWN), 1);
    assert_eq!(m.count(OAUTH_DOC), 1);
    assert_eq!(m.count(TOKEN_PATH), 2);
    let ep = client.token_endpoint().unwrap();
    assert!(ep.via.contains(WELL_KNOWN), "{}", ep.via);
    // Order: the well-known document was asked before the OAuth document, both before the POST.
    let order: Vec<String> = m.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(&order[..3], [WELL_KNOWN, OAUTH_DOC, TOKEN_PATH]);
}

#[test]
fn discovery_url_comes_first() {
    let m = MockServer::start();
    let (cfg, _f) = file_oidc(&m, "disc-url");
    let cfg = cfg.env(
        "DATABRICKS_DISCOVERY_URL",
        &format!("{}{OAUTH_DOC}", m.url()),
    );
    let client = Client::new(cfg).unwrap();
    client.token().unwrap();
    assert_eq!(m.count(WELL_KNOWN), 0);
    assert_eq!(m.count(OAUTH_DOC), 1);
    assert!(
        client
            .token_endpoint()
            .unwrap()
            .via
            .starts_with("discovery_url")
    );
}

#[test]
fn falls_back_when_discovery_fails() {
    let m = MockServer::start();
    m.set_discovery(false, false);
    let (cfg, _f) = file_oidc(&m, "disc-fallback");
    let client = Client::new(cfg).unwrap();
    assert!(m.is_issued(client.token().unwrap().access_token()));
    assert_eq!(m.count(WELL_KNOWN), 1);
    assert_eq!(m.count(OAUTH_DOC), 1);
    assert_eq!(m.count(TOKEN_PATH), 1);
    let ep = client.token_endpoint().unwrap();
    assert_eq!(ep.url, format!("{}{TOKEN_PATH}", m.url()));
    assert!(ep.via.contains("default"), "{}", ep.via);
}

#[test]
fn broken_discovery_document_falls_through() {
    let m = MockServer::start();
    m.fault(WELL_KNOWN, Fault::body(FaultBody::NotJson));
    let (cfg, _f) = file_oidc(&m, "disc-garbage");
    let client = Client::new(cfg).unwrap();
    client.token().unwrap();
    assert_eq!(
        client.token_endpoint().unwrap().via,
        OAUTH_DOC.replace("/oidc", &format!("{}/oidc", m.url()))
    );
}

#[test]
fn account_host_discovers_through_placeholder() {
    let m = MockServer::start();
    let (cfg, _f) = file_oidc(&m, "disc-acct");
    let cfg = cfg
        .env("DATABRICKS_HOST", &m.accounts_url())
        .env("DATABRICKS_ACCOUNT_ID", mock::ACCOUNT_ID);
    let client = Client::new(cfg).unwrap();
    client.token().unwrap();
    let doc = format!(
        "/oidc/accounts/{}/.well-known/oauth-authorization-server",
        mock::ACCOUNT_ID
    );
    assert_eq!(
        m.count(&doc),
        1,
        "{{account_id}} in oidc_endpoint must be substituted"
    );
}
