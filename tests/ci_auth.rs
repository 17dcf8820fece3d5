//! The CI and Azure auth types through the `dbtoken` binary against the HTTPS mock:
//! github-oidc, azure-devops-oidc, github-oidc-azure, azure-msi, azure-client-secret. Each:
//! the request the SDKs send, success, a missing variable (exit 3 naming it) and a refusal
//! (exit 5 with the server's words), never a secret in the output.

mod common;
use common::*;

use std::process::{Command, Output};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn dbtoken(env: &[(&str, String)], args: &[&str]) -> Run {
    let home = temp_dir("ci-home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbtoken"));
    cmd.env_clear().env("HOME", &home).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    };
    let all = format!("{}{}", run.stdout, run.stderr);
    assert_no_secret(
        &all,
        &[
            mock::GITHUB_REQUEST_TOKEN,
            mock::ADO_ACCESS_TOKEN,
            mock::AZURE_CLIENT_SECRET,
            mock::APP_SERVICE_HEADER,
        ],
    );
    run
}

fn with(
    mut env: Vec<(&'static str, String)>,
    more: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    for (k, v) in more {
        env.retain(|(e, _)| e != k);
        if !v.is_empty() {
            env.push((k, v.to_string()));
        }
    }
    env
}

fn base(m: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("DATABRICKS_HOST", m.url()),
        ("SSL_CERT_FILE", m.ca_path().to_str().unwrap().to_string()),
    ]
}

/// An Azure Databricks workspace (the resource id marks the loopback host as Azure) with
/// Entra at the mock.
fn azure(m: &MockServer) -> Vec<(&'static str, String)> {
    with(
        base(m),
        &[
            (
                "DATABRICKS_AZURE_RESOURCE_ID",
                "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/ws",
            ),
            ("AZURE_AUTHORITY_HOST", &format!("{}/", m.url())),
        ],
    )
}

fn github(m: &MockServer) -> Vec<(&'static str, String)> {
    with(
        base(m),
        &[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &format!("{}/github/idtoken?api-version=2.0", m.url()),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", mock::GITHUB_REQUEST_TOKEN),
            ("DATABRICKS_CLIENT_ID", mock::SP_CLIENT_ID),
        ],
    )
}

fn azure_devops(m: &MockServer) -> Vec<(&'static str, String)> {
    with(
        base(m),
        &[
            ("SYSTEM_ACCESSTOKEN", mock::ADO_ACCESS_TOKEN),
            (
                "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
                &format!("{}/mock-org/", m.url()),
            ),
            ("SYSTEM_TEAMPROJECTID", mock::ADO_PROJECT_ID),
            ("SYSTEM_HOSTTYPE", mock::ADO_HOST_TYPE),
            ("SYSTEM_PLANID", mock::ADO_PLAN_ID),
            ("SYSTEM_JOBID", mock::ADO_JOB_ID),
            ("DATABRICKS_CLIENT_ID", mock::SP_CLIENT_ID),
        ],
    )
}

fn ok_token(m: &MockServer, r: &Run) {
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert!(
        m.is_issued(r.stdout.trim_end()),
        "stdout is not an issued token"
    );
}

fn fails(r: &Run, code: i32, words: &[&str]) {
    assert_eq!(r.code, Some(code), "stderr: {}", r.stderr);
    for w in words {
        assert!(r.stderr.contains(w), "stderr lacks '{w}': {}", r.stderr);
    }
}

/// The query of the one GET/POST the mock recorded at `path`.
fn query_of(m: &MockServer, path: &str) -> String {
    let r: Vec<_> = m
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(r.len(), 1, "requests to {path}");
    r[0].query.clone()
}

// ------------------------------------------------------------------ github-oidc

