//! The token handed to callers, and a string wrapper for secrets that redacts itself.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A secret string (access token, client secret, JWT) whose `Debug` and `Display` print
/// `[REDACTED]`. Read it deliberately with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub(crate) fn new(value: impl Into<Arc<str>>) -> Secret {
        Secret(value.into())
    }

    /// The secret text itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// An access token for Databricks: use it as `Authorization: {token_type} {access_token}`.
///
/// Cloning is cheap (two reference counts, no allocation). `Debug` never shows the token.
#[derive(Clone)]
pub struct Token {
    access_token: Secret,
    token_type: Arc<str>,
    expires_at: Option<SystemTime>,
    refresh_at: Option<SystemTime>,
    usable_until: Option<SystemTime>,
}

impl Token {
    pub(crate) fn new(
        access_token: Secret,
        token_type: Arc<str>,
        expires_at: Option<SystemTime>,
    ) -> Token {
        Token {
            access_token,
            token_type,
            expires_at,
            refresh_at: expires_at,
            usable_until: expires_at,
        }
    }

    pub(crate) fn with_usable_until(mut self, at: Option<SystemTime>) -> Token {
        self.usable_until = at;
        self
    }

    /// Until when the client hands this token out (the cache's "expired" time: the server's
    /// expiry less the safety margin, see [`crate::EXPIRY_MARGIN`]). `None` for a personal
    /// access token.
    pub fn usable_until(&self) -> Option<SystemTime> {
        self.usable_until
    }

    pub(crate) fn with_refresh_at(mut self, at: Option<SystemTime>) -> Token {
        self.refresh_at = at;
        self
    }

    /// When the client will refresh this token ahead of expiry (the cache's "stale" time):
    /// ask again at or after this moment to get a new one. `None` for a personal access token.
    pub fn refresh_at(&self) -> Option<SystemTime> {
        self.refresh_at
    }

    /// The access token. Never log it.
    pub fn access_token(&self) -> &str {
        self.access_token.expose()
    }

    /// The token type the server returned, normally `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// When the server said the token expires; `None` for a personal access token.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Expiry in seconds since the Unix epoch, as `expires_on` in the metadata-service protocol.
    pub fn expires_on_unix(&self) -> Option<u64> {
        self.expires_at
            .map(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
    }

    /// Time left before the server's expiry (zero once past); `None` when unknown.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_at
            .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
    }

    /// The value of the `Authorization` header: `"{token_type} {access_token}"`.
    pub fn authorization_header(&self) -> String {
        format!("{} {}", self.token_type, self.access_token())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_on", &self.expires_on_unix())
            .finish()
    }
}
