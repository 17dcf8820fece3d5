//! One error type for every failure, with a kind that callers (and the CLI's exit codes) can act on.
//!
//! No message built here ever contains a token or a JWT: messages are composed from variable
//! names, paths, URLs, HTTP statuses and the server's own `error`/`error_description`, which are
//! scrubbed of the subject token before they are stored.

use std::time::Duration;

use std::fmt;

/// What went wrong, coarsely: each kind maps to one CLI exit code and one C status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is missing, contradictory or invalid (exit code 3).
    Config,
    /// The federated token (JWT) could not be read, is malformed, expired or not yet valid (exit 4).
    FederatedToken,
    /// The server answered with a definite refusal, e.g. 400/401/403 (exit 5).
    Rejected,
    /// Network failure, timeout, 429/5xx after retries, or a response that cannot be parsed (exit 6).
    Transient,
    /// A local I/O failure other than reading the federated token (exit 6).
    Io,
}

impl ErrorKind {
    /// The documented exit code of the `dbtoken` CLI for this kind (the CLI's concept).
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Config => 3,
            ErrorKind::FederatedToken => 4,
            ErrorKind::Rejected => 5,
            ErrorKind::Transient | ErrorKind::Io => 6,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ErrorKind::Config => "configuration error",
            ErrorKind::FederatedToken => "federated token error",
            ErrorKind::Rejected => "rejected by server",
            ErrorKind::Transient => "network error",
            ErrorKind::Io => "I/O error",
        }
    }
}

/// The error type of every fallible dbtoken operation.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    server_error: Option<String>,
    server_description: Option<String>,
    /// The server's `Retry-After` on a 429/503 (already bounded by the HTTP layer).
    retry_after: Option<Duration>,
}

/// Shorthand for `Result<T, dbtoken::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error::plain(kind, message.into())
    }

    // One out-of-line copy for the ~50 call sites (each would otherwise build the whole
    // struct inline, which costs the size-budgeted static binary).
    #[inline(never)]
    fn plain(kind: ErrorKind, message: String) -> Error {
        Error {
            kind,
            message,
            status: None,
            server_error: None,
            server_description: None,
            retry_after: None,
        }
    }

    /// A configuration error (for front ends such as the CLI).
    pub fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn federated(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::FederatedToken, message)
    }

    /// A local I/O failure (for front ends such as the CLI).
    pub fn io(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Io, message)
    }

    pub(crate) fn transient(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Transient, message)
    }

    /// An HTTP answer other than success; `kind` is `Rejected` or `Transient` by status.
    pub(crate) fn http(
        kind: ErrorKind,
        message: impl Into<String>,
        status: u16,
        server_error: Option<String>,
        server_description: Option<String>,
    ) -> Error {
        Error {
            kind,
            message: message.into(),
            status: Some(status),
            server_error,
            server_description,
            retry_after: None,
        }
    }

    /// The same error, carrying the server's `Retry-After`.
    pub(crate) fn with_retry_after(mut self, after: Option<Duration>) -> Error {
        self.retry_after = after;
        self
    }

    /// How long the server asked us to wait (`Retry-After` of a 429 or 503), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status the server answered with, when the failure was an HTTP answer.
    pub fn http_status(&self) -> Option<u16> {
        self.status
    }

    /// The server's OAuth `error` code (or `errorCode`), verbatim.
    pub fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }

    /// The server's `error_description` (or `errorSummary`), verbatim.
    pub fn server_description(&self) -> Option<&str> {
        self.server_description.as_deref()
    }

    /// The message alone, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Append advice after the message ("… Fix: …"), keeping kind and server fields.
    pub(crate) fn advice(mut self, text: &str) -> Error {
        self.message = format!("{}\n  fix: {text}", self.message);
        self
    }

    /// Prefix the message with context ("file-oidc: ..."), keeping kind and server fields.
    pub(crate) fn context(mut self, what: &str) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.status)
            .field("server_error", &self.server_error)
            .field("server_description", &self.server_description)
            .finish()
    }
}

impl std::error::Error for Error {}
