//! Auth types, each described once: a [`Kind`] in its own file under `src/auth/` holds the
//! name, the configuration it needs, how it judges whether it applies and how it obtains a
//! token (its [`Flow`]). The chooser, `doctor`'s verdicts, `exec`'s variable scrubbing and the
//! docs' auth type table (docs/src/reference/auth-types.md) are all derived from [`KINDS`];
//! adding a type is its own file, one line in `KINDS` and its tests.
//!
//! Choosing works like the SDKs' unified auth, with errors that say exactly which variable each
//! type lacked: with `auth_type` set, that type; otherwise every type is judged in the order of
//! [`KINDS`] and exactly one must apply (two applying is an error naming both).

pub(crate) mod azure_client_secret;
pub(crate) mod azure_devops_oidc;
pub(crate) mod azure_msi;
pub(crate) mod azure_workload_identity;
pub(crate) mod env_oidc;
pub(crate) mod file_oidc;
mod flows;
pub(crate) mod github_oidc;
pub(crate) mod github_oidc_azure;
pub(crate) mod m2m;
pub(crate) mod pat;

use std::fmt;

use std::path::PathBuf;

use crate::config::{Key, Resolved};
use crate::error::{Error, Result};
use crate::exchange::Issued;
use crate::exchange::ci::{IdTokenRequest, Requested};
use crate::exchange::databricks::{Federation, Subject};
use crate::exchange::discovery::{Discovery, Endpoint};
use crate::http::Http;
use crate::source::TokenSource;

/// Every auth type, in selection order (the SDKs' order).
pub(crate) const KINDS: &[&Kind] = &[
    &pat::KIND,
    &m2m::KIND,
    &github_oidc::KIND,
    &azure_devops_oidc::KIND,
    &azure_workload_identity::KIND,
    &env_oidc::KIND,
    &file_oidc::KIND,
    &github_oidc_azure::KIND,
    &azure_msi::KIND,
    &azure_client_secret::KIND,
];

/// One auth type, described once.
pub(crate) struct Kind {
    /// The name used in `auth_type` / `DATABRICKS_AUTH_TYPE`.
    pub name: &'static str,
    /// Configuration keys it reads (for the README, `doctor` and `exec`'s scrubbing).
    pub keys: &'static [Key],
    /// Configuration keys it also reads when set.
    pub optional: &'static [Key],
    /// Variables it reads directly, outside the configuration table (CI systems' own).
    pub vars: &'static [&'static str],
    /// What else must hold, in words, appended to the README's "needs" ("" for nothing).
    /// README-only, like `does`: kept out of the binary.
    #[cfg(test)]
    pub also: &'static str,
    /// What it does, one line for the README.
    #[cfg(test)]
    pub does: &'static str,
    /// Whether it applies, and if so the flow that obtains tokens.
    pub judge: fn(&Ctx<'_>) -> Judged,
}

/// A flow that obtains tokens, or what the configuration lacks for it.
pub(crate) type Judged = std::result::Result<Box<dyn Flow>, Vec<String>>;

/// How a token is obtained, once an auth type applies.
pub(crate) trait Flow: Send + Sync {
    /// Obtain a token now.
    fn fetch(&self, http: &Http) -> Result<Issued>;
    /// What `doctor`, the chooser's messages and [`crate::Client`] report, without a request.
    fn facts(&self) -> Facts<'_>;
}

/// What a flow can tell without a request.
pub(crate) struct Facts<'a> {
    /// What it uses, for `doctor` and the "more than one applies" error.
    pub uses: String,
    /// The token endpoint, when known.
    pub endpoint: Option<Endpoint>,
    /// Where the federated JWT is read from, for flows that read one.
    pub source: Option<&'a TokenSource>,
    /// The application id the exchange is made for (`None` for an account-wide policy).
    pub client_id: Option<&'a str>,
    /// The Databricks token endpoint discovery, for flows that use one.
    pub discovery: Option<&'a Discovery>,
    /// The ID token it requests itself, if it does (its audience needs the token endpoint).
    pub requested: Option<&'a Requested>,
}

/// The audience of an ID token dbtoken requests itself, and which rule gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Audience {
    pub value: String,
    pub rule: &'static str,
}

