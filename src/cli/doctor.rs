//! `dbtoken doctor`: why auth works or not. Shows the configuration with the source of every
//! value, which auth type was chosen and why the others were not, the federated token (file,
//! symlink, age, decoded claims), the token endpoint, the exchange result with a concrete fix,
//! and the federation policy that accepts this token, ready to paste. Never the token or JWT.

use std::path::Path;
use std::time::SystemTime;

use miniserde::json::{Array, Number, Object, Value};

use crate::auth::azure_workload_identity::KIND as AZURE_WORKLOAD_IDENTITY;
use crate::auth::m2m::KIND as OAUTH_M2M;
use dbtoken::{Claims, Config, ErrorKind, Key, TokenSource};

pub struct Args {
    pub json: bool,
    pub profile: Option<String>,
    pub policy: Option<std::path::PathBuf>,
}

/// An ordered report: sections of rows, rendered as text or JSON.
#[derive(Default)]
struct Report {
    sections: Vec<(&'static str, Vec<(String, Value)>)>,
    problems: Vec<String>,
}

impl Report {
    fn section(&mut self, name: &'static str) {
        self.sections.push((name, Vec::new()));
    }
    fn row(&mut self, key: impl Into<String>, value: Value) {
        self.sections
            .last_mut()
            .expect("a section")
            .1
            .push((key.into(), value));
    }
    fn text(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.row(key, Value::String(value.into()));
    }
    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn render_text(&self) -> String {
        let mut out = String::new();
        for (name, rows) in &self.sections {
            out.push_str(&format!("\n== {name}\n"));
            for (k, v) in rows {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => miniserde::json::to_string(other),
                };
                if shown.contains('\n') {
                    out.push_str(&format!("  {k}:\n"));
                    for line in shown.lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                } else {
                    out.push_str(&format!("  {k:<22} {shown}\n"));
                }
            }
        }
        out.push_str("\n== verdict\n");
        if self.problems.is_empty() {
            out.push_str("  no problem found\n");
        }
        for p in &self.problems {
            out.push_str(&format!("  - {p}\n"));
        }
        out
    }

    fn render_json(&self) -> String {
        let mut root = Object::new();
        for (name, rows) in &self.sections {
            let mut o = Object::new();
            for (k, v) in rows {
                o.insert(k.replace(' ', "_"), v.clone());
            }
            root.insert(name.replace(' ', "_"), Value::Object(o));
        }
        root.insert("problems".into(), strings(&self.problems));
        miniserde::json::to_string(&Value::Object(root))
    }
}

fn strings(v: &[String]) -> Value {
    Value::Array(
        v.iter()
            .map(|s| Value::String(s.clone()))
            .collect::<Array>(),
    )
}

fn num(n: i64) -> Value {
    Value::Number(Number::I64(n))
}

fn now() -> i64 {
    crate::time::unix_now()
}

/// Run the checks; returns the exit code (0 when a token was obtained).
pub fn run(args: &Args) -> i32 {
    let mut r = Report::default();
    let code = diagnose(args, &mut r);
    if args.json {
        println!("{}", r.render_json());
    } else {
        print!("{}", r.render_text());
    }
    code
}

