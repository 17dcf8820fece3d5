//! The C ABI: opaque handles, one status enum, caller-owned buffers, and an error object.
//!
//! Every export is a plain `#[no_mangle] pub extern "C" fn dbtoken_…` whose body runs inside
//! [`ffi_boundary!`], so a Rust panic becomes `DBTOKEN_STATUS_PANIC` instead of unwinding into C.
//! The header `include/dbtoken.h` is generated from this file by cbindgen (`build.rs`).
#![allow(non_camel_case_types)]
// These functions are called from C, where `unsafe fn` means nothing; each documents its
// pointer contract in the header instead (as rustls-ffi does).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::time::UNIX_EPOCH;

use crate::{Client, Config, Error, ErrorKind};

/// Result of every fallible call. The numbers are stable and never reused.
/// 3 to 6 equal the exit codes of the `dbtoken` command.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dbtoken_status {
    /// Success.
    Ok = 0,
    /// A required pointer was NULL, or a string was not valid UTF-8.
    InvalidArgument = 1,
    /// The caller's buffer is too small; the needed length was reported.
    BufferTooSmall = 2,
    /// Configuration missing, contradictory or invalid (including an unknown key).
    Config = 3,
    /// The federated token (JWT) is unreadable, malformed, expired or not yet valid.
    FederatedToken = 4,
    /// The server refused (400/401/403…); the error object carries its `error` and `error_description`.
    Rejected = 5,
    /// Network failure, timeout, 429/5xx after retries, or an unparseable response.
    Transient = 6,
    /// Local I/O failure.
    Io = 7,
    /// A bug in dbtoken: a Rust panic was caught at the boundary. Please report it.
    Panic = 8,
}

/// Configuration under construction: `.databrickscfg` keys set explicitly, on top of the
/// environment and the config file. Owned by one thread at a time; free with
/// `dbtoken_config_free`.
pub struct dbtoken_config {
    inner: Config,
}

/// A token provider with its own cache. Any number of threads may share one
/// `dbtoken_client`; concurrent callers on an empty cache cause one token request.
/// Free with `dbtoken_client_free` once no thread uses it.
pub struct dbtoken_client {
    inner: Client,
}

/// Details of a failure. Immutable; may be read from any thread; free with `dbtoken_error_free`.
pub struct dbtoken_error {
    status: dbtoken_status,
    http_status: u16,
    message: CString,
    server_error: Option<CString>,
    server_description: Option<CString>,
}

/// What `dbtoken_client_token` reports besides the token itself.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dbtoken_token_info {
    /// Expiry in seconds since the Unix epoch; 0 when unknown (a personal access token).
    pub expires_on: i64,
    /// NUL-terminated token type, normally "Bearer": use `Authorization: <type> <token>`.
    pub token_type: [c_char; 32],
    /// When the client starts refreshing this token ahead of expiry (the cache's "stale" time),
    /// in seconds since the Unix epoch; 0 when never (a personal access token). A binding may
    /// keep its own copy of the token until this moment and call `dbtoken_client_token` again
    /// after it: the refresh rules stay the library's.
    pub refresh_at: i64,
}

/// Refresh counters of a client.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct dbtoken_stats {
    /// Token requests started (each may include retries).
    pub refreshes: u64,
    /// Token requests that failed.
    pub failures: u64,
}

