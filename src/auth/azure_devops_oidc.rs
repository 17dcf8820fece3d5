//! `azure-devops-oidc`: the Azure Pipelines job's ID token, then token federation. The
//! pipeline must map `SYSTEM_ACCESSTOKEN: $(System.AccessToken)` into the step's environment.

use super::{Ctx, Judged, Kind, checked};
use crate::config::Key;
use crate::exchange::ci::{AZURE_DEVOPS_VARS, IdTokenRequest};

pub(crate) const KIND: Kind = Kind {
    name: "azure-devops-oidc",
    keys: &[],
    optional: &[Key::ClientId, Key::TokenAudience],
    vars: &AZURE_DEVOPS_VARS,
    #[cfg(test)]
    also: "",
    #[cfg(test)]
    does: "POSTs to the job's `oidctoken` endpoint (`{collection}{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken`; Azure DevOps fixes the audience), then RFC 8693 token federation",
    judge,
};

fn judge(c: &Ctx<'_>) -> Judged {
    let values = AZURE_DEVOPS_VARS.map(|v| c.cfg.env_var(v).unwrap_or_default());
    let missing: Vec<String> = AZURE_DEVOPS_VARS
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    checked(values[1].clone(), AZURE_DEVOPS_VARS[1])?;
    Ok(Box::new(
        c.ci_federation(IdTokenRequest::azure_devops(values)),
    ))
}
