//! Warnings: things the library tolerates but a user should hear about (a configured config
//! file that does not exist, a server lifetime out of range). The library has no logger; by
//! default a warning is one `dbtoken: warning: …` line on stderr, and a front end (the CLI's
//! logger, a binding) installs its own sink with [`set_warning_hook`]. A warning never
//! contains a token or a JWT.

use std::sync::RwLock;

type Hook = Box<dyn Fn(&str) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Send every library warning to `hook` instead of stderr (process-wide; the last call wins).
///
/// ```
/// dbtoken::set_warning_hook(|w| eprintln!("[my-app] {w}"));
/// ```
pub fn set_warning_hook(hook: impl Fn(&str) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
}

/// Emit one warning through the hook, or to stderr when none is installed.
pub(crate) fn warn(message: &str) {
    let hook = HOOK.read().unwrap_or_else(|p| p.into_inner());
    match &*hook {
        Some(f) => f(message),
        None => eprintln!("dbtoken: warning: {message}"),
    }
}
