//! Choosing the auth type, like the SDKs' unified auth but with errors that say exactly which
//! variable each auth type lacked.
//!
//! Order (used to list them; when more than one applies and `auth_type` is unset, that is an
//! error naming both): `pat`, `oauth-m2m`, `azure-workload-identity`, `env-oidc`, `file-oidc`.

use std::fmt;
use std::path::PathBuf;

use crate::config::Resolved;
use crate::error::{Error, Result};
use crate::source::TokenSource;
use crate::token::Secret;

/// The ways dbtoken obtains a Databricks token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// `DATABRICKS_TOKEN` used as is.
    Pat,
    /// Client id + secret, `client_credentials` at the Databricks token endpoint.
    OauthM2m,
    /// Entra ID client assertion with `AZURE_FEDERATED_TOKEN_FILE` (Azure Databricks).
    AzureWorkloadIdentity,
    /// Token federation with a JWT from an environment variable.
    EnvOidc,
    /// Token federation with a JWT from a file (re-read on every exchange).
    FileOidc,
}

impl AuthType {
    /// All auth types in selection order.
    pub const ALL: [AuthType; 5] = [
        AuthType::Pat,
        AuthType::OauthM2m,
        AuthType::AzureWorkloadIdentity,
        AuthType::EnvOidc,
        AuthType::FileOidc,
    ];