fn diagnose(args: &Args, r: &mut Report) -> i32 {
    r.section("configuration");
    let mut config = Config::new();
    if let Some(p) = &args.profile {
        let _ = config.set("profile", p);
    }
    let resolved = match config.resolve() {
        Ok(res) => res,
        Err(e) => {
            r.problem(e.to_string());
            return e.kind().exit_code();
        }
    };
    match resolved.config_file() {
        Some(p) if p.exists() => r.text(
            "config file",
            format!("{} (profile [{}])", p.display(), resolved.profile()),
        ),
        Some(p) => r.text("config file", format!("{} (absent)", p.display())),
        None => r.text("config file", "none"),
    }
    for a in dbtoken::ATTRS {
        if let (Some(v), Some(src)) = (resolved.get(a.key()), resolved.source(a.key())) {
            let shown = if a.sensitive {
                "[set, hidden]".to_string()
            } else {
                v.to_string()
            };
            r.text(a.key, format!("{shown}  ({src})"));
        }
    }

    r.section("auth types");
    match dbtoken::verdicts(&resolved) {
        Ok(vs) => {
            for v in vs {
                let mark = if v.applies { "applies" } else { "skipped" };
                r.text(v.auth_type.name(), format!("{mark}: {}", v.detail));
            }
        }
        Err(e) => {
            r.problem(e.to_string());
            return e.kind().exit_code();
        }
    }
    let client = match dbtoken::Client::from_resolved(&resolved) {
        Ok(c) => c,
        Err(e) => {
            r.problem(e.to_string());
            return e.kind().exit_code();
        }
    };
    r.text("chosen", client.auth_type().name());
    r.text("host", client.host());
    match client.id_token_audience() {
        Some(Ok(a)) => r.text(
            "id token audience",
            format!("{} (from {})", a.value, a.rule),
        ),
        Some(Err(e)) => r.problem(e.to_string()),
        None => {}
    }

    let claims = federated_token(&client, r);

    r.section("token endpoint");
    match client.discover() {
        Ok(Some(ep)) => {
            r.text("url", ep.url.clone());
            r.text("found via", ep.via.clone());
            if ep.via.contains("discovery unavailable") {
                r.problem(format!(
                    "discovery documents did not answer at {}; the default endpoint is used (check the host URL)",
                    client.host()
                ));
            }
        }
        Ok(None) => r.text("url", "none (a personal access token needs no exchange)"),
        Err(e) => r.problem(e.to_string()),
    }

    r.section("exchange");
    let code = match client.token() {
        Ok(t) => {
            r.text("result", "ok");
            r.text("token type", t.token_type());
            if let Some(exp) = t.expires_on_unix() {
                r.text(
                    "expires",
                    format!(
                        "{} (in {} s)",
                        dbtoken::rfc3339(exp as i64),
                        exp as i64 - now()
                    ),
                );
            }
            0
        }
        Err(e) => {
            r.text("result", "failed");
            r.text("kind", format!("{:?}", e.kind()));
            if let Some(s) = e.http_status() {
                r.row("http status", num(i64::from(s)));
            }
            if let Some(s) = e.server_error() {
                r.text("server error", s);
            }
            if let Some(s) = e.server_description() {
                r.text("server description", s);
            }
            r.problem(e.to_string());
            if let Some(fix) = translate(&e, claims.as_ref(), &client, &resolved) {
                r.problem(fix);
            }
            e.kind().exit_code()
        }
    };

    if let Some(c) = &claims {
        policy(&client, &resolved, c, r);
        if let Some(path) = &args.policy {
            check_policy(path, c, &resolved, r);
        }
    }
    if code == 0 && !r.problems.is_empty() {
        return 0;
    }
    code
}

fn federated_token(client: &dbtoken::Client, r: &mut Report) -> Option<Claims> {
    let source = client.federated_token_source()?;
    r.section("federated token");
    r.text("source", source.describe());
    if let TokenSource::File { path, .. } = source {
        file_facts(path, r);
    }
    match source.read() {
        Ok(t) => {
            let c = t.claims.clone();
            let t0 = now();
            r.text("iss", c.iss.clone().unwrap_or_default());
            r.text("sub", c.sub.clone().unwrap_or_default());
            r.row("aud", strings(&c.aud));
            if let Some(exp) = c.exp {
                r.text(
                    "exp",
                    format!("{} ({} s left)", dbtoken::rfc3339(exp), exp - t0),
                );
            }
            if let Some(iat) = c.iat {
                r.text(
                    "iat",
                    format!("{} ({} s ago)", dbtoken::rfc3339(iat), t0 - iat),
                );
            }
            if let Some(alg) = &c.alg {
                r.text("alg", alg.clone());
                if alg != "RS256" && alg != "ES256" {
                    r.problem(format!("the JWT is signed with {alg}; Databricks token federation accepts RS256 and ES256"));
                }
            }
            if let (Some(iat), Some(exp)) = (c.iat, c.exp) {
                if exp - iat > 24 * 3600 && client.auth_type().is(&AZURE_WORKLOAD_IDENTITY) {
                    r.problem("the token lives longer than 24 h; Entra refuses lifetimes over 25 h (AADSTS70023): lower expirationSeconds");
                }
            }
            Some(c)
        }
        Err(e) => {
            r.problem(e.to_string());
            None
        }
    }
}

