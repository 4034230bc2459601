//! The crate's one error type: why the server could not start, reload or refresh its TLS
//! configuration. Request failures never appear here: kes-core answers every request.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server shell failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line is invalid (the message says how).
    #[error("{0}")]
    Usage(String),

    /// The configuration file could not be read.
    #[error("failed to read config file '{}': {source}", path.display())]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The configuration is invalid, or kes-core rejected it (policies, identities,
    /// declarative keys). The message is KES's where KES has one.
    #[error("{0}")]
    Core(#[from] kes_core::Error),

    /// A TLS file (certificate, private key, CA) could not be read or parsed.
    #[error("invalid TLS config: {what} '{}': {source}", path.display())]
    TlsFile {
        /// Which file (`certificate`, `private key`, `CA`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: kes_policy::Error,
    },

    /// The TLS material is unusable (no SAN, key does not match the certificate, no roots to
    /// verify client certificates against, ...).
    #[error("{0}")]
    Tls(String),

    /// The configured keystore could not be opened.
    #[error("failed to open keystore: {0}")]
    Keystore(String),

    /// The configuration chooses a keystore this build does not contain.
    #[error(
        "keystore '{section}' is not available in this build of kes-server: rebuild it with \
         the cargo feature '{feature}' (cargo build --features {feature})"
    )]
    BackendNotCompiled {
        /// The config section, e.g. `keystore.vault`.
        section: &'static str,
        /// The cargo feature that provides it.
        feature: &'static str,
    },

    /// The listen socket could not be opened.
    #[error("failed to listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Dev-mode credentials could not be generated.
    #[error("failed to generate dev-mode credentials: {0}")]
    Dev(#[source] kes_policy::Error),

    /// A file or OS operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
