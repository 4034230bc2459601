//! kes-server: the IO shell around the runtime-free [`kes_core::Server`].
//!
//! kes-core decides every request; this crate owns everything that touches the outside world
//! (the quinn / quinn-proto split):
//!
//! * [`tls`]: rustls with the ring provider, TLS 1.2 and 1.3, ALPN `h2` + `http/1.1`, and KES's
//!   client-certificate modes: any certificate with proof of possession
//!   ([`tls::AcceptAnyClientCert`]), verified chains for `tls.auth: on`, optional
//!   certificates when a route has `skip_auth`.
//! * [`serve`]: hyper HTTP/1.1 and HTTP/2 over those connections, with KES's timeouts
//!   (handshake and header 5 s, idle 90 s, per-route response deadlines), body limits
//!   enforced while reading, and graceful shutdown.
//! * [`keystore`]: opens the keystore the configuration names through `kes-backends`
//!   (filesystem and sealed filesystem always; Vault, AWS, GCP, Azure, CipherTrust, Fortanix
//!   and Entrust behind cargo features of the same names).
//! * [`instance`]: a running server — start, SIGHUP reload of the whole configuration, the
//!   15-minute TLS re-read, the cache tick, shutdown.
//! * [`dev`], [`banner`], [`mlock`], [`sink`], [`stats`], [`cli`]: `--dev` mode, the start-up
//!   banner, best-effort `mlockall`, audit/error lines on stdout/stderr in KES's format,
//!   process statistics and the command line.
//!
//! [`run`] is the whole server as the binary runs it; `main.rs` only parses arguments, sets
//! up logging and the runtime, and maps errors to exit codes.

pub mod banner;
pub mod cli;
pub mod dev;
mod error;
pub mod instance;
pub mod keystore;
pub mod mlock;
pub mod serve;
pub mod sink;
pub mod stats;
pub mod tls;

pub use error::Error;
pub use instance::Instance;

use crate::mlock::MlockStatus;
use crate::serve::HttpSettings;
use crate::sink::{write_stderr, write_stdout};

/// Runs the server until SIGINT or SIGTERM, reloading the configuration on SIGHUP, with KES's
/// console messages (spec §12.2).
///
/// # Errors
/// The server could not start (the reason is printed by the caller).
pub async fn run(options: cli::Options) -> Result<(), Error> {
    let mut signals = Signals::new()?;
    for flag in &options.ignored {
        write_stderr(&format!(
            "WARNING: '{flag}' is deprecated and ignored: use the config file instead"
        ));
    }
    let mlock = mlock::lock_memory();
    if let MlockStatus::Failed(e) = &mlock {
        tracing::warn!(
            "failed to lock memory (mlockall): {e}; secrets may be swapped to disk \
             (grant CAP_IPC_LOCK to enable it)"
        );
    }
    let instance = Instance::start(&options, HttpSettings::default(), mlock).await?;
    write_stdout(&instance.banner());
    write_stdout("");
    write_stdout("=> Server is up and running...");
    while let Signal::Hangup = signals.next().await {
        write_stderr("SIGHUP signal received. Reloading configuration...");
        match instance.reload().await {
            Ok(()) => {
                instance.flush_logs();
                write_stdout(&instance.banner());
                write_stdout("");
                write_stdout("=> Reloading configuration after SIGHUP signal completed.");
            }
            Err(e) => write_stderr(&format!("Failed to reload server config: {e}")),
        }
    }
    instance.flush_logs();
    write_stdout("=> Stopping server... Goodbye.");
    instance.shutdown(instance::SHUTDOWN_GRACE).await;
    Ok(())
}

enum Signal {
    Hangup,
    Stop,
}

#[cfg(unix)]
struct Signals {
    hangup: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Result<Self, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        let install =
            |kind| signal(kind).map_err(|e| Error::io("failed to install a signal handler", e));
        Ok(Self {
            hangup: install(SignalKind::hangup())?,
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.hangup.recv() => Signal::Hangup,
            _ = self.interrupt.recv() => Signal::Stop,
            _ = self.terminate.recv() => Signal::Stop,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Result<Self, Error> {
        Ok(Self)
    }

    async fn next(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Stop
    }
}
