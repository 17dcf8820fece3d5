//! ID tokens a CI system issues on request — GitHub Actions and Azure Pipelines — and token
//! federation with them. Unlike a projected file, dbtoken asks for the token itself, so it
//! chooses the audience (the SDKs' rule, see [`audience`]).

use miniserde::json::Value;

use super::discovery::{Discovery, Endpoint};
use super::{parse_token_reply, string};
use crate::auth::Audience;
use crate::error::{Error, Result};
use crate::http::{Deadline, Http};
use crate::source::{FederatedToken, check_times};
use crate::time::unix_now;
use crate::token::Secret;

/// Where a CI system hands out ID tokens, and how to ask.
pub(crate) struct IdTokenRequest {
    url: String,
    bearer: Secret,
    /// POST (Azure DevOps; the audience is fixed) rather than GET with `audience=` (GitHub).
    post: bool,
    /// The JSON field holding the JWT.
    field: &'static str,
    /// For messages.
    what: &'static str,
}

/// The Azure DevOps pipeline variables that locate the OIDC endpoint, as the SDKs read them.
pub(crate) const AZURE_DEVOPS_VARS: [&str; 6] = [
    "SYSTEM_ACCESSTOKEN",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    "SYSTEM_TEAMPROJECTID",
    "SYSTEM_HOSTTYPE",
    "SYSTEM_PLANID",
    "SYSTEM_JOBID",
];

impl IdTokenRequest {
    /// `GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience=…` with the request token as Bearer;
    /// GitHub answers `{"value": jwt}`.
    pub fn github(url: String, bearer: Secret) -> IdTokenRequest {
        IdTokenRequest {
            url,
            bearer,
            post: false,
            field: "value",
            what: "the GitHub Actions ID token (ACTIONS_ID_TOKEN_REQUEST_URL)",
        }
    }

    /// `POST {collection}{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken?api-version=7.2-preview.1`
    /// with `SYSTEM_ACCESSTOKEN` as Bearer, from the pipeline's variables `[access token,
    /// collection URI, project, hub, plan, job]` ([`AZURE_DEVOPS_VARS`]). Azure DevOps answers
    /// `{"oidcToken": jwt}`, always with audience `api://AzureADTokenExchange`.
    pub fn azure_devops(v: [String; 6]) -> IdTokenRequest {
        let [token, collection, project, hub, plan, job] = v;
        IdTokenRequest {
            url: format!(
                "{}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken?api-version=7.2-preview.1",
                collection.trim_end_matches('/')
            ),
            bearer: Secret::new(token),
            post: true,
            field: "oidcToken",
            what: "the Azure Pipelines ID token (SYSTEM_TEAMFOUNDATIONCOLLECTIONURI, SYSTEM_ACCESSTOKEN)",
        }
    }

    pub fn describe(&self) -> &'static str {
        self.what
    }

    /// Ask the CI system for an ID token with this audience.
    pub fn fetch(
        &self,
        http: &Http,
        audience: &str,
        deadline: &Deadline,
    ) -> Result<FederatedToken> {
        let (url, what, field) = (&self.url, self.what, self.field);
        let auth = format!("Bearer {}", self.bearer.expose());
        let reply = if self.post {
            // An empty POST, retried like every token request.
            http.post_form(url, &[], Some(&auth), deadline)?
        } else {
            http.get_with(
                url,
                &[("Authorization", &auth)],
                &[("audience", audience)],
                deadline,
            )?
        };
        if !(200..300).contains(&reply.status) {
            // Not a token reply, but refused the same way: the server's words, scrubbed.
            let e = parse_token_reply(url, reply, Some(self.bearer.expose()))
                .err()
                .unwrap_or_else(|| Error::transient(format!("{url} refused")));
            return Err(e.context(&format!("requesting {what}")));
        }
        let jwt = match miniserde::json::from_str::<Value>(&reply.body) {
            Ok(Value::Object(o)) => string(&o, field),
            _ => None,
        }
        .ok_or_else(|| {
            Error::transient(format!(
                "{url} answered HTTP {} without a '{field}' field holding {what}",
                reply.status
            ))
        })?;
        let claims =
            crate::jwt::decode(&jwt).map_err(|why| Error::federated(format!("{what}: {why}")))?;
        check_times(&claims, unix_now())
            .map_err(|why| Error::federated(format!("{what} {why}")))?;
        Ok(FederatedToken {
            jwt: Secret::new(jwt),
            claims,
        })
    }
}

/// An ID token dbtoken requests for token federation, and what decides its audience.
pub(crate) struct Requested {
    pub request: IdTokenRequest,
    /// `token_audience`, when configured.
    pub audience: Option<String>,
    /// The account id, on an account host only.
    pub account_id: Option<String>,
}

impl Requested {
    /// The audience to ask for, once the token endpoint is known.
    pub fn audience(&self, discovery: &Discovery, endpoint: &Endpoint) -> Audience {
        audience(
            self.audience.as_deref(),
            discovery.default_audience(),
            self.account_id.as_deref(),
            endpoint,
        )
    }
}

/// The audience rule of databricks-sdk-go and -py: `token_audience`; else the first of the
/// host's `token_federation_default_oidc_audiences`; else the account id on an account host;
/// else the token endpoint URL.
pub(crate) fn audience(
    explicit: Option<&str>,
    host_default: Option<String>,
    account_id: Option<&str>,
    endpoint: &Endpoint,
) -> Audience {
    let (value, rule) = if let Some(a) = explicit {
        (a.to_string(), "token_audience, DATABRICKS_TOKEN_AUDIENCE")
    } else if let Some(a) = host_default {
        (
            a,
            "token_federation_default_oidc_audiences of {host}/.well-known/databricks-config",
        )
    } else if let Some(a) = account_id {
        (a.to_string(), "the account id, on an account host")
    } else {
        (endpoint.url.clone(), "the token endpoint URL, the default")
    };
    Audience { value, rule }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_rule_in_order() {
        let ep = Endpoint {
            url: "https://h/oidc/v1/token".into(),
            via: String::new(),
        };
        let a = |e, d: Option<&str>, acc| audience(e, d.map(str::to_string), acc, &ep);
        assert_eq!(a(Some("x"), Some("d"), Some("acc")).value, "x");
        assert_eq!(a(None, Some("d"), Some("acc")).value, "d");
        assert_eq!(a(None, None, Some("acc")).value, "acc");
        let last = a(None, None, None);
        assert_eq!(last.value, "https://h/oidc/v1/token");
        assert!(last.rule.contains("token endpoint"));
    }

    #[test]
    fn azure_devops_url_joins_the_collection_uri_once() {
        let s = |v: &str| v.to_string();
        for collection in ["https://dev.azure.com/org/", "https://dev.azure.com/org"] {
            let r = IdTokenRequest::azure_devops([
                s("t"),
                s(collection),
                s("proj"),
                s("build"),
                s("plan"),
                s("job"),
            ]);
            assert_eq!(
                r.url,
                "https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/plan/jobs/job/oidctoken?api-version=7.2-preview.1"
            );
        }
    }
}
