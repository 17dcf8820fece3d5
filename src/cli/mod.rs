//! The `dbtoken` command line: argument parsing (lexopt), dispatch and exit codes. Each
//! subcommand is an edge over the library; configuration is resolved exactly as the library
//! and `dbtoken token` do.
//!
//! Exit codes: 0 ok, 2 usage, 3 configuration, 4 federated token, 5 rejected by the server,
//! 6 network/transient or I/O; `exec` passes the command's own status through. SIGTERM/SIGINT:
//! `serve` and `write --watch` stop with 0; `token` and `write` interrupted before they are
//! done exit 128 + the signal (143, 130), within milliseconds even mid-exchange.

pub mod log;

mod doctor;
mod exec;
mod health;
mod serve;
mod signals;
mod write;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use miniserde::json::{Number, Object, Value};

const EXIT_USAGE: u8 = 2;

const USAGE: &str = "\
dbtoken — exchange a federated identity token for a Databricks OAuth token

USAGE:
    dbtoken <COMMAND> [OPTIONS]

COMMANDS:
    token     Print a token on stdout
    write     Write the token to a file, atomically (init container; --watch: sidecar)
    serve     Serve tokens to Databricks SDKs over their metadata-service protocol
    exec      Run a command with DATABRICKS_HOST and DATABRICKS_TOKEN set
    doctor    Explain the configuration, the federated token, the exchange and the policy

Run 'dbtoken <COMMAND> --help' for its options and an example.

Configuration comes from DATABRICKS_* and AZURE_* variables and ~/.databrickscfg, as the
Databricks SDKs read it. DBTOKEN_LOG=error|warn|info|debug sets stderr logging (never a token).

EXIT CODES:
    0 ok, 2 usage, 3 configuration, 4 federated token, 5 rejected by the server,
    6 network, transient or I/O failure; exec exits with the command's status;
    SIGTERM/SIGINT stop serve and write --watch with 0, and interrupt token and write
    with 128 + the signal (143 for SIGTERM, 130 for SIGINT)
";

const TOKEN_HELP: &str = "\
dbtoken token [--json] [--profile NAME]

