//! The one error type of this crate.
//!
//! A KES server's own answers are [`Error::Api`]: the status and the exact message, which
//! compare equal to KES's sentinel errors ([`Error::is`], [`Sentinel`]) exactly as the Go SDK
//! compares them, legacy aliases included (`400 key does already exist` is
//! [`Sentinel::KeyExists`]). Everything else is local: the connection, the response format or
//! the client's own configuration.

use kes_types::{ApiError, Sentinel};

/// Everything that can go wrong when talking to a KES server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error: HTTP status and message (spec §4.2). Displays as the
    /// bare message, e.g. `key already exists`.
    #[error("{0}")]
    Api(ApiError),

    /// No server could be reached, or the connection failed before a complete response
    /// arrived (after the retries of spec §13).
    #[error("kes: connection error: {0}")]
    Connection(String),

    /// A response arrived but is not what the API defines (bad JSON, too large, an unexpected
    /// status or content).
    #[error("kes: invalid response: {0}")]
    InvalidResponse(String),

    /// The client configuration is unusable (an endpoint, a TLS setting).
    #[error("kes: {0}")]
    Config(String),

    /// A credential (API key, certificate or private key file, CA file) could not be read or
    /// used.
    #[error(transparent)]
    Credentials(#[from] kes_policy::Error),
}

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The server's error answer, if this is one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of a server error answer.
    pub fn status(&self) -> Option<u16> {
        self.api_error().map(ApiError::status)
    }

    /// Whether this error equals a KES sentinel error: same status and same message (the
    /// legacy aliases were mapped to their sentinels when the response was read).
    pub fn is(&self, sentinel: Sentinel) -> bool {
        self.api_error().is_some_and(|e| e.is(sentinel))
    }

    /// The sentinel this error equals, if any.
    pub fn sentinel(&self) -> Option<Sentinel> {
        self.api_error().and_then(ApiError::sentinel)
    }

    /// Whether the error is a transport failure (no answer from any server).
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connection(_))
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(e.normalize_legacy())
    }
}

impl From<Sentinel> for Error {
    fn from(s: Sentinel) -> Self {
        Error::Api(s.error())
    }
}

/// An error equals a sentinel when status and message are equal.
impl PartialEq<Sentinel> for Error {
    fn eq(&self, other: &Sentinel) -> bool {
        self.is(*other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_equality() {
        let e = Error::from(ApiError::new(404, "key does not exist"));
        assert!(e.is(Sentinel::KeyNotFound));
        assert_eq!(e, Sentinel::KeyNotFound);
        assert_eq!(e.to_string(), "key does not exist");
        assert_eq!(e.status(), Some(404));
        let legacy = Error::from(ApiError::new(400, "key does already exist"));
        assert_eq!(legacy, Sentinel::KeyExists);
        assert_eq!(legacy.to_string(), "key already exists");
        let other = Error::from(ApiError::new(400, "key does not exist"));
        assert_eq!(other.sentinel(), None);
        assert!(!Error::Connection("x".into()).is(Sentinel::KeyNotFound));
    }
}
