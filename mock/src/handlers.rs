//! Endpoint logic: discovery, Databricks token endpoints, Entra ID, SCIM Me, faults, control.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::http::{BodyMode, MAX_BODY, Request, Response};
use crate::jwt::{audiences, decode_claims, iso8601, now_secs, num_claim, str_claim};
use crate::{
    ACCOUNT_ID, AZURE_AUDIENCE, AZURE_CLIENT_ID, AZURE_DATABRICKS_SCOPE, AZURE_TENANT_ID, Config,
    Fault, FaultBody, Issued, M2M_CLIENT_ID, M2M_SECRET, Recorded, Shared,
};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

type Form = Vec<(String, String)>;

pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    if req.path.starts_with("/_mock/") {
        return control(shared, req);
    }
    let form = if req.body.is_empty() {
        Vec::new()
    } else {
        parse_form(&req.body).unwrap_or_default()
    };
    let fault = {
        let mut st = shared.lock();
        st.record(Recorded {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            form,
        });
        st.pop_fault(&req.path)
    };
    if req.too_large {
        let mut r = oauth_error(
            413,
            "invalid_request",
            &format!("request body exceeds {MAX_BODY} bytes"),
        );
        r.close = true;
        return r;
    }
    if let Some(fault) = fault {
        if !fault.delay.is_zero() {
            std::thread::sleep(fault.delay);
        }
        if let Some(resp) = fault_response(&fault) {
            return resp;
        }
        let resp = route(shared, req);
        return match fault.retry_after {
            Some(v) => resp.with_header("Retry-After", v),
            None => resp,
        };
    }
    route(shared, req)
}

fn fault_response(fault: &Fault) -> Option<Response> {
    let mut resp = match (fault.body, fault.status) {
        (None, None) => return None,
        (None, Some(status)) => Response::json(
            status,
            &json!({"error": "temporarily_unavailable", "error_description": format!("injected {status}")}),
        ),
        (Some(FaultBody::Truncated), status) => {
            let mut body = json!({
                "access_token": "dbmock-truncated-0000000000000000",
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "all-apis",
            })
            .to_string()
            .into_bytes();
            body.resize(200, b' ');
            let mut r = Response::json(status.unwrap_or(200), &Value::Null);
            r.body = body;
            r.mode = BodyMode::Truncated {
                declared: 200,
                sent: 20,
            };
            r
        }
        (Some(FaultBody::Oversized), status) => {
            let mut body = Vec::with_capacity(MAX_BODY + 64);
            body.extend_from_slice(b"{\"access_token\":\"");
            body.resize(MAX_BODY + 32, b'x');
            body.extend_from_slice(b"\",\"token_type\":\"Bearer\",\"expires_in\":3600}");
            let mut r = Response::json(status.unwrap_or(200), &Value::Null);
            r.body = body;
            r
        }
        (Some(FaultBody::NotJson), status) => {
            let mut r = Response::json(status.unwrap_or(200), &Value::Null);
            r.content_type = "text/html";
            r.body = b"<html><body>502 Bad Gateway</body></html>".to_vec();
            r
        }
    };
    if let Some(v) = &fault.retry_after {
        resp.headers.push(("Retry-After", v.clone()));
    }
    Some(resp)
}

pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    Response::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

pub(crate) fn not_found(path: &str) -> Response {
    Response::json(
        404,
        &json!({"error_code": "ENDPOINT_NOT_FOUND", "message": format!("No API found for '{path}'")}),
    )
}

pub(crate) fn method_not_allowed(req: &Request) -> Response {
    Response::json(
        405,
        &json!({"error_code": "METHOD_NOT_ALLOWED", "message": format!("{} is not allowed on '{}'", req.method, req.path)}),
    )
}

fn host(shared: &Shared, req: &Request) -> String {
    match req.header("host") {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => format!("127.0.0.1:{}", shared.port),
    }
}

