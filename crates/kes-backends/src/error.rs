//! The one error type of this crate: why the keystore a configuration names could not be
//! opened.

use std::path::PathBuf;

/// The error of a backend crate, kept as the source of [`Error::Open`].
pub(crate) type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`crate::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration names a backend this build does not contain.
    #[error(
        "keystore '{}' needs the cargo feature '{feature}'",
        section.strip_prefix("keystore.").unwrap_or(section)
    )]
    NotCompiled {
        /// The config section, e.g. `keystore.aws.secretsmanager`.
        section: &'static str,
        /// The cargo feature (of kes-backends, kes-server and kes-cli) that provides it.
        feature: &'static str,
    },

    /// The configuration names a keystore kind this crate does not know (a newer kes-core).
    #[error("keystore '{section}' is not supported")]
    Unsupported {
        /// The config section.
        section: &'static str,
    },

    /// The backend's configuration is invalid: the backend's `validate()` message (KES's
    /// wording without the loader's `kesconf: ` prefix).
    #[error("{0}")]
    Config(String),

    /// The master key file of a sealed filesystem store could not be read or parsed.
    #[error("failed to read the seal key file '{}': {source}", path.display())]
    SealKeyFile {
        /// The file (`keystore.fs.seal.key_file`).
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: kes_keystore::Error,
    },

    /// The store could not be opened, reached or logged in to; the message is the
    /// backend's.
    #[error("{source}")]
    Open {
        /// The backend (`fs`, `vault`, `aws`, …, as `KeyStoreConfig::kind`).
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: Source,
    },
}

impl Error {
    /// An [`Error::Open`] of `backend`.
    pub(crate) fn open(
        backend: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Open {
            backend,
            source: Box::new(source),
        }
    }
}
