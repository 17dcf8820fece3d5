//! The main job, end to end: `cargo run --release --example demo`.
//!
//! With `DATABRICKS_HOST` set, it gets a token from your real workspace exactly as
//! `dbtoken token` would (configuration from the environment and ~/.databrickscfg).
//! Without it, it runs a local demo: it starts the loopback HTTPS mock of Databricks and
//! Entra ID, writes a projected service-account JWT the way kubelet does, and drives the
//! public API through token federation, caching, rotation and Azure workload identity.
//! Tokens are never printed.

use std::path::Path;
use std::time::Instant;

use dbtoken::{Client, Config};
use dbtoken_mock::{self as mock, MockServer};

fn main() {
    if let Err(e) = run() {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> dbtoken::Result<()> {
    if std::env::var_os("DATABRICKS_HOST").is_some() {
        return real_workspace();
    }
    println!("No DATABRICKS_HOST set: running the local demo against a loopback mock.\n");

    step(
        1,
        "Start the mock Databricks workspace and Entra ID (HTTPS on loopback)",
    );
    let m = MockServer::start();
    println!("    workspace  {}", m.url());
    println!(
        "    test CA    {} (trusted through SSL_CERT_FILE)",
        m.ca_path().display()
    );

    step(
        2,
        "Project a service-account token the way kubelet does (..data symlink)",
    );
    let dir = std::env::temp_dir().join(format!("dbtoken-demo-{}", std::process::id()));
    let token_path = project(&dir, "..2026_01_01_00_00_00.1", &mock::workload_jwt(3600));
    let claims = dbtoken::decode_jwt_claims(&std::fs::read_to_string(&token_path).unwrap())
        .expect("mock JWT decodes");
    println!("    file       {}", token_path.display());
    println!("    iss        {}", claims.iss.as_deref().unwrap_or("-"));
    println!("    sub        {}", claims.sub.as_deref().unwrap_or("-"));
    println!("    aud        {}", claims.aud.join(", "));
    println!("    exp        {} (unix seconds)", claims.exp.unwrap_or(0));

    step(
        3,
        "Configure as a pod would: DATABRICKS_HOST, DATABRICKS_OIDC_TOKEN_FILEPATH, DATABRICKS_CLIENT_ID",
    );
    let config = Config::isolated()
        .env("SSL_CERT_FILE", m.ca_path().to_str().unwrap())
        .env("DATABRICKS_HOST", &m.url())
        .env(
            "DATABRICKS_OIDC_TOKEN_FILEPATH",
            token_path.to_str().unwrap(),
        )
        .env("DATABRICKS_CLIENT_ID", mock::SP_CLIENT_ID);
    let client = Client::new(config.clone())?;
    println!(
        "    auth type  {} (chosen automatically)",
        client.auth_type()
    );
    println!("    (dbtoken doctor explains why each other type was skipped)");

    step(
        4,
        "Exchange the JWT for a Databricks token (RFC 8693 token federation)",
    );
    let t0 = Instant::now();
    let token = client.token()?;
    let took = t0.elapsed();
    let ep = client.token_endpoint().expect("known after an exchange");
    println!("    endpoint   {}", ep.url);
    println!("    found via  {}", ep.via);
    println!(
        "    token      {} … ({} chars, never printed)",
        token.token_type(),
        token.access_token().len()
    );
    println!(
        "    expires    {} (unix seconds; in {} s)",
        token.expires_on_unix().unwrap(),
        token.expires_in().unwrap().as_secs()
    );
    println!(
        "    took       {:.1} ms (discovery + exchange, {} requests)",
        took.as_secs_f64() * 1e3,
        m.total()
    );
    println!(
        "    check      GET /api/2.0/preview/scim/v2/Me → {}",
        call_me(&m, &token)
    );

    step(5, "Ask again: served from the cache, no request");
    let before = m.total();
    let t0 = Instant::now();
    for _ in 0..100_000 {
        client.token()?;
    }
    println!(
        "    100000 calls in {:.1} ms, {} new requests",
        t0.elapsed().as_secs_f64() * 1e3,
        m.total() - before
    );

    step(
        6,
        "kubelet rotates the token file; a new client re-reads it on its first exchange",
    );
    let new_jwt = mock::workload_jwt(7200);
    project(&dir, "..2026_01_01_00_48_00.2", &new_jwt);
    let rotated = Client::new(config.clone())?;
    rotated.token()?;
    let sent_new = m
        .requests()
        .iter()
        .rev()
        .find(|r| r.path == "/oidc/v1/token")
        .and_then(|r| r.field("subject_token").map(|t| t == new_jwt))
        .unwrap_or(false);
    println!(
        "    the exchange sent the rotated JWT: {} (the file is re-opened on every exchange)",
        if sent_new { "yes" } else { "NO" }
    );

    step(7, "32 threads on a cold client: exactly one exchange");
    let cold = Client::new(config)?;
    let before = m.count("/oidc/v1/token");
    std::thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(|| cold.token().map(|_| ()));
        }
    });
    println!(
        "    exchanges caused: {}",
        m.count("/oidc/v1/token") - before
    );

    step(
        8,
        "Azure Databricks via Entra workload identity (AZURE_* as the AKS webhook injects them)",
    );
    let azure_path = project(
        &dir.join("azure"),
        "..2026_01_01_00_00_00.1",
        &mock::azure_jwt(3600),
    );
    let azure = Client::new(
        Config::isolated()
            .env("SSL_CERT_FILE", m.ca_path().to_str().unwrap())
            .env("DATABRICKS_HOST", &m.url())
            .env("DATABRICKS_AZURE_RESOURCE_ID", "/subscriptions/demo/resourceGroups/demo/providers/Microsoft.Databricks/workspaces/demo")
            .env("AZURE_FEDERATED_TOKEN_FILE", azure_path.to_str().unwrap())
            .env("AZURE_CLIENT_ID", mock::AZURE_CLIENT_ID)
            .env("AZURE_TENANT_ID", mock::AZURE_TENANT_ID)
            .env("AZURE_AUTHORITY_HOST", &format!("{}/", m.url())),
    )?;
    let token = azure.token()?;
    println!("    auth type  {}", azure.auth_type());
    println!("    endpoint   {}", azure.token_endpoint().unwrap().url);
    println!(
        "    check      GET /api/2.0/preview/scim/v2/Me → {}",
        call_me(&m, &token)
    );

    step(
        9,
        "A token the policy does not accept: the server's words, and what to fix",
    );
    m.set_policy(
        "https://oidc.other-cluster.example",
        mock::AUDIENCE,
        mock::SUBJECT,
    );
    let err = Client::new(
        Config::isolated()
            .env("SSL_CERT_FILE", m.ca_path().to_str().unwrap())
            .env("DATABRICKS_HOST", &m.url())
            .env(
                "DATABRICKS_OIDC_TOKEN_FILEPATH",
                token_path.to_str().unwrap(),
            ),
    )?
    .token()
    .expect_err("policy mismatch");
    println!("    kind       {:?} (dbtoken exits 5)", err.kind());
    println!("    error      {err}");

    let _ = std::fs::remove_dir_all(&dir);
    println!("\nDemo complete: every step used the public dbtoken API over real HTTPS.");
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

