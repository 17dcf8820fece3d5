//! `dbtoken doctor`: why auth works or not. Shows the configuration with the source of every
//! value, which auth type was chosen and why the others were not, the federated token (file,
//! symlink, age, decoded claims), the token endpoint, the exchange result with a concrete fix,
//! and the federation policy that accepts this token, ready to paste. Never the token or JWT.

use std::path::Path;
use std::time::SystemTime;

mod advice;
mod issuer;
mod policy;
mod quote;

use miniserde::json::{Array, Number, Object, Value};

use crate::auth::azure_workload_identity::KIND as AZURE_WORKLOAD_IDENTITY;
use crate::auth::m2m::KIND as OAUTH_M2M;
use crate::auth::pat::KIND as PAT;
use dbtoken::issuer::{Reach, Verdict, printable};
use dbtoken::{Claims, Config, ErrorKind, FederatedToken, Key, TokenSource};

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
        let p = p.into();
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }
    /// A check with its verdict, what was found and, when it did not pass, the fix.
    fn check(&mut self, key: &str, verdict: Verdict, detail: &str, fix: Option<&str>) {
        let mut o = Object::new();
        o.insert("verdict".into(), Value::String(verdict.name().into()));
        o.insert("detail".into(), Value::String(detail.into()));
        if let Some(f) = fix {
            o.insert("fix".into(), Value::String(f.into()));
        }
        self.row(key, Value::Object(o));
    }

    fn render_text(&self) -> String {
        let mut out = String::new();
        for (name, rows) in &self.sections {
            out.push_str(&format!("\n== {name}\n"));
            for (k, v) in rows {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    Value::Object(o) if o.contains_key("verdict") => check_text(o),
                    other => miniserde::json::to_string(other),
                };
                // Claims and server answers are untrusted: no control character reaches the
                // terminal, and every line of a block stays indented under its key.
                let shown: String = shown
                    .split('\n')
                    .map(printable)
                    .collect::<Vec<_>>()
                    .join("\n");
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
            let mut lines = p.split('\n').map(printable);
            out.push_str(&format!("  - {}\n", lines.next().unwrap_or_default()));
            for line in lines {
                out.push_str(&format!("    {line}\n"));
            }
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

/// `FAIL: detail` and, on following lines, `fix: …`.
fn check_text(o: &Object) -> String {
    let get = |k: &str| match o.get(k) {
        Some(Value::String(s)) => s.as_str(),
        _ => "",
    };
    let verdict = match get("verdict") {
        "fail" => "FAIL".to_string(),
        "warning" => "WARNING".to_string(),
        v => v.to_string(),
    };
    let mut s = format!("{verdict}: {}", get("detail"));
    if o.contains_key("fix") {
        s.push_str(&format!("\n  fix: {}", get("fix").replace('\n', "\n    ")));
    }
    s
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

    let policy = args
        .policy
        .as_deref()
        .and_then(|p| policy::Policy::load(p).map_err(|e| r.problem(e)).ok());
    let federated = federated_token(&client, r);
    let claims = federated.as_ref().map(|f| f.claims.clone());

    r.section("token endpoint");
    match client.discover() {
        Ok(Some(ep)) => {
            r.text("url", ep.url.clone());
            r.text("found via", ep.via.clone());
        }
        Ok(None) => r.text("url", "none (a personal access token needs no exchange)"),
        Err(e) => r.problem(e.to_string()),
    }
    let account = account_id(&client, &resolved, r);

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
            if let Some(fix) = tls_fix(&e.to_string()).or_else(|| {
                translate(
                    &e,
                    claims.as_ref(),
                    &client,
                    account.as_ref().map(|a| a.0.as_str()),
                )
            }) {
                r.problem(fix);
            }
            e.kind().exit_code()
        }
    };

    if let Some(f) = &federated {
        let jwt = f.jwt.expose();
        let reach = f
            .claims
            .iss
            .as_deref()
            .map(|iss| issuer::section(r, &resolved, iss, jwt, policy.as_ref()));
        let keys_in_policy = policy
            .as_ref()
            .is_some_and(|p| p.jwks_json.is_some() || p.jwks_uri.is_some());
        advice::policy(
            &advice::Inputs {
                auth_type: client.auth_type(),
                client_id: client.federation_client_id(),
                source: client.federated_token_source(),
                claims: &f.claims,
                account: account.clone(),
                issuer_unreachable: !keys_in_policy && reach.is_some_and(|r| r != Reach::Public),
            },
            r,
        );
        if let (Some(p), Ok(jws)) = (&policy, dbtoken::jws::Jws::parse(jwt)) {
            p.check(&jws, account.as_ref().map(|a| a.0.as_str()), r);
        }
    }
    if code == 0 && !r.problems.is_empty() {
        return 0;
    }
    code
}

