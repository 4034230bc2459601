//! The one error type of this crate.
//!
//! Messages that KES sends on the wire or prints at startup are reproduced exactly (spec §3.1,
//! §4.1, §6.1, §2.1). Configuration loaders prefix them with `kes: ` where upstream does.
//! Errors never contain key material or passwords.

use std::path::PathBuf;

/// Everything that can go wrong in `kes-policy`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string is not a valid API key; the reason is one of `invalid length`,
    /// `unsupported type` or `invalid base64 encoding`.
    #[error("kes: invalid API key: {0}")]
    InvalidApiKey(&'static str),

    /// A key name violates the name rule (§4.1).
    #[error("key name '{0}' is empty, too long or contains invalid characters")]
    InvalidKeyName(String),

    /// A policy name violates the name rule (§4.1).
    #[error("policy name '{0}' is empty, too long or contains invalid characters")]
    InvalidPolicyName(String),

    /// An identity violates the name rule (§4.1).
    #[error("identity '{0}' is empty, too long or contains invalid characters")]
    InvalidIdentity(String),

    /// A list pattern violates the pattern rule (§4.1).
    #[error("listing pattern '{0}' is empty, too long or is invalid")]
    InvalidPattern(String),

    /// An identity was assigned to a second policy (§3.1); names the identity and both policies.
    #[error(
        "cannot assign policy '{policy}' to '{identity}': identity already has a policy ('{existing}')"
    )]
    IdentityAlreadyAssigned {
        /// The identity assigned twice.
        identity: String,
        /// The policy that was being assigned.
        policy: String,
        /// The policy the identity already belongs to.
        existing: String,
    },

    /// Two policies with the same name were added to one policy set.
    #[error("policy '{0}' is defined more than once")]
    DuplicatePolicy(String),

    /// A policy (or the lack of one) denies the request.
    #[error("not authorized: insufficient permissions")]
    NotAllowed,

    /// The client sent no non-CA certificate (§2.1).
    #[error("tls: client certificate is required")]
    ClientCertificateRequired,

    /// The client sent more than one non-CA certificate (§2.1).
    #[error("tls: received more than one client certificate")]
    TooManyClientCertificates,

    /// Bytes that should be a DER X.509 certificate are not one.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),

    /// A server certificate has neither a DNS nor an IP SAN (§1.1).
    #[error("invalid TLS certificate: certificate does not contain any DNS or IP address as SAN")]
    MissingSan,

    /// PEM text is malformed (bad framing, base64 or headers).
    #[error("invalid PEM: {0}")]
    InvalidPem(String),

    /// A PEM block has a type that is not allowed where it appears.
    #[error("unexpected PEM block '{found}': expected {expected}")]
    UnexpectedPemBlock {
        /// The label of the offending block.
        found: String,
        /// What the reader accepts at this place.
        expected: &'static str,
    },

    /// The input holds no certificate.
    #[error("no certificate found")]
    NoCertificate,

    /// The input holds no private key.
    #[error("no private key found")]
    NoPrivateKey,

    /// An encrypted private key was read without a password.
    #[error("private key is encrypted: password required")]
    PasswordRequired,

    /// Decrypting a private key failed; deliberately says nothing more.
    #[error("private key decryption failed: incorrect password")]
    IncorrectPassword,

    /// A private key is malformed.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),

    /// A private key (or its encryption) uses an algorithm this crate does not support.
    #[error("unsupported private key: {0}")]
    UnsupportedKey(String),

    /// Generating a key, encrypting a key or signing a certificate failed.
    #[error("certificate generation failed: {0}")]
    Generation(String),

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying IO error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
