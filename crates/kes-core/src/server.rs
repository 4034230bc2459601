//! The server: an atomically swapped immutable `State` snapshot plus the process-wide parts
//! (metrics, log streams, injected environment).
//!
//! **Invariant: no lock on the request path for configuration.** A request loads the current
//! snapshot once (`ArcSwap::load_full`, one atomic increment) and uses it until it finishes;
//! [`Server::reload`] builds a complete new snapshot and swaps it in, so in-flight requests
//! finish on the configuration they started with.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use kes_crypto::{KeyAlgorithm, KeyVersion};
use kes_keystore::{CacheConfig, KeyCache, KeyStore};
use kes_policy::{Identity, Matcher, Policy, PolicySet};

use crate::env::{Clock, ForwardedCertVerifier, StdSystemStats, SystemStats, VersionInfo};
use crate::error::Error;
use crate::events::{EventSink, Level, NoopSink};
use kes_types::route::{AuthMode, DEFAULT_ROUTES, Route};

use crate::http::{Request, Response, RouteInfo};
use crate::logs::LogHub;
use crate::metrics::Metrics;
use crate::{RequestContext, api};

/// Default name of the TLS-proxy forwarded-certificate header.
pub const DEFAULT_PROXY_CERT_HEADER: &str = "X-Tls-Client-Cert";

/// One policy of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyOptions {
    /// Policy name (must satisfy the name rule).
    pub name: String,
    /// Allow patterns.
    pub allow: Vec<String>,
    /// Deny patterns.
    pub deny: Vec<String>,
    /// Identities assigned to the policy.
    pub identities: Vec<String>,
    /// Evaluate the patterns with the legacy glob matcher (policies from `paths:` or
    /// pre-2023-10 configs).
    pub legacy: bool,
}

impl PolicyOptions {
    /// A policy with the current matcher.
    pub fn new<A, D, I>(name: impl Into<String>, allow: A, deny: D, identities: I) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        D: IntoIterator,
        D::Item: Into<String>,
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            name: name.into(),
            allow: allow.into_iter().map(Into::into).collect(),
            deny: deny.into_iter().map(Into::into).collect(),
            identities: identities.into_iter().map(Into::into).collect(),
            legacy: false,
        }
    }
}

/// A per-route override from the `api:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiOverride {
    /// The exact route path, e.g. `/v1/status` or `/v1/key/create/`. Unknown paths are ignored.
    pub path: String,
    /// A new timeout (`None` or zero keeps the default).
    pub timeout: Option<Duration>,
    /// Serve the route without authentication (only `/v1/ready`, `/v1/status`, `/v1/metrics`
    /// and `/v1/api`; spec §2.2 rec).
    pub skip_auth: bool,
}

impl ApiOverride {
    /// An override for `path`.
    pub fn new(path: impl Into<String>, timeout: Option<Duration>, skip_auth: bool) -> Self {
        Self {
            path: path.into(),
            timeout,
            skip_auth,
        }
    }
}

/// TLS-proxy settings (`tls.proxy`, spec §2.4).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ProxyOptions {
    /// Identities of the trusted proxies.
    pub identities: Vec<String>,
    /// Header carrying the forwarded client certificate (empty = `X-Tls-Client-Cert`).
    pub cert_header: String,
    /// Chain verification of forwarded certificates (`tls.auth: on`); `None` = accept any.
    pub verifier: Option<Arc<dyn ForwardedCertVerifier>>,
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyOptions")
            .field("identities", &self.identities)
            .field("cert_header", &self.cert_header)
            .field("verifier", &self.verifier.is_some())
            .finish()
    }
}

impl ProxyOptions {
    /// Proxy settings for `identities` with the default header and no chain verification.
    pub fn new<I>(identities: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            identities: identities.into_iter().map(Into::into).collect(),
            cert_header: String::new(),
            verifier: None,
        }
    }
}

/// The reloadable configuration of a [`Server`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The admin identity as configured; a value that is not hex (e.g. `disabled`) disables
    /// admin access.
    pub admin: String,
    /// Where keys live.
    pub keystore: Arc<dyn KeyStore>,
    /// Policies and their identities.
    pub policies: Vec<PolicyOptions>,
    /// Per-route overrides.
    pub api: Vec<ApiOverride>,
    /// Key-cache expiry (defaults: any 5 m, unused 30 s, offline 0 = disabled).
    pub cache: CacheConfig,
    /// Keys created at start-up and on reload if missing.
    pub keys: Vec<String>,
    /// TLS proxies.
    pub proxy: Option<ProxyOptions>,
    /// `log.error` level (default `INFO`).
    pub error_level: Level,
    /// `log.audit` level (default `INFO`).
    pub audit_level: Level,
    /// Type of keys created by `/v1/key/create` and declarative keys (default AES256).
    pub key_algorithm: KeyAlgorithm,
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("admin", &self.admin)
            .field("keystore", &self.keystore.describe())
            .field("policies", &self.policies)
            .field("api", &self.api)
            .field("cache", &self.cache)
            .field("keys", &self.keys)
            .field("proxy", &self.proxy)
            .field("error_level", &self.error_level)
            .field("audit_level", &self.audit_level)
            .field("key_algorithm", &self.key_algorithm)
            .finish()
    }
}