Print a Databricks access token and a newline on stdout.
    --json           {\"access_token\",\"token_type\",\"expires_on\",\"expires_in\"}
    --profile NAME   Profile of the config file (default DATABRICKS_CONFIG_PROFILE or DEFAULT)

Example, in a pod with a projected service-account token:
    DATABRICKS_HOST=https://adb-1234567890123456.7.azuredatabricks.net \\
    DATABRICKS_OIDC_TOKEN_FILEPATH=/var/run/secrets/databricks/token \\
    DATABRICKS_CLIENT_ID=<service principal application id> \\
    dbtoken token
";

const WRITE_HELP: &str = "\
dbtoken write --out PATH [--format raw|json] [--mode 0600] [--watch [--health-listen ADDR]]
              [--profile NAME]

Write the token to PATH atomically, so a reader never sees a partial file: a temporary file
with a random name is created exclusively in PATH's directory (never following a symlink),
its mode set, fsynced and renamed over PATH. A symlink at PATH is replaced, not written
through. Without --watch, exit 0 after the first write (an init container). With --watch,
stay up as a sidecar: rewrite ahead of expiry (short-lived tokens at half-life, not more
often than every 10 s unless they live under 20 s), keep the last good file and back off when the
exchange fails, exit 0 on SIGTERM or SIGINT.
    --out PATH       The file to write (required)
    --format FORMAT  raw: exactly the token, no newline (default, like Kubernetes token
                     files); json: the metadata-service shape
                     {\"access_token\",\"token_type\",\"expires_on\"} and a newline
    --mode MODE      Octal file mode (default 0600)
    --watch          Keep the file fresh until terminated
    --health-listen ADDR
                     With --watch: serve GET /healthz (200 while running), /readyz (200
                     while the file holds a usable token, else 503 and why) and /metrics
                     (Prometheus text) on ADDR, e.g. 127.0.0.1:8322; loopback only
                     unless --allow-non-loopback

Example, an init container sharing an emptyDir with the app:
    dbtoken write --out /var/run/databricks/token
";

const SERVE_HELP: &str = "\
dbtoken serve [--listen 127.0.0.1:8321] [--path /token] [--workers 4]
              [--health-listen ADDR] [--allow-non-loopback]

Serve tokens over the Databricks SDKs' metadata-service protocol. Point unmodified SDKs, the
Databricks CLI or Terraform at it with
    DATABRICKS_AUTH_TYPE=metadata-service
    DATABRICKS_HOST=<the same host>
    DATABRICKS_METADATA_SERVICE_URL=http://127.0.0.1:8321/token
(printed on stdout at start). Requests need X-Databricks-Metadata-Version: 1, an
X-Databricks-Host equal to the served host and a loopback Host (localhost, 127.x.y.z,
[::1]; against DNS rebinding). One thread polls every connection: a request head must
arrive whole within 10 s, and beyond the connection cap the oldest idle one is closed, so
idle or slow clients cannot hold others up. Exits 0 on SIGTERM or SIGINT.
    --listen ADDR          Address to bind (default 127.0.0.1:8321; loopback only unless
                           --allow-non-loopback, which also accepts any Host header)
    --path PATH            URL path of the token (default /token)
    --workers N            Token requests computed at once, 1 to 256 (default 4)
    --health-listen ADDR   Also answer the health paths below (never the token) on ADDR,
                           e.g. 0.0.0.0:8322 for kubelet probes and Prometheus, which reach
                           the pod's IP (not loopback: needs --allow-non-loopback)

Health paths, on --listen and --health-listen, without metadata headers (the Host rule
applies), never carrying a token:
    GET /healthz   200 while the process answers
    GET /readyz    200 while a usable token is cached and refreshes are not failing;
                   503 and a one-line reason before the first token, after its expiry,
                   or after 3 failed refreshes in a row
    GET /metrics   Prometheus text format 0.0.4 (dbtoken_* metrics, see README)

Example, a sidecar next to a Python app in the same pod:
    dbtoken serve --listen 127.0.0.1:8321
";

const EXEC_HELP: &str = "\
dbtoken exec [--profile NAME] [--] COMMAND [ARGS...]

Get a token, then run COMMAND in place of dbtoken with DATABRICKS_HOST, DATABRICKS_TOKEN and
DATABRICKS_AUTH_TYPE=pat set, and the federation variables (DATABRICKS_CLIENT_ID,
DATABRICKS_OIDC_TOKEN_FILEPATH, AZURE_FEDERATED_TOKEN_FILE, ...) removed so an SDK in it sees
one auth method. COMMAND's exit status and signals pass through. The token is not refreshed:
for jobs shorter than its lifetime. Exit 127 if COMMAND is not found, 126 if it cannot run.

Example:
    dbtoken exec -- databricks clusters list
";

const DOCTOR_HELP: &str = "\
dbtoken doctor [--json] [--policy FILE] [--profile NAME]

Explain what dbtoken sees and why auth works or not: every configuration value and its source;
the auth type chosen and why the others were skipped; the federated token's file, symlink, age
and decoded claims (iss, sub, aud, exp, kid); the token endpoint, how it was found and the
account id discovery publishes; the exchange result and a concrete fix; what Databricks will
check about the issuer (an https URL it can reach - not a cluster-internal, loopback or private
name -, {iss}/.well-known/openid-configuration, the JWK set, the token's kid, the signature),
each with a verdict and a fix, 'not checked' when the issuer cannot be reached from here; and
the federation policy that accepts this token (JSON, 'databricks' CLI line, Terraform) with the
projected serviceAccountToken volume that mints tokens with its audience. Never prints the
token or the JWT. Exits with the exchange's exit code.
    --json           Machine-readable report
    --policy FILE    A federation policy (JSON) to check against the token: predicts an
                     issuer, audience or subject (subject_claim) mismatch; its jwks_json or
                     jwks_uri replace the issuer's discovery in the signature check

Example:
    dbtoken doctor --policy policy.json
";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Json,
}

enum Command {
    Help(&'static str),
    Version,
    Token {
        json: bool,
        profile: Option<String>,
    },
    Write(write::Args),
    Serve(serve::Args),
    Exec {
        profile: Option<String>,
        cmd: Vec<OsString>,
    },
    Doctor(doctor::Args),
}

// The parser's steps as plain functions, so each subcommand's loop calls one copy of them
// (closures and error conversions at every call site cost the static binary its budget).
fn next(p: &mut lexopt::Parser) -> Result<Option<lexopt::Arg<'_>>, String> {
    p.next().map_err(|e| e.to_string())
}

fn os_value(p: &mut lexopt::Parser) -> Result<OsString, String> {
    p.value().map_err(|e| e.to_string())
}

/// An option's value as UTF-8; `what` names the option in the error.
fn value(p: &mut lexopt::Parser, what: &str) -> Result<String, String> {
    utf8(os_value(p)?, what)
}

fn utf8(v: OsString, what: &str) -> Result<String, String> {
    v.into_string().map_err(|_| format!("{what} is not UTF-8"))
}

#[inline(never)]
fn unexpected(arg: lexopt::Arg<'_>) -> String {
    arg.unexpected().to_string()
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let sub = match next(&mut p)? {
        None => return Err("missing command".into()),
        Some(Short('h') | Long("help")) => return Ok(Command::Help(USAGE)),
        Some(Short('V') | Long("version")) => return Ok(Command::Version),
        Some(Value(v)) => utf8(v, "command")?,
        Some(other) => return Err(unexpected(other)),
    };
    let mut profile = None;
    match sub.as_str() {
        "token" => {
            let mut json = false;
            while let Some(arg) = next(&mut p)? {
                match arg {
                    Long("json") => json = true,
                    Long("profile") => profile = Some(value(&mut p, "--profile")?),
                    Short('h') | Long("help") => return Ok(Command::Help(TOKEN_HELP)),
                    other => return Err(unexpected(other)),
                }
            }
            Ok(Command::Token { json, profile })
        }
        "write" => {
            let (mut out, mut format, mut mode, mut watch) = (None, Format::Raw, 0o600, false);
            let (mut health_listen, mut allow_remote) = (None, false);
            while let Some(arg) = next(&mut p)? {
                match arg {
                    Long("out") => out = Some(std::path::PathBuf::from(os_value(&mut p)?)),
                    Long("format") => {
                        format = match value(&mut p, "--format")?.as_str() {
                            "raw" => Format::Raw,
                            "json" => Format::Json,
                            f => return Err(format!("--format must be raw or json, not '{f}'")),
                        }
                    }
                    Long("mode") => {
                        let m = value(&mut p, "--mode")?;
                        mode = u32::from_str_radix(&m, 8)
                            .ok()
                            .filter(|m| *m <= 0o777)
                            .ok_or_else(|| {
                                format!("--mode must be an octal file mode such as 0600, not '{m}'")
                            })?;
                    }
                    Long("watch") => watch = true,
                    Long("health-listen") => {
                        health_listen = Some(health_addr(value(&mut p, "--health-listen")?)?)
                    }
                    Long("allow-non-loopback") => allow_remote = true,
                    Long("profile") => profile = Some(value(&mut p, "--profile")?),
                    Short('h') | Long("help") => return Ok(Command::Help(WRITE_HELP)),
                    other => return Err(unexpected(other)),
                }
            }
            let out = out.ok_or("write needs --out PATH")?;
            if health_listen.is_some() && !watch {
                return Err("--health-listen needs --watch (a sidecar)".into());
            }
            Ok(Command::Write(write::Args {
                out,
                format,
                mode,
                watch,
                profile,
                health_listen,
                allow_remote,
            }))
        }
        "serve" => {
            let mut a = serve::Args {
                listen: ([127, 0, 0, 1], 8321).into(),
                path: "/token".into(),
                allow_remote: false,
                workers: 4,
                profile: None,
                health_listen: None,
            };
            while let Some(arg) = next(&mut p)? {
                match arg {
                    Long("listen") => {
                        let v = value(&mut p, "--listen")?;
                        a.listen = v.parse().map_err(|_| {
                            format!(
                                "--listen must be ADDRESS:PORT such as 127.0.0.1:8321, not '{v}'"
                            )
                        })?;
                    }
                    Long("path") => a.path = value(&mut p, "--path")?,
                    Long("health-listen") => {
                        a.health_listen = Some(health_addr(value(&mut p, "--health-listen")?)?)
                    }
                    Long("workers") => {
                        let v = value(&mut p, "--workers")?;
                        a.workers = v
                            .parse()
                            .ok()
                            .filter(|n| (1..=serve::MAX_WORKERS).contains(n))
                            .ok_or_else(|| {
                                format!("--workers must be 1 to {}, not '{v}'", serve::MAX_WORKERS)
                            })?;
                    }
                    Long("allow-non-loopback") => a.allow_remote = true,
                    Long("profile") => a.profile = Some(value(&mut p, "--profile")?),
                    Short('h') | Long("help") => return Ok(Command::Help(SERVE_HELP)),
                    other => return Err(unexpected(other)),
                }
            }
            Ok(Command::Serve(a))
        }
        "exec" => {
            let mut cmd = Vec::new();
            while let Some(arg) = next(&mut p)? {
                match arg {
                    Long("profile") if cmd.is_empty() => {
                        profile = Some(value(&mut p, "--profile")?)
                    }
                    Short('h') | Long("help") if cmd.is_empty() => {
                        return Ok(Command::Help(EXEC_HELP));
                    }
                    Value(v) => {
                        cmd.push(v);
                        cmd.extend(p.raw_args().map_err(|e| e.to_string())?);
                    }
                    other => return Err(unexpected(other)),
                }
            }
            if cmd.is_empty() {
                return Err("exec needs a command: dbtoken exec -- COMMAND [ARGS...]".into());
            }
            Ok(Command::Exec { profile, cmd })
        }
        "doctor" => {
            let mut a = doctor::Args {
                json: false,
                profile: None,
                policy: None,
            };
            while let Some(arg) = next(&mut p)? {
                match arg {
                    Long("json") => a.json = true,
                    Long("policy") => a.policy = Some(os_value(&mut p)?.into()),
                    Long("profile") => a.profile = Some(value(&mut p, "--profile")?),
                    Short('h') | Long("help") => return Ok(Command::Help(DOCTOR_HELP)),
                    other => return Err(unexpected(other)),
                }
            }
            Ok(Command::Doctor(a))
        }
        "help" => Ok(Command::Help(USAGE)),
        other => Err(format!("unknown command '{other}'")),
    }
}

fn health_addr(v: String) -> Result<std::net::SocketAddr, String> {
    v.parse().map_err(|_| {
        format!("--health-listen must be ADDRESS:PORT such as 127.0.0.1:8322, not '{v}'")
    })
}

/// A client configured like every subcommand: environment, config file, optional profile.
pub fn client(profile: Option<&str>) -> dbtoken::Result<dbtoken::Client> {
    let mut config = dbtoken::Config::new();
    if let Some(p) = profile {
        config.set("profile", p)?;
    }
    dbtoken::Client::new(config)
}

/// `{"access_token","token_type","expires_on"}` (+ `"expires_in"`): the metadata-service shape.
pub fn token_json(token: &dbtoken::Token, with_expires_in: bool) -> String {
    let mut o = Object::new();
    o.insert(
        "access_token".into(),
        Value::String(token.access_token().into()),
    );
    o.insert(
        "token_type".into(),
        Value::String(token.token_type().into()),
    );
    let num = |n: Option<u64>| n.map_or(Value::Null, |n| Value::Number(Number::U64(n)));
    o.insert("expires_on".into(), num(token.expires_on_unix()));
    if with_expires_in {
        o.insert(
            "expires_in".into(),
            num(token.expires_in().map(|d| d.as_secs())),
        );
    }
    miniserde::json::to_string(&Value::Object(o))
}

fn fail(e: &dbtoken::Error) -> ExitCode {
    log::log_error!("{e}");
    ExitCode::from(e.kind().exit_code() as u8)
}

/// The exit code of a command's outcome: its result, or `Err(signal)` when a signal
/// interrupted it first (128 + the signal: 130 for SIGINT, 143 for SIGTERM).
fn finish(outcome: Result<Result<(), dbtoken::Error>, i32>) -> ExitCode {
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&e),
        Err(sig) => {
            log::log_warn!("{} received; interrupted", signals::name(sig));
            ExitCode::from(signals::exit_code(sig))
        }
    }
}