/// Write `jwt` as kubelet's atomic writer does: `token -> ..data/token`, `..data -> <ts dir>`.
fn project(dir: &Path, ts: &str, jwt: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join(ts)).unwrap();
    std::fs::write(dir.join(ts).join("token"), jwt).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(ts, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    let link = dir.join("token");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("..data/token", &link).unwrap();
    }
    link
}

/// Use the token as a Databricks SDK would: `Authorization: {type} {token}`.
fn call_me(m: &MockServer, token: &dbtoken::Token) -> String {
    let ca = ureq::tls::Certificate::from_pem(m.ca_pem().as_bytes()).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .build();
    let agent = ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .build(),
    );
    match agent
        .get(format!("{}/api/2.0/preview/scim/v2/Me", m.url()))
        .header("Authorization", token.authorization_header())
        .call()
    {
        Ok(mut r) => format!(
            "HTTP {} {}",
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default()
        ),
        Err(e) => format!("failed: {e}"),
    }
}

fn real_workspace() -> dbtoken::Result<()> {
    let client = Client::from_env()?;
    println!("host       {}", client.host());
    println!("auth type  {}", client.auth_type());
    if let Some(src) = client.federated_token_source() {
        println!("JWT from   {}", src.describe());
    }
    let token = client.token()?;
    if let Some(ep) = client.token_endpoint() {
        println!("endpoint   {} (via {})", ep.url, ep.via);
    }
    println!(
        "token      {} … ({} chars, never printed)",
        token.token_type(),
        token.access_token().len()
    );
    match token.expires_on_unix() {
        Some(t) => println!("expires    {t} (unix seconds)"),
        None => println!("expires    unknown (personal access token)"),
    }
    Ok(())
}