impl ServerOptions {
    /// Options with every default: no policies, no overrides, default cache, no declarative
    /// keys, no proxy, both logs at `INFO`, AES256 keys.
    pub fn new(admin: impl Into<String>, keystore: Arc<dyn KeyStore>) -> Self {
        Self {
            admin: admin.into(),
            keystore,
            policies: Vec::new(),
            api: Vec::new(),
            cache: CacheConfig::default(),
            keys: Vec::new(),
            proxy: None,
            error_level: Level::INFO,
            audit_level: Level::INFO,
            key_algorithm: KeyAlgorithm::Aes256,
        }
    }
}

/// The process-wide, non-reloadable parts a [`Server`] needs from its host.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerEnv {
    /// Measures response times (audit records, histogram).
    pub clock: Arc<dyn Clock>,
    /// Receives audit and error events.
    pub sink: Arc<dyn EventSink>,
    /// Process statistics.
    pub stats: Arc<dyn SystemStats>,
    /// Build information.
    pub version: VersionInfo,
}

impl fmt::Debug for ServerEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerEnv")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ServerEnv {
    /// An environment with `clock`, no event sink, std-only statistics and unknown version.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            sink: Arc::new(NoopSink),
            stats: Arc::new(StdSystemStats),
            version: VersionInfo::default(),
        }
    }
}

/// TLS-proxy settings, validated.
pub(crate) struct Proxy {
    pub(crate) identities: HashSet<Identity>,
    pub(crate) header: String,
    pub(crate) verifier: Option<Arc<dyn ForwardedCertVerifier>>,
}

/// One immutable configuration snapshot.
pub(crate) struct State {
    pub(crate) routes: Vec<Route>,
    pub(crate) patterns: Vec<&'static str>,
    /// The admin identity as configured (listed and described even when disabled).
    pub(crate) admin_text: String,
    /// The admin identity when admin access is enabled (the text is hex).
    pub(crate) admin: Option<Identity>,
    pub(crate) policies: PolicySet,
    pub(crate) proxy: Option<Proxy>,
    pub(crate) cache: KeyCache<KeyVersion>,
    pub(crate) keys: Vec<String>,
    pub(crate) error_level: Level,
    pub(crate) audit_level: Level,
    pub(crate) key_algorithm: KeyAlgorithm,
    /// When this snapshot was built: `created_at` of policies and identities.
    pub(crate) created_at: SystemTime,
    pub(crate) optional_client_certs: bool,
    /// Maps request times (`SystemTime`) onto the cache's `Instant` clock.
    pub(crate) anchor: (Instant, SystemTime),
}