fn route(shared: &Shared, req: &Request) -> Response {
    let host = host(shared, req);
    let base = format!("https://{host}");
    let is_account_host = host.to_ascii_lowercase().starts_with("accounts.");
    let config = shared.lock().config.clone();
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let method = req.method.as_str();
    let want = |m: &str| method == m;
    if want("GET")
        && let Some(resp) = crate::issuer::route(&shared.issuer_keys, req, &base)
    {
        return resp;
    }

    match segs.as_slice() {
        [".well-known", "databricks-config"] => {
            if !want("GET") {
                return method_not_allowed(req);
            }
            if !config.databricks_config {
                return not_found(&req.path);
            }
            let body = if is_account_host {
                json!({
                    "oidc_endpoint": format!("{base}/oidc/accounts/{{account_id}}"),
                    "account_id": ACCOUNT_ID,
                    "cloud": "aws",
                })
            } else {
                json!({
                    "oidc_endpoint": format!("{base}/oidc"),
                    "account_id": ACCOUNT_ID,
                    "workspace_id": "1234567890123456",
                    "cloud": "aws",
                })
            };
            Response::json(200, &crate::ci_oidc::with_default_audiences(body, &config))
        }
        ["oidc", ".well-known", "oauth-authorization-server"] => {
            if !want("GET") {
                return method_not_allowed(req);
            }
            if !config.oauth_discovery {
                return not_found(&req.path);
            }
            Response::json(200, &as_metadata(&format!("{base}/oidc")))
        }
        [
            "oidc",
            "accounts",
            aid,
            ".well-known",
            "oauth-authorization-server",
        ] => {
            if !want("GET") {
                return method_not_allowed(req);
            }
            if !config.oauth_discovery || *aid != ACCOUNT_ID {
                return not_found(&req.path);
            }
            Response::json(
                200,
                &as_metadata(&format!("{base}/oidc/accounts/{ACCOUNT_ID}")),
            )
        }
        ["oidc", "v1", "token"] => {
            if !want("POST") {
                return method_not_allowed(req);
            }
            crate::limit::exchange(shared, || databricks_token(shared, req, &config))
        }
        ["oidc", "accounts", aid, "v1", "token"] => {
            if !want("POST") {
                return method_not_allowed(req);
            }
            if *aid != ACCOUNT_ID {
                return not_found(&req.path);
            }
            crate::limit::exchange(shared, || databricks_token(shared, req, &config))
        }
        [tenant, "oauth2", "v2.0", "token"] => {
            if !want("POST") {
                return method_not_allowed(req);
            }
            crate::limit::exchange(shared, || entra_token(shared, req, &config, tenant))
        }
        ["api", "2.0", "preview", "scim", "v2", "Me"] => {
            if !want("GET") {
                return method_not_allowed(req);
            }
            scim_me(shared, req)
        }
        _ => crate::ci_oidc::route(shared, req, &config, &segs)
            .unwrap_or_else(|| not_found(&req.path)),
    }
}

fn as_metadata(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/v1/authorize"),
        "token_endpoint": format!("{issuer}/v1/token"),
    })
}

// ---------------------------------------------------------------- forms

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub(crate) fn decode_component(s: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = s.get(i + 1).copied().and_then(hex_val);
                let lo = s.get(i + 2).copied().and_then(hex_val);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h * 16 + l),
                    _ => return Err("invalid percent-encoding in form body".to_string()),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "form body is not UTF-8".to_string())
}

fn parse_form(body: &[u8]) -> Result<Form, String> {
    let mut out = Vec::new();
    for pair in body.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        out.push((decode_component(k)?, decode_component(v)?));
    }
    Ok(out)
}

fn is_form(req: &Request) -> bool {
    req.header("content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

pub(crate) fn field<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Content-Type, form parsing, duplicates. Returns the form or a ready error message.
pub(crate) fn read_form(req: &Request) -> Result<Form, String> {
    if !is_form(req) {
        return Err(format!(
            "Content-Type must be application/x-www-form-urlencoded, got '{}'",
            req.header("content-type").unwrap_or("")
        ));
    }
    let form = parse_form(&req.body)?;
    for (i, (k, _)) in form.iter().enumerate() {
        if form[..i].iter().any(|(k2, _)| k2 == k) {
            return Err(format!("Duplicate parameter '{k}'"));
        }
    }
    Ok(form)
}

fn unknown_field<'a>(form: &'a Form, allowed: &[&str]) -> Option<&'a str> {
    form.iter()
        .map(|(k, _)| k.as_str())
        .find(|k| !allowed.contains(k))
}

// ---------------------------------------------------------------- tokens

