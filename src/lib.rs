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

mod auth;
mod cache;
mod client;
mod config;
mod error;
mod exchange;
pub mod ffi;
mod http;
mod jwt;
mod source;
mod time;
mod token;
mod warn;

pub use auth::{AuthType, Verdict, verdicts};
pub use cache::{CacheStats, EXPIRY_MARGIN, FailureCounts, MAX_REFRESH_AHEAD};
pub use client::Client;
pub use config::{ATTRS, Attr, Config, Resolved, Source, attr};
pub use error::{Error, ErrorKind, Result};
pub use exchange::discovery::Endpoint;
pub use jwt::{Claims, decode as decode_jwt_claims};
pub use source::{FederatedToken, MAX_TOKEN_BYTES, TokenSource};
pub use time::rfc3339;
pub use token::{Secret, Token};
pub use warn::set_warning_hook;