/// Unix seconds as C's `int64_t`, saturating (a far-future time is not a negative one).
fn unix_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn status_of(kind: ErrorKind) -> dbtoken_status {
    match kind {
        ErrorKind::Config => dbtoken_status::Config,
        ErrorKind::FederatedToken => dbtoken_status::FederatedToken,
        ErrorKind::Rejected => dbtoken_status::Rejected,
        ErrorKind::Transient => dbtoken_status::Transient,
        ErrorKind::Io => dbtoken_status::Io,
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Store a new error object in `*err` when `err` is not NULL; return its status.
fn fail(
    err: *mut *mut dbtoken_error,
    status: dbtoken_status,
    e: Option<&Error>,
    message: &str,
) -> dbtoken_status {
    if !err.is_null() {
        let obj = Box::new(dbtoken_error {
            status,
            http_status: e.and_then(Error::http_status).unwrap_or(0),
            message: cstring(message),
            server_error: e.and_then(Error::server_error).map(cstring),
            server_description: e.and_then(Error::server_description).map(cstring),
        });
        // SAFETY: the caller passed a writable `dbtoken_error **` (documented).
        unsafe { *err = Box::into_raw(obj) };
    }
    status
}

fn fail_with(err: *mut *mut dbtoken_error, e: &Error) -> dbtoken_status {
    fail(err, status_of(e.kind()), Some(e), &e.to_string())
}

fn null_arg(err: *mut *mut dbtoken_error, name: &str) -> dbtoken_status {
    fail(
        err,
        dbtoken_status::InvalidArgument,
        None,
        &format!("argument '{name}' must not be NULL"),
    )
}

/// The message of the error object a caught panic produces.
const PANIC_MESSAGE: &str = "internal error: dbtoken panicked (a bug; please report it)";

/// What the string-returning exports without an error out-param answer for a status they do
/// not know and after a caught panic.
const UNKNOWN: &str = "unknown\0";

/// Run `f`, turning a panic into `None`. Every export's body runs in here (via
/// [`ffi_boundary!`]), so no unwind ever crosses into C. In this crate's unit tests a
/// thread-local hook can force a panic at this point to prove it (absent from every other build).
fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        tests::panic_if_forced();
        f()
    }))
    .ok()
}

/// The boundary of every export: NULL checks of the required pointers, then `$body` inside
/// [`guarded`].
///
/// - `err: E, non_null: [p, q], { body }` for calls that return a `dbtoken_status` and take an
///   error out-param `E`: a NULL `p` gives `DBTOKEN_STATUS_INVALID_ARGUMENT` and an error
///   object naming `p`; a panic gives `DBTOKEN_STATUS_PANIC` and an error object.
/// - `on_panic: V, [non_null: [p] else N,] { body }` for the others: a NULL `p` answers `N`, a
///   panic answers `V` (each documented in the export's comment).
/// - `no_value, non_null: [p], { body }` for the `_free` functions: NULL and a panic do nothing.
///
/// The export itself stays a plain `pub extern "C" fn` so cbindgen reads it as written.
macro_rules! ffi_boundary {
    (err: $err:expr, non_null: [$($p:ident),*], $body:block) => {{
        let err: *mut *mut dbtoken_error = $err;
        guarded(|| -> dbtoken_status {
            $(
                if $p.is_null() {
                    return null_arg(err, stringify!($p));
                }
            )*
            $body
        })
        .unwrap_or_else(|| fail(err, dbtoken_status::Panic, None, PANIC_MESSAGE))
    }};
    (on_panic: $on_panic:expr, non_null: [$($p:ident),+] else $on_null:expr, $body:block) => {{
        guarded(|| {
            $(
                if $p.is_null() {
                    return $on_null;
                }
            )+
            $body
        })
        .unwrap_or($on_panic)
    }};
    (on_panic: $on_panic:expr, $body:block) => {{ guarded(|| $body).unwrap_or($on_panic) }};
    (no_value, non_null: [$($p:ident),+], $body:block) => {{
        let _: Option<()> = guarded(|| {
            $(
                if $p.is_null() {
                    return;
                }
            )+
            $body
        });
    }};
}