impl State {
    fn build(
        opts: ServerOptions,
        now: SystemTime,
        anchor: (Instant, SystemTime),
    ) -> Result<Self, Error> {
        if opts.admin.is_empty() {
            return Err(Error::NoAdmin);
        }
        let admin = Identity::try_from(opts.admin.clone())
            .ok()
            .filter(Identity::is_hex);

        let proxy = match opts.proxy {
            None => None,
            Some(p) => {
                let mut identities = HashSet::new();
                for id in p.identities {
                    if id == opts.admin {
                        return Err(Error::ProxyIsAdmin(id));
                    }
                    let id =
                        Identity::try_from(id.clone()).map_err(|_| Error::InvalidIdentity(id))?;
                    identities.insert(id);
                }
                let header = if p.cert_header.is_empty() {
                    DEFAULT_PROXY_CERT_HEADER.to_owned()
                } else {
                    p.cert_header
                };
                Some(Proxy {
                    identities,
                    header,
                    verifier: p.verifier,
                })
            }
        };

        let mut policies = PolicySet::new();
        for p in opts.policies {
            let mut identities = Vec::with_capacity(p.identities.len());
            for id in &p.identities {
                if *id == opts.admin {
                    return Err(Error::PolicyIdentityIsAdmin {
                        policy: p.name.clone(),
                        identity: id.clone(),
                    });
                }
                let identity = Identity::try_from(id.clone())
                    .map_err(|_| Error::InvalidIdentity(id.clone()))?;
                if proxy
                    .as_ref()
                    .is_some_and(|px| px.identities.contains(&identity))
                {
                    return Err(Error::PolicyIdentityIsProxy {
                        policy: p.name.clone(),
                        identity: id.clone(),
                    });
                }
                identities.push(identity);
            }
            let matcher = if p.legacy {
                Matcher::Legacy
            } else {
                Matcher::Current
            };
            let policy = Policy::with_matcher(p.allow, p.deny, matcher);
            policies
                .insert(&p.name, policy, identities)
                .map_err(Error::Policy)?;
        }

        let mut table = DEFAULT_ROUTES.to_vec();
        for o in &opts.api {
            let Some(route) = table.iter_mut().find(|r| r.path == o.path) else {
                continue; // KES ignores overrides for unknown paths
            };
            if let Some(t) = o.timeout.filter(|t| !t.is_zero()) {
                route.timeout = t;
            }
            if o.skip_auth {
                if !route.api.skip_auth_allowed() {
                    return Err(Error::SkipAuthNotAllowed(o.path.clone()));
                }
                route.auth = AuthMode::Identify;
            }
        }
        let optional_client_certs = opts
            .api
            .iter()
            .any(|o| o.skip_auth && table.iter().any(|r| r.path == o.path));
        let patterns = table.iter().map(|r| r.path).collect();

        let cache = KeyCache::new(
            opts.keystore,
            opts.cache,
            to_instant(anchor, now),
            |name: &str, value: &[u8]| {
                KeyVersion::parse(value).map_err(|e| kes_keystore::Error::InvalidValue {
                    name: name.to_owned(),
                    reason: e.to_string(),
                })
            },
        );

        Ok(Self {
            routes: table,
            patterns,
            admin_text: opts.admin,
            admin,
            policies,
            proxy,
            cache,
            keys: opts.keys,
            error_level: opts.error_level,
            audit_level: opts.audit_level,
            key_algorithm: opts.key_algorithm,
            created_at: now,
            optional_client_certs,
            anchor,
        })
    }

    /// The cache clock reading for a request time.
    pub(crate) fn instant(&self, t: SystemTime) -> Instant {
        to_instant(self.anchor, t)
    }
}

/// Maps `t` onto the monotonic clock of the key cache: `anchor.0` corresponds to `anchor.1`;
/// times before the anchor map to the anchor.
fn to_instant(anchor: (Instant, SystemTime), t: SystemTime) -> Instant {
    let offset = t.duration_since(anchor.1).unwrap_or(Duration::ZERO);
    anchor.0.checked_add(offset).unwrap_or(anchor.0)
}

/// Process-wide parts shared by every snapshot.
pub(crate) struct Shared {
    pub(crate) env: ServerEnv,
    pub(crate) metrics: Metrics,
    pub(crate) logs: Arc<LogHub>,
    pub(crate) started_at: SystemTime,
    anchor: (Instant, SystemTime),
}

/// A KES server without IO. See the [crate docs](crate) for how a shell drives it.
pub struct Server {
    pub(crate) state: ArcSwap<State>,
    pub(crate) shared: Shared,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("keystore", &self.keystore_description())
            .field("admin", &self.admin())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates `opts` and builds the first snapshot; `now` is the server start time.
    ///
    /// # Errors
    /// A configuration the server cannot run with: empty admin, invalid policy or identity
    /// names, an identity in two policies, the admin or a proxy in a policy, `skip_auth` on a
    /// route other than `/v1/ready`, `/v1/status`, `/v1/metrics`, `/v1/api`.
    pub fn new(opts: ServerOptions, env: ServerEnv, now: SystemTime) -> Result<Self, Error> {
        // The cache needs a monotonic clock origin; the only clock read in this crate, and it
        // only fixes where `now` lies on the `Instant` axis.
        #[allow(clippy::disallowed_methods)]
        let anchor = (Instant::now(), now);
        let state = State::build(opts, now, anchor)?;
        Ok(Self {
            state: ArcSwap::from_pointee(state),
            shared: Shared {
                env,
                metrics: Metrics::new()?,
                logs: LogHub::new(),
                started_at: now,
                anchor,
            },
        })
    }

    /// Creates the declarative keys of the current configuration that do not exist yet
    /// (creator = admin identity; "already exists" is fine).
    ///
    /// # Errors
    /// [`Error::DeclarativeKey`] for any other keystore error.
    pub async fn start(&self, now: SystemTime) -> Result<(), Error> {
        let state = self.state.load_full();
        create_declarative_keys(&state, now).await
    }

