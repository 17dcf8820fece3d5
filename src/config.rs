//! Configuration, resolved like the Databricks SDKs' unified authentication:
//! values set through the API, then environment variables, then one profile of the INI
//! config file (`DATABRICKS_CONFIG_FILE`, default `~/.databrickscfg`; profile
//! `DATABRICKS_CONFIG_PROFILE`, default `DEFAULT`).
//!
//! Every key is a `.databrickscfg` key; the C ABI and the CLI set options by these names, so a
//! new option never changes an interface.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One configuration attribute: its `.databrickscfg` key and the variables that set it.
#[derive(Debug)]
pub(crate) struct Attr {
    /// The typed key.
    pub id: Key,
    /// The key in `.databrickscfg`, in [`Config::set`] and in `dbtoken_config_set`.
    pub key: &'static str,
    /// Environment variables, first set one wins.
    pub env: &'static [&'static str],
    /// Whether the value is a secret (never displayed).
    pub sensitive: bool,
}

macro_rules! attrs {
    ($( $id:ident $key:literal [$($env:literal),*] $sens:literal $doc:literal; )*) => {
        /// Every configuration attribute dbtoken reads, in documentation order.
        pub(crate) const ATTRS: &[Attr] = &[$( Attr { id: Key::$id, key: $key, env: &[$($env),*], sensitive: $sens } ),*];

        /// A configuration key, typed: the variants are generated from the attribute table,
        /// so a misspelt key does not compile. One byte; its attribute is `ATTRS[key as usize]`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Key {
            $( #[doc = $doc] $id, )*
        }
    };
}

impl Attr {
    /// The typed key of this attribute.
    pub(crate) fn key(&self) -> Key {
        self.id
    }
}

impl Key {
    /// The `.databrickscfg` key.
    pub fn name(self) -> &'static str {
        self.attr().key
    }

    /// The attribute of this key.
    pub(crate) fn attr(self) -> &'static Attr {
        &ATTRS[self as usize]
    }

    /// The variables that set this key, first one wins.
    pub(crate) fn env(self) -> &'static [&'static str] {
        self.attr().env
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

attrs! {
    Host "host" ["DATABRICKS_HOST"] false "Workspace or account URL, e.g. https://adb-123.4.azuredatabricks.net";
    AccountId "account_id" ["DATABRICKS_ACCOUNT_ID"] false "Databricks account id (account-level hosts)";
    AuthType "auth_type" ["DATABRICKS_AUTH_TYPE"] false "Force one auth type (see the auth type table)";
    Token "token" ["DATABRICKS_TOKEN"] true "Personal access token (pat)";
    ClientId "client_id" ["DATABRICKS_CLIENT_ID"] false "Service principal application id (oauth-m2m; federation with a service-principal policy)";
    ClientSecret "client_secret" ["DATABRICKS_CLIENT_SECRET"] true "OAuth secret of the service principal (oauth-m2m)";
    OidcTokenFilepath "oidc_token_filepath" ["DATABRICKS_OIDC_TOKEN_FILEPATH", "DATABRICKS_OIDC_TOKEN_FILE"] false "File holding the federated JWT (file-oidc); re-read on every exchange";
    OidcTokenEnv "oidc_token_env" ["DATABRICKS_OIDC_TOKEN_ENV"] false "Name of the variable holding the JWT (env-oidc; default DATABRICKS_OIDC_TOKEN)";
    TokenAudience "token_audience" ["DATABRICKS_TOKEN_AUDIENCE"] false "Audience of the ID tokens dbtoken requests (github-oidc, azure-devops-oidc); shown by doctor";
    DiscoveryUrl "discovery_url" ["DATABRICKS_DISCOVERY_URL"] false "OpenID/OAuth discovery document URL that names the token endpoint";
    Scopes "scopes" ["DATABRICKS_SCOPES"] false "OAuth scopes, space or comma separated (default all-apis)";
    ActionsIdTokenRequestUrl "actions_id_token_request_url" ["ACTIONS_ID_TOKEN_REQUEST_URL"] false "GitHub Actions' ID token endpoint (github-oidc, github-oidc-azure; set by GitHub with permissions id-token: write)";
    ActionsIdTokenRequestToken "actions_id_token_request_token" ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] true "Bearer token for that endpoint (set by GitHub)";
    AzureClientId "azure_client_id" ["AZURE_CLIENT_ID", "ARM_CLIENT_ID"] false "Entra application (client) id (azure-workload-identity, github-oidc-azure, azure-client-secret; azure-msi: a user-assigned identity)";
    AzureClientSecret "azure_client_secret" ["ARM_CLIENT_SECRET"] true "Entra client secret (azure-client-secret)";
    AzureTenantId "azure_tenant_id" ["AZURE_TENANT_ID", "ARM_TENANT_ID"] false "Entra tenant id";
    AzureUseMsi "azure_use_msi" ["ARM_USE_MSI"] false "true: use the Azure managed identity (azure-msi)";
    AzureFederatedTokenFile "azure_federated_token_file" ["AZURE_FEDERATED_TOKEN_FILE"] false "Projected service-account token injected by Azure Workload Identity";
    AzureAuthorityHost "azure_authority_host" ["AZURE_AUTHORITY_HOST"] false "Entra authority (default https://login.microsoftonline.com/)";
    AzureImdsAuthorityHost "azure_imds_authority_host" ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] false "Instance metadata service (azure-msi; default http://169.254.169.254, as azure-identity reads it)";
    AzureWorkspaceResourceId "azure_workspace_resource_id" ["DATABRICKS_AZURE_RESOURCE_ID"] false "Azure resource id of the workspace (marks the host as Azure)";
    CaBundle "ca_bundle" ["DATABRICKS_CA_BUNDLE"] false "PEM file of extra trusted CA certificates (added to the built-in roots and SSL_CERT_FILE)";
    HttpTimeoutSeconds "http_timeout_seconds" ["DATABRICKS_HTTP_TIMEOUT_SECONDS"] false "Timeout of one HTTP request, seconds (default 30)";
    ConnectTimeoutSeconds "connect_timeout_seconds" ["DATABRICKS_CONNECT_TIMEOUT_SECONDS"] false "TCP+TLS connect timeout, seconds (default 10)";
    RetryTimeoutSeconds "retry_timeout_seconds" ["DATABRICKS_RETRY_TIMEOUT_SECONDS"] false "Overall deadline for one token request including retries, seconds (default 60)";
    ConfigFile "config_file" ["DATABRICKS_CONFIG_FILE"] false "INI config file (default ~/.databrickscfg)";
    Profile "profile" ["DATABRICKS_CONFIG_PROFILE"] false "Profile (section) of the config file (default DEFAULT)";
}