#[test]
fn github_oidc_asks_for_the_hosts_default_audience_then_federates() {
    let m = MockServer::start();
    m.set_default_audiences(&[mock::ACCOUNT_ID]);
    let r = dbtoken(&github(&m), &["token"]);
    ok_token(&m, &r);
    let q = query_of(&m, "/github/idtoken");
    assert_eq!(q, format!("api-version=2.0&audience={}", mock::ACCOUNT_ID));
    let get = m.requests();
    let gh = get.iter().find(|r| r.path == "/github/idtoken").unwrap();
    assert_eq!(
        gh.header("authorization"),
        Some(format!("Bearer {}", mock::GITHUB_REQUEST_TOKEN).as_str())
    );
    let post = &posts(&m, "/oidc/v1/token")[0];
    assert_eq!(
        post.field("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    assert_eq!(post.field("client_id"), Some(mock::SP_CLIENT_ID));
}

#[test]
fn github_oidc_audience_rule_explicit_then_token_endpoint() {
    let m = MockServer::start();
    // No default audience on the host, a workspace: the token endpoint URL is the audience.
    let endpoint = format!("{}/oidc/v1/token", m.url());
    m.set_policy(mock::ISSUER, &endpoint, mock::SUBJECT);
    let r = dbtoken(&github(&m), &["doctor"]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{endpoint} (from the token endpoint URL, the default)"
        )),
        "{}",
        r.stdout
    );
    // token_audience wins over everything.
    m.set_policy(mock::ISSUER, "custom-aud", mock::SUBJECT);
    let env = with(github(&m), &[("DATABRICKS_TOKEN_AUDIENCE", "custom-aud")]);
    let r = dbtoken(&env, &["doctor"]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("custom-aud (from token_audience, DATABRICKS_TOKEN_AUDIENCE)"),
        "{}",
        r.stdout
    );
}

#[test]
fn github_oidc_on_an_account_host_asks_for_the_account_id() {
    let m = MockServer::start();
    let env = with(
        github(&m),
        &[
            ("DATABRICKS_HOST", &m.accounts_url()),
            ("DATABRICKS_ACCOUNT_ID", mock::ACCOUNT_ID),
        ],
    );
    let r = dbtoken(&env, &["token"]);
    ok_token(&m, &r);
    assert_eq!(
        query_of(&m, "/github/idtoken"),
        format!("api-version=2.0&audience={}", mock::ACCOUNT_ID)
    );
}

