//! "federation policy for this token": the policy that accepts it (JSON built with miniserde,
//! the `databricks` CLI line, Terraform), the projected-volume YAML that mints tokens with the
//! audience that policy expects, or for Entra the federated-credential command. Every value
//! that came from the token or a server is quoted for where it is pasted.

use std::path::Path;

use miniserde::json::{Array, Object, Value};

use dbtoken::issuer::printable;
use dbtoken::{AuthType, Claims, TokenSource};

use super::Report;
use super::quote;

/// Placeholder for an issuer Databricks cannot reach.
const PUBLIC_ISSUER: &str = "<the cluster's public issuer URL>";
const ACCOUNT_PLACEHOLDER: &str = "<databricks account id>";

pub struct Inputs<'a> {
    pub auth_type: AuthType,
    pub client_id: Option<&'a str>,
    pub source: Option<&'a TokenSource>,
    pub claims: &'a Claims,
    /// The account id and where it came from.
    pub account: Option<(String, String)>,
    /// Databricks cannot fetch the token's issuer (and the policy carries no keys).
    pub issuer_unreachable: bool,
}

pub fn policy(i: &Inputs<'_>, r: &mut Report) {
    r.section("federation policy for this token");
    let token_iss = i.claims.iss.clone().unwrap_or_default();
    let sub = i.claims.sub.clone().unwrap_or_default();
    let iss = match i.issuer_unreachable {
        false => token_iss.clone(),
        true => {
            r.text(
                "issuer",
                format!(
                    "this token's iss '{}' cannot be reached by Databricks (see issuer); once the issuer is published, kubelet's tokens carry its public URL: put that URL in the policy",
                    printable(&token_iss)
                ),
            );
            PUBLIC_ISSUER.to_string()
        }
    };
    if i.auth_type.is(&crate::auth::azure_workload_identity::KIND) {
        let app = i.client_id.unwrap_or("<client id>");
        r.text(
            "entra federated credential",
            format!(
                "az identity federated-credential create --name dbtoken --identity-name <managed identity> \\\n  --resource-group <rg> --issuer {} --subject {} --audience api://AzureADTokenExchange\n(or, for an app registration: az ad app federated-credential create --id {} --parameters <json with the same issuer, subject and audiences>)",
                quote::sh(&iss),
                quote::sh(&sub),
                quote::sh(app)
            ),
        );
        if !i
            .claims
            .aud
            .iter()
            .any(|a| a == "api://AzureADTokenExchange")
        {
            r.text(
                "audience",
                "Entra requires aud api://AzureADTokenExchange: the Azure Workload Identity webhook projects it (label the pod azure.workload.identity/use=true)",
            );
        }
        return;
    }
    let (aud, from) = match &i.account {
        Some((id, from)) => (id.clone(), format!("the account id, from {from}")),
        None => (
            ACCOUNT_PLACEHOLDER.to_string(),
            "the account id (unknown here: set DATABRICKS_ACCOUNT_ID)".to_string(),
        ),
    };
    let carried = i.claims.aud.contains(&aud);
    r.text(
        "audience",
        if carried {
            format!(
                "'{}' ({from}, the policy's default audience); this token carries it",
                printable(&aud)
            )
        } else {
            format!(
                "'{}' ({from}, the policy's default audience); this token's aud is [{}]: mount the projected token below so kubelet mints tokens with it",
                printable(&aud),
                printable(&i.claims.aud.join(", "))
            )
        },
    );

    let mut p = Object::new();
    p.insert("issuer".into(), Value::String(iss.clone()));
    p.insert(
        "audiences".into(),
        Value::Array(Array::from_iter([Value::String(aud.clone())])),
    );
    let account_wide = i.client_id.is_none();
    if account_wide {
        p.insert("subject_claim".into(), Value::String("sub".into()));
    } else {
        p.insert("subject".into(), Value::String(sub.clone()));
    }
    let mut root = Object::new();
    root.insert("oidc_policy".into(), Value::Object(p));
    let json = miniserde::json::to_string(&Value::Object(root));

    let (kind, cli, resource, owner, subject) = if account_wide {
        (
            "account-wide federation policy (no client_id is sent; sub must name a Databricks user or service principal)",
            "databricks account federation-policy create --json",
            "databricks_account_federation_policy",
            String::new(),
            format!("    subject_claim = {}\n", quote::hcl("sub")),
        )
    } else {
        (
            "service principal federation policy (client_id is sent)",
            "databricks account service-principal-federation-policy create <SP_NUMERIC_ID> --json",
            "databricks_service_principal_federation_policy",
            "  service_principal_id = <SP_NUMERIC_ID>\n".to_string(),
            format!("    subject   = {}\n", quote::hcl(&sub)),
        )
    };
    r.text("kind", kind);
    r.text("json", json.clone());
    r.text("databricks cli", format!("{cli} {}", quote::sh(&json)));
    r.text(
        "terraform",
        format!(
            "resource \"{resource}\" \"dbtoken\" {{\n{owner}  policy_id = \"dbtoken\"\n  oidc_policy = {{\n    issuer    = {}\n    audiences = [{}]\n{subject}  }}\n}}",
            quote::hcl(&iss),
            quote::hcl(&aud),
        ),
    );
    r.text("projected token", projected_volume(i.source, &aud));
}

/// The pod spec fragment: a projected serviceAccountToken with `aud`, mounted where the
/// configured token file is (or at /var/run/secrets/databricks/token).
fn projected_volume(source: Option<&TokenSource>, aud: &str) -> String {
    let default = Path::new("/var/run/secrets/databricks/token");
    let path = match source {
        // The default service-account token is for the API server: use a separate mount.
        Some(TokenSource::File { path, .. })
            if !path.starts_with("/var/run/secrets/kubernetes.io")
                && path.is_absolute()
                && path.parent().is_some_and(|p| p != Path::new("/")) =>
        {
            path.as_path()
        }
        _ => default,
    };
    let dir = path.parent().unwrap_or(Path::new("/")).to_string_lossy();
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    format!(
        "# in the pod spec; the container reads DATABRICKS_OIDC_TOKEN_FILEPATH
containers:
- name: app
  env:
  - name: DATABRICKS_OIDC_TOKEN_FILEPATH
    value: {}
  volumeMounts:
  - name: databricks-token
    mountPath: {}
    readOnly: true
volumes:
- name: databricks-token
  projected:
    sources:
    - serviceAccountToken:
        path: {}
        audience: {}
        expirationSeconds: 3600",
        quote::yaml(&path.to_string_lossy()),
        quote::yaml(&dir),
        quote::yaml(&file),
        quote::yaml(aud)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projected_volume_is_mounted_where_the_token_is_read() {
        let file = |p: &str| TokenSource::File {
            path: p.into(),
            var: "DATABRICKS_OIDC_TOKEN_FILEPATH".into(),
        };
        let y = projected_volume(Some(&file("/var/run/secrets/db/tok")), "acct");
        assert!(y.contains("mountPath: \"/var/run/secrets/db\""), "{y}");
        assert!(
            y.contains("path: \"tok\"") && y.contains("audience: \"acct\""),
            "{y}"
        );
        // The pod's default token is the API server's: a separate mount is advised.
        let sa = "/var/run/secrets/kubernetes.io/serviceaccount/token";
        let y = projected_volume(Some(&file(sa)), "acct");
        assert!(
            y.contains("value: \"/var/run/secrets/databricks/token\""),
            "{y}"
        );
        let y = projected_volume(None, "acct");
        assert!(
            y.contains("mountPath: \"/var/run/secrets/databricks\""),
            "{y}"
        );
    }
}
