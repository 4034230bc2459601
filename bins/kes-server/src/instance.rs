//! A running server: configuration in, listener, background tasks, reload and shutdown.
//!
//! [`Instance::start`] loads the configuration (or generates the dev-mode material), opens the
//! keystore, builds the TLS configuration and the [`kes_core::Server`], creates the
//! declarative keys and starts listening; [`Instance::builder`] does the same with the
//! settings that are not part of the configuration file spelled out one by one. Three kinds of
//! tasks run until [`Instance::shutdown`]: the accept loop (one task per connection), a
//! one-second tick that drives the key cache's expiry and offline probe, and the periodic
//! re-read of the TLS files (every [`TLS_REFRESH_INTERVAL`], 15 minutes, unless
//! [`InstanceBuilder::tls_refresh_interval`] says otherwise).
//!
//! [`Instance::reload`] (SIGHUP) builds everything again from the file — TLS, policies,
//! keystore, cache — and swaps it in only when all of it succeeded: a broken file leaves the
//! running configuration untouched. Open connections stay up; requests in flight finish on
//! the configuration they started with, and new handshakes use the new TLS settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use kes_core::config::{Config, LogConfig, TlsAuth};
use kes_core::{Clock, Server, ServerEnv, ServerOptions, VersionInfo};
use kes_keystore::MemKeyStore;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::banner::{Banner, DevBanner};
use crate::cli::{self, Mode};
use crate::dev::DevCredentials;
use crate::mlock::MlockStatus;
use crate::serve::{self, ConnTracker, HttpSettings, Listener};
use crate::sink::{StdioSink, write_stderr};
use crate::stats::ProcStats;
use crate::tls::{self, ClientAuth, Fingerprint, ServerCredentials, TlsFiles, TlsOptions};
use crate::{Error, keystore};

/// How long [`Instance::shutdown`] waits for open connections by default.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often the TLS files are read again by default (spec §1.1); see
/// [`InstanceBuilder::tls_refresh_interval`].
pub const TLS_REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// How often [`Server::tick`] runs.
const TICK_INTERVAL: Duration = Duration::from_secs(1);

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The process environment, for `${VAR}` references and the Vault client's `VAULT_*`
/// defaults.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

enum Source {
    File(PathBuf),
    Dev(DevCredentials),
}

/// The parts of the configuration the shell keeps.
struct Snapshot {
    log: LogConfig,
    /// `None` in dev mode (the certificate lives in memory).
    tls_files: Option<TlsFiles>,
    fingerprint: Option<Fingerprint>,
    /// The configured address (before `--addr`).
    address: SocketAddr,
}

struct Inner {
    server: Arc<Server>,
    tls: Arc<ArcSwap<ServerConfig>>,
    source: Source,
    snapshot: Mutex<Snapshot>,
    /// Serializes reloads and TLS refreshes.
    reload_lock: tokio::sync::Mutex<()>,
    error_level: Arc<AtomicI32>,
    mlock: MlockStatus,
}

/// A configuration turned into the pieces a server runs with.
struct Prepared {
    options: ServerOptions,
    tls: Arc<ServerConfig>,
    snapshot: Snapshot,
}

/// A running server.
pub struct Instance {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    conns: Arc<ConnTracker>,
    accept: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    sink: StdioSink,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("local_addr", &self.local_addr)
            .field("server", &self.inner.server)
            .finish_non_exhaustive()
    }
}

/// Starts an [`Instance`] with settings that are not part of the configuration file; made by
/// [`Instance::builder`].
///
/// ```no_run
/// # async fn f(options: &kes_server::cli::Options) -> Result<(), kes_server::Error> {
/// use std::time::Duration;
/// let instance = kes_server::Instance::builder(options)
///     .mlock(kes_server::mlock::lock_memory())
///     .tls_refresh_interval(Duration::from_secs(60))
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an InstanceBuilder does nothing until `start` is called"]
pub struct InstanceBuilder<'a> {
    options: &'a cli::Options,
    http: HttpSettings,
    mlock: MlockStatus,
    tls_refresh_interval: Duration,
}

impl InstanceBuilder<'_> {
    /// Connection-level timeouts (default: [`HttpSettings::default`]).
    pub fn http_settings(mut self, settings: HttpSettings) -> Self {
        self.http = settings;
        self
    }

    /// The outcome of [`crate::mlock::lock_memory`], for the banner. The builder does not
    /// lock memory itself; the default is [`MlockStatus::Unsupported`].
    pub fn mlock(mut self, status: MlockStatus) -> Self {
        self.mlock = status;
        self
    }

    /// How often the TLS files (`tls.cert`, `tls.key`, `tls.ca`) are read again; new
    /// handshakes use them when they changed and are valid, and a failed read is reported
    /// on stderr and keeps the current TLS configuration. Default [`TLS_REFRESH_INTERVAL`]
    /// (15 minutes); [`Duration::ZERO`] turns the re-read off. Dev mode has no TLS files and
    /// never re-reads.
    pub fn tls_refresh_interval(mut self, interval: Duration) -> Self {
        self.tls_refresh_interval = interval;
        self
    }

    /// Loads the configuration, opens the keystore, builds the server, creates the
    /// declarative keys and starts listening.
    ///
    /// # Errors
    /// Anything that keeps the server from starting, with a message for the operator.
    pub async fn start(self) -> Result<Instance, Error> {
        Instance::start_with(self).await
    }
}