    /// Validates `opts`, builds a new snapshot (with a new key cache), creates its declarative
    /// keys and swaps it in. On error the running configuration stays.
    ///
    /// # Errors
    /// As [`Server::new`] and [`Server::start`].
    pub async fn reload(&self, opts: ServerOptions, now: SystemTime) -> Result<(), Error> {
        let state = State::build(opts, now, self.shared.anchor)?;
        create_declarative_keys(&state, now).await?;
        self.state.store(Arc::new(state));
        Ok(())
    }

    /// Limits of the route `raw_path` resolves to, for the shell to apply before reading the
    /// body.
    pub fn route(&self, method: &str, raw_path: &str) -> RouteInfo {
        let _ = method;
        let state = self.state.load();
        match crate::router::resolve(&state.patterns, raw_path, None) {
            crate::router::Resolution::Route { index, .. } => match state.routes.get(index) {
                Some(r) => RouteInfo::of(r),
                None => RouteInfo::unknown(),
            },
            _ => RouteInfo::unknown(),
        }
    }

    /// `true` when some route has `skip_auth`: the TLS layer must then request, not require,
    /// client certificates.
    pub fn needs_optional_client_certs(&self) -> bool {
        self.state.load().optional_client_certs
    }

    /// Answers one request. Every failure is an HTTP response; nothing panics.
    ///
    /// The future is the whole request's state (about 1 KiB, see `api::handle`); shells box
    /// it once per request.
    pub fn handle(
        &self,
        ctx: RequestContext,
        req: Request,
    ) -> impl Future<Output = Response> + Send + '_ {
        api::handle(self, ctx, req)
    }

    /// [`Server::handle`] for a server behind an `Arc`: the future owns it, so a shell can box
    /// or spawn it without a wrapper future of its own (which would hold the request and its
    /// context a second time).
    pub fn handle_arc(
        self: Arc<Self>,
        ctx: RequestContext,
        req: Request,
    ) -> impl Future<Output = Response> + Send + 'static {
        api::handle(self, ctx, req)
    }

    /// Periodic maintenance at `now`: key-cache sweeps that are due and, every 10 s, the
    /// keystore status probe behind the cache's offline mode. Call it about once a second.
    pub async fn tick(&self, now: SystemTime) {
        let state = self.state.load_full();
        state.cache.tick(state.instant(now)).await;
    }

    /// The Prometheus text exposition (`GET /v1/metrics`), with fresh system gauges.
    pub fn metrics_text(&self, now: SystemTime) -> String {
        let up = now
            .duration_since(self.shared.started_at)
            .unwrap_or(Duration::ZERO);
        self.shared
            .metrics
            .render(up, self.shared.env.stats.as_ref())
    }

    /// The keystore's banner line, e.g. `In Memory`.
    pub fn keystore_description(&self) -> String {
        self.state.load().cache.store().describe()
    }

    /// The admin identity, `None` when admin access is disabled.
    pub fn admin(&self) -> Option<String> {
        self.state
            .load()
            .admin
            .as_ref()
            .map(|a| a.as_str().to_owned())
    }

    /// Number of live `/v1/log/audit` and `/v1/log/error` subscribers.
    pub fn log_subscribers(&self) -> (usize, usize) {
        (self.shared.logs.audit.len(), self.shared.logs.error.len())
    }
}

async fn create_declarative_keys(state: &State, now: SystemTime) -> Result<(), Error> {
    for name in &state.keys {
        let version = KeyVersion::generate(
            state.key_algorithm,
            time::OffsetDateTime::from(now),
            state.admin_text.clone(),
        )
        .map_err(|e| Error::DeclarativeKey {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let value = version.encode().map_err(|e| Error::DeclarativeKey {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        match state.cache.create(name, value.as_bytes()).await {
            Ok(()) | Err(kes_keystore::Error::Exists) => {}
            Err(e) => {
                return Err(Error::DeclarativeKey {
                    name: name.clone(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

impl RouteInfo {
    pub(crate) fn of(route: &Route) -> Self {
        Self {
            path: Some(route.path),
            method: route.method.as_str(),
            max_body: route.max_body,
            timeout: (!route.timeout.is_zero()).then_some(route.timeout),
            auth: route.auth,
        }
    }

    fn unknown() -> Self {
        Self {
            path: None,
            method: "GET",
            max_body: 0,
            timeout: Some(Duration::from_secs(15)),
            auth: AuthMode::None,
        }
    }
}
