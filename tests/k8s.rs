//! The Kubernetes examples parse, and their pieces fit together.

mod common;

use yaml_rust2::{Yaml, YamlLoader};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/k8s");

fn load(name: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(format!("{DIR}/{name}")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!docs.is_empty(), "{name} is empty");
    for d in &docs {
        assert!(
            d["apiVersion"].as_str().is_some() && d["kind"].as_str().is_some(),
            "{name}: apiVersion/kind"
        );
    }
    docs
}

fn pod_spec(doc: &Yaml) -> &Yaml {
    match doc["kind"].as_str() {
        Some("Pod") => &doc["spec"],
        Some("Deployment") => &doc["spec"]["template"]["spec"],
        k => panic!("unexpected kind {k:?}"),
    }
}

fn env<'a>(container: &'a Yaml, name: &str) -> Option<&'a str> {
    container["env"]
        .as_vec()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))?["value"]
        .as_str()
}

fn mount_path<'a>(container: &'a Yaml, volume: &str) -> Option<&'a str> {
    container["volumeMounts"]
        .as_vec()?
        .iter()
        .find(|m| m["name"].as_str() == Some(volume))?["mountPath"]
        .as_str()
}

fn args(container: &Yaml) -> Vec<&str> {
    container["args"]
        .as_vec()
        .map(|v| v.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default()
}

fn dbtoken_container(spec: &Yaml) -> &Yaml {
    spec["initContainers"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some("dbtoken"))
        .unwrap()
}

fn app(spec: &Yaml) -> &Yaml {
    spec["containers"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some("app"))
        .unwrap()
}

/// The projected token volume is mounted where DATABRICKS_OIDC_TOKEN_FILEPATH points.
fn check_projected_token(spec: &Yaml, dbtoken: &Yaml) -> String {
    let vol = spec["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|v| !v["projected"].is_badvalue())
        .expect("a projected volume");
    let sat = &vol["projected"]["sources"][0]["serviceAccountToken"];
    let audience = sat["audience"].as_str().expect("an audience");
    assert!(sat["expirationSeconds"].as_i64().unwrap() <= 86_400);
    let mount = mount_path(dbtoken, vol["name"].as_str().unwrap()).expect("mounted into dbtoken");
    let file = format!("{mount}/{}", sat["path"].as_str().unwrap());
    assert_eq!(
        env(dbtoken, "DATABRICKS_OIDC_TOKEN_FILEPATH"),
        Some(file.as_str())
    );
    assert_eq!(spec["serviceAccountName"].as_str(), Some("etl"));
    audience.to_string()
}

#[test]
fn service_account_matches_the_policy_subject() {
    let sa = &load("serviceaccount.yaml")[0];
    assert_eq!(sa["kind"].as_str(), Some("ServiceAccount"));
    let sub = format!(
        "system:serviceaccount:{}:{}",
        sa["metadata"]["namespace"].as_str().unwrap(),
        sa["metadata"]["name"].as_str().unwrap()
    );
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/federation-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(policy["oidc_policy"]["subject"], sub.as_str());
    let tf = std::fs::read_to_string(format!("{DIR}/federation-policy.tf")).unwrap();
    assert!(tf.contains(&format!("subject   = \"{sub}\"")));
    assert!(tf.contains("databricks_service_principal_federation_policy"));
}

#[test]
fn init_container_writes_the_file_the_app_reads() {
    let doc = &load("init-container.yaml")[0];
    let spec = pod_spec(doc);
    let d = dbtoken_container(spec);
    let audience = check_projected_token(spec, d);
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/federation-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        policy["oidc_policy"]["audiences"][0],
        audience.as_str(),
        "token audience must be one the policy accepts"
    );
    let a = args(d);
    assert_eq!(a[0], "write");
    let out = a[a.iter().position(|x| *x == "--out").unwrap() + 1];
    let dir = mount_path(d, "databricks-token").unwrap();
    assert!(out.starts_with(dir));
    assert_eq!(mount_path(app(spec), "databricks-token"), Some(dir));
    assert!(app(spec)["command"][2].as_str().unwrap().contains(out));
}

#[test]
fn sidecar_serves_the_url_the_app_uses() {
    for file in ["sidecar-serve.yaml", "azure-workload-identity.yaml"] {
        let doc = &load(file)[0];
        let spec = pod_spec(doc);
        let d = dbtoken_container(spec);
        assert_eq!(
            d["restartPolicy"].as_str(),
            Some("Always"),
            "{file}: native sidecar"
        );
        let a = args(d);
        assert_eq!(a[0], "serve");
        let listen = a[a.iter().position(|x| *x == "--listen").unwrap() + 1];
        let path = a
            .iter()
            .position(|x| *x == "--path")
            .map_or("/token", |i| a[i + 1]);
        let app = app(spec);
        assert_eq!(env(app, "DATABRICKS_AUTH_TYPE"), Some("metadata-service"));
        assert_eq!(
            env(app, "DATABRICKS_METADATA_SERVICE_URL"),
            Some(format!("http://{listen}{path}").as_str()),
            "{file}"
        );
        assert_eq!(
            env(app, "DATABRICKS_HOST"),
            env(d, "DATABRICKS_HOST"),
            "{file}: same host on both sides"
        );
        if file == "sidecar-serve.yaml" {
            check_projected_token(spec, d);
        } else {
            assert_eq!(
                doc["metadata"]["labels"]["azure.workload.identity/use"].as_str(),
                Some("true")
            );
            assert!(
                env(d, "DATABRICKS_HOST")
                    .unwrap()
                    .contains(".azuredatabricks.net")
            );
        }
    }
}

#[test]
fn dockerfile_is_from_scratch_with_the_static_binary() {
    let text = std::fs::read_to_string(format!("{DIR}/Dockerfile")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(lines[0], "FROM scratch");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("COPY target/x86_64-unknown-linux-musl/dist/dbtoken"))
    );
}

