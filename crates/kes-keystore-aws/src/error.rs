//! The error type for configuring and connecting an [`crate::AwsKeyStore`].
//!
//! Keystore operations return [`kes_keystore::Error`] (the trait's error type); this enum
//! covers what can go wrong before there is a store.

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an AWS Secrets Manager keystore could not be configured or connected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (message as KES's loader words it, without `kesconf: `).
    #[error("{0}")]
    Config(String),

    /// The HTTP client could not be built (e.g. an unreadable `AWS_CA_BUNDLE`).
    #[error("aws: {0}")]
    Client(#[from] kes_keystore_cloud::Error),

    /// The service could not be reached or refused the credentials at startup (KES aborts
    /// its startup when the first status check fails).
    #[error("{0}")]
    Connect(#[source] kes_keystore::Error),
}