impl Instance {
    /// A builder for an instance of `options`, with the default HTTP settings and TLS
    /// re-read interval.
    pub fn builder(options: &cli::Options) -> InstanceBuilder<'_> {
        InstanceBuilder {
            options,
            http: HttpSettings::default(),
            mlock: MlockStatus::Unsupported,
            tls_refresh_interval: TLS_REFRESH_INTERVAL,
        }
    }

    /// Loads the configuration, opens the keystore, builds the server, creates the
    /// declarative keys and starts listening; the TLS files are re-read every
    /// [`TLS_REFRESH_INTERVAL`]. Short for [`Instance::builder`] with `settings` and `mlock`.
    ///
    /// # Errors
    /// Anything that keeps the server from starting, with a message for the operator.
    pub async fn start(
        options: &cli::Options,
        settings: HttpSettings,
        mlock: MlockStatus,
    ) -> Result<Self, Error> {
        Self::builder(options)
            .http_settings(settings)
            .mlock(mlock)
            .start()
            .await
    }

    async fn start_with(builder: InstanceBuilder<'_>) -> Result<Self, Error> {
        let InstanceBuilder {
            options,
            http: settings,
            mlock,
            tls_refresh_interval,
        } = builder;
        let (prepared, source) = match &options.mode {
            Mode::Config(path) => (prepare_file(path).await?, Source::File(path.clone())),
            Mode::Dev => {
                let addr = options.addr.unwrap_or(cli::DEFAULT_ADDR);
                let dev = DevCredentials::generate(addr)?;
                (prepare_dev(&dev)?, Source::Dev(dev))
            }
        };
        let addr = options.addr.unwrap_or(prepared.snapshot.address);

        let sink = StdioSink::new().map_err(|e| Error::io("failed to start the log writer", e))?;
        let mut env = ServerEnv::new(Arc::new(SystemClock));
        env.sink = Arc::new(sink.clone());
        env.stats = Arc::new(ProcStats);
        env.version = VersionInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: option_env!("KES_BUILD_COMMIT")
                .unwrap_or("<unknown>")
                .to_owned(),
        };
        let now = SystemTime::now();
        let server = Arc::new(Server::new(prepared.options, env, now)?);
        server.start(now).await?;

        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("failed to read the listen address", e))?;

        let error_level = Arc::new(AtomicI32::new(prepared.snapshot.log.error.0));
        let inner = Arc::new(Inner {
            server: server.clone(),
            tls: Arc::new(ArcSwap::new(prepared.tls)),
            source,
            snapshot: Mutex::new(prepared.snapshot),
            reload_lock: tokio::sync::Mutex::new(()),
            error_level: error_level.clone(),
            mlock,
        });
        let (stop, stop_rx) = watch::channel(false);
        let conns = Arc::new(ConnTracker::default());
        let shared = Arc::new(Listener {
            server: server.clone(),
            tls: inner.tls.clone(),
            settings,
            shutdown: stop_rx,
            conns: conns.clone(),
            error_level,
        });
        let accept = tokio::spawn(serve::accept_loop(listener, shared));

        let mut background = vec![tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                server.tick(SystemTime::now()).await;
            }
        })];
        if matches!(inner.source, Source::File(_)) && !tls_refresh_interval.is_zero() {
            let inner = inner.clone();
            background.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(tls_refresh_interval).await;
                    match inner.refresh_tls().await {
                        Ok(true) => tracing::info!("TLS files changed: new TLS configuration"),
                        Ok(false) => tracing::debug!("TLS files unchanged"),
                        Err(e) => write_stderr(&format!(
                            "Failed to reload TLS configuration: {e} (keeping the current one)"
                        )),
                    }
                }
            }));
        }
        Ok(Self {
            inner,
            local_addr,
            stop,
            conns,
            accept,
            background,
            sink,
        })
    }

    /// The address the server listens on (with the actual port when the configured one is 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server core (for tests and embedding).
    pub fn server(&self) -> &Arc<Server> {
        &self.inner.server
    }

    /// Number of open connections.
    pub fn open_connections(&self) -> usize {
        self.conns.open()
    }

    /// Writes the audit and error lines that are still buffered.
    pub fn flush_logs(&self) {
        self.sink.flush();
    }

    /// The start-up banner for the current configuration.
    pub fn banner(&self) -> String {
        let snapshot = self.inner.snapshot();
        let api_key = match &self.inner.source {
            Source::Dev(dev) => Some(dev.api_key.expose_secret()),
            Source::File(_) => None,
        };
        let (client_cert, client_key, server_cert) = match &self.inner.source {
            Source::Dev(dev) => (dev.client_cert(), dev.client_key(), dev.server_cert()),
            Source::File(_) => Default::default(),
        };
        Banner {
            keystore: self.inner.server.keystore_description(),
            addr: self.local_addr,
            admin: self.inner.server.admin(),
            dev: api_key.as_ref().map(|key| DevBanner {
                api_key: key.as_str(),
                client_cert: &client_cert,
                client_key: &client_key,
                server_cert: &server_cert,
            }),
            error_level: snapshot.log.error,
            audit_level: snapshot.log.audit,
            mlock: &self.inner.mlock,
        }
        .render()
    }

    /// Reloads the configuration file: TLS, policies, keystore, cache, API settings and
    /// declarative keys. Either all of it takes effect or none.
    ///
    /// The listen address cannot change while running; a changed `address` is reported and
    /// takes effect at the next start.
    ///
    /// # Errors
    /// The new configuration is invalid or its keystore cannot be opened (the running one
    /// stays), or the server runs in dev mode.
    pub async fn reload(&self) -> Result<(), Error> {
        let Source::File(path) = &self.inner.source else {
            return Err(Error::Usage(
                "a --dev server has no configuration file to reload".into(),
            ));
        };
        let _guard = self.inner.reload_lock.lock().await;
        let prepared = prepare_file(path).await?;
        self.inner
            .server
            .reload(prepared.options, SystemTime::now())
            .await?;
        self.inner.tls.store(prepared.tls);
        self.inner
            .error_level
            .store(prepared.snapshot.log.error.0, Ordering::Relaxed);
        let old = std::mem::replace(&mut *self.inner.snapshot(), prepared.snapshot);
        let new_address = self.inner.snapshot().address;
        if old.address != new_address {
            write_stderr(&format!(
                "WARNING: the address changed from {} to {new_address}; it takes effect at the next start",
                old.address
            ));
        }
        Ok(())
    }

    /// Reads the TLS files again and switches to them if they changed (what the timer does
    /// every [`InstanceBuilder::tls_refresh_interval`]). Returns whether the TLS
    /// configuration changed.
    ///
    /// # Errors
    /// The files are unreadable or invalid; the current TLS configuration stays.
    pub async fn refresh_tls(&self) -> Result<bool, Error> {
        self.inner.refresh_tls().await
    }

    /// Stops accepting connections, shuts open connections down gracefully (in-flight
    /// requests finish, log streams end, idle keep-alive connections close) and waits up to
    /// `grace` for them.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        if tokio::time::timeout(grace, self.conns.wait_closed())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} connections still open after {grace:?}; closing them",
                self.conns.open()
            );
        }
        for task in &self.background {
            task.abort();
        }
        self.sink.flush();
    }
}