    /// The name used in `auth_type` / `DATABRICKS_AUTH_TYPE`.
    pub fn name(self) -> &'static str {
        match self {
            AuthType::Pat => "pat",
            AuthType::OauthM2m => "oauth-m2m",
            AuthType::AzureWorkloadIdentity => "azure-workload-identity",
            AuthType::EnvOidc => "env-oidc",
            AuthType::FileOidc => "file-oidc",
        }
    }

    /// Parse an `auth_type` value.
    pub fn parse(s: &str) -> Option<AuthType> {
        AuthType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether one auth type applies to a configuration, and why (for messages and `doctor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The auth type judged.
    pub auth_type: AuthType,
    /// Whether everything it needs is set.
    pub applies: bool,
    /// What it uses (when it applies) or what it lacks.
    pub detail: String,
}

/// What a client will do, fully resolved.
pub(crate) enum Plan {
    Pat(Secret),
    M2m {
        client_id: String,
        client_secret: Secret,
    },
    Federation {
        source: TokenSource,
        client_id: Option<String>,
    },
    Entra {
        source: TokenSource,
        tenant_id: String,
        client_id: String,
        authority: String,
    },
}

/// The normalized host and facts about it.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub url: String,
    pub azure: bool,
    pub account: bool,
}

pub(crate) fn host(cfg: &Resolved) -> Result<Host> {
    let Some(raw) = cfg.get("host") else {
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
    crate::http::check_url(&url).map_err(|e| e.context(&cfg.describe("host")))?;
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
        || cfg.get("azure_workspace_resource_id").is_some();
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

/// Judge one auth type. `forced` skips the Azure-host test for azure-workload-identity.
fn judge(
    t: AuthType,
    cfg: &Resolved,
    host: &Host,
    forced: bool,
) -> std::result::Result<Plan, Vec<String>> {
    let need = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .filter(|k| cfg.get(k).is_none())
            .map(|k| cfg.describe(k))
            .collect()
    };
    let get = |k: &str| cfg.get(k).unwrap_or_default().to_string();
    match t {
        AuthType::Pat => {
            let missing = need(&["token"]);
            if !missing.is_empty() {
                return Err(missing);
            }
            Ok(Plan::Pat(Secret::new(get("token"))))
        }
        AuthType::OauthM2m => {
            let missing = need(&["client_id", "client_secret"]);
            if !missing.is_empty() {
                return Err(missing);
            }
            Ok(Plan::M2m {
                client_id: get("client_id"),
                client_secret: Secret::new(get("client_secret")),
            })
        }
        AuthType::AzureWorkloadIdentity => {
            let mut missing = need(&[
                "azure_federated_token_file",
                "azure_client_id",
                "azure_tenant_id",
            ]);
            if !host.azure && !forced {
                missing.push(format!(
                    "an Azure Databricks host (*.azuredatabricks.net, *.databricks.azure.us, *.databricks.azure.cn; {} is not one) or DATABRICKS_AZURE_RESOURCE_ID",
                    host.url
                ));
            }
            if !missing.is_empty() {
                return Err(missing);
            }
            Ok(Plan::Entra {
                source: file_source(cfg, "azure_federated_token_file"),
                tenant_id: get("azure_tenant_id"),
                client_id: get("azure_client_id"),
                authority: cfg
                    .get("azure_authority_host")
                    .unwrap_or(crate::exchange::entra::DEFAULT_AUTHORITY)
                    .to_string(),
            })
        }
        AuthType::EnvOidc => {
            let var = cfg
                .get("oidc_token_env")
                .unwrap_or("DATABRICKS_OIDC_TOKEN")
                .to_string();
            match cfg.env_var(&var) {
                Some(v) => Ok(Plan::Federation {
                    source: TokenSource::Env {
                        var,
                        value: Secret::new(v),
                    },
                    client_id: cfg.get("client_id").map(str::to_string),
                }),
                None => Err(vec![var]),
            }
        }
        AuthType::FileOidc => {
            let key = if cfg.get("oidc_token_filepath").is_some() {
                "oidc_token_filepath"
            } else if cfg.get("azure_federated_token_file").is_some() && !host.azure {
                // The AKS projected token serves token federation on a non-Azure workspace too.
                "azure_federated_token_file"
            } else {
                return Err(need(&["oidc_token_filepath"]));
            };
            Ok(Plan::Federation {
                source: file_source(cfg, key),
                client_id: cfg.get("client_id").map(str::to_string),
            })
        }
    }
}

fn file_source(cfg: &Resolved, key: &str) -> TokenSource {
    TokenSource::File {
        path: PathBuf::from(cfg.get(key).unwrap_or_default()),
        var: cfg.describe(key),
    }
}

fn verdict(t: AuthType, r: &std::result::Result<Plan, Vec<String>>, cfg: &Resolved) -> Verdict {
    match r {
        Ok(plan) => Verdict {
            auth_type: t,
            applies: true,
            detail: match plan {
                Plan::Pat(_) => format!("uses {}", cfg.describe("token")),
                Plan::M2m { .. } => format!(
                    "uses {} and {}",
                    cfg.describe("client_id"),
                    cfg.describe("client_secret")
                ),
                Plan::Federation { source, client_id } => format!(
                    "uses the JWT in {}{}",
                    source.describe(),
                    match client_id {
                        Some(id) => format!(" with service principal {id}"),
                        None => " with an account-wide policy (no client_id)".to_string(),
                    }
                ),
                Plan::Entra {
                    source, client_id, ..
                } => {
                    format!(
                        "uses the JWT in {} as a client assertion for Entra application {client_id}",
                        source.describe()
                    )
                }
            },
        },
        Err(missing) => Verdict {
            auth_type: t,
            applies: false,
            detail: format!("needs {}", missing.join(" and ")),
        },
    }
}

/// Judge every auth type against this configuration.
pub fn verdicts(cfg: &Resolved) -> Result<Vec<Verdict>> {
    let host = host(cfg)?;
    Ok(AuthType::ALL
        .into_iter()
        .map(|t| verdict(t, &judge(t, cfg, &host, false), cfg))
        .collect())
}

/// Choose the auth type and build its plan.
pub(crate) fn choose(cfg: &Resolved) -> Result<(AuthType, Host, Plan)> {
    let host = host(cfg)?;
    if let Some(forced) = cfg.get("auth_type") {
        let Some(t) = AuthType::parse(forced) else {
            let names: Vec<&str> = AuthType::ALL.iter().map(|t| t.name()).collect();
            return Err(Error::config(format!(
                "{} is '{forced}', which dbtoken does not support; use one of: {}",
                cfg.describe("auth_type"),
                names.join(", ")
            )));
        };
        return match judge(t, cfg, &host, true) {
            Ok(plan) => Ok((t, host, plan)),
            Err(missing) => Err(Error::config(format!(
                "auth type {t} was chosen by {} but it needs {}",
                cfg.describe("auth_type"),
                missing.join(" and ")
            ))),
        };
    }
    let mut applicable = Vec::new();
    let mut lacking = Vec::new();
    for t in AuthType::ALL {
        let r = judge(t, cfg, &host, false);
        let v = verdict(t, &r, cfg);
        match r {
            Ok(plan) => applicable.push((t, plan, v)),
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
            let (t, plan, _) = applicable.pop().expect("one");
            Ok((t, host, plan))
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