/// The attribute with this key, if dbtoken knows it.
pub(crate) fn attr(key: &str) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| a.key == key)
}

/// Where a resolved value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Set through the API ([`Config::set`], the C ABI, a CLI flag).
    Explicit,
    /// An environment variable.
    Env(String),
    /// A profile of the config file.
    File {
        /// The config file.
        path: PathBuf,
        /// The section.
        profile: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Explicit => f.write_str("set explicitly"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::File { path, profile } => {
                write!(f, "profile [{profile}] of {}", path.display())
            }
        }
    }
}

#[derive(Clone, Debug)]
enum EnvSource {
    Process,
    Map(BTreeMap<String, String>),
}

/// Configuration before resolution: explicit values, plus where to read the environment.
///
/// ```no_run
/// let config = dbtoken::Config::new()
///     .with("host", "https://adb-1234.5.azuredatabricks.net")?
///     .with("oidc_token_filepath", "/var/run/secrets/tokens/databricks")?;
/// let client = dbtoken::Client::new(config)?;
/// # Ok::<(), dbtoken::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    explicit: BTreeMap<&'static str, String>,
    env: EnvSource,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.explicit {
            let sensitive = attr(k).is_some_and(|a| a.sensitive);
            m.entry(k, if sensitive { &"[REDACTED]" } else { v });
        }
        m.finish()
    }
}

impl Config {
    /// No explicit values; the process environment and config file fill in the rest.
    pub fn new() -> Config {
        Config {
            explicit: BTreeMap::new(),
            env: EnvSource::Process,
        }
    }

    /// Ignore the process environment: only explicit values, variables given with
    /// [`Config::env`], and a config file named explicitly (`config_file`) are read.
    pub fn isolated() -> Config {
        Config {
            explicit: BTreeMap::new(),
            env: EnvSource::Map(BTreeMap::new()),
        }
    }

