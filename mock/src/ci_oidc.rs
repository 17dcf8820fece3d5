//! Identity endpoints outside Databricks that dbtoken's CI and Azure auth types call:
//! GitHub Actions' ID token endpoint, Azure Pipelines' `oidctoken`, Entra's v1 token endpoint
//! (client secret or client assertion, with `resource`), the Azure instance metadata service
//! and App Service's managed identity endpoint. Each is strict about what the SDKs send and
//! refuses the way the real service does.

use serde_json::{Value, json};

use crate::handlers::{
    decode_component, entra_error, field, issue, method_not_allowed, oauth_error, read_form,
};
use crate::http::{Request, Response};
use crate::jwt::{audiences, decode_claims, jwt, now_secs, str_claim};
use crate::{AZURE_AUDIENCE, AZURE_CLIENT_ID, AZURE_TENANT_ID, Config, Shared};

/// Bearer token GitHub Actions puts in `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
pub const GITHUB_REQUEST_TOKEN: &str = "mock-github-request-token";
/// `SYSTEM_ACCESSTOKEN` of the mock Azure Pipelines job.
pub const ADO_ACCESS_TOKEN: &str = "mock-ado-system-access-token";
/// `SYSTEM_TEAMPROJECTID`, `SYSTEM_HOSTTYPE`, `SYSTEM_PLANID`, `SYSTEM_JOBID` of that job.
pub const ADO_PROJECT_ID: &str = "0d5c0000-0000-4000-8000-00000000a0d0";
pub const ADO_HOST_TYPE: &str = "build";
pub const ADO_PLAN_ID: &str = "71a40000-0000-4000-8000-0000000071a4";
pub const ADO_JOB_ID: &str = "10b00000-0000-4000-8000-0000000010b0";
/// Client secret of `AZURE_CLIENT_ID` accepted at the Entra v1 endpoint.
pub const AZURE_CLIENT_SECRET: &str = "mock-azure-client-secret-value";
/// The user-assigned managed identity the metadata service knows (besides the system one).
pub const MSI_CLIENT_ID: &str = "3f2e1d0c-0000-4000-8000-000000000351";
/// `IDENTITY_HEADER` of the mock App Service.
pub const APP_SERVICE_HEADER: &str = "mock-app-service-identity-header";

const AZURE_DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Routes of this module, or `None` for a path it does not serve.
pub(crate) fn route(
    shared: &Shared,
    req: &Request,
    config: &Config,
    segs: &[&str],
) -> Option<Response> {
    let want = |m: &str| req.method == m;
    Some(match segs {
        ["github", "idtoken"] if want("GET") => github(req, config),
        [
            _org,
            project,
            "_apis",
            "distributedtask",
            "hubs",
            hub,
            "plans",
            plan,
            "jobs",
            job,
            "oidctoken",
        ] if want("POST") => azure_devops(req, config, [project, hub, plan, job]),
        [tenant, "oauth2", "token"] if want("POST") => {
            crate::limit::exchange(shared, || entra_v1(shared, req, config, tenant))
        }
        ["metadata", "identity", "oauth2", "token"] if want("GET") => imds(shared, req),
        ["msi", "token"] if want("GET") => app_service(shared, req),
        ["github", "idtoken"]
        | ["metadata", "identity", "oauth2", "token"]
        | ["msi", "token"]
        | [_, "oauth2", "token"] => method_not_allowed(req),
        _ => return None,
    })
}

/// Add `token_federation_default_oidc_audiences` to a `databricks-config` answer when set.
pub(crate) fn with_default_audiences(mut body: Value, config: &Config) -> Value {
    if !config.default_audiences.is_empty() {
        body["token_federation_default_oidc_audiences"] = json!(config.default_audiences);
    }
    body
}

fn query(req: &Request) -> Vec<(String, String)> {
    req.query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((
                decode_component(k.as_bytes()).ok()?,
                decode_component(v.as_bytes()).ok()?,
            ))
        })
        .collect()
}

fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn bearer(req: &Request) -> Option<&str> {
    let (scheme, rest) = req.header("authorization")?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// A CI ID token: the mock policy's issuer and subject, the given audience, one hour.
fn id_token(config: &Config, aud: &str) -> String {
    let now = now_secs();
    jwt(&json!({
        "iss": config.issuer,
        "sub": config.subject,
        "aud": aud,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }))
}

fn github(req: &Request, config: &Config) -> Response {
    if bearer(req) != Some(GITHUB_REQUEST_TOKEN) {
        return Response::json(
            401,
            &json!({"message": "Bad credentials: the runtime token is invalid or expired"}),
        );
    }
    let q = query(req);
    if param(&q, "api-version").as_deref() != Some("2.0") {
        return Response::json(
            400,
            &json!({"message": "The api-version query parameter is required (2.0)"}),
        );
    }
    let aud = param(&q, "audience").unwrap_or_else(|| "https://github.com/mock-org".into());
    Response::json(
        200,
        &json!({"count": 1800, "value": id_token(config, &aud)}),
    )
}

fn azure_devops(req: &Request, config: &Config, ids: [&&str; 4]) -> Response {
    if bearer(req) != Some(ADO_ACCESS_TOKEN) {
        return Response::json(
            401,
            &json!({"message": "TF400813: The user '' is not authorized to access this resource."}),
        );
    }
    if param(&query(req), "api-version").as_deref() != Some("7.2-preview.1") {
        return Response::json(
            400,
            &json!({"message": "The requested REST API version is not supported; use api-version=7.2-preview.1"}),
        );
    }
    if ids.map(|s| *s) != [ADO_PROJECT_ID, ADO_HOST_TYPE, ADO_PLAN_ID, ADO_JOB_ID] {
        return Response::json(
            404,
            &json!({"message": "The plan or job does not exist or has completed."}),
        );
    }
    Response::json(200, &json!({"oidcToken": id_token(config, AZURE_AUDIENCE)}))
}

fn entra_v1(shared: &Shared, req: &Request, config: &Config, tenant: &str) -> Response {
    if tenant != AZURE_TENANT_ID {
        return entra_error(
            400,
            "invalid_request",
            90002,
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    let form = match read_form(req) {
        Ok(f) => f,
        Err(msg) => {
            return entra_error(
                400,
                "invalid_request",
                900144,
                &format!("AADSTS900144: {msg}."),
            );
        }
    };
    let get = |name: &str| field(&form, name).unwrap_or("");
    if get("grant_type") != "client_credentials" {
        return entra_error(
            400,
            "unsupported_grant_type",
            70003,
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if get("resource") != AZURE_DATABRICKS_RESOURCE {
        return entra_error(
            400,
            "invalid_resource",
            500011,
            &format!(
                "AADSTS500011: The resource principal named '{}' was not found in the tenant.",
                get("resource")
            ),
        );
    }
    if get("client_id") != AZURE_CLIENT_ID {
        return entra_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory '{tenant}'.",
                get("client_id")
            ),
        );
    }
    match (
        field(&form, "client_secret"),
        field(&form, "client_assertion"),
    ) {
        (Some(secret), None) => {
            if secret != AZURE_CLIENT_SECRET {
                return entra_error(
                    401,
                    "invalid_client",
                    7000215,
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                );
            }
        }
        (None, Some(assertion)) => {
            if get("client_assertion_type") != JWT_BEARER {
                return entra_error(
                    400,
                    "invalid_request",
                    70002,
                    "AADSTS70002: client_assertion_type is invalid.",
                );
            }
            let claims = match decode_claims(assertion) {
                Ok(c) => c,
                Err(why) => {
                    return entra_error(
                        400,
                        "invalid_client",
                        50027,
                        &format!("AADSTS50027: JWT token is invalid or malformed: {why}."),
                    );
                }
            };
            let (iss, sub, aud) = (
                str_claim(&claims, "iss"),
                str_claim(&claims, "sub"),
                audiences(&claims),
            );
            if iss != config.issuer
                || sub != config.subject
                || !aud.iter().any(|a| a == AZURE_AUDIENCE)
            {
                return entra_error(
                    400,
                    "invalid_client",
                    70021,
                    &format!(
                        "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
                        aud.join(",")
                    ),
                );
            }
        }
        _ => {
            return entra_error(
                400,
                "invalid_request",
                900144,
                "AADSTS900144: The request body must contain exactly one of 'client_secret' or 'client_assertion'.",
            );
        }
    }
    let (token, ttl) = issue(shared, req, "entra-v1");
    let now = now_secs();
    Response::json(
        200,
        &json!({
            "token_type": "Bearer",
            "expires_in": ttl.to_string(),
            "ext_expires_in": ttl.to_string(),
            "expires_on": (now + ttl as i64).to_string(),
            "not_before": now.to_string(),
            "resource": AZURE_DATABRICKS_RESOURCE,
            "access_token": token,
        }),
    )
}

/// Managed identity checks shared by IMDS and App Service: resource and identity.
fn identity(q: &[(String, String)], api_version: &str) -> Result<(), Response> {
    if param(q, "api-version").as_deref() != Some(api_version) {
        return Err(oauth_error(
            400,
            "invalid_request",
            &format!("api-version must be {api_version}"),
        ));
    }
    if param(q, "resource").as_deref() != Some(AZURE_DATABRICKS_RESOURCE) {
        return Err(oauth_error(
            400,
            "invalid_resource",
            "AADSTS500011: The resource principal was not found in the tenant.",
        ));
    }
    match param(q, "client_id") {
        None => Ok(()),
        Some(id) if id == MSI_CLIENT_ID => Ok(()),
        Some(_) => Err(oauth_error(400, "invalid_request", "Identity not found")),
    }
}

fn imds(shared: &Shared, req: &Request) -> Response {
    if req.header("metadata") != Some("true") {
        return oauth_error(
            400,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    if let Err(r) = identity(&query(req), "2018-02-01") {
        return r;
    }
    let (token, ttl) = issue(shared, req, "imds");
    let now = now_secs();
    Response::json(
        200,
        &json!({
            "access_token": token,
            "expires_in": ttl.to_string(),
            "expires_on": (now + ttl as i64).to_string(),
            "ext_expires_in": ttl.to_string(),
            "not_before": now.to_string(),
            "resource": AZURE_DATABRICKS_RESOURCE,
            "token_type": "Bearer",
        }),
    )
}

fn app_service(shared: &Shared, req: &Request) -> Response {
    if req.header("x-identity-header") != Some(APP_SERVICE_HEADER) {
        return Response::json(
            401,
            &json!({"statusCode": 401, "message": "Unauthorized request: the X-IDENTITY-HEADER is missing or wrong"}),
        );
    }
    if let Err(r) = identity(&query(req), "2019-08-01") {
        return r;
    }
    let (token, ttl) = issue(shared, req, "app-service");
    Response::json(
        200,
        &json!({
            "access_token": token,
            "expires_on": (now_secs() + ttl as i64).to_string(),
            "resource": AZURE_DATABRICKS_RESOURCE,
            "token_type": "Bearer",
        }),
    )
}
