//! The one error type of this crate, shared by every keystore backend.
//!
//! The server maps these to the KES wire errors (spec §4.2, §4.4): [`Error::Exists`] →
//! `400 key already exists`, [`Error::NotFound`] → `404 key does not exist`,
//! [`Error::Unreachable`] → `504 key store is not reachable` on `/v1/ready`, and everything
//! else to a generic `502` ("failed to create key", "failed to read key", …).

use std::sync::Arc;

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A keystore failure.
///
/// `Clone` so that one failed fetch can be handed to every waiter of a single-flight miss in
/// the [`crate::KeyCache`]. Messages never contain key material.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key with this name already exists (create is create-only and never overwrites).
    #[error("key already exists")]
    Exists,

    /// No key with this name exists.
    #[error("key does not exist")]
    NotFound,

    /// The keystore cannot be reached right now (network failure, timeout, a sealed Vault —
    /// message "key store is sealed" —, the cache's offline flag). Maps to 504 on `/v1/ready`.
    /// The message says why, e.g. `key store is sealed` or `connection refused`.
    #[error("{0}")]
    Unreachable(String),

    /// The key name is not acceptable to this keystore (e.g. contains `/`, `\` or `.` for the
    /// filesystem store).
    #[error("key name '{0}' is not valid for this key store")]
    InvalidName(String),

    /// The stored value is malformed or cannot be used (e.g. it does not parse as a KES key,
    /// §7.4, or it is larger than the store accepts). The server answers `502 failed to read key`.
    #[error("invalid key value for '{name}': {reason}")]
    InvalidValue {
        /// The key name.
        name: String,
        /// Why the value is unusable (never contains the value).
        reason: String,
    },

    /// A sealed value could not be unsealed with the configured master key (wrong key or
    /// tampered value), or a sealed directory was opened without a master key.
    #[error("{0}")]
    Seal(String),

    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. `failed to write key 'k'`.
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// Any other backend failure, as a message (backends with rich errors format them here).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Wraps an I/O error with a short description of the operation.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// A backend failure described by `message`.
    pub fn other(message: impl std::fmt::Display) -> Self {
        Error::Other(message.to_string())
    }

    /// The keystore is unreachable, for the reason `message`.
    pub fn unreachable(message: impl std::fmt::Display) -> Self {
        Error::Unreachable(message.to_string())
    }

    /// `true` for [`Error::Unreachable`] (maps to 504 on `/v1/ready`; any other status error
    /// maps to 502).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_classification() {
        assert_eq!(Error::Exists.to_string(), "key already exists");
        assert_eq!(Error::NotFound.to_string(), "key does not exist");
        let e = Error::unreachable("key store is sealed");
        assert!(e.is_unreachable());
        assert_eq!(e.to_string(), "key store is sealed");
        assert!(!Error::other("boom").is_unreachable());
        let io = Error::io(
            "failed to read key 'k'",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        assert!(std::error::Error::source(&io).is_some());
        assert_eq!(io.clone().to_string(), "failed to read key 'k': denied");
    }
}
