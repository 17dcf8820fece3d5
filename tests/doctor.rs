//! `dbtoken doctor`'s issuer checks and pasteable advice, run as a process against the mock,
//! whose discoverable issuer (`/issuer`) signs real RS256 and ES256 JWTs.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mock::Alg;
use serde_json::{Value, json};

fn doctor(m: &MockServer, jwt: &Path, extra: &[&str]) -> Command {
    let mut c = common::cli::dbtoken(m, jwt);
    c.arg("doctor").args(extra);
    c
}

fn token_file(tag: &str, jwt: &str) -> std::path::PathBuf {
    write(&temp_dir(tag), "token", &format!("{jwt}\n"))
}

/// Text and JSON reports for the same token; asserts neither shows the JWT or an access token.
fn both(m: &MockServer, jwt: &str, tag: &str) -> (Output, String, Value) {
    let f = token_file(tag, jwt);
    let o = doctor(m, &f, &[]).output().unwrap();
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    let j = doctor(m, &f, &["--json"]).output().unwrap();
    assert_eq!(o.status.code(), j.status.code());
    let json_text = String::from_utf8(j.stdout).unwrap();
    for out in [
        &text,
        &json_text,
        &String::from_utf8_lossy(&o.stderr).into_owned(),
    ] {
        assert_no_secret(out, &[jwt, jwt.rsplit('.').next().unwrap()]);
        assert!(!out.contains("dbmock-"), "doctor printed an access token");
    }
    (o, text, serde_json::from_str(&json_text).unwrap())
}

fn claims(iss: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({"iss": iss, "sub": mock::SUBJECT, "aud": [mock::AUDIENCE],
           "iat": now, "nbf": now, "exp": now + 3600})
}

fn verdict<'a>(v: &'a Value, check: &str) -> &'a str {
    v["issuer"][check]["verdict"].as_str().unwrap_or("(absent)")
}

#[test]
fn valid_rs256_and_es256_signatures_verify() {
    let m = MockServer::start();
    m.set_policy(&m.issuer_url(), mock::AUDIENCE, mock::SUBJECT);
    for (alg, tag) in [(Alg::RS256, "rs256"), (Alg::ES256, "es256")] {
        let jwt = m.issuer_jwt(alg, 3600);
        let (o, text, v) = both(&m, &jwt, tag);
        assert_eq!(o.status.code(), Some(0), "{text}");
        assert_eq!(verdict(&v, "discovery"), "ok", "{v}");
        assert_eq!(verdict(&v, "keys"), "ok", "{v}");
        assert_eq!(verdict(&v, "kid"), "ok", "{v}");
        assert_eq!(verdict(&v, "signature"), "ok", "{v}");
        let sig = format!("ok: {alg:?} signature verifies");
        assert!(text.contains(&sig), "missing {sig:?} in:\n{text}");
        assert!(
            text.contains(&format!("'{}' is published", alg.kid())),
            "{text}"
        );
        // The mock issuer is on loopback: Databricks could never fetch it.
        assert_eq!(verdict(&v, "reachable"), "fail");
        assert!(text.contains("127.0.0.1 is a loopback address"), "{text}");
        assert_eq!(v["exchange"]["result"], "ok");
    }
}

#[test]
fn a_tampered_signature_fails_like_the_exchange() {
    let m = MockServer::start();
    m.set_policy(&m.issuer_url(), mock::AUDIENCE, mock::SUBJECT);
    let jwt = m.issuer_jwt(Alg::RS256, 3600);
    let (head, sig) = jwt.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[10] ^= 0x01;
    let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&sig));
    let (o, text, v) = both(&m, &tampered, "tampered");
    assert_eq!(o.status.code(), Some(5), "{text}");
    assert_eq!(verdict(&v, "kid"), "ok");
    assert_eq!(verdict(&v, "signature"), "fail", "{v}");
    assert!(
        text.contains("  signature:\n    FAIL: the RS256 signature does not verify with this key"),
        "{text}"
    );
    assert!(
        text.contains("fix: use the token exactly as kubelet wrote it"),
        "{text}"
    );
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("issuer signature: the RS256 signature does not verify"),
        "{problems}"
    );
    // The mock exchange verifies signatures of its own issuer's tokens, as Databricks does.
    assert!(
        problems.contains("signature that does not verify"),
        "{problems}"
    );
    assert!(
        problems.contains("fix: Databricks could not verify the token's signature"),
        "{problems}"
    );
    assert!(!problems.contains("set the policy's subject"), "{problems}");
}

