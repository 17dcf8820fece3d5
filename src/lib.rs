//! dbtoken: turn a federated identity token (a Kubernetes projected service-account JWT, AKS
//! workload identity, a CI system's OIDC token) into a Databricks OAuth token — synchronously,
//! with a small footprint and no async runtime.
//!
//! Data flows one way: [`Config`] → federated token source → exchange flow → cache → caller.
//!
//! ```no_run
//! let client = dbtoken::Client::from_env()?;
//! let token = client.token()?; // cached; refreshed ahead of expiry
//! println!("expires at {:?}", token.expires_at());
//! # Ok::<(), dbtoken::Error>(())
//! ```

// The CLI lives in the library so that it can use crate-private helpers (verdicts, the
// attribute table, exit codes, RFC 3339 time) without making them public API.
extern crate self as dbtoken;

mod auth;
mod cache;
mod cli;
mod client;
mod config;
mod error;
mod exchange;
mod ffi;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod http;
pub mod issuer;
pub mod jws;
mod jwt;
mod source;
mod time;
mod tls;
mod token;
mod warn;

pub use auth::AuthType;
pub use cache::{CacheStats, EXPIRY_MARGIN, FailureCounts, MAX_REFRESH_AHEAD};
pub use client::Client;
pub use config::{Config, Key, Resolved, Source};
pub use error::{Error, ErrorKind, Result};
pub use exchange::discovery::{Endpoint, databricks_account_id};
pub use jwt::{Claims, decode as decode_jwt_claims};
pub use source::{FederatedToken, MAX_TOKEN_BYTES, TokenSource};
pub use token::{Secret, Token};
pub use warn::set_warning_hook;

// What the CLI (`src/cli/`) reaches as `dbtoken::…`; not public.
pub(crate) use auth::verdicts;
pub(crate) use config::ATTRS;
pub(crate) use time::rfc3339;

/// The `dbtoken` command's entry point (`src/main.rs`); not part of the library API.
#[doc(hidden)]
pub fn cli_main() -> std::process::ExitCode {
    cli::main()
}
