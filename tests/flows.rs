//! Each auth type's happy path over HTTPS against the mock, and what goes on the wire.

mod common;
use common::*;

use dbtoken::Client;

const TOKEN_PATH: &str = "/oidc/v1/token";

#[test]
fn file_oidc_service_principal_policy_sends_client_id() {
    let m = MockServer::start();
    let (cfg, _f) = file_oidc(&m, "sp");
    let cfg = cfg.env("DATABRICKS_CLIENT_ID", mock::SP_CLIENT_ID);
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "file-oidc");
    let t = client.token().unwrap();
    assert!(m.is_issued(t.access_token()));
    assert_eq!(t.token_type(), "Bearer");
    let left = t.expires_in().unwrap().as_secs();
    assert!((3500..=3600).contains(&left), "{left}");

    let posts = posts(&m, TOKEN_PATH);
    assert_eq!(posts.len(), 1);
    let p = &posts[0];
    assert_eq!(
        p.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(p.header("authorization"), None);
    assert!(p.header("user-agent").unwrap().starts_with("dbtoken/"));
    let names: Vec<&str> = p.form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "subject_token",
            "subject_token_type",
            "scope",
            "client_id"
        ]
    );
    assert_eq!(
        p.field("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    assert_eq!(
        p.field("subject_token_type"),
        Some("urn:ietf:params:oauth:token-type:jwt")
    );
    assert_eq!(p.field("scope"), Some("all-apis"));
    assert_eq!(p.field("client_id"), Some(mock::SP_CLIENT_ID));
    // The JWT was sent trimmed of kubelet's trailing newline.
    assert_eq!(p.field("subject_token").unwrap().split('.').count(), 3);
    assert!(!p.field("subject_token").unwrap().ends_with('\n'));
    let ep = client.token_endpoint().unwrap();
    assert_eq!(ep.url, format!("{}{TOKEN_PATH}", m.url()));
}

#[test]
fn file_oidc_account_wide_policy_omits_client_id() {
    let m = MockServer::start();
    let (cfg, _f) = file_oidc(&m, "acctwide");
    let client = Client::new(cfg).unwrap();
    client.token().unwrap();
    let p = &posts(&m, TOKEN_PATH)[0];
    assert_eq!(p.field("client_id"), None);
    assert_eq!(p.form.len(), 4);
}

#[test]
fn env_oidc_reads_the_named_variable() {
    let m = MockServer::start();
    let jwt = mock::workload_jwt(600);
    let cfg = config(&m)
        .env("DATABRICKS_OIDC_TOKEN_ENV", "MY_CI_TOKEN")
        .env("MY_CI_TOKEN", &jwt)
        .with("scopes", "sql all-apis sql")
        .unwrap();
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "env-oidc");
    assert!(m.is_issued(client.token().unwrap().access_token()));
    let p = &posts(&m, TOKEN_PATH)[0];
    assert!(
        p.field("subject_token") == Some(jwt.as_str()),
        "JWT from the variable not sent"
    );
    assert_eq!(p.field("scope"), Some("all-apis sql"));
}

#[test]
fn account_level_host_uses_account_endpoint() {
    let m = MockServer::start();
    let (cfg, _f) = file_oidc(&m, "account");
    let cfg = cfg
        .env("DATABRICKS_HOST", &m.accounts_url())
        .env("DATABRICKS_ACCOUNT_ID", mock::ACCOUNT_ID)
        .env("DATABRICKS_CLIENT_ID", mock::SP_CLIENT_ID);
    let client = Client::new(cfg).unwrap();
    assert!(client.is_account_level());
    assert!(m.is_issued(client.token().unwrap().access_token()));
    let path = format!("/oidc/accounts/{}/v1/token", mock::ACCOUNT_ID);
    assert_eq!(posts(&m, &path).len(), 1);
    assert_eq!(posts(&m, TOKEN_PATH).len(), 0);
    assert!(
        client
            .token_endpoint()
            .unwrap()
            .url
            .starts_with(&m.accounts_url())
    );
}

#[test]
fn account_host_without_account_id_is_a_config_error() {
    let m = MockServer::start();
    let (cfg, _f) = file_oidc(&m, "noacct");
    let err = Client::new(cfg.env("DATABRICKS_HOST", &m.accounts_url())).unwrap_err();
    assert_eq!(err.kind(), dbtoken::ErrorKind::Config);
    assert!(err.to_string().contains("DATABRICKS_ACCOUNT_ID"), "{err}");
}

