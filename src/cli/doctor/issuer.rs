//! The "issuer" section: what Databricks (or Entra) will check about the token's issuer before
//! it looks at any policy, each check with its verdict and a one-line fix.

use dbtoken::issuer::{self, Check, Keys, Reach, Verdict, printable};

use super::Report;
use super::policy::Policy;

/// How to publish a cluster's issuer, per platform (one line each).
pub const PUBLISH_ISSUER: &str = "publish the cluster's OIDC issuer and use the tokens that carry it:
  AKS: az aks update -g <rg> -n <cluster> --enable-oidc-issuer; the issuer is az aks show -g <rg> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv
  EKS: the cluster's OIDC provider URL: aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer --output text
  GKE: the cluster's issuer https://container.googleapis.com/v1/projects/<project>/locations/<location>/clusters/<cluster>
  self-managed: kube-apiserver --service-account-issuer=https://<public host> --service-account-jwks-uri=https://<public host>/openid/v1/jwks, both documents served publicly
or keep this issuer and put its keys in the policy's jwks_json (kubectl get --raw /openid/v1/jwks)";

/// Run the issuer checks and report them. Returns the reachability class of `iss`.
pub fn section(
    r: &mut Report,
    cfg: &dbtoken::Resolved,
    iss: &str,
    jwt: &str,
    policy: Option<&Policy>,
) -> Reach {
    r.section("issuer");
    r.text("iss", iss);
    let keys = match policy {
        Some(Policy {
            jwks_json: Some(j), ..
        }) => Keys::Json(j),
        Some(Policy {
            jwks_uri: Some(u), ..
        }) => Keys::Uri(u),
        _ => Keys::Discovery,
    };
    let report = issuer::check(cfg, iss, jwt, keys);
    for c in &report.checks {
        let fix = fix(c, report.reach, iss);
        if matches!(c.verdict, Verdict::Fail | Verdict::Warning) {
            r.problem(format!("issuer {}: {}", c.name, c.detail));
        }
        r.check(c.name, c.verdict, &c.detail, fix.as_deref());
    }
    report.reach
}

fn fix(c: &Check, reach: Reach, iss: &str) -> Option<String> {
    let iss = printable(iss.trim_end_matches('/'));
    Some(match (c.name, c.verdict) {
        (_, Verdict::Ok | Verdict::NotChecked) => return None,
        ("reachable", Verdict::Warning) => {
            "none needed now; update jwks_json whenever the cluster rotates its signing keys".into()
        }
        ("reachable", _) if reach == Reach::NotHttps => {
            "the issuer must be an https:// URL (kube-apiserver --service-account-issuer)".into()
        }
        ("reachable", _) => PUBLISH_ISSUER.into(),
        ("discovery", _) if c.detail.contains("must be equal") => {
            "the token's iss must be exactly the document's issuer (a trailing slash counts): fix --service-account-issuer".into()
        }
        ("discovery", _) => format!(
            "serve {iss}/.well-known/openid-configuration publicly (no credentials) with \"issuer\": the exact iss, and a jwks_uri"
        ),
        ("keys", _) => {
            "serve the JWK set at jwks_uri publicly (kube-apiserver --service-account-jwks-uri)"
                .into()
        }
        ("kid", _) => {
            "the token was signed with a key the issuer does not publish: publish the cluster's current keys (after a rotation, or is the token from another cluster?)".into()
        }
        ("signature", _) => {
            "use the token exactly as kubelet wrote it; if it is, the published key with this kid is not the key the cluster signs with".into()
        }
        _ => return None,
    })
}