fn new_token(shared: &Shared) -> String {
    let n = shared.token_counter.fetch_add(1, Ordering::Relaxed) + 1;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("dbmock-{n}-{:016x}", h.finish())
}

pub(crate) fn issue(shared: &Shared, req: &Request, flow: &'static str) -> (String, u64) {
    let token = new_token(shared);
    let mut st = shared.lock();
    let ttl = st.config.token_ttl;
    st.remember(
        token.clone(),
        Issued {
            expires_at: Instant::now() + Duration::from_secs(ttl),
            flow,
            endpoint: req.path.clone(),
        },
    );
    (token, ttl)
}

fn databricks_token(shared: &Shared, req: &Request, config: &Config) -> Response {
    let form = match read_form(req) {
        Ok(f) => f,
        Err(msg) => return oauth_error(400, "invalid_request", &msg),
    };
    match field(&form, "grant_type") {
        None => oauth_error(
            400,
            "invalid_request",
            "Missing required parameter 'grant_type'",
        ),
        Some(TOKEN_EXCHANGE) => token_exchange(shared, req, config, &form),
        Some("client_credentials") => client_credentials(shared, req, &form),
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Unsupported grant_type '{other}'"),
        ),
    }
}

fn success(token: String, ttl: u64, scope: &str) -> Response {
    Response::json(
        200,
        &json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": scope}),
    )
}

fn token_exchange(shared: &Shared, req: &Request, config: &Config, form: &Form) -> Response {
    let bad = |msg: &str| oauth_error(400, "invalid_request", msg);
    if let Some(k) = unknown_field(
        form,
        &[
            "grant_type",
            "subject_token",
            "subject_token_type",
            "scope",
            "client_id",
        ],
    ) {
        return bad(&format!(
            "Unknown parameter '{k}' for grant_type '{TOKEN_EXCHANGE}'"
        ));
    }
    if req.header("authorization").is_some() {
        return bad("Token exchange requests must not carry an Authorization header");
    }
    match field(form, "subject_token_type") {
        None => return bad("Missing required parameter 'subject_token_type'"),
        Some(JWT_TOKEN_TYPE) => {}
        Some(other) => {
            return bad(&format!(
                "Unsupported subject_token_type '{other}', expected '{JWT_TOKEN_TYPE}'"
            ));
        }
    }
    let scope = match field(form, "scope") {
        None => return bad("Missing required parameter 'scope'"),
        Some("") => return bad("Parameter 'scope' must not be empty"),
        Some(s) => s.to_string(),
    };
    if let Some(id) = field(form, "client_id")
        && id != config.sp_client_id
    {
        return oauth_error(
            400,
            "invalid_client",
            &format!("Client authentication failed: unknown client_id '{id}'"),
        );
    }
    let Some(subject_token) = field(form, "subject_token") else {
        return bad("Missing required parameter 'subject_token'");
    };
    let claims = match decode_claims(subject_token) {
        Ok(c) => c,
        Err(why) => return bad(&format!("The subject token {why}")),
    };
    let ours = format!(
        "https://{}{}",
        host(shared, req),
        crate::issuer::ISSUER_PATH
    );
    if str_claim(&claims, "iss") == ours
        && let Err(why) = shared.issuer_keys.verify(subject_token)
    {
        return bad(&format!("The subject token {why}"));
    }
    if let Err(msg) = check_policy(config, &claims) {
        return bad(&msg);
    }
    let (token, ttl) = issue(shared, req, "token-exchange");
    success(token, ttl, &scope)
}

fn check_policy(config: &Config, claims: &Map<String, Value>) -> Result<(), String> {
    let iss = str_claim(claims, "iss");
    if iss != config.issuer {
        return Err(format!(
            "Token federation policy mismatch: issuer '{iss}' does not match the policy issuer '{}'",
            config.issuer
        ));
    }
    let auds = audiences(claims);
    if !auds.contains(&config.audience) {
        return Err(format!(
            "Token federation policy mismatch: audience '{}' does not match the policy audience '{}'",
            auds.join(", "),
            config.audience
        ));
    }
    let sub = str_claim(claims, "sub");
    if sub != config.subject {
        return Err(format!(
            "Token federation policy mismatch: subject '{sub}' does not match the policy subject '{}'",
            config.subject
        ));
    }
    match num_claim(claims, "exp") {
        None => Err("The subject token has no 'exp' claim".to_string()),
        Some(exp) if exp <= now_secs() => Err("The subject token has expired".to_string()),
        Some(_) => Ok(()),
    }
}