#[test]
fn github_oidc_failures_name_the_variable_or_quote_the_server() {
    let m = MockServer::start();
    let env = with(
        github(&m),
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ""),
            ("DATABRICKS_AUTH_TYPE", "github-oidc"),
        ],
    );
    fails(
        &dbtoken(&env, &["token"]),
        3,
        &["ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
    );
    // GitHub refuses the runtime token.
    let env = with(github(&m), &[("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "stale")]);
    fails(
        &dbtoken(&env, &["token"]),
        5,
        &["HTTP 401", "Bad credentials"],
    );
    // Databricks refuses the audience (no default audience: the token endpoint was asked for).
    fails(
        &dbtoken(&github(&m), &["token"]),
        5,
        &["audience", "does not match the policy audience"],
    );
}

#[test]
fn exec_removes_the_ci_variables_it_authenticated_with() {
    let m = MockServer::start();
    m.set_default_audiences(&[mock::ACCOUNT_ID]);
    let env = with(
        github(&m),
        &[("PATH", "/usr/bin:/bin"), ("SYSTEM_ACCESSTOKEN", "x")],
    );
    let script = "echo \"token=${DATABRICKS_TOKEN:+set} type=$DATABRICKS_AUTH_TYPE \
                  gh=${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-unset} url=${ACTIONS_ID_TOKEN_REQUEST_URL:-unset} \
                  ado=${SYSTEM_ACCESSTOKEN:-unset} sp=${DATABRICKS_CLIENT_ID:-unset}\"";
    let r = dbtoken(&env, &["exec", "--", "sh", "-c", script]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout.split_whitespace().collect::<Vec<_>>(),
        [
            "token=set",
            "type=pat",
            "gh=unset",
            "url=unset",
            "ado=unset",
            "sp=unset"
        ]
    );
}

// ------------------------------------------------------------------ azure-devops-oidc

#[test]
fn azure_devops_oidc_posts_to_the_jobs_oidctoken_endpoint_then_federates() {
    let m = MockServer::start();
    // Azure DevOps tokens carry api://AzureADTokenExchange whatever was asked.
    m.set_policy(mock::ISSUER, mock::AZURE_AUDIENCE, mock::SUBJECT);
    let r = dbtoken(&azure_devops(&m), &["token"]);
    ok_token(&m, &r);
    let path = format!(
        "/mock-org/{}/_apis/distributedtask/hubs/{}/plans/{}/jobs/{}/oidctoken",
        mock::ADO_PROJECT_ID,
        mock::ADO_HOST_TYPE,
        mock::ADO_PLAN_ID,
        mock::ADO_JOB_ID
    );
    assert_eq!(query_of(&m, &path), "api-version=7.2-preview.1");
    assert_eq!(posts(&m, &path).len(), 1);
    assert_eq!(posts(&m, "/oidc/v1/token").len(), 1);
}

#[test]
fn azure_devops_oidc_failures_name_the_variable_or_quote_the_server() {
    let m = MockServer::start();
    let env = with(
        azure_devops(&m),
        &[
            ("SYSTEM_ACCESSTOKEN", ""),
            ("DATABRICKS_AUTH_TYPE", "azure-devops-oidc"),
        ],
    );
    fails(&dbtoken(&env, &["token"]), 3, &["SYSTEM_ACCESSTOKEN"]);
    let env = with(azure_devops(&m), &[("SYSTEM_ACCESSTOKEN", "revoked")]);
    fails(&dbtoken(&env, &["token"]), 5, &["HTTP 401", "TF400813"]);
}

// ------------------------------------------------------------------ github-oidc-azure

#[test]
fn github_oidc_azure_sends_githubs_token_to_entra_as_a_client_assertion() {
    let m = MockServer::start();
    let env = with(
        azure(&m),
        &[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &format!("{}/github/idtoken?api-version=2.0", m.url()),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", mock::GITHUB_REQUEST_TOKEN),
            ("ARM_CLIENT_ID", mock::AZURE_CLIENT_ID),
            ("ARM_TENANT_ID", mock::AZURE_TENANT_ID),
        ],
    );
    // github-oidc applies too: two methods are named, as the SDKs' users need to hear.
    fails(
        &dbtoken(&env, &["token"]),
        3,
        &[
            "github-oidc (",
            "github-oidc-azure (",
            "DATABRICKS_AUTH_TYPE=github-oidc-azure",
        ],
    );
    let forced = with(
        env.clone(),
        &[("DATABRICKS_AUTH_TYPE", "github-oidc-azure")],
    );
    ok_token(&m, &dbtoken(&forced, &["token"]));
    assert_eq!(
        query_of(&m, "/github/idtoken"),
        "api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange"
    );
    let post = &posts(&m, &format!("/{}/oauth2/token", mock::AZURE_TENANT_ID))[0];
    assert_eq!(
        post.field("resource"),
        Some("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d")
    );
    assert_eq!(
        post.field("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(post.field("grant_type"), Some("client_credentials"));

    let missing = with(forced.clone(), &[("ARM_TENANT_ID", "")]);
    fails(&dbtoken(&missing, &["token"]), 3, &["AZURE_TENANT_ID"]);
    let unknown = with(forced, &[("ARM_CLIENT_ID", "0000-unknown")]);
    fails(&dbtoken(&unknown, &["token"]), 5, &["AADSTS700016"]);
}

// ------------------------------------------------------------------ azure-client-secret

fn client_secret(m: &MockServer) -> Vec<(&'static str, String)> {
    with(
        azure(m),
        &[
            ("ARM_CLIENT_ID", mock::AZURE_CLIENT_ID),
            ("ARM_TENANT_ID", mock::AZURE_TENANT_ID),
            ("ARM_CLIENT_SECRET", mock::AZURE_CLIENT_SECRET),
        ],
    )
}

#[test]
fn azure_client_secret_gets_an_entra_token_for_azure_databricks() {
    let m = MockServer::start();
    ok_token(&m, &dbtoken(&client_secret(&m), &["token"]));
    let post = &posts(&m, &format!("/{}/oauth2/token", mock::AZURE_TENANT_ID))[0];
    assert_eq!(post.field("client_id"), Some(mock::AZURE_CLIENT_ID));
    assert_eq!(
        post.field("resource"),
        Some("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d")
    );
    assert_eq!(post.field("grant_type"), Some("client_credentials"));
}

#[test]
fn azure_client_secret_failures_name_the_variable_or_quote_the_server() {
    let m = MockServer::start();
    let env = with(
        client_secret(&m),
        &[
            ("ARM_CLIENT_SECRET", ""),
            ("DATABRICKS_AUTH_TYPE", "azure-client-secret"),
        ],
    );
    fails(&dbtoken(&env, &["token"]), 3, &["ARM_CLIENT_SECRET"]);
    let env = with(
        client_secret(&m),
        &[("ARM_CLIENT_SECRET", "expired-secret")],
    );
    fails(
        &dbtoken(&env, &["token"]),
        5,
        &["HTTP 401", "AADSTS7000215"],
    );
    // Not an Azure host: the type does not apply, and says why.
    let env = with(client_secret(&m), &[("DATABRICKS_AZURE_RESOURCE_ID", "")]);
    fails(
        &dbtoken(&env, &["token"]),
        3,
        &["azure-client-secret: needs an Azure Databricks host"],
    );
}

// ------------------------------------------------------------------ azure-msi

fn msi(m: &MockServer) -> Vec<(&'static str, String)> {
    with(
        azure(m),
        &[
            ("ARM_USE_MSI", "true"),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &m.url()),
        ],
    )
}

#[test]
fn azure_msi_asks_the_metadata_service_with_the_metadata_header() {
    let m = MockServer::start();
    ok_token(&m, &dbtoken(&msi(&m), &["token"]));
    let path = "/metadata/identity/oauth2/token";
    assert_eq!(
        query_of(&m, path),
        "api-version=2018-02-01&resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
    );
    let req = m.requests().into_iter().find(|r| r.path == path).unwrap();
    assert_eq!(req.header("metadata"), Some("true"));

    let m = MockServer::start();
    let user = with(msi(&m), &[("ARM_CLIENT_ID", mock::MSI_CLIENT_ID)]);
    ok_token(&m, &dbtoken(&user, &["token"]));
    assert!(query_of(&m, path).ends_with(&format!("&client_id={}", mock::MSI_CLIENT_ID)));
}

#[test]
fn azure_msi_app_service_form_uses_identity_endpoint_and_header() {
    let m = MockServer::start();
    let env = with(
        msi(&m),
        &[
            ("IDENTITY_ENDPOINT", &format!("{}/msi/token", m.url())),
            ("IDENTITY_HEADER", mock::APP_SERVICE_HEADER),
        ],
    );
    ok_token(&m, &dbtoken(&env, &["token"]));
    assert_eq!(m.count("/metadata/identity/oauth2/token"), 0);
    assert_eq!(
        query_of(&m, "/msi/token"),
        "api-version=2019-08-01&resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
    );
    let wrong = with(env, &[("IDENTITY_HEADER", "not-the-header")]);
    fails(
        &dbtoken(&wrong, &["token"]),
        5,
        &["HTTP 401", "X-IDENTITY-HEADER"],
    );
}

#[test]
fn azure_msi_failures_name_the_variable_or_quote_the_server() {
    let m = MockServer::start();
    let env = with(
        msi(&m),
        &[("ARM_USE_MSI", ""), ("DATABRICKS_AUTH_TYPE", "azure-msi")],
    );
    fails(&dbtoken(&env, &["token"]), 3, &["ARM_USE_MSI"]);
    let env = with(msi(&m), &[("ARM_CLIENT_ID", "not-assigned-here")]);
    fails(
        &dbtoken(&env, &["token"]),
        5,
        &["HTTP 400", "Identity not found"],
    );
}