impl Inner {
    fn snapshot(&self) -> MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn refresh_tls(&self) -> Result<bool, Error> {
        let _guard = self.reload_lock.lock().await;
        let (files, fingerprint) = {
            let s = self.snapshot();
            match &s.tls_files {
                Some(files) => (files.clone(), s.fingerprint),
                None => return Ok(false),
            }
        };
        let (options, new_fingerprint) = files.load()?;
        if Some(new_fingerprint) == fingerprint {
            return Ok(false);
        }
        let config = tls::server_config(&options)?;
        self.tls.store(config);
        self.snapshot().fingerprint = Some(new_fingerprint);
        Ok(true)
    }
}

/// Reads and validates a configuration file and builds everything it describes.
async fn prepare_file(path: &Path) -> Result<Prepared, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
        path: path.to_owned(),
        source,
    })?;
    let loaded = kes_core::config::load(&text, &process_env)?;
    for warning in &loaded.warnings {
        write_stderr(&format!("WARNING: {warning}"));
    }
    prepare_config(&loaded.config).await
}

async fn prepare_config(config: &Config) -> Result<Prepared, Error> {
    let tls_files = TlsFiles::from_config(&config.tls);
    let (tls_options, fingerprint) = tls_files.load()?;
    let tls = tls::server_config(&tls_options)?;
    let store = keystore::open(&config.keystore, &process_env).await?;
    let mut options = config.server_options(store);
    if config.tls.auth == TlsAuth::On {
        if let Some(proxy) = options.proxy.as_mut() {
            proxy.verifier = Some(tls::forwarded_cert_verifier(&tls_options.ca)?);
        }
    }
    Ok(Prepared {
        options,
        tls,
        snapshot: Snapshot {
            log: config.log,
            tls_files: Some(tls_files),
            fingerprint: Some(fingerprint),
            address: config.address.socket_addr(),
        },
    })
}

fn prepare_dev(dev: &DevCredentials) -> Result<Prepared, Error> {
    let tls = tls::server_config(&TlsOptions {
        credentials: ServerCredentials::from_generated(&dev.server)?,
        client_auth: ClientAuth::RequireAny,
        ca: Vec::new(),
    })?;
    let options = ServerOptions::new(
        dev.api_key.identity().as_str(),
        Arc::new(MemKeyStore::new()),
    );
    Ok(Prepared {
        options,
        tls,
        snapshot: Snapshot {
            log: LogConfig::default(),
            tls_files: None,
            fingerprint: None,
            address: cli::DEFAULT_ADDR,
        },
    })
}