/// An auth type. Compare with `==`; its name is what `DATABRICKS_AUTH_TYPE` takes.
#[derive(Clone, Copy)]
pub struct AuthType(&'static Kind);

impl AuthType {
    /// Every auth type, in selection order.
    pub fn all() -> impl Iterator<Item = AuthType> {
        KINDS.iter().map(|k| AuthType(k))
    }

    /// The name used in `auth_type` / `DATABRICKS_AUTH_TYPE`.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Parse an `auth_type` value.
    pub fn parse(s: &str) -> Option<AuthType> {
        AuthType::all().find(|t| t.name().eq_ignore_ascii_case(s.trim()))
    }

    pub(crate) fn is(self, kind: &Kind) -> bool {
        self.0.name == kind.name
    }
}

impl PartialEq for AuthType {
    fn eq(&self, other: &AuthType) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for AuthType {}

impl fmt::Debug for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthType({})", self.0.name)
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

/// Whether one auth type applies to a configuration, and why (for messages and `doctor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub auth_type: AuthType,
    pub applies: bool,
    /// What it uses (when it applies) or what it lacks.
    pub detail: String,
}

/// The normalized host and facts about it.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub url: String,
    pub azure: bool,
    pub account: bool,
}

/// What a judge reads: the configuration, the host, and whether the type was forced.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a Resolved,
    pub host: &'a Host,
    /// `auth_type` names this type: host-type conditions are waived.
    pub forced: bool,
}

impl Ctx<'_> {
    /// The keys that are unset, each named by the variable a user would set.
    pub fn missing(&self, keys: &[Key]) -> Vec<String> {
        keys.iter()
            .filter(|k| self.cfg.get(**k).is_none())
            .map(|k| self.cfg.describe(*k))
            .collect()
    }

    /// `Ok(())` when every key is set, else the list of what is missing.
    pub fn need(&self, keys: &[Key]) -> std::result::Result<(), Vec<String>> {
        none_missing(self.missing(keys))
    }

    /// The value of a key ("" when unset; call after [`Ctx::need`]).
    pub fn get(&self, key: Key) -> String {
        self.cfg.get(key).unwrap_or_default().to_string()
    }

    /// The value of a key, when set.
    pub fn opt(&self, key: Key) -> Option<String> {
        self.cfg.get(key).map(str::to_string)
    }

    /// An Azure Databricks host is required, unless the type was forced.
    fn need_azure(&self, missing: &mut Vec<String>) {
        if !self.host.azure && !self.forced {
            missing.push(format!(
                "an Azure Databricks host (*.azuredatabricks.net, *.databricks.azure.us, *.databricks.azure.cn; {} is not one) or DATABRICKS_AZURE_RESOURCE_ID",
                self.host.url
            ));
        }
    }

    /// The Databricks token endpoint discovery of this host.
    pub fn discovery(&self) -> Discovery {
        Discovery::new(
            self.host.url.clone(),
            self.opt(Key::AccountId),
            self.host.account,
            self.opt(Key::DiscoveryUrl),
        )
    }

    /// The `scope` parameter of Databricks token requests.
    pub fn scope(&self) -> String {
        crate::exchange::scope_param(self.cfg.get(Key::Scopes))
    }

    /// The federated JWT in the file a key names.
    pub fn file_source(&self, key: Key) -> TokenSource {
        TokenSource::File {
            path: PathBuf::from(self.get(key)),
            var: self.cfg.describe(key),
        }
    }

    /// Token federation of this host with a JWT from `subject`.
    pub fn federation(&self, subject: Subject) -> Federation {
        Federation {
            discovery: self.discovery(),
            subject,
            client_id: self.opt(Key::ClientId),
            scope: self.scope(),
        }
    }

    /// Token federation with an ID token requested from a CI system.
    pub fn ci_federation(&self, request: IdTokenRequest) -> Federation {
        self.federation(Subject::Requested(Requested {
            request,
            audience: self.opt(Key::TokenAudience),
            account_id: self.opt(Key::AccountId).filter(|_| self.host.account),
        }))
    }

    /// Every key set and an Azure Databricks host (or the type forced).
    pub fn need_on_azure(&self, keys: &[Key]) -> std::result::Result<(), Vec<String>> {
        let mut missing = self.missing(keys);
        self.need_azure(&mut missing);
        none_missing(missing)
    }

    /// The Entra authority: `azure_authority_host`, else the one of the host's Azure cloud.
    pub fn entra_authority(&self) -> std::result::Result<String, Vec<String>> {
        let name = crate::http::url_host(&self.host.url).unwrap_or_default();
        let default = if name.ends_with(".databricks.azure.us") {
            "https://login.microsoftonline.us/"
        } else if name.ends_with(".databricks.azure.cn") {
            "https://login.chinacloudapi.cn/"
        } else {
            crate::exchange::entra::DEFAULT_AUTHORITY
        };
        self.url(Key::AzureAuthorityHost, default)
    }

    /// A checked URL from a key (the Entra authority, the IMDS endpoint…), or `default`.
    pub fn url(&self, key: Key, default: &str) -> std::result::Result<String, Vec<String>> {
        let url = self.cfg.get(key).unwrap_or(default).to_string();
        checked(url, &self.cfg.describe(key))
    }
}