/// The port a probe names: a number, or the name of one of the container's ports.
fn probe_port(container: &Yaml, probe: &str) -> Option<i64> {
    let port = &container[probe]["httpGet"]["port"];
    port.as_i64().or_else(|| {
        container["ports"]
            .as_vec()?
            .iter()
            .find(|p| p["name"].as_str() == port.as_str())?["containerPort"]
            .as_i64()
    })
}

fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter().position(|a| *a == name).map(|i| args[i + 1])
}

const NATIVE_SIDECARS: [&str; 3] = [
    "sidecar-serve.yaml",
    "azure-workload-identity.yaml",
    "sidecar-write.yaml",
];

#[test]
fn native_sidecars_probe_the_health_listener_and_hold_the_app_back() {
    for file in NATIVE_SIDECARS {
        let doc = &load(file)[0];
        let spec = pod_spec(doc);
        let d = dbtoken_container(spec);
        // A native sidecar: an init container that stays up; the app is a main container,
        // started only once the sidecar's startupProbe succeeded.
        assert_eq!(d["restartPolicy"].as_str(), Some("Always"), "{file}");
        assert!(app(spec)["name"].as_str().is_some(), "{file}");
        let a = args(d);
        let health: std::net::SocketAddr = flag(&a, "--health-listen")
            .unwrap_or_else(|| panic!("{file}: --health-listen"))
            .parse()
            .unwrap();
        // kubelet probes (and Prometheus scrapes) the pod's IP, never its loopback.
        assert!(
            !health.ip().is_loopback(),
            "{file}: probes cannot reach loopback"
        );
        assert!(a.contains(&"--allow-non-loopback"), "{file}");
        if let Some(listen) = flag(&a, "--listen") {
            let listen: std::net::SocketAddr = listen.parse().unwrap();
            assert!(
                listen.ip().is_loopback(),
                "{file}: the token stays on loopback"
            );
            assert_ne!(listen.port(), health.port(), "{file}");
        }
        for (probe, path) in [
            ("startupProbe", "/readyz"),
            ("readinessProbe", "/readyz"),
            ("livenessProbe", "/healthz"),
        ] {
            assert_eq!(
                d[probe]["httpGet"]["path"].as_str(),
                Some(path),
                "{file}: {probe}"
            );
            assert_eq!(
                probe_port(d, probe),
                Some(i64::from(health.port())),
                "{file}: {probe} port is --health-listen's"
            );
        }
        // Up to a minute for the first token before the pod is failed.
        let s = &d["startupProbe"];
        let window =
            s["periodSeconds"].as_i64().unwrap_or(10) * s["failureThreshold"].as_i64().unwrap_or(3);
        assert!(window >= 30, "{file}: startup window {window}s");
        let ann = &doc["spec"]["template"]["metadata"]["annotations"];
        if !ann.is_badvalue() {
            assert_eq!(
                ann["prometheus.io/port"].as_str(),
                Some(health.port().to_string().as_str())
            );
            assert_eq!(ann["prometheus.io/path"].as_str(), Some("/metrics"));
        }
        if file == "sidecar-write.yaml" {
            assert_eq!(a[..2], ["write", "--watch"]);
            check_projected_token(spec, d);
            let out = flag(&a, "--out").unwrap();
            let dir = mount_path(d, "databricks-token").unwrap();
            assert!(out.starts_with(dir));
            assert_eq!(mount_path(app(spec), "databricks-token"), Some(dir));
            assert!(app(spec)["command"][2].as_str().unwrap().contains(out));
        }
    }
}

/// The sidecars run with the manifests' own arguments (addresses moved to free loopback
/// ports) against the mock: each probe's path answers 200 on the probe's port.
#[test]
fn manifest_arguments_answer_the_probes() {
    use common::cli::{dbtoken, free_port, stop, wait_status};
    let m = common::MockServer::start();
    for file in NATIVE_SIDECARS {
        let d = dbtoken_container(pod_spec(&load(file)[0])).clone();
        let dir = common::temp_dir("k8s-args");
        let mut ports = std::collections::HashMap::new();
        let run: Vec<String> = args(&d)
            .iter()
            .map(|a| match a.parse::<std::net::SocketAddr>() {
                Ok(addr) => {
                    let port = free_port();
                    ports.insert(i64::from(addr.port()), port);
                    format!("127.0.0.1:{port}")
                }
                Err(_) if a.starts_with("/var/run/databricks/") => {
                    dir.join("token").to_string_lossy().into_owned()
                }
                Err(_) => a.to_string(),
            })
            .collect();
        let mut child = dbtoken(&m, &common::jwt_file("k8s-args"))
            .args(&run)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            let port = ports[&probe_port(&d, probe).unwrap()];
            let path = d[probe]["httpGet"]["path"].as_str().unwrap();
            wait_status(port, path, 200, std::time::Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("{file}: {probe} {path}: {e}"));
        }
        stop(&mut child);
    }
}