    /// Set a configuration key (a `.databrickscfg` key; [`Key`] has one constant for each).
    /// An empty value removes the key. Unknown keys are refused with the list of known ones.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let Some(attr) = attr(key) else {
            let known: Vec<&str> = ATTRS.iter().map(|a| a.key).collect();
            return Err(Error::config(format!(
                "unknown configuration key '{key}'; known keys: {}",
                known.join(", ")
            )));
        };
        if value.is_empty() {
            self.explicit.remove(attr.key);
        } else {
            self.explicit.insert(attr.key, value.to_string());
        }
        Ok(())
    }

    /// [`Config::set`] in builder style.
    pub fn with(mut self, key: &str, value: &str) -> Result<Config> {
        self.set(key, value)?;
        Ok(self)
    }

    /// Set an environment variable seen by this configuration only. Turns the configuration
    /// [`isolated`](Config::isolated) if it was not already.
    pub fn env(mut self, name: &str, value: &str) -> Config {
        match &mut self.env {
            EnvSource::Map(m) => {
                m.insert(name.to_string(), value.to_string());
            }
            EnvSource::Process => {
                let mut m = BTreeMap::new();
                m.insert(name.to_string(), value.to_string());
                self.env = EnvSource::Map(m);
            }
        }
        self
    }

    fn getenv(&self, name: &str) -> Option<String> {
        let v = match &self.env {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Map(m) => m.get(name).cloned(),
        };
        v.filter(|v| !v.trim().is_empty())
    }

    /// Merge explicit values, environment and config file profile into final values.
    pub fn resolve(&self) -> Result<Resolved> {
        let mut values = BTreeMap::new();
        for a in ATTRS {
            if let Some(v) = self.explicit.get(a.key) {
                values.insert(a.key, (v.clone(), Source::Explicit));
            } else if let Some((name, v)) =
                a.env.iter().find_map(|n| self.getenv(n).map(|v| (*n, v)))
            {
                values.insert(a.key, (v, Source::Env(name.to_string())));
            }
        }
        let file = self.config_file_path(&values);
        let profile_set = values.get(Key::Profile.name()).cloned();
        let profile = profile_set
            .as_ref()
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| "DEFAULT".to_string());
        if let Some(path) = &file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let sections = parse_ini(&text).map_err(|(line, why)| {
                        Error::config(format!("config file {} line {line}: {why}", path.display()))
                    })?;
                    match sections.get(&profile) {
                        Some(section) => {
                            for (k, v) in section {
                                let Some(a) = attr(k) else { continue };
                                if a.key == Key::Profile.name() || a.key == Key::ConfigFile.name() {
                                    continue;
                                }
                                values.entry(a.key).or_insert_with(|| {
                                    (
                                        v.clone(),
                                        Source::File {
                                            path: path.clone(),
                                            profile: profile.clone(),
                                        },
                                    )
                                });
                            }
                        }
                        None if profile_set.is_some() => {
                            let names: Vec<&str> = sections.keys().map(String::as_str).collect();
                            return Err(Error::config(format!(
                                "profile '{profile}' ({}) is not in config file {}; profiles there: {}",
                                profile_set.unwrap().1,
                                path.display(),
                                if names.is_empty() {
                                    "none".to_string()
                                } else {
                                    names.join(", ")
                                }
                            )));
                        }
                        None => {}
                    }
                }
                // A missing file is skipped, as the SDKs do (with a warning when it was named
                // explicitly); a profile asked for by name cannot be found in it, though.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some((_, src)) = &profile_set {
                        return Err(Error::config(format!(
                            "profile '{profile}' ({src}) was requested but config file {} does not exist",
                            path.display()
                        )));
                    }
                    if let Some((_, src)) = values.get("config_file") {
                        crate::warn::warn(&format!(
                            "config file {} ({src}) does not exist; skipped, as the Databricks SDKs do",
                            path.display()
                        ));
                    }
                }
                Err(e) => {
                    return Err(Error::config(format!(
                        "cannot read config file {} ({}): {e}",
                        path.display(),
                        values
                            .get(Key::ConfigFile.name())
                            .map(|(_, s)| s.to_string())
                            .unwrap_or_else(|| "default location".into())
                    )));
                }
            }
        }
        Ok(Resolved {
            values,
            config: self.clone(),
            config_file: file,
            profile,
        })
    }

    fn config_file_path(
        &self,
        values: &BTreeMap<&'static str, (String, Source)>,
    ) -> Option<PathBuf> {
        if let Some((p, _)) = values.get(Key::ConfigFile.name()) {
            return Some(expand_home(p, self.getenv("HOME").as_deref()));
        }
        if matches!(self.env, EnvSource::Map(_)) {
            return None;
        }
        self.getenv("HOME")
            .map(|h| Path::new(&h).join(".databrickscfg"))
    }
}