pub fn main() -> ExitCode {
    let command = match parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("dbtoken: {msg}\nRun 'dbtoken --help' for usage.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let long_running = matches!(
        &command,
        Command::Serve(_) | Command::Write(write::Args { watch: true, .. })
    );
    log::init(if long_running {
        log::Level::Info
    } else {
        log::Level::Warn
    });
    match command {
        Command::Help(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("dbtoken {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Token { json, profile } => {
            let shutdown = signals::Shutdown::install(|| {});
            let got = shutdown.run(move || client(profile.as_deref()).and_then(|c| c.token()));
            finish(got.map(|r| {
                r.and_then(|t| {
                    let out = if json {
                        token_json(&t, true)
                    } else {
                        t.access_token().to_string()
                    };
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "{out}")
                        .and_then(|()| stdout.flush())
                        .map_err(|e| dbtoken::Error::io(format!("cannot write to stdout: {e}")))
                })
            }))
        }
        Command::Write(a) => {
            let shutdown = signals::Shutdown::install(|| {});
            finish(write::run(&a, &shutdown))
        }
        Command::Serve(a) => finish(serve::run(&a)),
        Command::Exec { profile, cmd } => match exec::run(profile.as_deref(), &cmd) {
            Ok((code, msg)) => {
                log::log_error!("{msg}");
                ExitCode::from(code as u8)
            }
            Err(e) => fail(&e),
        },
        Command::Doctor(a) => ExitCode::from(doctor::run(&a) as u8),
    }
}
