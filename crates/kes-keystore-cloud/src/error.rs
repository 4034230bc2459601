//! The error type for configuring and connecting a keystore of this crate.
//!
//! Keystore operations return [`kes_keystore::Error`] (the trait's error type); this enum
//! covers what can go wrong before there is a store: the config, TLS material, the HTTP
//! client, and the first login or health check.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a keystore could not be configured or connected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (message as KES's loader words it, without `kesconf: `).
    #[error("{0}")]
    Config(String),

    /// The TLS material (a CA file or directory) could not be read or used.
    #[error("invalid TLS config: {0}")]
    Tls(String),

    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client: {0}")]
    Client(String),

    /// Credentials could not be read, parsed or used.
    #[error("{0}")]
    Credentials(String),

    /// The first login or health check failed, so the store cannot be used (KES aborts its
    /// startup).
    #[error("{0}")]
    Connect(#[source] kes_keystore::Error),
}