/// `url` when dbtoken may call it, else what is missing: a valid `what`.
pub(crate) fn checked(url: String, what: &str) -> std::result::Result<String, Vec<String>> {
    match crate::http::check_url(&url) {
        Ok(()) => Ok(url),
        Err(e) => Err(vec![format!("a valid {what}: {}", e.message())]),
    }
}

fn none_missing(missing: Vec<String>) -> std::result::Result<(), Vec<String>> {
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

pub(crate) fn host(cfg: &Resolved) -> Result<Host> {
    let Some(raw) = cfg.get(Key::Host) else {
        return Err(Error::config(format!(
            "no Databricks host: set DATABRICKS_HOST (host) to your workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net{}",
            file_note(cfg)
        )));
    };
    let raw = raw.trim();
    let url = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = url.trim_end_matches('/').to_string();
    crate::http::check_url(&url).map_err(|e| e.context(&cfg.describe(Key::Host)))?;
    let name = crate::http::url_host(&url)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let azure = [
        ".azuredatabricks.net",
        ".databricks.azure.us",
        ".databricks.azure.cn",
    ]
    .iter()
    .any(|d| name.ends_with(d))
        || cfg.get(Key::AzureWorkspaceResourceId).is_some();
    let account = name.starts_with("accounts.") || name.starts_with("accounts-dod.");
    Ok(Host {
        url,
        azure,
        account,
    })
}

fn file_note(cfg: &Resolved) -> String {
    match cfg.config_file() {
        Some(p) if p.exists() => format!(
            " (config file {} profile [{}] was read)",
            p.display(),
            cfg.profile()
        ),
        Some(p) => format!(" (no config file at {})", p.display()),
        None => String::new(),
    }
}

fn verdict(kind: &'static Kind, judged: &Judged) -> Verdict {
    Verdict {
        auth_type: AuthType(kind),
        applies: judged.is_ok(),
        detail: match judged {
            Ok(flow) => flow.facts().uses,
            Err(missing) => format!("needs {}", missing.join(" and ")),
        },
    }
}

/// Judge every auth type against this configuration.
pub(crate) fn verdicts(cfg: &Resolved) -> Result<Vec<Verdict>> {
    let host = host(cfg)?;
    let ctx = Ctx {
        cfg,
        host: &host,
        forced: false,
    };
    Ok(KINDS.iter().map(|k| verdict(k, &(k.judge)(&ctx))).collect())
}

/// Choose the auth type and build its flow.
pub(crate) fn choose(cfg: &Resolved) -> Result<(AuthType, Host, Box<dyn Flow>)> {
    let host = host(cfg)?;
    let forced = cfg.get(Key::AuthType);
    let ctx = Ctx {
        cfg,
        host: &host,
        forced: forced.is_some(),
    };
    if let Some(name) = forced {
        let by = cfg.describe(Key::AuthType);
        let t = AuthType::parse(name).ok_or_else(|| {
            let names: Vec<&str> = AuthType::all().map(AuthType::name).collect();
            let names = names.join(", ");
            Error::config(format!(
                "{by} is '{name}', which dbtoken does not support; use one of: {names}"
            ))
        })?;
        let flow = (t.0.judge)(&ctx).map_err(|missing| {
            let missing = missing.join(" and ");
            Error::config(format!(
                "auth type {t} was chosen by {by} but it needs {missing}"
            ))
        })?;
        return Ok((t, host, flow));
    }
    let mut applicable = Vec::new();
    let mut lacking = Vec::new();
    for kind in KINDS {
        let judged = (kind.judge)(&ctx);
        let v = verdict(kind, &judged);
        match judged {
            Ok(flow) => applicable.push((AuthType(kind), flow, v)),
            Err(_) => lacking.push(v),
        }
    }
    match applicable.len() {
        0 => {
            let mut msg = format!(
                "no auth type is fully configured for {}{}:",
                host.url,
                file_note(cfg)
            );
            for v in &lacking {
                msg.push_str(&format!("\n  - {}: {}", v.auth_type, v.detail));
            }
            msg.push_str(
                "\nSet the variables of one of them. On AKS with workload identity: label the pod \
                 azure.workload.identity/use=true so the webhook injects AZURE_CLIENT_ID, AZURE_TENANT_ID \
                 and AZURE_FEDERATED_TOKEN_FILE; elsewhere point DATABRICKS_OIDC_TOKEN_FILEPATH at a \
                 projected service-account token.",
            );
            Err(Error::config(msg))
        }
        1 => {
            let (t, flow, _) = applicable.pop().expect("one");
            Ok((t, host, flow))
        }
        _ => {
            let listed: Vec<String> = applicable
                .iter()
                .map(|(t, _, v)| format!("{t} ({})", v.detail))
                .collect();
            let choices: Vec<String> = applicable
                .iter()
                .map(|(t, _, _)| format!("DATABRICKS_AUTH_TYPE={t}"))
                .collect();
            Err(Error::config(format!(
                "more than one auth type is configured: {}. Choose one with {} (or auth_type in the profile), \
                 or unset the variables of the others",
                listed.join(" and "),
                choices.join(" or ")
            )))
        }
    }
}

/// The variables that make a Databricks SDK see an auth method: every variable of every
/// type's keys and its own variables (the host excepted), for `exec` to remove.
pub(crate) fn auth_variables() -> Vec<&'static str> {
    let mut vars: Vec<&'static str> = Vec::new();
    for k in KINDS {
        for key in k.keys.iter().chain(k.optional) {
            if *key != Key::Host {
                vars.extend(key.env());
            }
        }
        vars.extend(k.vars);
    }
    vars
}

