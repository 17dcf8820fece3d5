//! `dbtoken write`: the token in a file, replaced atomically, for an init container or, with
//! `--watch`, a sidecar.
//!
//! The file is never opened, written or chmod-ed by a name another user could prepare: the
//! directory is opened once, the temporary file is created in it with a random name and
//! `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC` (a planted file or symlink fails the create, and we
//! try another name), its mode is set on the descriptor (`fchmod`), then fsync, `renameat`
//! over `--out` and fsync of the directory. A symlink at `--out` is replaced, not written
//! through.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::health::{self, FileState};
use super::log::{log_debug, log_error, log_info, log_warn};
use super::signals::{self, Shutdown};
use super::{Format, token_json};

pub struct Args {
    pub out: PathBuf,
    pub format: Format,
    pub mode: u32,
    pub watch: bool,
    pub profile: Option<String>,
    /// `--health-listen`: serve /healthz, /readyz and /metrics here (with `--watch`).
    pub health_listen: Option<std::net::SocketAddr>,
    /// `--allow-non-loopback` for `--health-listen`.
    pub allow_remote: bool,
}

/// Attempts at a fresh random temporary name before giving up.
const TEMP_ATTEMPTS: usize = 16;

fn cstr(s: &OsStr) -> std::io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte")
    })
}

fn check(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// 16 hex digits from the kernel's random source (time and pid mixed in if it is unavailable).
fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    // SAFETY: `bytes` is a valid, writable buffer of the length passed.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (t ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Create `name` in the directory `dir` exclusively, never following a symlink.
fn create_exclusive(dir: &File, name: &CString) -> std::io::Result<File> {
    // SAFETY: `dir` is an open directory descriptor and `name` a NUL-terminated string that
    // outlive the call; the returned descriptor is owned by the File below and nothing else.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just opened above and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn unlink_at(dir: &File, name: &CString) {
    // SAFETY: valid directory descriptor and NUL-terminated name; unlinkat never follows.
    unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
}

/// Write `content` to `path` atomically with exactly `mode` (the umask does not apply).
pub fn atomic_write(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let dir_path = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "--out must name a file")
    })?;
    let target = cstr(name)?;
    let dir = File::open(dir_path)?;
    for _ in 0..TEMP_ATTEMPTS {
        let tmp_name = format!(
            ".{}.dbtoken-{}.tmp",
            name.to_string_lossy(),
            random_suffix()
        );
        let tmp = cstr(OsStr::new(&tmp_name))?;
        let mut f = match create_exclusive(&dir, &tmp) {
            Ok(f) => f,
            // Something (a file or symlink someone planted) has this name: take another one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => continue,
            Err(e) => return Err(e),
        };
        let result = (|| {
            // fchmod: on the descriptor, so the mode lands on the file we created.
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            f.write_all(content)?;
            f.sync_all()?;
            // SAFETY: valid directory descriptor and NUL-terminated names; renameat replaces
            // a symlink at the target instead of following it.
            check(unsafe {
                libc::renameat(
                    dir.as_raw_fd(),
                    tmp.as_ptr(),
                    dir.as_raw_fd(),
                    target.as_ptr(),
                )
            })?;
            dir.sync_all()
        })();
        if result.is_err() {
            unlink_at(&dir, &tmp);
        }
        return result;
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "{TEMP_ATTEMPTS} random temporary names in {} were all taken",
            dir_path.display()
        ),
    ))
}

/// Raw: exactly the token, no newline (like Kubernetes token files and Vault Agent sinks, so
/// a program that reads the file whole sends a valid header); JSON: one line.
fn render(token: &dbtoken::Token, format: Format) -> Vec<u8> {
    match format {
        Format::Raw => token.access_token().as_bytes().to_vec(),
        Format::Json => format!("{}\n", token_json(token, false)).into_bytes(),
    }
}

/// A command's outcome: `Err(signal)` when a signal interrupted it.
pub type Outcome = Result<Result<(), dbtoken::Error>, i32>;