#[test]
fn oauth_m2m_uses_basic_auth_and_client_credentials() {
    let m = MockServer::start();
    let cfg = config(&m)
        .env("DATABRICKS_CLIENT_ID", mock::M2M_CLIENT_ID)
        .env("DATABRICKS_CLIENT_SECRET", mock::M2M_SECRET);
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "oauth-m2m");
    assert!(m.is_issued(client.token().unwrap().access_token()));
    let p = &posts(&m, TOKEN_PATH)[0];
    assert_eq!(p.field("grant_type"), Some("client_credentials"));
    assert_eq!(p.field("scope"), Some("all-apis"));
    assert_eq!(p.form.len(), 2);
    let auth = p.header("authorization").unwrap();
    assert!(auth.starts_with("Basic "), "not basic auth");
}

#[test]
fn oauth_m2m_wrong_secret_is_rejected_without_leaking_it() {
    let m = MockServer::start();
    let secret = "wrong-secret-value-123";
    let cfg = config(&m)
        .env("DATABRICKS_CLIENT_ID", mock::M2M_CLIENT_ID)
        .env("DATABRICKS_CLIENT_SECRET", secret);
    let err = Client::new(cfg).unwrap().token().unwrap_err();
    assert_eq!(err.kind(), dbtoken::ErrorKind::Rejected);
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.server_error(), Some("invalid_client"));
    assert_no_secret(&format!("{err} {err:?}"), &[secret]);
    assert_eq!(posts(&m, TOKEN_PATH).len(), 1, "401 must not be retried");
}

#[test]
fn pat_passthrough_makes_no_request() {
    let m = MockServer::start();
    let cfg = config(&m).env("DATABRICKS_TOKEN", "dapi-test-pat");
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "pat");
    let t = client.token().unwrap();
    assert_eq!(t.access_token(), "dapi-test-pat");
    assert_eq!(t.expires_at(), None);
    assert_eq!(m.total(), 0);
    assert_no_secret(&format!("{t:?} {client:?}"), &["dapi-test-pat"]);
}

#[test]
fn azure_workload_identity_posts_client_assertion_to_entra() {
    let m = MockServer::start();
    let dir = temp_dir("azure");
    let f = write(&dir, "azure-identity-token", &mock::azure_jwt(3600));
    let cfg = config(&m)
        // Marks the (loopback) host as Azure Databricks, so the type is chosen automatically.
        .env(
            "DATABRICKS_AZURE_RESOURCE_ID",
            "/subscriptions/x/resourceGroups/y/providers/Microsoft.Databricks/workspaces/z",
        )
        .env("AZURE_FEDERATED_TOKEN_FILE", f.to_str().unwrap())
        .env("AZURE_CLIENT_ID", mock::AZURE_CLIENT_ID)
        .env("AZURE_TENANT_ID", mock::AZURE_TENANT_ID)
        // As the webhook sets it for public cloud: with a trailing slash.
        .env("AZURE_AUTHORITY_HOST", &format!("{}/", m.url()));
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "azure-workload-identity");
    let t = client.token().unwrap();
    assert!(m.is_issued(t.access_token()));
    let path = format!("/{}/oauth2/v2.0/token", mock::AZURE_TENANT_ID);
    let p = &posts(&m, &path)[0];
    assert_eq!(
        p.field("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(p.field("client_id"), Some(mock::AZURE_CLIENT_ID));
    assert_eq!(p.field("grant_type"), Some("client_credentials"));
    assert_eq!(
        p.field("scope"),
        Some("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default")
    );
    assert_eq!(p.form.len(), 5);
    assert_eq!(m.total(), 1, "Entra flow needs no Databricks discovery");
}

#[test]
fn azure_workload_identity_chosen_on_azure_host() {
    let f = jwt_file("azure-host");
    let cfg = dbtoken::Config::isolated()
        .env(
            "DATABRICKS_HOST",
            "adb-1234567890123456.7.azuredatabricks.net",
        )
        .env("AZURE_FEDERATED_TOKEN_FILE", f.to_str().unwrap())
        .env("AZURE_CLIENT_ID", "c")
        .env("AZURE_TENANT_ID", "t");
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "azure-workload-identity");
    assert_eq!(
        client.host(),
        "https://adb-1234567890123456.7.azuredatabricks.net"
    );
}

#[test]
fn aks_token_file_serves_federation_on_a_non_azure_host() {
    let m = MockServer::start();
    let f = jwt_file("aks-aws");
    let cfg = config(&m).env("AZURE_FEDERATED_TOKEN_FILE", f.to_str().unwrap());
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "file-oidc");
    assert!(m.is_issued(client.token().unwrap().access_token()));
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let cfg = dbtoken::Config::isolated()
        .env("DATABRICKS_HOST", "http://example.com")
        .env("DATABRICKS_TOKEN", "x");
    let err = Client::new(cfg).unwrap_err();
    assert!(err.to_string().contains("only https://"), "{err}");
}
