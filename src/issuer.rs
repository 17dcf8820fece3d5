//! What Databricks checks about a federated token's issuer, checked from here (for `doctor`):
//! the `iss` is an `https` URL a remote service can reach, `{iss}/.well-known/openid-configuration`
//! answers with the same `issuer` and a `jwks_uri`, the token's `kid` is among those keys, and
//! the signature verifies with that key.
//!
//! Each network step is one GET bounded by `http_timeout_seconds`, all of them by
//! `retry_timeout_seconds`. A step that cannot be made from here (no route, DNS, a name that
//! only resolves inside a cluster) is "not checked", never a failure: the machine running
//! `doctor` may simply be offline.

use std::net::IpAddr;

use miniserde::json::Value;

use crate::config::Resolved;
use crate::http::{Http, url_host};
use crate::jws::{self, Jwk, Jws};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Databricks will accept this part.
    Ok,
    /// Works, but risky or unusual.
    Warning,
    /// Databricks will refuse the token for this reason.
    Fail,
    /// Could not be checked from here (the detail says why).
    NotChecked,
}

impl Verdict {
    /// `ok`, `warning`, `fail` or `not checked`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Fail => "fail",
            Verdict::NotChecked => "not checked",
        }
    }
}

/// Where the issuer's host lives, as far as a remote service is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// A public name or address.
    Public,
    /// Not an `https://` URL.
    NotHttps,
    /// `kubernetes.default.svc`, `*.svc`, `*.cluster.local`: resolves only inside a cluster.
    ClusterInternal,
    /// `localhost`, `*.localhost`, 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, CGNAT, unique-local or link-local addresses, `*.internal`, `*.local`.
    Private,
    /// `.test`, `.example`, `.invalid`: reserved names that never resolve (RFC 6761).
    Reserved,
}

/// One check: its name (`reachable`, `discovery`, `keys`, `kid`, `signature`), verdict and
/// what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

/// Where the verification keys come from: the issuer's discovery document (the default), or
/// the federation policy's own `jwks_uri` or `jwks_json`.
#[derive(Clone, Copy, Debug)]
pub enum Keys<'a> {
    Discovery,
    Uri(&'a str),
    Json(&'a str),
}

/// The issuer checks, in order, and the reachability class of `iss`.
#[derive(Clone, Debug)]
pub struct Report {
    pub reach: Reach,
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, name: &'static str, verdict: Verdict, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            verdict,
            detail: detail.into(),
        });
    }
}

/// Classify the host of `iss` without any network access.
pub fn classify(iss: &str) -> (Reach, String) {
    if !iss.to_ascii_lowercase().starts_with("https://") {
        return (Reach::NotHttps, "the issuer is not an https:// URL".into());
    }
    let host = url_host(iss).unwrap_or_default().to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if let Ok(ip) = host.parse::<IpAddr>() {
        let (reach, what) = classify_ip(ip);
        return (reach, format!("{host} is {what}"));
    }
    let ends = |s: &str| host == s || host.ends_with(&format!(".{s}"));
    if host == "kubernetes.default.svc" || ends("svc") || ends("cluster.local") {
        return (
            Reach::ClusterInternal,
            format!("{host} is a cluster-internal name"),
        );
    }
    if ends("localhost") {
        return (Reach::Loopback, format!("{host} is a loopback name"));
    }
    if ends("test") || ends("example") || ends("invalid") {
        return (
            Reach::Reserved,
            format!("{host} is a reserved name that never resolves (RFC 6761)"),
        );
    }
    if ends("internal") || ends("local") || ends("lan") || ends("home.arpa") || !host.contains('.')
    {
        return (Reach::Private, format!("{host} is a private network name"));
    }
    (Reach::Public, format!("{host} is a public name"))
}

fn classify_ip(ip: IpAddr) -> (Reach, &'static str) {
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return classify_ip(IpAddr::V4(v4));
    }
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => (Reach::Loopback, "a loopback address"),
        IpAddr::V4(v4) if v4.is_link_local() => (Reach::Private, "a link-local address"),
        IpAddr::V4(v4)
            if v4.is_private()
                || v4.is_unspecified()
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])) =>
        {
            (Reach::Private, "a private address")
        }
        IpAddr::V6(v6) if v6.is_loopback() => (Reach::Loopback, "a loopback address"),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => {
            (Reach::Private, "a link-local address")
        }
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 || v6.is_unspecified() => {
            (Reach::Private, "a private address")
        }
        _ => (Reach::Public, "a public address"),
    }
}