fn client_credentials(shared: &Shared, req: &Request, form: &Form) -> Response {
    let expected = format!("{M2M_CLIENT_ID}:{M2M_SECRET}");
    let authorized = req
        .header("authorization")
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| STANDARD.decode(rest.trim()).ok())
                .flatten()
        })
        .is_some_and(|decoded| decoded == expected.as_bytes());
    if !authorized {
        return oauth_error(401, "invalid_client", "Client authentication failed");
    }
    if let Some(k) = unknown_field(form, &["grant_type", "scope"]) {
        return oauth_error(
            400,
            "invalid_request",
            &format!("Unknown parameter '{k}' for grant_type 'client_credentials'"),
        );
    }
    let scope = match field(form, "scope") {
        None | Some("") => {
            return oauth_error(400, "invalid_request", "Missing required parameter 'scope'");
        }
        Some(s) => s.to_string(),
    };
    let (token, ttl) = issue(shared, req, "client-credentials");
    success(token, ttl, &scope)
}

// ---------------------------------------------------------------- Entra ID

pub(crate) fn entra_error(status: u16, error: &str, code: u32, description: &str) -> Response {
    let now = now_secs();
    Response::json(
        status,
        &json!({
            "error": error,
            "error_description": format!(
                "{description} Trace ID: 00000000-0000-4000-8000-000000000000 Correlation ID: 00000000-0000-4000-8000-000000000001 Timestamp: {}",
                iso8601(now)
            ),
            "error_codes": [code],
            "timestamp": iso8601(now),
            "trace_id": "00000000-0000-4000-8000-000000000000",
            "correlation_id": "00000000-0000-4000-8000-000000000001",
        }),
    )
}