#[test]
fn an_unknown_kid_is_named_with_the_published_ones() {
    let m = MockServer::start();
    let jwt = m.signed_jwt_with_kid(Alg::ES256, "rotated-away", &claims(&m.issuer_url()));
    let (_, text, v) = both(&m, &jwt, "kid");
    assert_eq!(verdict(&v, "kid"), "fail", "{v}");
    assert_eq!(
        v["issuer"]["signature"],
        Value::Null,
        "no signature check without a key"
    );
    assert!(
        text.contains("the token's kid 'rotated-away' is not among the 2 published key(s) (kids: mock-rs256, mock-es256)"),
        "{text}"
    );
    assert!(
        v["issuer"]["kid"]["fix"]
            .as_str()
            .unwrap()
            .contains("does not publish")
    );
}

#[test]
fn an_unreachable_issuer_is_not_checked_and_bounded_by_the_timeout() {
    let m = MockServer::start();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let iss = format!("https://127.0.0.1:{port}/issuer");
    m.set_policy(&iss, mock::AUDIENCE, mock::SUBJECT);
    let jwt = m.signed_jwt(Alg::RS256, &claims(&iss));
    let (o, text, v) = both(&m, &jwt, "unreachable");
    assert_eq!(
        o.status.code(),
        Some(0),
        "the exchange itself works: {text}"
    );
    assert_eq!(verdict(&v, "discovery"), "not checked", "{v}");
    assert!(
        text.contains("discovery              not checked: network error: request to"),
        "{text}"
    );
    assert!(text.contains("connection refused"), "{text}");
    assert!(!v["problems"].to_string().contains("issuer discovery"));

    // A silent issuer: the check gives up after http_timeout_seconds.
    m.fault(
        "/issuer/.well-known/openid-configuration",
        Fault::delay(Duration::from_secs(8)),
    );
    let f = token_file("silent", &m.issuer_jwt(Alg::RS256, 3600));
    let t0 = Instant::now();
    let o = doctor(&m, &f, &["--json"])
        .env("DATABRICKS_HTTP_TIMEOUT_SECONDS", "1")
        .output()
        .unwrap();
    let took = t0.elapsed();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(verdict(&v, "discovery"), "not checked", "{v}");
    assert!(
        v["issuer"]["discovery"]["detail"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{v}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn a_cluster_internal_issuer_is_flagged_with_the_platform_fixes() {
    let m = MockServer::start();
    let iss = "https://kubernetes.default.svc";
    m.set_policy(iss, mock::AUDIENCE, mock::SUBJECT);
    let jwt = mock::jwt(&claims(iss));
    let (o, text, v) = both(&m, &jwt, "internal");
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert_eq!(verdict(&v, "reachable"), "fail");
    assert!(
        text.contains("kubernetes.default.svc is a cluster-internal name: Databricks fetches the keys over the internet and cannot reach it"),
        "{text}"
    );
    for fix in [
        "az aks update -g <rg> -n <cluster> --enable-oidc-issuer",
        "--query oidcIssuerProfile.issuerUrl",
        "aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer",
        "https://container.googleapis.com/v1/projects/<project>/locations/<location>/clusters/<cluster>",
        "--service-account-issuer=https://<public host> --service-account-jwks-uri=",
        "jwks_json",
    ] {
        assert!(text.contains(fix), "missing {fix:?} in:\n{text}");
    }
    assert_eq!(verdict(&v, "discovery"), "not checked");
    assert!(text.contains("resolves only inside the cluster"), "{text}");
    // The printed policy does not repeat the unreachable issuer.
    let policy: Value = serde_json::from_str(
        v["federation_policy_for_this_token"]["json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        policy["oidc_policy"]["issuer"],
        "<the cluster's public issuer URL>"
    );
    assert_eq!(policy["oidc_policy"]["audiences"][0], mock::ACCOUNT_ID);
    assert!(
        v["problems"]
            .to_string()
            .contains("issuer reachable: kubernetes.default.svc")
    );
}

#[test]
fn keys_in_the_policy_replace_discovery() {
    let m = MockServer::start();
    let iss = "https://kubernetes.default.svc";
    let jwt = m.signed_jwt(Alg::RS256, &claims(iss));
    let f = token_file("jwks-json", &jwt);
    let dir = temp_dir("jwks-json");
    let policy = json!({"oidc_policy": {"issuer": iss, "audiences": [mock::AUDIENCE],
        "subject": mock::SUBJECT, "jwks_json": m.jwks_json()}});
    let p = write(&dir, "policy.json", &policy.to_string());
    let o = doctor(&m, &f, &["--json", "--policy", p.to_str().unwrap()])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(verdict(&v, "reachable"), "warning", "{v}");
    assert_eq!(verdict(&v, "keys"), "ok");
    assert_eq!(verdict(&v, "signature"), "ok", "{v}");
    let printed: Value = serde_json::from_str(
        v["federation_policy_for_this_token"]["json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(printed["oidc_policy"]["issuer"], iss);
    // jwks_uri: fetched instead of the (unreachable) issuer's discovery document.
    let policy = json!({"issuer": iss, "subject": mock::SUBJECT,
        "jwks_uri": format!("{}/jwks", m.issuer_url())});
    let p = write(&dir, "policy-uri.json", &policy.to_string());
    let o = doctor(&m, &f, &["--json", "--policy", p.to_str().unwrap()])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(verdict(&v, "signature"), "ok", "{v}");
    assert_eq!(
        verdict(&v, "reachable"),
        "fail",
        "the jwks_uri is on loopback: {v}"
    );
    assert_eq!(
        v["policy_check"]["audience"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("match")
    );
}

#[test]
fn policy_subject_claim_other_than_sub() {
    let m = MockServer::start();
    let mut c = claims(&m.issuer_url());
    c["email"] = json!("etl@example.com");
    let f = token_file("subject-claim", &m.signed_jwt(Alg::ES256, &c));
    let dir = temp_dir("subject-claim");
    for (claim, subject, want) in [
        (
            "email",
            "etl@example.com",
            "match: policy 'etl@example.com', token's email 'etl@example.com'",
        ),
        (
            "email",
            "other@example.com",
            "MISMATCH: policy 'other@example.com', token's email 'etl@example.com'",
        ),
        (
            "groups",
            "x",
            "MISMATCH: policy 'x' via subject_claim: the token has no 'groups' claim",
        ),
    ] {
        let policy = json!({"oidc_policy": {"issuer": m.issuer_url(), "audiences": [mock::AUDIENCE],
            "subject_claim": claim, "subject": subject}});
        let p = write(&dir, "p.json", &policy.to_string());
        let o = doctor(&m, &f, &["--policy", p.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(
            text.contains(&format!("subject                {want}")),
            "{claim}/{subject}:\n{text}"
        );
        assert_eq!(
            text.contains("would refuse this token"),
            want.starts_with("MISMATCH")
        );
    }
}

#[test]
fn hostile_claims_stay_quoted_in_every_pasteable_form() {
    let m = MockServer::start();
    let sub = "x' \"$(touch /tmp/pwned)\" `id` ${HOME}\n%{ if true }evil\u{1b}[31m";
    let mut c = claims(&m.issuer_url());
    c["sub"] = json!(sub);
    let f = token_file("hostile", &m.signed_jwt(Alg::RS256, &c));
    let account = "acct\"\n- injected: true";
    let o = doctor(&m, &f, &["--json"])
        .env("DATABRICKS_ACCOUNT_ID", account)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["federation_policy_for_this_token"];
    // JSON: parses back to the very claim.
    let policy: Value = serde_json::from_str(p["json"].as_str().unwrap()).unwrap();
    assert_eq!(policy["oidc_policy"]["subject"], sub);
    assert_eq!(policy["oidc_policy"]["audiences"][0], account);
    // Shell: bash reads the printed command back as the same words.
    let line = p["databricks_cli"]
        .as_str()
        .unwrap()
        .replace("<SP_NUMERIC_ID>", "42");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("databricks() {{ printf '%s\\0' \"$@\"; }}; {line}"))
        .output()
        .unwrap();
    let words: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .split('\0')
        .collect();
    assert_eq!(
        words[words.len() - 2],
        p["json"].as_str().unwrap(),
        "{line}"
    );
    // YAML: the projected volume carries the account id verbatim.
    let yaml = p["projected_token"].as_str().unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(yaml).unwrap();
    let src = &docs[0]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
    assert_eq!(src["audience"].as_str(), Some(account), "{yaml}");
    assert_eq!(src["expirationSeconds"].as_i64(), Some(3600));
    assert_eq!(src["path"].as_str(), Some("token"));
    // HCL: no template sequence survives unescaped.
    let tf = p["terraform"].as_str().unwrap();
    assert!(
        tf.contains("$${HOME}") && tf.contains("%%{ if true }"),
        "{tf}"
    );
    assert!(!tf.contains('\u{1b}'));
    // Text: no raw escape character reaches the terminal.
    let o = doctor(&m, &f, &[])
        .env("DATABRICKS_ACCOUNT_ID", account)
        .output()
        .unwrap();
    assert!(
        !o.stdout.contains(&0x1b),
        "an ESC byte reached the terminal"
    );
}

#[test]
fn the_discovered_account_id_is_the_default_audience() {
    let m = MockServer::start();
    let jwt = jwt_file("account");
    let o = doctor(&m, &jwt, &[]).output().unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "account id             {} (from {}/.well-known/databricks-config)",
            mock::ACCOUNT_ID,
            m.url()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("audience: \"{}\"", mock::ACCOUNT_ID)),
        "{text}"
    );
    assert!(!text.contains("<your account id>") && !text.contains("<databricks account id>"));
}

#[test]
fn an_untrusted_certificate_says_what_to_do() {
    let m = MockServer::start();
    let jwt = jwt_file("untrusted");
    let o = doctor(&m, &jwt, &[])
        .env_remove("SSL_CERT_FILE")
        .env("DATABRICKS_RETRY_TIMEOUT_SECONDS", "2")
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(
        text.contains("set SSL_CERT_FILE or DATABRICKS_CA_BUNDLE (ca_bundle)"),
        "{text}"
    );
    // "check the host URL" alone was the old advice; now it only follows the CA fix.
    for line in text.lines().filter(|l| l.contains("check the host URL")) {
        assert!(line.contains("SSL_CERT_FILE"), "{line}");
    }
}

#[test]
fn entra_workload_identity_gets_the_issuer_checks_and_its_credential_command() {
    let m = MockServer::start();
    m.set_policy(&m.issuer_url(), mock::AUDIENCE, mock::SUBJECT);
    let mut c = claims(&m.issuer_url());
    c["aud"] = json!([mock::AZURE_AUDIENCE]);
    let f = token_file("entra", &m.signed_jwt(Alg::RS256, &c));
    let o = Command::new(env!("CARGO_BIN_EXE_dbtoken"))
        .env_clear()
        .env("HOME", temp_dir("doctor-home"))
        .env("DATABRICKS_HOST", m.url())
        .env("SSL_CERT_FILE", m.ca_path())
        .env(
            "DATABRICKS_AZURE_RESOURCE_ID",
            "/subscriptions/x/resourceGroups/y/providers/Microsoft.Databricks/workspaces/z",
        )
        .env("AZURE_FEDERATED_TOKEN_FILE", &f)
        .env("AZURE_CLIENT_ID", mock::AZURE_CLIENT_ID)
        .env("AZURE_TENANT_ID", mock::AZURE_TENANT_ID)
        .env("AZURE_AUTHORITY_HOST", format!("{}/", m.url()))
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["auth_types"]["chosen"], "azure-workload-identity");
    assert_eq!(verdict(&v, "signature"), "ok", "{v}");
    let cmd = v["federation_policy_for_this_token"]["entra_federated_credential"]
        .as_str()
        .unwrap();
    assert!(
        cmd.starts_with("az identity federated-credential create"),
        "{cmd}"
    );
    assert!(
        cmd.contains(&format!("--subject {}", mock::SUBJECT)),
        "{cmd}"
    );
    assert!(
        cmd.contains("--audience api://AzureADTokenExchange"),
        "{cmd}"
    );
    assert_eq!(
        v["federation_policy_for_this_token"]["audience"],
        Value::Null
    );
}