/// Run the issuer checks for the federated token `jwt` (never printed) whose `iss` is `iss`.
///
/// With the policy's `jwks_uri`, Databricks fetches that URL instead of the issuer's documents,
/// so that URL is what must be reachable; with `jwks_json` it fetches nothing.
pub fn check(cfg: &Resolved, iss: &str, jwt: &str, keys_from: Keys<'_>) -> Report {
    let (reach, what) = match keys_from {
        Keys::Uri(u) => {
            let (reach, what) = classify(u);
            (reach, format!("the policy's jwks_uri: {what}"))
        }
        _ => classify(iss),
    };
    let mut r = Report {
        reach,
        checks: Vec::new(),
    };
    let inline = matches!(keys_from, Keys::Json(_));
    match (reach, inline) {
        (Reach::Public, false) => r.push("reachable", Verdict::Ok, format!("{what}, https")),
        (Reach::NotHttps, false) => r.push("reachable", Verdict::Fail, what),
        (_, true) => r.push(
            "reachable",
            Verdict::Warning,
            format!("{what}; the policy carries jwks_json, so Databricks fetches nothing from it (keys rotate: keep jwks_json current)"),
        ),
        _ => r.push(
            "reachable",
            Verdict::Fail,
            format!("{what}: Databricks fetches the keys over the internet and cannot reach it"),
        ),
    }
    let jws = match Jws::parse(jwt) {
        Ok(j) => j,
        Err(why) => {
            r.push(
                "signature",
                Verdict::Fail,
                format!("the federated token: {why}"),
            );
            return r;
        }
    };
    let keys = match keys_from {
        Keys::Json(text) => match jws::parse_jwks(text) {
            Ok(k) => {
                r.push(
                    "keys",
                    Verdict::Ok,
                    format!("{} key(s) from the policy's jwks_json", k.len()),
                );
                k
            }
            Err(why) => {
                r.push(
                    "keys",
                    Verdict::Fail,
                    format!("the policy's jwks_json: {why}"),
                );
                return r;
            }
        },
        _ => match fetch_keys(cfg, iss, reach, keys_from, &mut r) {
            Some(k) => k,
            None => return r,
        },
    };
    let key = match jws::find_key(&keys, jws.kid()) {
        Some(k) => k,
        None => {
            let known: Vec<&str> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
            let detail = match jws.kid() {
                Some(kid) => format!(
                    "the token's kid '{}' is not among the {} published key(s) (kids: {})",
                    printable(kid),
                    keys.len(),
                    printable(&known.join(", "))
                ),
                None => format!(
                    "the token has no kid and the set has {} keys: Databricks cannot pick one",
                    keys.len()
                ),
            };
            r.push("kid", Verdict::Fail, detail);
            return r;
        }
    };
    r.push(
        "kid",
        Verdict::Ok,
        match jws.kid() {
            Some(kid) => format!("'{}' is published", printable(kid)),
            None => "no kid; the set's only key is used".into(),
        },
    );
    match jws.verify(key) {
        Ok(()) => r.push(
            "signature",
            Verdict::Ok,
            format!("{} signature verifies", jws.alg().unwrap_or_default()),
        ),
        Err(why) => r.push("signature", Verdict::Fail, why),
    }
    r
}