fn file_facts(path: &Path, r: &mut Report) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::canonicalize(path).map(|p| p.display().to_string());
            r.text(
                "symlink",
                format!(
                    "yes -> {}",
                    target.unwrap_or_else(|e| format!("(dangling: {e})"))
                ),
            );
        }
        Ok(_) => r.text(
            "symlink",
            "no (a projected volume is a symlink into ..data; is this the mounted path?)",
        ),
        Err(e) => {
            r.text("symlink", format!("cannot stat: {e}"));
            return;
        }
    }
    if let Ok(m) = std::fs::metadata(path) {
        if let Ok(modified) = m.modified() {
            let age = SystemTime::now()
                .duration_since(modified)
                .map_or(0, |d| d.as_secs());
            r.text("age", format!("{age} s since last written"));
        }
        r.row("size", num(m.len() as i64));
    }
}

/// A concrete fix from the server's words.
fn translate(
    e: &dbtoken::Error,
    c: Option<&Claims>,
    client: &dbtoken::Client,
    cfg: &dbtoken::Resolved,
) -> Option<String> {
    if e.kind() != ErrorKind::Rejected {
        return None;
    }
    let d = e
        .server_description()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let iss = c.and_then(|c| c.iss.clone()).unwrap_or_default();
    let sub = c.and_then(|c| c.sub.clone()).unwrap_or_default();
    let aud = c.map(|c| c.aud.join(", ")).unwrap_or_default();
    let account = cfg.get(Key::AccountId).unwrap_or("<your account id>");
    Some(if d.contains("issuer") {
        format!(
            "fix: set the policy's issuer to exactly '{iss}' (for AKS: az aks show --query oidcIssuerProfile.issuerUrl)"
        )
    } else if d.contains("audience") {
        format!(
            "fix: the token's aud is '{aud}'; add it to the policy's audiences, or project the token with audience '{account}' (the default policy audience is the account id)"
        )
    } else if d.contains("subject") {
        format!(
            "fix: set the policy's subject to exactly '{sub}' (system:serviceaccount:<namespace>:<service account>)"
        )
    } else if d.contains("expired") {
        "fix: the token file is stale; check that kubelet mounts a projected serviceAccountToken at this path".to_string()
    } else if e.server_error() == Some("invalid_client") && !client.auth_type().is(&OAUTH_M2M) {
        format!(
            "fix: no service principal with application id '{}' has a federation policy; DATABRICKS_CLIENT_ID must be the SP's application id (a UUID), not its numeric id",
            client.federation_client_id().unwrap_or("")
        )
    } else {
        return None;
    })
}

