//! `dbtoken exec -- CMD ARGS…`: get a token, then replace this process with CMD (execvp), its
//! environment set for a personal-access-token client: `DATABRICKS_HOST`, `DATABRICKS_TOKEN`,
//! `DATABRICKS_AUTH_TYPE=pat`, and the federation variables removed so an SDK in CMD does not
//! see two auth methods. CMD is this process afterwards, so its exit status and the signals
//! sent to it are passed through as they are. The token is not refreshed: for short jobs.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

/// Variables of the SDKs' other auth methods, which dbtoken does not read itself; the
/// variables of dbtoken's own auth types come from their descriptions (`auth_variables`).
const SDK_ONLY: &[&str] = &[
    "DATABRICKS_METADATA_SERVICE_URL",
    "DATABRICKS_USERNAME",
    "DATABRICKS_PASSWORD",
    "AZURE_CLIENT_SECRET",
    "DATABRICKS_CONFIG_PROFILE",
];

/// Variables that would make a Databricks SDK see a second auth method.
pub(crate) fn removed() -> Vec<&'static str> {
    let mut vars = crate::auth::auth_variables();
    vars.extend_from_slice(SDK_ONLY);
    vars
}

/// Returns only when CMD could not be started: (exit code 126/127, message).
pub fn run(profile: Option<&str>, cmd: &[OsString]) -> Result<(i32, String), dbtoken::Error> {
    let client = super::client(profile)?;
    let token = client.token()?;
    let mut c = std::process::Command::new(&cmd[0]);
    c.args(&cmd[1..]);
    for v in removed() {
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