pub fn run(args: &Args, shutdown: &Shutdown) -> Outcome {
    let profile = args.profile.clone();
    let client = match shutdown.run(move || super::client(profile.as_deref()))? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let io_err =
        |e: std::io::Error| dbtoken::Error::io(format!("cannot write {}: {e}", args.out.display()));
    let fetch = |client: &dbtoken::Client| {
        let c = client.clone();
        shutdown.run(move || c.token())
    };
    if !args.watch {
        let token = match fetch(&client)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = atomic_write(&args.out, &render(&token, args.format), args.mode) {
            return Ok(Err(io_err(e)));
        }
        log_info!(
            "wrote a {} token to {} ({})",
            token.token_type(),
            args.out.display(),
            expiry(&token)
        );
        return Ok(Ok(()));
    }
    let file = std::sync::Arc::new(FileState::default());
    if let Some(addr) = args.health_listen {
        let endpoints = std::sync::Arc::new(health::Health::file(client.clone(), file.clone()));
        if let Err(e) = health::listen(addr, args.allow_remote, endpoints, shutdown) {
            return Ok(Err(e));
        }
    }
    let mut written: Option<dbtoken::Token> = None;
    let mut failures: u32 = 0;
    loop {
        let got = match fetch(&client) {
            Ok(got) => got,
            Err(sig) => return stopped(sig),
        };
        let wait = match got {
            Ok(token) => {
                let fresh = written
                    .as_ref()
                    .is_none_or(|w| w.access_token() != token.access_token());
                let due = until(token.refresh_at());
                if fresh {
                    match atomic_write(&args.out, &render(&token, args.format), args.mode) {
                        Ok(()) => {
                            log_info!(
                                "wrote a {} token to {} ({})",
                                token.token_type(),
                                args.out.display(),
                                expiry(&token)
                            );
                            file.wrote(&token);
                            written = Some(token.clone());
                            failures = 0;
                        }
                        Err(e) => {
                            file.write_failed();
                            failures += 1;
                            log_error!("{}", io_err(e));
                        }
                    }
                }
                match due {
                    // Due for refresh but the client kept the token we already wrote: its
                    // refresh failed and it is backing off; so do we (the file keeps the
                    // valid token). A new short-lived token is due at once by the cache's
                    // rules; that is healthy and paced below.
                    Some(d) if d.is_zero() && !fresh => {
                        failures += 1;
                        let d = backoff(failures);
                        log_warn!(
                            "refresh is due but did not succeed yet; keeping {} and retrying in {}s",
                            args.out.display(),
                            d.as_secs()
                        );
                        d
                    }
                    Some(_) if failures > 0 => backoff(failures),
                    Some(d) => pace(d, token.expires_in()),
                    None => {
                        log_info!("the token does not expire (pat); nothing more to do");
                        return Ok(Ok(()));
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
        log_debug!("next check in {}ms", wait.as_millis());
        if shutdown.sleep(wait) {
            return stopped(shutdown.signal().unwrap_or(libc::SIGTERM));
        }
    }
}

/// `write --watch` stops cleanly on a signal, whatever it was doing.
fn stopped(sig: i32) -> Outcome {
    log_info!("{} received; exiting", signals::name(sig));
    Ok(Ok(()))
}

fn until(t: Option<SystemTime>) -> Option<Duration> {
    t.map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The shortest pause between rewrites of a healthy token, unless it lives less than twice as
/// long (then half of what is left, and never under [`FLOOR`]).
const MIN_INTERVAL: Duration = Duration::from_secs(10);
const FLOOR: Duration = Duration::from_secs(1);

/// When to check again after writing a healthy token: at its refresh time, but not sooner
/// than [`MIN_INTERVAL`] or half its remaining life, whichever is shorter. Short-lived tokens
/// (the cache refreshes those at once) are so rewritten at half-life, not in a tight loop.
fn pace(until_refresh: Duration, expires_in: Option<Duration>) -> Duration {
    let lower = expires_in.map_or(MIN_INTERVAL, |left| (left / 2).min(MIN_INTERVAL));
    until_refresh.max(lower).max(FLOOR)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dbtoken-write-{tag}-{}", random_suffix()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn exclusive_create_refuses_a_planted_symlink_or_file() {
        let dir = temp_dir("excl");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("planted-link")).unwrap();
        std::fs::write(dir.join("planted-file"), "theirs").unwrap();
        let d = File::open(&dir).unwrap();
        let e = create_exclusive(&d, &CString::new("planted-link").unwrap()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
        let e = create_exclusive(&d, &CString::new("planted-file").unwrap()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(
            std::fs::read_to_string(dir.join("planted-file")).unwrap(),
            "theirs"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_at_out_is_replaced_not_followed() {
        let dir = temp_dir("link");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = dir.join("token");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        atomic_write(&out, b"tok", 0o640).unwrap();
        assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
        assert_eq!(std::fs::read(&out).unwrap(), b"tok");
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(
            std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777,
            0o644
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_lived_tokens_are_paced_at_half_life_and_long_ones_at_refresh() {
        let s = Duration::from_secs;
        // A 30 s token is due at once by the cache's rules: rewrite after 10 s, not 0.
        assert_eq!(pace(s(0), Some(s(30))), s(10));
        // 6 s: half of what is left.
        assert_eq!(pace(s(0), Some(s(6))), s(3));
        // 1 s: never under the floor.
        assert_eq!(pace(s(0), Some(s(1))), s(1));
        // An hour: at the refresh time (40 min).
        assert_eq!(pace(s(2400), Some(s(3600))), s(2400));
    }
}