fn policy(client: &dbtoken::Client, cfg: &dbtoken::Resolved, c: &Claims, r: &mut Report) {
    r.section("federation policy for this token");
    let iss = c.iss.clone().unwrap_or_default();
    let sub = c.sub.clone().unwrap_or_default();
    if client.auth_type().is(&AZURE_WORKLOAD_IDENTITY) {
        let app = client.federation_client_id().unwrap_or("<client id>");
        r.text(
            "entra federated credential",
            format!(
                "az identity federated-credential create --name dbtoken --identity-name <managed identity> \\\n  --resource-group <rg> --issuer '{iss}' --subject '{sub}' --audience api://AzureADTokenExchange\n(or, for an app registration {app}: az ad app federated-credential create --id {app} --parameters ...)"
            ),
        );
        return;
    }
    let aud: Vec<String> = if c.aud.is_empty() {
        vec![
            cfg.get(Key::AccountId)
                .unwrap_or("<account id>")
                .to_string(),
        ]
    } else {
        c.aud.clone()
    };
    let aud_json = miniserde::json::to_string(&strings(&aud));
    match client.federation_client_id() {
        Some(_) => {
            let json = format!(
                r#"{{"oidc_policy":{{"issuer":"{iss}","audiences":{aud_json},"subject":"{sub}"}}}}"#
            );
            r.text(
                "kind",
                "service principal federation policy (client_id is sent)",
            );
            r.text("json", json.clone());
            r.text("databricks cli", format!("databricks account service-principal-federation-policy create <SP_NUMERIC_ID> --json '{json}'"));
            r.text(
                "terraform",
                format!(
                    "resource \"databricks_service_principal_federation_policy\" \"dbtoken\" {{\n  service_principal_id = <SP_NUMERIC_ID>\n  policy_id            = \"dbtoken\"\n  oidc_policy = {{\n    issuer    = \"{iss}\"\n    audiences = {aud_json}\n    subject   = \"{sub}\"\n  }}\n}}"
                ),
            );
        }
        None => {
            let json = format!(
                r#"{{"oidc_policy":{{"issuer":"{iss}","audiences":{aud_json},"subject_claim":"sub"}}}}"#
            );
            r.text("kind", "account-wide federation policy (no client_id is sent; sub must name a Databricks user or service principal)");
            r.text("json", json.clone());
            r.text(
                "databricks cli",
                format!("databricks account federation-policy create --json '{json}'"),
            );
            r.text(
                "terraform",
                format!(
                    "resource \"databricks_account_federation_policy\" \"dbtoken\" {{\n  policy_id = \"dbtoken\"\n  oidc_policy = {{\n    issuer        = \"{iss}\"\n    audiences     = {aud_json}\n    subject_claim = \"sub\"\n  }}\n}}"
                ),
            );
        }
    }
}

/// Predict whether a given policy accepts this token.
fn check_policy(path: &Path, c: &Claims, cfg: &dbtoken::Resolved, r: &mut Report) {
    r.section("policy check");
    r.text("policy file", path.display().to_string());
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return r.problem(format!("cannot read --policy {}: {e}", path.display())),
    };
    let root = match miniserde::json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => o,
        _ => return r.problem(format!("--policy {} is not a JSON object", path.display())),
    };
    let p = match root.get("oidc_policy") {
        Some(Value::Object(o)) => o.clone(),
        _ => root,
    };
    let get = |k: &str| match p.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let mut ok = true;
    let mut verdict = |r: &mut Report, field: &str, pass: bool, detail: String| {
        ok &= pass;
        r.text(
            field,
            format!("{} {detail}", if pass { "match:" } else { "MISMATCH:" }),
        );
    };
    let iss = c.iss.clone().unwrap_or_default();
    let piss = get("issuer").unwrap_or_default();
    verdict(
        r,
        "issuer",
        piss == iss,
        format!("policy '{piss}', token '{iss}'"),
    );
    let paud: Vec<String> = match p.get("audiences") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| {
                if let Value::String(s) = v {
                    Some(s.clone())
                } else {
                    None
                }
            })
            .collect(),
        _ => cfg
            .get(Key::AccountId)
            .map(|a| vec![a.to_string()])
            .unwrap_or_default(),
    };
    let aud_ok = c.aud.iter().any(|a| paud.contains(a));
    verdict(
        r,
        "audience",
        aud_ok,
        format!("policy {:?}, token {:?}", paud, c.aud),
    );
    let claim = get("subject_claim").unwrap_or_else(|| "sub".into());
    if let Some(psub) = get("subject") {
        if claim == "sub" {
            let sub = c.sub.clone().unwrap_or_default();
            verdict(
                r,
                "subject",
                psub == sub,
                format!("policy '{psub}', token '{sub}'"),
            );
        } else {
            r.text(
                "subject",
                format!("not checked: subject_claim '{claim}' is not a standard claim"),
            );
        }
    }
    if !ok {
        r.problem(format!(
            "the policy in {} would refuse this token (see policy check)",
            path.display()
        ));
    }
}