fn expand_home(p: &str, home: Option<&str>) -> PathBuf {
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => Path::new(h).join(rest),
        _ => PathBuf::from(p),
    }
}

type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// A minimal INI reader of the `.databrickscfg` dialect: `[section]`, `key = value`,
/// `#`/`;` comment lines. Keys before any section belong to `DEFAULT`.
pub(crate) fn parse_ini(text: &str) -> std::result::Result<Sections, (usize, String)> {
    let mut sections = Sections::new();
    let mut current = "DEFAULT".to_string();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err((i + 1, "section header lacks a closing ']'".into()));
            };
            current = name.trim().to_string();
            sections.entry(current.clone()).or_default();
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            return Err((i + 1, "expected 'key = value'".into()));
        };
        sections
            .entry(current.clone())
            .or_default()
            .insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(sections)
}

/// Final configuration values, each with its [`Source`].
#[derive(Clone)]
pub struct Resolved {
    values: BTreeMap<&'static str, (String, Source)>,
    config: Config,
    config_file: Option<PathBuf>,
    profile: String,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, (v, s)) in &self.values {
            let sensitive = attr(k).is_some_and(|a| a.sensitive);
            let shown = if sensitive {
                "[REDACTED]".to_string()
            } else {
                v.clone()
            };
            m.entry(k, &format!("{shown} ({s})"));
        }
        m.finish()
    }
}

impl Resolved {
    /// The value of a key, if set anywhere.
    pub fn get(&self, key: Key) -> Option<&str> {
        self.values.get(key.name()).map(|(v, _)| v.as_str())
    }

    /// Where the value of a key came from.
    pub fn source(&self, key: Key) -> Option<&Source> {
        self.values.get(key.name()).map(|(_, s)| s)
    }

    /// How to name a key to a user: the variable that set it, or the first one that could.
    pub fn describe(&self, key: Key) -> String {
        match (self.source(key), key.env().first()) {
            (Some(Source::Env(n)), _) => n.clone(),
            (Some(Source::File { .. }), _) => format!("'{key}' in the config file"),
            (Some(Source::Explicit), _) => format!("'{key}'"),
            (None, Some(var)) => format!("{var} ({key})"),
            (None, None) => format!("'{key}'"),
        }
    }

    /// Read a variable of the environment this configuration was resolved with.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.config.getenv(name)
    }

    /// Whether the process environment is read (false for [`Config::isolated`]).
    pub(crate) fn uses_process_env(&self) -> bool {
        matches!(self.config.env, EnvSource::Process)
    }

    /// The config file that was consulted, if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The profile that was consulted.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// A number of seconds, or `default` when unset.
    pub(crate) fn seconds(&self, key: Key, default: u64) -> Result<std::time::Duration> {
        match self.get(key) {
            None => Ok(std::time::Duration::from_secs(default)),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s < 86_400.0 => {
                    Ok(std::time::Duration::from_secs_f64(s))
                }
                _ => Err(Error::config(format!(
                    "{} must be a number of seconds between 0 and 86400, got '{v}'",
                    self.describe(key)
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_comments_and_default() {
        let s = parse_ini("host = https://a\n# c\n[prod]\n; c\nhost=https://b\n client_id : x \n")
            .unwrap();
        assert_eq!(s["DEFAULT"]["host"], "https://a");
        assert_eq!(s["prod"]["host"], "https://b");
        assert_eq!(s["prod"]["client_id"], "x");
        assert_eq!(parse_ini("[bad\n").unwrap_err().0, 1);
        assert_eq!(parse_ini("[a]\njunk\n").unwrap_err().0, 2);
    }

    #[test]
    fn unknown_key_names_key_and_lists_known() {
        let err = Config::new().set("hots", "x").unwrap_err();
        assert!(err.to_string().contains("'hots'"), "{err}");
        assert!(err.to_string().contains("oidc_token_filepath"), "{err}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Config::isolated()
            .with("token", "dapi-secret-value")
            .unwrap()
            .with("host", "https://h")
            .unwrap();
        let shown = format!("{c:?} {:?}", c.resolve().unwrap());
        assert!(!shown.contains("dapi-secret-value"), "{shown}");
        assert!(shown.contains("https://h"));
    }

    #[test]
    fn explicit_beats_env() {
        let r = Config::isolated()
            .env("DATABRICKS_HOST", "https://env")
            .with("host", "https://explicit")
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(r.get(Key::Host), Some("https://explicit"));
        assert_eq!(r.source(Key::Host), Some(&Source::Explicit));
    }
}
