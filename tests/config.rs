//! Configuration: profiles, precedence, and the messages when auth cannot be chosen.

mod common;
use common::*;

use dbtoken::{Client, Config, ErrorKind, Key, Source};

fn cfg_file(content: &str) -> String {
    let d = temp_dir("cfg");
    write(&d, "databrickscfg", content)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn profile_of_the_config_file_is_used() {
    let m = MockServer::start();
    let jwt = jwt_file("profile");
    let file = cfg_file(&format!(
        "[DEFAULT]\nhost = https://default.invalid\n\n[prod]\nhost = {}\noidc_token_filepath = {}\nclient_id = {}\n",
        m.url(),
        jwt.display(),
        mock::SP_CLIENT_ID
    ));
    let cfg = Config::isolated()
        .env("SSL_CERT_FILE", m.ca_path().to_str().unwrap())
        .env("DATABRICKS_CONFIG_FILE", &file)
        .env("DATABRICKS_CONFIG_PROFILE", "prod");
    let r = cfg.resolve().unwrap();
    assert_eq!(r.get(Key::Host), Some(m.url().as_str()));
    assert!(matches!(r.source(Key::Host), Some(Source::File { profile, .. }) if profile == "prod"));
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.auth_type().name(), "file-oidc");
    assert!(m.is_issued(client.token().unwrap().access_token()));
    assert_eq!(
        posts(&m, "/oidc/v1/token")[0].field("client_id"),
        Some(mock::SP_CLIENT_ID)
    );
}

#[test]
fn environment_beats_the_config_file() {
    let m = MockServer::start();
    let (cfg, _) = file_oidc(&m, "precedence");
    let file = cfg_file("[DEFAULT]\nhost = https://from-file.invalid\nscopes = sql\n");
    let r = cfg.env("DATABRICKS_CONFIG_FILE", &file).resolve().unwrap();
    assert_eq!(r.get(Key::Host), Some(m.url().as_str()));
    assert_eq!(
        r.source(Key::Host),
        Some(&Source::Env("DATABRICKS_HOST".into()))
    );
    // Keys the environment does not set still come from the file.
    assert_eq!(r.get(Key::Scopes), Some("sql"));
    let client = Client::from_resolved(&r).unwrap();
    client.token().unwrap();
    assert_eq!(posts(&m, "/oidc/v1/token")[0].field("scope"), Some("sql"));
}

#[test]
fn missing_profile_is_named_with_the_ones_present() {
    let file = cfg_file("[DEFAULT]\nhost = https://a\n[staging]\nhost = https://b\n");
    let err = Config::isolated()
        .env("DATABRICKS_CONFIG_FILE", &file)
        .env("DATABRICKS_CONFIG_PROFILE", "prod")
        .resolve()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("'prod'") && text.contains("DATABRICKS_CONFIG_PROFILE"),
        "{text}"
    );
    assert!(text.contains("DEFAULT, staging"), "{text}");
}

