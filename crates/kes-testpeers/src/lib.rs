//! Test support for kes-rs: real peer servers on loopback, and throwaway PKI.
//!
//! * [`rusty_vault`] finds (or builds, once, under a file lock) the RustyVault binary
//!   `rvault`, starts it on a free loopback port with a temporary config and data directory,
//!   initialises and unseals it, mounts a KV engine and enables AppRole, and kills it on drop.
//!   The server, CLI and keystore tests all use it, so it lives in its own crate.
//! * [`moto`] starts moto (`moto_server`, an AWS-API server: Secrets Manager, KMS, IAM, STS)
//!   on a free loopback port, optionally with signature checking and an IAM user's key, makes
//!   SigV4-signed calls to it, and kills it on drop.
//! * [`pki`] writes a CA, a server certificate for `127.0.0.1`/`localhost` and a client
//!   certificate into a directory, for TLS and mTLS tests.
//!
//! Peers are looked up under `$KES_PEERS_DIR` (default `$HOME/.cache/kes-rs-peers`).
//! Nothing here is silently skipped: when a peer cannot be found or built, the call fails
//! with an error that says what to do.
//!
//! This crate is for tests only (`publish = false`). It blocks the calling thread while it
//! talks to a peer, which is fine inside a test, also inside an async test.

pub mod fake_http;
mod http;
pub mod moto;
pub mod pki;
pub mod rusty_vault;

use std::path::PathBuf;

pub use moto::Moto;
pub use pki::Pki;
pub use rusty_vault::{AppRoleCredentials, RustyVault};

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a peer could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer binary is missing and building it failed.
    #[error("{0}")]
    Build(String),

    /// The peer process could not be started or did not become ready.
    #[error("{0}")]
    Start(String),

    /// The peer answered an API call unexpectedly.
    #[error("{0}")]
    Api(String),

    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Generating certificates failed.
    #[error("certificate generation failed: {0}")]
    Pki(String),
}

impl Error {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The directory that caches peer binaries: `$KES_PEERS_DIR`, or
/// `$HOME/.cache/kes-rs-peers` when it is unset.
pub fn peers_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KES_PEERS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("kes-rs-peers")
}

/// Stops a server process the way an operator would: SIGTERM, so it can clean up (kes-server's
/// dev mode removes its directory with the admin key's private key), then SIGKILL if it is
/// still running after `grace`. Reaps the child either way.
pub fn stop(child: &mut std::process::Child, grace: std::time::Duration) {
    let _ = std::process::Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
