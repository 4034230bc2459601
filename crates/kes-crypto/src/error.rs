//! The one error type of this crate.
//!
//! Decryption failures are deliberately opaque: [`Error::NotAuthentic`] says
//! nothing about which check failed, so that no caller can build an oracle.

/// Everything that can go wrong in `kes-crypto`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ciphertext, sealed key or DARE package failed to decrypt or
    /// authenticate. Carries no detail by design.
    #[error("ciphertext is not authentic")]
    NotAuthentic,
    /// A key had the wrong length or an invalid value.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A key algorithm name or number is not one this crate knows.
    #[error("invalid key algorithm: {0}")]
    InvalidAlgorithm(String),
    /// A stored key value, ciphertext or other encoded input is malformed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed (for example "key version").
        what: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The key version has no HMAC key (legacy JSON stored keys): it can
    /// compute no HMAC and cannot be written in the current stored format.
    #[error("key does not support HMAC")]
    NoHmacKey,
    /// The operating system's randomness source failed.
    #[error("failed to read randomness from the operating system")]
    Rng,
    /// An I/O error from a reader or writer the caller passed in (DARE streams).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// MinIO SSE object metadata is missing an entry or has a malformed one.
    /// The message is MinIO's.
    #[error("{0}")]
    SseMetadata(crate::sse::metadata::MetadataErrorKind),
    /// An S3 SSE request header is missing, malformed or unsupported. The
    /// message is MinIO's.
    #[error("{0}")]
    SseRequest(crate::sse::headers::RequestErrorKind),
    /// A bucket default-encryption configuration is invalid. The message is
    /// MinIO's.
    #[error("{0}")]
    BucketSseConfig(crate::sse::bucket_config::ConfigErrorKind),
    /// The KMS has no key of this name (the static-key KMS knows one name).
    #[error("key does not exist")]
    KeyNotFound,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
