//! The error type for setting up a [`crate::VaultKeyStore`].
//!
//! Keystore operations return [`kes_keystore::Error`] (the trait's error type); this enum
//! covers what can go wrong before there is a store: the config, TLS material, the HTTP
//! client, and the first login.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a Vault keystore could not be configured or connected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (message as KES's loader words it, without `kesconf: `).
    #[error("{0}")]
    Config(String),

    /// The TLS material (`tls.ca`, `tls.cert`, `tls.key`) could not be read or used.
    #[error("vault: invalid TLS config: {0}")]
    Tls(String),

    /// The HTTP client could not be built.
    #[error("vault: failed to build the HTTP client: {0}")]
    Client(String),

    /// The first login failed, so the store cannot be used (KES aborts startup).
    #[error("{0}")]
    Login(#[source] kes_keystore::Error),

    /// A Tokio runtime is required (for the token renewal and health tasks) but none is
    /// running.
    #[error("vault: the keystore must be connected from within a Tokio runtime")]
    NoRuntime,
}
