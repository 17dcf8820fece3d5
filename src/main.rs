//! The `dbtoken` command line. Exit codes: 0 ok, 2 usage, 3 configuration, 4 federated
//! token, 5 rejected by the server, 6 network/transient.

use std::io::Write;
use std::process::ExitCode;

use miniserde::json::{Number, Object, Value};

const USAGE: &str = "\
dbtoken — exchange a federated identity token for a Databricks OAuth token

USAGE:
    dbtoken token [--json] [--profile NAME]

COMMANDS:
    token       Print a Databricks access token on stdout (and a newline)

OPTIONS (token):
    --json           Print {\"access_token\",\"token_type\",\"expires_on\",\"expires_in\"}
    --profile NAME   Profile of the config file (default DATABRICKS_CONFIG_PROFILE or DEFAULT)
    -h, --help       This help
    -V, --version    The version

Configuration comes from DATABRICKS_* and AZURE_* variables and ~/.databrickscfg, as the
Databricks SDKs read it. For example, in a pod with a projected service-account token:

    DATABRICKS_HOST=https://adb-1234567890123456.7.azuredatabricks.net \\
    DATABRICKS_OIDC_TOKEN_FILEPATH=/var/run/secrets/tokens/databricks \\
    DATABRICKS_CLIENT_ID=<service principal application id> \\
    dbtoken token

EXIT CODES:
    0 ok, 2 usage, 3 configuration, 4 federated token, 5 rejected by the server,
    6 network or transient failure
";

const EXIT_USAGE: u8 = 2;

struct TokenArgs {
    json: bool,
    profile: Option<String>,
}

fn main() -> ExitCode {
    match parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("dbtoken {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Token(args)) => match run_token(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dbtoken: {e}");
                ExitCode::from(e.kind().exit_code() as u8)
            }
        },
        Err(msg) => {
            eprintln!("dbtoken: {msg}\nRun 'dbtoken --help' for usage.");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

enum Command {
    Help,
    Version,
    Token(TokenArgs),
}

fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let sub = match p.next().map_err(|e| e.to_string())? {
        None => return Err("missing command".into()),
        Some(Short('h') | Long("help")) => return Ok(Command::Help),
        Some(Short('V') | Long("version")) => return Ok(Command::Version),
        Some(Value(v)) => v
            .into_string()
            .map_err(|_| "command is not UTF-8".to_string())?,
        Some(other) => return Err(other.unexpected().to_string()),
    };
    match sub.as_str() {
        "token" => {
            let mut a = TokenArgs {
                json: false,
                profile: None,
            };
            while let Some(arg) = p.next().map_err(|e| e.to_string())? {
                match arg {
                    Long("json") => a.json = true,
                    Long("profile") => {
                        let v = p.value().map_err(|e| e.to_string())?;
                        a.profile = Some(v.into_string().map_err(|_| "--profile is not UTF-8")?);
                    }
                    Short('h') | Long("help") => return Ok(Command::Help),
                    other => return Err(other.unexpected().to_string()),
                }
            }
            Ok(Command::Token(a))
        }
        "help" => Ok(Command::Help),
        other => Err(format!("unknown command '{other}'")),
    }
}

fn run_token(args: &TokenArgs) -> dbtoken::Result<()> {
    let mut config = dbtoken::Config::new();
    if let Some(p) = &args.profile {
        config.set("profile", p)?;
    }
    let client = dbtoken::Client::new(config)?;
    let token = client.token()?;
    let out = if args.json {
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
        o.insert(
            "expires_in".into(),
            num(token.expires_in().map(|d| d.as_secs())),
        );
        miniserde::json::to_string(&Value::Object(o))
    } else {
        token.access_token().to_string()
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{out}")
        .and_then(|()| stdout.flush())
        .map_err(|e| dbtoken::Error::io(format!("cannot write to stdout: {e}")))
}
