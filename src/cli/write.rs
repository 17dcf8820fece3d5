//! `dbtoken write`: the token in a file, replaced atomically (temp file in the same directory,
//! fsync, rename, fsync of the directory), for an init container or, with `--watch`, a sidecar.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::log::{log_debug, log_error, log_info, log_warn};
use super::signals::{self, Shutdown};
use super::{Format, token_json};

pub struct Args {
    pub out: PathBuf,
    pub format: Format,
    pub mode: u32,
    pub watch: bool,
    pub profile: Option<String>,
}

/// Write `content` to `path` atomically with `mode`.
pub fn atomic_write(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.dbtoken-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode; the caller asked for exactly this one.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn render(token: &dbtoken::Token, format: Format) -> Vec<u8> {
    match format {
        Format::Raw => format!("{}\n", token.access_token()).into_bytes(),
        Format::Json => format!("{}\n", token_json(token, false)).into_bytes(),
    }
}

pub fn run(args: &Args) -> Result<(), dbtoken::Error> {
    let shutdown = args.watch.then(|| Shutdown::install(|| {}));
    let client = super::client(args.profile.as_deref())?;
    let io_err =
        |e: std::io::Error| dbtoken::Error::io(format!("cannot write {}: {e}", args.out.display()));
    if !args.watch {
        let token = client.token()?;
        atomic_write(&args.out, &render(&token, args.format), args.mode).map_err(io_err)?;
        log_info!(
            "wrote a {} token to {} ({})",
            token.token_type(),
            args.out.display(),
            expiry(&token)
        );
        return Ok(());
    }
    let shutdown = shutdown.expect("installed for --watch");
    let mut written: Option<dbtoken::Token> = None;
    let mut failures: u32 = 0;
    loop {
        let wait = match client.token() {
            Ok(token) => {
                let fresh = written
                    .as_ref()
                    .is_none_or(|w| w.access_token() != token.access_token());
                if fresh {
                    match atomic_write(&args.out, &render(&token, args.format), args.mode) {
                        Ok(()) => {
                            log_info!(
                                "wrote a {} token to {} ({})",
                                token.token_type(),
                                args.out.display(),
                                expiry(&token)
                            );
                            written = Some(token.clone());
                            failures = 0;
                        }
                        Err(e) => log_error!("{}", io_err(e)),
                    }
                }
                match until(token.refresh_at()) {
                    // Due for refresh but the client kept the old token: its refresh failed
                    // and it is backing off; so do we (the file keeps the valid token).
                    Some(d) if d.is_zero() => {
                        failures += 1;
                        let d = backoff(failures);
                        log_warn!(
                            "refresh is due but did not succeed yet; keeping {} and retrying in {}s",
                            args.out.display(),
                            d.as_secs()
                        );
                        d
                    }
                    Some(d) => d,
                    None => {
                        log_info!("the token does not expire (pat); nothing more to do");
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                failures += 1;
                let d = backoff(failures);
                log_error!(
                    "{e}; keeping the last good file, retrying in {}s",
                    d.as_secs()
                );
                d
            }
        };
        log_debug!("next check in {}s", wait.as_secs());
        if shutdown.sleep(wait) {
            log_info!(
                "{} received; exiting",
                signals::name(shutdown.signal().unwrap_or(0))
            );
            return Ok(());
        }
    }
}

fn until(t: Option<SystemTime>) -> Option<Duration> {
    t.map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
}

/// 1 s doubling to 60 s.
fn backoff(failures: u32) -> Duration {
    crate::time::backoff(failures, Duration::from_secs(1), Duration::from_secs(60))
}

fn expiry(t: &dbtoken::Token) -> String {
    match t.expires_on_unix() {
        Some(s) => format!("expires {}", dbtoken::rfc3339(s as i64)),
        None => "no expiry".to_string(),
    }
}
