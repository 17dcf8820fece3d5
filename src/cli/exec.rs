//! `dbtoken exec -- CMD ARGS…`: get a token, then replace this process with CMD (execvp), its
//! environment set for a personal-access-token client: `DATABRICKS_HOST`, `DATABRICKS_TOKEN`,
//! `DATABRICKS_AUTH_TYPE=pat`, and the federation variables removed so an SDK in CMD does not
//! see two auth methods. CMD is this process afterwards, so its exit status and the signals
//! sent to it are passed through as they are. The token is not refreshed: for short jobs.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

/// Variables that would make a Databricks SDK see a second auth method.
pub const REMOVED: &[&str] = &[
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_OIDC_TOKEN",
    "DATABRICKS_OIDC_TOKEN_ENV",
    "DATABRICKS_OIDC_TOKEN_FILEPATH",
    "DATABRICKS_OIDC_TOKEN_FILE",
    "DATABRICKS_METADATA_SERVICE_URL",
    "DATABRICKS_USERNAME",
    "DATABRICKS_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "ARM_CLIENT_ID",
    "ARM_CLIENT_SECRET",
    "ARM_TENANT_ID",
    "ARM_USE_MSI",
    "DATABRICKS_CONFIG_PROFILE",
];

/// Returns only when CMD could not be started: (exit code 126/127, message).
pub fn run(profile: Option<&str>, cmd: &[OsString]) -> Result<(i32, String), dbtoken::Error> {
    let client = super::client(profile)?;
    let token = client.token()?;
    let mut c = std::process::Command::new(&cmd[0]);
    c.args(&cmd[1..]);
    for v in REMOVED {
        c.env_remove(v);
    }
    c.env("DATABRICKS_HOST", client.host())
        .env("DATABRICKS_TOKEN", token.access_token())
        .env("DATABRICKS_AUTH_TYPE", "pat");
    let e = c.exec();
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    Ok((
        code,
        format!("cannot run {}: {e}", cmd[0].to_string_lossy()),
    ))
}