fn entra_token(shared: &Shared, req: &Request, config: &Config, tenant: &str) -> Response {
    if tenant != AZURE_TENANT_ID {
        return entra_error(
            400,
            "invalid_request",
            90002,
            &format!(
                "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
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
    const FIELDS: [&str; 5] = [
        "client_assertion",
        "client_assertion_type",
        "client_id",
        "grant_type",
        "scope",
    ];
    if let Some(k) = unknown_field(&form, &FIELDS) {
        return entra_error(
            400,
            "invalid_request",
            901002,
            &format!("AADSTS901002: The '{k}' request parameter is not supported."),
        );
    }
    for name in FIELDS {
        if field(&form, name).is_none_or(str::is_empty) {
            return entra_error(
                400,
                "invalid_request",
                900144,
                &format!(
                    "AADSTS900144: The request body must contain the following parameter: '{name}'."
                ),
            );
        }
    }
    let get = |name: &str| field(&form, name).unwrap_or("");
    if get("grant_type") != "client_credentials" {
        return entra_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!(
                "AADSTS70003: The app requested an unsupported grant type '{}'.",
                get("grant_type")
            ),
        );
    }
    if get("client_assertion_type") != JWT_BEARER {
        return entra_error(
            400,
            "invalid_request",
            70002,
            &format!("AADSTS70002: client_assertion_type must be '{JWT_BEARER}'."),
        );
    }
    let client_id = get("client_id");
    if client_id != AZURE_CLIENT_ID {
        return entra_error(
            400,
            "invalid_client",
            700016,
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        );
    }
    if get("scope") != AZURE_DATABRICKS_SCOPE {
        return entra_error(
            400,
            "invalid_scope",
            70011,
            &format!(
                "AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' ('{}') is not valid; expected '{AZURE_DATABRICKS_SCOPE}'.",
                get("scope")
            ),
        );
    }
    let claims = match decode_claims(get("client_assertion")) {
        Ok(c) => c,
        Err(why) => {
            return entra_error(
                400,
                "invalid_client",
                50027,
                &format!(
                    "AADSTS50027: JWT token is invalid or malformed: the client assertion {why}."
                ),
            );
        }
    };
    let iss = str_claim(&claims, "iss");
    let sub = str_claim(&claims, "sub");
    let auds = audiences(&claims);
    if iss != config.issuer || sub != config.subject || !auds.iter().any(|a| a == AZURE_AUDIENCE) {
        return entra_error(
            400,
            "invalid_client",
            70021,
            &format!(
                "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
                auds.join(",")
            ),
        );
    }
    let now = now_secs();
    let exp = num_claim(&claims, "exp").unwrap_or(0);
    let nbf = num_claim(&claims, "nbf").unwrap_or(now);
    if exp <= now || nbf > now + 300 {
        return entra_error(
            400,
            "invalid_client",
            700024,
            &format!(
                "AADSTS700024: Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                iso8601(now),
                iso8601(nbf),
                iso8601(exp)
            ),
        );
    }
    let (token, ttl) = issue(shared, req, "entra");
    Response::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": token}),
    )
}

// ---------------------------------------------------------------- SCIM Me

fn scim_me(shared: &Shared, req: &Request) -> Response {
    let token = req.header("authorization").and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    if token.is_some_and(|t| shared.lock().is_valid(t)) {
        Response::json(
            200,
            &json!({"id": "4242", "userName": "dbtoken-mock-sp", "active": true}),
        )
    } else {
        Response::json(
            401,
            &json!({"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}),
        )
    }
}

// ---------------------------------------------------------------- control

fn control(shared: &Shared, req: &Request) -> Response {
    let ok = || Response::json(200, &json!({"ok": true}));
    let bad = |msg: String| {
        Response::json(
            400,
            &json!({"error": "bad_control_request", "message": msg}),
        )
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/_mock/stats") => {
            let st = shared.lock();
            let requests: Map<String, Value> = st
                .counts
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            Response::json(200, &json!({"total": st.total, "requests": requests}))
        }
        ("GET", "/_mock/exchanges") => exchanges(shared),
        ("POST", "/_mock/reset") => {
            shared.lock().reset();
            ok()
        }
        ("POST", "/_mock/fault") => match parse_fault(&req.body) {
            Ok((path, fault)) => {
                shared.lock().add_fault(&path, fault);
                ok()
            }
            Err(msg) => bad(msg),
        },
        ("POST", "/_mock/config") => match apply_config(shared, &req.body) {
            Ok(()) => ok(),
            Err(msg) => bad(msg),
        },
        (
            _,
            "/_mock/stats" | "/_mock/exchanges" | "/_mock/reset" | "/_mock/fault" | "/_mock/config",
        ) => method_not_allowed(req),
        _ => not_found(&req.path),
    }
}

/// `GET /_mock/exchanges`: the rate limit, every token-endpoint exchange (Unix milliseconds
/// of its arrival, status) and the counts per Unix second from the first one.
fn exchanges(shared: &Shared) -> Response {
    let (ex, limit) = {
        let st = shared.lock();
        (st.exchanges_by_arrival(), st.config.rate_limit)
    };
    let (base_instant, base_wall) = shared.started;
    let unix_ms = |at: Instant| {
        let wall = match at.checked_duration_since(base_instant) {
            Some(d) => base_wall.checked_add(d),
            None => base_wall.checked_sub(base_instant.saturating_duration_since(at)),
        };
        wall.and_then(|w| w.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    let list: Vec<Value> = ex
        .iter()
        .map(|e| json!({"unix_ms": unix_ms(e.at), "status": e.status}))
        .collect();
    // Seconds aligned on the Unix clock: counted from the whole second of the first exchange.
    let seconds: Vec<Value> = match ex.first() {
        None => Vec::new(),
        Some(first) => {
            let ms = unix_ms(first.at);
            let origin = first
                .at
                .checked_sub(Duration::from_millis(ms % 1000))
                .unwrap_or(first.at);
            crate::limit::per_second(&ex, origin)
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({"unix": ms / 1000 + i as u64, "requests": s.requests, "refused": s.refused})
                })
                .collect()
        }
    };
    let refused = ex.iter().filter(|e| e.status == 429).count();
    Response::json(
        200,
        &json!({
            "rate_limit": limit.map(|l| json!({"per_second": l.per_second(), "burst": l.burst()})),
            "total": ex.len(),
            "refused": refused,
            "exchanges": list,
            "per_second": seconds,
        }),
    )
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("body must be a JSON object".to_string()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn parse_fault(body: &[u8]) -> Result<(String, Fault), String> {
    let m = json_object(body)?;
    let mut path = None;
    let mut fault = Fault::default();
    for (k, v) in &m {
        let uint = || {
            v.as_u64()
                .ok_or(format!("'{k}' must be a non-negative integer"))
        };
        match k.as_str() {
            "path" => path = Some(v.as_str().ok_or("'path' must be a string")?.to_string()),
            "status" => {
                let s = uint()?;
                if !(100..=999).contains(&s) {
                    return Err("'status' must be 100..=999".to_string());
                }
                fault.status = Some(s as u16);
            }
            "retry_after" => {
                fault.retry_after = Some(match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err("'retry_after' must be a string or number".to_string()),
                })
            }
            "delay_ms" => fault.delay = Duration::from_millis(uint()?),
            "times" => fault.times = uint()? as usize,
            "body" => {
                fault.body = Some(match v.as_str() {
                    Some("truncated") => FaultBody::Truncated,
                    Some("oversized") => FaultBody::Oversized,
                    Some("not_json") => FaultBody::NotJson,
                    _ => {
                        return Err(
                            "'body' must be \"truncated\", \"oversized\" or \"not_json\""
                                .to_string(),
                        );
                    }
                })
            }
            other => return Err(format!("unknown fault field '{other}'")),
        }
    }
    let path = path.ok_or("'path' is required")?;
    if !path.starts_with('/') {
        return Err("'path' must start with '/'".to_string());
    }
    Ok((path, fault))
}

fn apply_config(shared: &Shared, body: &[u8]) -> Result<(), String> {
    let m = json_object(body)?;
    // Validate everything before applying anything (all under one lock).
    let mut st = shared.lock();
    let mut config = st.config.clone();
    let mut rate_limit = None;
    for (k, v) in &m {
        let boolean = || v.as_bool().ok_or(format!("'{k}' must be a boolean"));
        let string = || {
            v.as_str()
                .map(str::to_string)
                .ok_or(format!("'{k}' must be a string"))
        };
        match k.as_str() {
            "token_ttl_secs" => {
                config.token_ttl = v
                    .as_u64()
                    .ok_or("'token_ttl_secs' must be a non-negative integer")?
            }
            "databricks_config" => config.databricks_config = boolean()?,
            "oauth_discovery" => config.oauth_discovery = boolean()?,
            "issuer" => config.issuer = string()?,
            "audience" => config.audience = string()?,
            "subject" => config.subject = string()?,
            "sp_client_id" => config.sp_client_id = string()?,
            "rate_limit" => rate_limit = Some(parse_rate_limit(v)?),
            other => return Err(format!("unknown config field '{other}'")),
        }
    }
    st.config = config;
    if let Some(limit) = rate_limit {
        st.set_rate_limit(limit);
    }
    Ok(())
}

/// `{"per_second": R, "burst": N}` (R may be a fraction; the burst defaults to a second's
/// worth) or `null` (no limit).
fn parse_rate_limit(v: &Value) -> Result<Option<crate::RateLimit>, String> {
    let m = match v {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        _ => return Err("'rate_limit' must be an object or null".to_string()),
    };
    if let Some(k) = m
        .keys()
        .find(|k| !["per_second", "burst"].contains(&k.as_str()))
    {
        return Err(format!("unknown rate_limit field '{k}'"));
    }
    let per_second = m
        .get("per_second")
        .ok_or("'rate_limit.per_second' is required")?
        .as_f64()
        .ok_or("'rate_limit.per_second' must be a number")?;
    let burst = match m.get("burst") {
        None => crate::RateLimit::default_burst(per_second),
        Some(v) => v
            .as_u64()
            .ok_or("'rate_limit.burst' must be a positive integer")?,
    };
    crate::RateLimit::new(per_second, burst).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let f = parse_form(b"a=1+2&b=%2Fx%3D&c&&d=").unwrap();
        assert_eq!(
            f,
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "/x=".into()),
                ("c".into(), "".into()),
                ("d".into(), "".into())
            ]
        );
        assert!(parse_form(b"a=%zz").is_err());
        assert!(parse_form(b"a=%4").is_err());
    }
}
