//! stderr logging for the CLI, levelled by `DBTOKEN_LOG` (error|warn|info|debug; default
//! info for the long-running `write --watch` and `serve`, warn otherwise). Callers never
//! pass a token: messages are built from paths, URLs, times and error texts only.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);

/// Set the level from `DBTOKEN_LOG`, or `default`. A bad value is reported and ignored.
pub fn init(default: Level) {
    let level = match std::env::var("DBTOKEN_LOG").ok().as_deref().map(str::trim) {
        None | Some("") => default,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" | "trace" => Level::Debug,
            _ => {
                eprintln!(
                    "dbtoken: DBTOKEN_LOG='{v}' is not one of error, warn, info, debug; using the default"
                );
                default
            }
        },
    };
    LEVEL.store(level as u8, Ordering::Relaxed);
    // The library's warnings (a missing config file, a lifetime out of range) in this format.
    dbtoken::set_warning_hook(|w| emit(Level::Warn, format_args!("{w}")));
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn emit(level: Level, message: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let now = crate::time::unix_now();
        let tag = match level {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        };
        eprintln!("{} {tag} dbtoken: {message}", dbtoken::rfc3339(now));
    }
}

macro_rules! log_error { ($($t:tt)*) => { $crate::cli::log::emit($crate::cli::log::Level::Error, format_args!($($t)*)) } }
macro_rules! log_warn { ($($t:tt)*) => { $crate::cli::log::emit($crate::cli::log::Level::Warn, format_args!($($t)*)) } }
macro_rules! log_info { ($($t:tt)*) => { $crate::cli::log::emit($crate::cli::log::Level::Info, format_args!($($t)*)) } }
macro_rules! log_debug { ($($t:tt)*) => { $crate::cli::log::emit($crate::cli::log::Level::Debug, format_args!($($t)*)) } }
pub(crate) use {log_debug, log_error, log_info, log_warn};