/// The auth type table of docs/src/reference/auth-types.md, generated from [`KINDS`] (a test
/// keeps that page equal).
#[cfg(test)]
fn readme_table() -> String {
    let named = |keys: &[Key]| -> Vec<String> {
        keys.iter()
            .map(|key| match key.env().first() {
                Some(var) => format!("`{var}` (`{key}`)"),
                None => format!("`{key}`"),
            })
            .collect()
    };
    let mut out = String::from("| auth type | needs | also reads | does |\n|---|---|---|---|\n");
    for k in KINDS {
        let mut needs = named(k.keys);
        needs.extend(k.vars.iter().map(|v| format!("`{v}`")));
        let optional = named(k.optional);
        out.push_str(&format!(
            "| `{}` | {}{} | {} | {} |\n",
            k.name,
            needs.join(", "),
            k.also,
            if optional.is_empty() {
                "—".to_string()
            } else {
                optional.join(", ")
            },
            k.does
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_list_every_auth_type_as_generated() {
        let readme = include_str!("../../docs/src/reference/auth-types.md");
        let table = readme_table();
        assert!(
            readme.contains(&table),
            "docs/src/reference/auth-types.md's auth type table differs from the descriptors; replace it with:\n\n{table}"
        );
    }

    #[test]
    fn names_are_unique_and_parse() {
        let mut names: Vec<&str> = AuthType::all().map(AuthType::name).collect();
        for n in &names {
            assert_eq!(AuthType::parse(&n.to_uppercase()).unwrap().name(), *n);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }

    #[test]
    fn exec_scrubs_every_auth_variable_but_the_host() {
        let vars = auth_variables();
        for v in [
            "DATABRICKS_TOKEN",
            "DATABRICKS_CLIENT_SECRET",
            "DATABRICKS_OIDC_TOKEN_FILEPATH",
            "AZURE_FEDERATED_TOKEN_FILE",
            "ARM_CLIENT_SECRET",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "SYSTEM_ACCESSTOKEN",
            "ARM_USE_MSI",
        ] {
            assert!(vars.contains(&v), "{v} missing from {vars:?}");
        }
        assert!(!vars.contains(&"DATABRICKS_HOST"));
    }
}