fn federated_token(client: &dbtoken::Client, r: &mut Report) -> Option<FederatedToken> {
    let source = client.federated_token_source()?;
    r.section("federated token");
    r.text("source", source.describe());
    if let TokenSource::File { path, .. } = source {
        file_facts(path, r);
    }
    match source.read() {
        Ok(t) => {
            let c = &t.claims;
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
            if let Ok(jws) = dbtoken::jws::Jws::parse(t.jwt.expose()) {
                r.text("kid", jws.kid().unwrap_or("(none)"));
            }
            Some(t)
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
    account_id: Option<&str>,
) -> Option<String> {
    if e.kind() != ErrorKind::Rejected {
        return None;
    }
    // "subject token" is OAuth's name for the JWT, not the policy's subject.
    let d = e
        .server_description()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace("subject token", "token")
        .replace("subject_token", "token");
    let iss = printable(c.and_then(|c| c.iss.as_deref()).unwrap_or_default());
    let sub = printable(c.and_then(|c| c.sub.as_deref()).unwrap_or_default());
    let aud = printable(&c.map(|c| c.aud.join(", ")).unwrap_or_default());
    let account = printable(account_id.unwrap_or("<your account id>"));
    Some(
        if d.contains("signature") || d.contains("kid") || d.contains("jwks") {
            "fix: Databricks could not verify the token's signature with the keys its issuer publishes (see issuer)".to_string()
        } else if d.contains("issuer") {
            format!(
                "fix: set the policy's issuer to exactly '{iss}' if Databricks can fetch it (see issuer; for AKS: az aks show --query oidcIssuerProfile.issuerUrl)"
            )
        } else if d.contains("audience") && aud.contains("kubernetes.default.svc") {
            format!(
                "fix: the token's aud '{aud}' is the API server's (the pod's default token): project a token with audience '{account}', the policy's default audience (see 'projected token'); do not add the API server's audience to the policy"
            )
        } else if d.contains("audience") {
            format!(
                "fix: the token's aud is '{aud}': project the token with audience '{account}', the policy's default audience (see 'projected token'), or add '{aud}' to the policy's audiences"
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
        },
    )
}

/// The account id: configured, or published by `{host}/.well-known/databricks-config`.
/// A certificate failure on that GET is explained here.
fn account_id(
    client: &dbtoken::Client,
    cfg: &dbtoken::Resolved,
    r: &mut Report,
) -> Option<(String, String)> {
    if let Some(id) = cfg.get(Key::AccountId) {
        let from = cfg.describe(Key::AccountId);
        r.text("account id", format!("{id} (from {from})"));
        return Some((id.to_string(), from));
    }
    if client.auth_type().is(&PAT) {
        return None;
    }
    match dbtoken::databricks_account_id(cfg, client.host()) {
        Ok(Some(id)) => {
            let from = format!("{}/.well-known/databricks-config", client.host());
            r.text("account id", format!("{id} (from {from})"));
            Some((id, from))
        }
        Ok(None) => {
            r.text(
                "account id",
                "unknown (discovery did not publish it; set DATABRICKS_ACCOUNT_ID)",
            );
            None
        }
        Err(e) => {
            r.text("account id", format!("unknown: {e}"));
            r.problem(tls_fix(&e.to_string()).unwrap_or_else(|| {
                format!(
                    "{e}; is DATABRICKS_HOST ({}) the workspace URL?",
                    client.host()
                )
            }));
            None
        }
    }
}

/// What to do when a server's certificate is not trusted.
fn tls_fix(error: &str) -> Option<String> {
    // Upper-case "TLS" (as transport errors say it), so a host named tls.… does not match.
    (error.contains("TLS") || error.to_ascii_lowercase().contains("certificate")).then(|| {
        "fix: the server's TLS certificate is not trusted here. If a TLS-inspecting proxy or a private CA signs it, set SSL_CERT_FILE or DATABRICKS_CA_BUNDLE (ca_bundle) to that CA's PEM file; otherwise check the host name".to_string()
    })
}