/// A UTF-8 string from C, or a status.
///
/// # Safety
/// A non-NULL `p` must point to a NUL-terminated string that outlives `'a`.
unsafe fn utf8<'a>(
    p: *const c_char,
    name: &str,
    err: *mut *mut dbtoken_error,
) -> Result<&'a str, dbtoken_status> {
    if p.is_null() {
        return Err(null_arg(err, name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| {
        fail(
            err,
            dbtoken_status::InvalidArgument,
            None,
            &format!("argument '{name}' is not valid UTF-8"),
        )
    })
}

impl dbtoken_status {
    /// The status with this number, if there is one (C may pass any `int`).
    fn from_int(n: c_int) -> Option<dbtoken_status> {
        use dbtoken_status::*;
        [
            Ok,
            InvalidArgument,
            BufferTooSmall,
            Config,
            FederatedToken,
            Rejected,
            Transient,
            Io,
            Panic,
        ]
        .into_iter()
        .find(|s| *s as c_int == n)
    }
}

/// The library version, e.g. "0.1.0". Static storage: never free it. Never NULL ("unknown"
/// after an internal error).
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_version() -> *const c_char {
    ffi_boundary!(on_panic: UNKNOWN.as_ptr().cast(), {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// The name of a status number, e.g. "DBTOKEN_STATUS_REJECTED" for 5, or "unknown" for a
/// number that is no `dbtoken_status` (any `int` may be passed). Static storage: never free it;
/// never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_status_name(status: c_int) -> *const c_char {
    ffi_boundary!(on_panic: UNKNOWN.as_ptr().cast(), {
        let s: &'static str = match dbtoken_status::from_int(status) {
            Some(dbtoken_status::Ok) => "DBTOKEN_STATUS_OK\0",
            Some(dbtoken_status::InvalidArgument) => "DBTOKEN_STATUS_INVALID_ARGUMENT\0",
            Some(dbtoken_status::BufferTooSmall) => "DBTOKEN_STATUS_BUFFER_TOO_SMALL\0",
            Some(dbtoken_status::Config) => "DBTOKEN_STATUS_CONFIG\0",
            Some(dbtoken_status::FederatedToken) => "DBTOKEN_STATUS_FEDERATED_TOKEN\0",
            Some(dbtoken_status::Rejected) => "DBTOKEN_STATUS_REJECTED\0",
            Some(dbtoken_status::Transient) => "DBTOKEN_STATUS_TRANSIENT\0",
            Some(dbtoken_status::Io) => "DBTOKEN_STATUS_IO\0",
            Some(dbtoken_status::Panic) => "DBTOKEN_STATUS_PANIC\0",
            None => UNKNOWN,
        };
        s.as_ptr().cast()
    })
}

/// Create an empty configuration in `*out`. Keys set on it override the environment
/// (`DATABRICKS_*`, `AZURE_*`), which overrides the config file profile.
///
/// Returns `DBTOKEN_STATUS_INVALID_ARGUMENT` if `out` is NULL, `DBTOKEN_STATUS_PANIC` after an
/// internal error. `*out` is written only on success.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_config_new(out: *mut *mut dbtoken_config) -> dbtoken_status {
    ffi_boundary!(on_panic: dbtoken_status::Panic,
                  non_null: [out] else dbtoken_status::InvalidArgument, {
        let cfg = Box::new(dbtoken_config {
            inner: Config::new(),
        });
        // SAFETY: `out` is non-NULL (checked) and writable by contract.
        unsafe { *out = Box::into_raw(cfg) };
        dbtoken_status::Ok
    })
}

/// Set `key` (a `.databrickscfg` key such as "host", "client_id", "oidc_token_filepath",
/// "azure_client_id", "auth_type", "ca_bundle") to `value`. A NULL or empty `value` unsets it.
///
/// Returns `DBTOKEN_STATUS_CONFIG` for an unknown key (the message lists the known ones),
/// `DBTOKEN_STATUS_INVALID_ARGUMENT` for a NULL `cfg`/`key` or non-UTF-8 text.
/// On failure, if `err` is not NULL, `*err` receives a new error object (free it with
/// `dbtoken_error_free`); on success `*err` is left untouched.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_config_set(
    cfg: *mut dbtoken_config,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut dbtoken_error,
) -> dbtoken_status {
    ffi_boundary!(err: err, non_null: [cfg, key], {
        // SAFETY: non-NULL (checked); from `dbtoken_config_new`, used by one thread at a time.
        let cfg = unsafe { &mut *cfg };
        // SAFETY: `key` is a NUL-terminated string by contract, read only during this call.
        let key = match unsafe { utf8(key, "key", err) } {
            Ok(k) => k,
            Err(s) => return s,
        };
        let value = if value.is_null() {
            ""
        } else {
            // SAFETY: as for `key`.
            match unsafe { utf8(value, "value", err) } {
                Ok(v) => v,
                Err(s) => return s,
            }
        };
        match cfg.inner.set(key, value) {
            Ok(()) => dbtoken_status::Ok,
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Free a configuration. NULL is a no-op. Clients created from it stay valid. (After an
/// internal error while freeing, the object is leaked rather than half-freed.)
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_config_free(cfg: *mut dbtoken_config) {
    ffi_boundary!(no_value, non_null: [cfg], {
        // SAFETY: non-NULL; came from `dbtoken_config_new` and is freed once (contract).
        drop(unsafe { Box::from_raw(cfg) });
    })
}

/// Create a client in `*out` from `cfg`, or, when `cfg` is NULL, from the environment and the
/// config file exactly as the `dbtoken` command does. `cfg` is only read; free it as usual.
/// No network request is made here.
///
/// Returns `DBTOKEN_STATUS_CONFIG` when no auth type can be chosen (the message names the
/// missing variables), `DBTOKEN_STATUS_INVALID_ARGUMENT` when `out` is NULL. `*out` is
/// written only on success; on failure `*err` (if `err` is not NULL) receives an error object.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_client_new(
    cfg: *const dbtoken_config,
    out: *mut *mut dbtoken_client,
    err: *mut *mut dbtoken_error,
) -> dbtoken_status {
    ffi_boundary!(err: err, non_null: [out], {
        // SAFETY: a non-NULL `cfg` comes from `dbtoken_config_new` and is not being changed.
        let config = match unsafe { cfg.as_ref() } {
            Some(c) => c.inner.clone(),
            None => Config::new(),
        };
        match Client::new(config) {
            Ok(client) => {
                // SAFETY: `out` is non-NULL (checked) and writable by contract.
                unsafe { *out = Box::into_raw(Box::new(dbtoken_client { inner: client })) };
                dbtoken_status::Ok
            }
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Free a client. NULL is a no-op. No other thread may be using it. (After an internal error
/// while freeing, the client is leaked rather than half-freed.)
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_client_free(client: *mut dbtoken_client) {
    ffi_boundary!(no_value, non_null: [client], {
        // SAFETY: non-NULL; came from `dbtoken_client_new` and is freed once (contract).
        drop(unsafe { Box::from_raw(client) });
    })
}

/// Write the current access token, NUL-terminated, into `buf` (`len` bytes), its length
/// (without the NUL) into `*token_len`, and, when `info` is not NULL, its expiry and type into
/// `*info`. Served from the cache while fresh (no allocation, no system call beyond a clock
/// read); otherwise obtained now, blocking, with retries within the configured deadline.
/// Safe to call from any number of threads on one client.
///
/// When `len` is too small (`len <= token length`), returns `DBTOKEN_STATUS_BUFFER_TOO_SMALL`
/// and writes the token's length to `*token_len` (allocate `*token_len + 1` bytes); `buf` and
/// `info` are not written. `buf` may be NULL when `len` is 0, to ask for the length.
/// On success all out-params are written; on any other failure none is, and `*err` (if `err`
/// is not NULL) receives an error object carrying the server's `error`/`error_description`
/// when the server refused.
///
/// Returns `DBTOKEN_STATUS_INVALID_ARGUMENT` if `client` or `token_len` is NULL, or `buf` is
/// NULL with `len` > 0.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_client_token(
    client: *const dbtoken_client,
    buf: *mut c_char,
    len: usize,
    token_len: *mut usize,
    info: *mut dbtoken_token_info,
    err: *mut *mut dbtoken_error,
) -> dbtoken_status {
    ffi_boundary!(err: err, non_null: [client, token_len], {
        if buf.is_null() && len > 0 {
            return null_arg(err, "buf");
        }
        // SAFETY: non-NULL (checked); from `dbtoken_client_new` and not yet freed (contract).
        let client = unsafe { &*client };
        // The token is copied out while lent by the cache: no clone, no allocation on a hit.
        let copied = client.inner.with_token(|token| {
            let bytes = token.access_token().as_bytes();
            if len <= bytes.len() {
                return Err(bytes.len());
            }
            // SAFETY: `buf` holds `len > bytes.len()` writable bytes by contract (so it is not
            // NULL), and cannot overlap the token, which Rust owns.
            unsafe {
                ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
                *buf.add(bytes.len()) = 0;
            }
            if !info.is_null() {
                let kind = token.token_type().as_bytes();
                let n = kind.len().min(31);
                let mut out = dbtoken_token_info {
                    expires_on: token.expires_on_unix().map_or(0, unix_i64),
                    token_type: [0; 32],
                    refresh_at: token.refresh_at().map_or(0, |t| {
                        let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                        unix_i64(secs)
                    }),
                };
                // SAFETY: `n` < 32 bytes into a 32-byte array; distinct memory.
                unsafe {
                    ptr::copy_nonoverlapping(
                        kind.as_ptr(),
                        out.token_type.as_mut_ptr().cast::<u8>(),
                        n,
                    )
                };
                // SAFETY: `info` is non-NULL (checked) and writable by contract.
                unsafe { *info = out };
            }
            Ok(bytes.len())
        });
        match copied {
            Ok(Ok(n)) => {
                // SAFETY: `token_len` is non-NULL (checked) and writable by contract.
                unsafe { *token_len = n };
                dbtoken_status::Ok
            }
            Ok(Err(needed)) => {
                // SAFETY: as above.
                unsafe { *token_len = needed };
                dbtoken_status::BufferTooSmall
            }
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Copy the client's refresh counters into `*out`. Returns `DBTOKEN_STATUS_INVALID_ARGUMENT`
/// if `client` or `out` is NULL, `DBTOKEN_STATUS_PANIC` after an internal error.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_client_stats(
    client: *const dbtoken_client,
    out: *mut dbtoken_stats,
) -> dbtoken_status {
    ffi_boundary!(on_panic: dbtoken_status::Panic,
                  non_null: [client, out] else dbtoken_status::InvalidArgument, {
        // SAFETY: non-NULL (checked); from `dbtoken_client_new` and not yet freed (contract).
        let s = unsafe { &*client }.inner.stats();
        // SAFETY: `out` is non-NULL (checked) and writable by contract.
        unsafe {
            *out = dbtoken_stats {
                refreshes: s.refreshes,
                failures: s.failures,
            }
        };
        dbtoken_status::Ok
    })
}

/// The status of an error; `DBTOKEN_STATUS_INVALID_ARGUMENT` for NULL, `DBTOKEN_STATUS_PANIC`
/// after an internal error.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_error_status(e: *const dbtoken_error) -> dbtoken_status {
    ffi_boundary!(on_panic: dbtoken_status::Panic,
                  non_null: [e] else dbtoken_status::InvalidArgument, {
        // SAFETY: non-NULL (checked); from this library and not yet freed (contract).
        unsafe { &*e }.status
    })
}

/// The message of an error (what went wrong and how to fix it; never a token), or NULL for a
/// NULL error (and after an internal error). Valid until `dbtoken_error_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_error_message(e: *const dbtoken_error) -> *const c_char {
    ffi_boundary!(on_panic: ptr::null(), non_null: [e] else ptr::null(), {
        // SAFETY: as in `dbtoken_error_status`.
        unsafe { &*e }.message.as_ptr()
    })
}

/// The server's OAuth `error` code (e.g. "invalid_request"), or NULL when the server did not
/// send one (and for a NULL error, and after an internal error). Valid until
/// `dbtoken_error_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_error_server_error(e: *const dbtoken_error) -> *const c_char {
    ffi_boundary!(on_panic: ptr::null(), non_null: [e] else ptr::null(), {
        // SAFETY: as in `dbtoken_error_status`.
        unsafe { &*e }.server_error.as_ref().map_or(ptr::null(), |s| s.as_ptr())
    })
}

/// The server's `error_description`, or NULL (also for a NULL error and after an internal
/// error). Valid until `dbtoken_error_free`.
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_error_server_description(e: *const dbtoken_error) -> *const c_char {
    ffi_boundary!(on_panic: ptr::null(), non_null: [e] else ptr::null(), {
        // SAFETY: as in `dbtoken_error_status`.
        unsafe { &*e }
            .server_description
            .as_ref()
            .map_or(ptr::null(), |s| s.as_ptr())
    })
}

/// The HTTP status the server answered with, or 0 when the failure was not an HTTP answer
/// (also for a NULL error and after an internal error).
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_error_http_status(e: *const dbtoken_error) -> u16 {
    ffi_boundary!(on_panic: 0, non_null: [e] else 0, {
        // SAFETY: as in `dbtoken_error_status`.
        unsafe { &*e }.http_status
    })
}

/// Free an error object. NULL is a no-op. (After an internal error while freeing, the object
/// is leaked rather than half-freed.)
#[unsafe(no_mangle)]
pub extern "C" fn dbtoken_error_free(e: *mut dbtoken_error) {
    ffi_boundary!(no_value, non_null: [e], {
        // SAFETY: non-NULL; came from this library and is freed once (contract).
        drop(unsafe { Box::from_raw(e) });
    })
}

#[cfg(test)]
mod tests;