#[test]
fn broken_config_file_names_the_line() {
    let file = cfg_file("[DEFAULT]\nhost = https://a\nthis line is wrong\n");
    let err = Config::isolated()
        .env("DATABRICKS_CONFIG_FILE", &file)
        .resolve()
        .unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[test]
fn nothing_applies_lists_each_auth_type_and_what_it_lacks() {
    let err = Client::new(
        Config::isolated()
            .env("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net")
            .env("DATABRICKS_CLIENT_ID", "abc")
            .env("AZURE_CLIENT_ID", "def"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    for line in [
        "pat: needs DATABRICKS_TOKEN (token)",
        "oauth-m2m: needs DATABRICKS_CLIENT_SECRET (client_secret)",
        "azure-workload-identity: needs AZURE_FEDERATED_TOKEN_FILE (azure_federated_token_file) and AZURE_TENANT_ID (azure_tenant_id)",
        "env-oidc: needs DATABRICKS_OIDC_TOKEN",
        "file-oidc: needs DATABRICKS_OIDC_TOKEN_FILEPATH (oidc_token_filepath)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("cannot configure default credentials"));
}

#[test]
fn missing_host_is_said_first() {
    let err = Client::new(Config::isolated().env("DATABRICKS_TOKEN", "x")).unwrap_err();
    assert!(err.to_string().contains("set DATABRICKS_HOST"), "{err}");
}

#[test]
fn two_methods_name_both_and_how_to_choose() {
    let f = jwt_file("two");
    let cfg = Config::isolated()
        .env("DATABRICKS_HOST", "https://dbc-1.cloud.databricks.com")
        .env("DATABRICKS_TOKEN", "dapi-two-methods-secret")
        .env("DATABRICKS_OIDC_TOKEN_FILEPATH", f.to_str().unwrap());
    let err = Client::new(cfg.clone()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("more than one auth type"), "{text}");
    assert!(text.contains("pat (uses DATABRICKS_TOKEN)"), "{text}");
    assert!(text.contains("file-oidc"), "{text}");
    assert!(
        text.contains("DATABRICKS_AUTH_TYPE=pat or DATABRICKS_AUTH_TYPE=file-oidc"),
        "{text}"
    );
    assert_no_secret(&text, &["dapi-two-methods-secret"]);
    // Choosing resolves it.
    let client = Client::new(cfg.env("DATABRICKS_AUTH_TYPE", "file-oidc")).unwrap();
    assert_eq!(client.auth_type().name(), "file-oidc");
}

#[test]
fn forced_auth_type_says_what_it_needs() {
    let err = Client::new(
        Config::isolated()
            .env("DATABRICKS_HOST", "https://h.cloud.databricks.com")
            .env("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("auth type oauth-m2m was chosen by DATABRICKS_AUTH_TYPE but it needs DATABRICKS_CLIENT_ID (client_id) and DATABRICKS_CLIENT_SECRET (client_secret)"), "{err}");
    let err = Client::new(
        Config::isolated()
            .env("DATABRICKS_HOST", "https://h")
            .env("DATABRICKS_AUTH_TYPE", "azure-cli"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("'azure-cli'"), "{err}");
    assert!(err.to_string().contains("azure-workload-identity"), "{err}");
}

#[test]
fn bad_numbers_and_ca_files_name_their_variable() {
    let err = Client::new(
        Config::isolated()
            .env("DATABRICKS_HOST", "https://h")
            .env("DATABRICKS_TOKEN", "x")
            .env("DATABRICKS_HTTP_TIMEOUT_SECONDS", "soon"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("DATABRICKS_HTTP_TIMEOUT_SECONDS"),
        "{err}"
    );
    let err = Client::new(
        Config::isolated()
            .env("DATABRICKS_HOST", "https://h")
            .env("DATABRICKS_TOKEN", "x")
            .env("SSL_CERT_FILE", "/nonexistent/ca.pem"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("SSL_CERT_FILE")
            && err.to_string().contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

/// Warnings the library emitted in this test process (the hook is process-wide).
fn warnings() -> &'static std::sync::Mutex<Vec<String>> {
    static W: std::sync::OnceLock<std::sync::Mutex<Vec<String>>> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        dbtoken::set_warning_hook(|w| warnings().lock().unwrap().push(w.to_string()));
        std::sync::Mutex::new(Vec::new())
    })
}

#[test]
fn a_missing_config_file_is_skipped_with_a_warning_as_the_sdks_do() {
    let m = MockServer::start();
    let (cfg, _) = file_oidc(&m, "missing-cfg");
    let _ = warnings();
    let missing = temp_dir("missing-cfg").join("no-such-databrickscfg");
    let cfg = cfg.env("DATABRICKS_CONFIG_FILE", missing.to_str().unwrap());
    let r = cfg.resolve().unwrap();
    assert_eq!(r.get(Key::Host), Some(m.url().as_str()));
    let client = Client::from_resolved(&r).unwrap();
    assert!(m.is_issued(client.token().unwrap().access_token()));
    let said: Vec<String> = warnings()
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains(missing.to_str().unwrap()))
        .cloned()
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("DATABRICKS_CONFIG_FILE"), "{said:?}");
    assert!(said[0].contains("does not exist"), "{said:?}");
}

#[test]
fn a_profile_asked_for_in_a_missing_config_file_stays_an_error() {
    let missing = temp_dir("missing-cfg-profile").join("databrickscfg");
    for (var, value) in [
        ("DATABRICKS_CONFIG_PROFILE", "prod"),
        ("DATABRICKS_CONFIG_PROFILE", "DEFAULT"),
    ] {
        let err = Config::isolated()
            .env("DATABRICKS_HOST", "https://h")
            .env("DATABRICKS_TOKEN", "x")
            .env("DATABRICKS_CONFIG_FILE", missing.to_str().unwrap())
            .env(var, value)
            .resolve()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let text = err.to_string();
        assert!(text.contains(&format!("'{value}'")), "{text}");
        assert!(text.contains(var), "{text}");
        assert!(text.contains(missing.to_str().unwrap()), "{text}");
        assert!(text.contains("does not exist"), "{text}");
    }
    // Set through the API (the CLI's --profile) too.
    let err = Config::isolated()
        .env("DATABRICKS_CONFIG_FILE", missing.to_str().unwrap())
        .with("profile", "prod")
        .unwrap()
        .resolve()
        .unwrap_err();
    assert!(err.to_string().contains("'prod'"), "{err}");
}

#[test]
fn a_config_file_that_exists_but_cannot_be_read_stays_an_error() {
    // A directory where the file should be: not "missing", so not skipped.
    let dir = temp_dir("cfg-is-dir");
    let err = Config::isolated()
        .env("DATABRICKS_CONFIG_FILE", dir.to_str().unwrap())
        .resolve()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains(dir.to_str().unwrap()), "{err}");
    assert!(err.to_string().contains("DATABRICKS_CONFIG_FILE"), "{err}");
}