/// The JWK set, fetched from the issuer's discovery document (or the policy's `jwks_uri`).
/// Records the checks it makes; `None` when verification cannot go on.
fn fetch_keys(
    cfg: &Resolved,
    iss: &str,
    reach: Reach,
    keys_from: Keys<'_>,
    r: &mut Report,
) -> Option<Vec<Jwk>> {
    let not_checked = |r: &mut Report, name, why: String| {
        r.push(name, Verdict::NotChecked, why);
        None
    };
    let fetched = match keys_from {
        Keys::Uri(u) => u,
        _ => iss,
    };
    let host = url_host(fetched).unwrap_or_default().to_string();
    match reach {
        Reach::NotHttps => return not_checked(r, "keys", format!("{fetched} is not https")),
        Reach::Reserved => {
            return not_checked(r, "discovery", format!("{host} never resolves"));
        }
        Reach::ClusterInternal if cfg.env_var("KUBERNETES_SERVICE_HOST").is_none() => {
            return not_checked(
                r,
                "discovery",
                format!(
                    "{host} resolves only inside the cluster (KUBERNETES_SERVICE_HOST is unset here)"
                ),
            );
        }
        _ => {}
    }
    let http = match Http::new(cfg) {
        Ok(h) => h,
        Err(e) => return not_checked(r, "discovery", e.to_string()),
    };
    // One retry_timeout_seconds budget for every request of these checks.
    let deadline = http.deadline();
    let get = |url: &str| -> Result<String, (Verdict, String)> {
        let reply = http
            .get(url, &deadline)
            .map_err(|e| (Verdict::NotChecked, e.to_string()))?;
        match reply.status {
            200 => Ok(reply.body),
            s @ (429 | 500..) => Err((Verdict::NotChecked, format!("{url} answered HTTP {s}"))),
            s => Err((
                Verdict::Fail,
                format!(
                    "{url} answered HTTP {s}; Databricks needs it to answer 200 without credentials"
                ),
            )),
        }
    };
    let jwks_uri = match keys_from {
        Keys::Uri(u) => {
            r.push(
                "discovery",
                Verdict::Ok,
                format!("not needed: the policy names jwks_uri {u}"),
            );
            u.to_string()
        }
        _ => {
            let doc_url = format!(
                "{}/.well-known/openid-configuration",
                iss.trim_end_matches('/')
            );
            let doc = match get(&doc_url) {
                Ok(body) => body,
                Err((v, why)) => {
                    r.push("discovery", v, why);
                    return None;
                }
            };
            let o = match miniserde::json::from_str::<Value>(&doc) {
                Ok(Value::Object(o)) => o,
                _ => {
                    r.push(
                        "discovery",
                        Verdict::Fail,
                        format!("{doc_url} is not a JSON object"),
                    );
                    return None;
                }
            };
            let field = |k: &str| match o.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            match field("issuer") {
                Some(i) if i == iss => {}
                other => {
                    r.push(
                        "discovery",
                        Verdict::Fail,
                        format!(
                            "{doc_url} names issuer '{}', the token's iss is '{}': they must be equal",
                            printable(&other.unwrap_or_default()),
                            printable(iss)
                        ),
                    );
                    return None;
                }
            }
            let Some(uri) = field("jwks_uri") else {
                r.push(
                    "discovery",
                    Verdict::Fail,
                    format!("{doc_url} has no jwks_uri"),
                );
                return None;
            };
            r.push(
                "discovery",
                Verdict::Ok,
                format!("{doc_url}: issuer matches, jwks_uri {}", printable(&uri)),
            );
            uri
        }
    };
    if crate::http::check_url(&jwks_uri).is_err() || !jwks_uri.starts_with("https://") {
        r.push(
            "keys",
            Verdict::Fail,
            format!("jwks_uri '{}' is not an https URL", printable(&jwks_uri)),
        );
        return None;
    }
    let body = match get(&jwks_uri) {
        Ok(b) => b,
        Err((v, why)) => {
            r.push("keys", v, why);
            return None;
        }
    };
    match jws::parse_jwks(&body) {
        Ok(k) => {
            r.push(
                "keys",
                Verdict::Ok,
                format!("{} key(s) at {jwks_uri}", k.len()),
            );
            Some(k)
        }
        Err(why) => {
            r.push("keys", Verdict::Fail, format!("{jwks_uri}: {why}"));
            None
        }
    }
}

/// `s` with control characters (newlines included) escaped, for one line of a report.
pub fn printable(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_hosts_a_remote_service_cannot_reach() {
        for (iss, want) in [
            ("https://kubernetes.default.svc", Reach::ClusterInternal),
            (
                "https://kubernetes.default.svc.cluster.local",
                Reach::ClusterInternal,
            ),
            ("https://issuer.ns.svc:8443/x", Reach::ClusterInternal),
            ("https://localhost:1", Reach::Loopback),
            ("https://127.0.0.1:9/i", Reach::Loopback),
            ("https://[::1]:9/i", Reach::Loopback),
            ("https://10.0.0.1", Reach::Private),
            ("https://192.168.1.2", Reach::Private),
            ("https://172.16.0.1", Reach::Private),
            ("https://100.64.0.1", Reach::Private),
            ("https://169.254.169.254", Reach::Private),
            ("https://[fe80::1]", Reach::Private),
            ("https://[fd00::1]", Reach::Private),
            ("https://oidc.mock.dbtoken.test/c", Reach::Reserved),
            ("https://issuer", Reach::Private),
            ("http://eastus.oic.prod-aks.azure.com/t/c/", Reach::NotHttps),
            ("https://eastus.oic.prod-aks.azure.com/t/c/", Reach::Public),
            (
                "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
                Reach::Public,
            ),
            ("https://8.8.8.8/x", Reach::Public),
            ("https://[::ffff:10.1.2.3]/x", Reach::Private),
        ] {
            assert_eq!(classify(iss).0, want, "{iss}");
        }
    }

    #[test]
    fn printable_escapes_controls() {
        assert_eq!(printable("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(
            printable("system:serviceaccount:a:b"),
            "system:serviceaccount:a:b"
        );
    }
}
