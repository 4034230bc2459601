//! [`VaultKeyStore`]: the [`KeyStore`] on HashiCorp Vault's K/V engine (spec §8.5).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::Method;
use kes_keystore::{Error as StoreError, KeyStore, ListPage, list_page};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::{KubernetesJwt, KvVersion, VaultConfig};
use crate::http::{ApiRequest, Reply, Transport};
use crate::wire::{self, json_body};
use crate::{Error, Result};

/// Prefix of a value wrapped by the transit engine (key version 1).
pub const TRANSIT_PREFIX: &str = "vault:v1:";

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Query string of the health check: every state answers 299 so that the body is read.
const HEALTH_QUERY: &str =
    "uninitcode=299&sealedcode=299&standbycode=299&drsecondarycode=299&performancestandbycode=299";

/// Upper bound for one health check.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// A sealed store re-checks the seal state at most this often before failing an operation.
const SEAL_RECHECK: Duration = Duration::from_secs(1);
/// A token younger than this is not replaced when an answer is 403 (a real denial, not an
/// expired token).
const MIN_TOKEN_AGE_FOR_RELOGIN: Duration = Duration::from_secs(1);
/// The wait between failed logins in the renewal task.
const RELOGIN_RETRY: Duration = Duration::from_secs(3);
/// The shortest wait between two rounds of the renewal task.
const MIN_RENEW_INTERVAL: Duration = Duration::from_millis(500);
/// Tries of `renew-self` before falling back to a new login.
const RENEW_TRIES: u32 = 3;

const MODE_UNKNOWN: u8 = 0;
const MODE_PRIMARY: u8 = 1;
const MODE_FALLBACK: u8 = 2;

/// How the store lists keys, once it has found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListMethod {
    /// The `LIST` HTTP method (tried first).
    List,
    /// `GET …?list=true` (used when the server or a proxy rejects `LIST` with 405 or 501).
    GetWithQuery,
}

/// How the store checks the server's health, once it has found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthMethod {
    /// `GET /v1/sys/health` (tried first).
    SysHealth,
    /// `GET /v1/sys/seal-status` (used when the server has no `sys/health`, e.g. RustyVault).
    SealStatus,
}

/// A root keystore on HashiCorp Vault (or any server that speaks its API).
///
/// Each key lives at `<engine>/<prefix>/<name>` as an entry with exactly one field whose
/// name is the key name and whose value is the stored value (the layout KES uses, so both
/// read each other's keys). KV v1 creates read first and then write (creates from this
/// process are serialized, so concurrent creates of one name have exactly one winner; KV v1
/// has no atomic create across processes); KV v2 creates are atomic (check-and-set 0).
///
/// Background tasks (on the Tokio runtime that [`VaultKeyStore::connect`] runs on) renew the
/// token (falling back to a new login when renewal fails or is not supported) and check the
/// server's health every `status.ping`; both stop when the store is dropped. An answer of
/// 403 to a token that is older than a second also triggers one new login and a retry, so an
/// expired token never fails an operation while the auth method works.
///
/// While the server is sealed, operations fail fast with
/// [`Unreachable`](StoreError::Unreachable)`("vault: key store is sealed")`; the seal state is
/// re-checked at most once a second, so the store recovers by itself after an unseal.
pub struct VaultKeyStore {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for VaultKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeyStore")
            .field("endpoint", &self.inner.endpoint)
            .field("engine", &self.inner.engine)
            .field("prefix", &self.inner.prefix)
            .field("version", &self.inner.version)
            .finish_non_exhaustive()
    }
}

struct Inner {
    transport: Transport,
    endpoint: String,
    /// The engine mount, percent-encoded per segment.
    engine: String,
    /// The prefix, percent-encoded per segment, without leading or trailing `/`.
    prefix: String,
    version: KvVersion,
    namespace: Option<String>,
    /// Transit mount and key, percent-encoded.
    transit: Option<(String, String)>,
    auth: AuthMethod,
    token: Mutex<TokenState>,
    login_lock: tokio::sync::Mutex<()>,
    create_lock: tokio::sync::Mutex<()>,
    sealed: AtomicBool,
    seal_checked: Mutex<Option<Instant>>,
    health_mode: AtomicU8,
    list_mode: AtomicU8,
    logins: AtomicU64,
}

enum AuthMethod {
    AppRole {
        path: String,
        namespace: Option<String>,
        id: String,
        secret: SecretString,
    },
    Kubernetes {
        path: String,
        namespace: Option<String>,
        role: String,
        jwt: KubernetesJwt,
    },
}

struct TokenState {
    token: Option<SecretString>,
    generation: u64,
    ttl: Duration,
    renewable: bool,
    obtained: Instant,
}

impl VaultKeyStore {
    /// Validates `config`, builds the client, logs in (a failed login is an error, as KES
    /// aborts its startup), and starts the token renewal and health tasks.
    ///
    /// Must run inside a Tokio runtime. Does not read the environment: call
    /// [`VaultConfig::apply_env`] first for the `VAULT_*` defaults.
    pub async fn connect(mut config: VaultConfig) -> Result<Self> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let transport = Transport::new(&config)?;
        let namespace = Some(config.namespace.trim().to_owned()).filter(|ns| !ns.is_empty());
        let login_namespace = |ns: &str| match ns.trim() {
            "" => namespace.clone(),
            "/" => None,
            ns => Some(ns.to_owned()),
        };
        let auth = match (&config.approle, &config.kubernetes) {
            (Some(a), _) => AuthMethod::AppRole {
                path: format!("auth/{}/login", encode_path(&a.engine)),
                namespace: login_namespace(&a.namespace),
                id: a.id.clone(),
                secret: a.secret.clone(),
            },
            (None, Some(k)) => AuthMethod::Kubernetes {
                path: format!("auth/{}/login", encode_path(&k.engine)),
                namespace: login_namespace(&k.namespace),
                role: k.role.clone(),
                jwt: k.jwt.clone(),
            },
            (None, None) => {
                return Err(Error::Config(
                    "invalid vault keystore: no authentication method specified".into(),
                ));
            }
        };
        let inner = Arc::new(Inner {
            transport,
            endpoint: config.endpoint.clone(),
            engine: encode_path(&config.engine),
            prefix: encode_path(&config.prefix),
            version: config.version,
            namespace,
            transit: config
                .transit
                .as_ref()
                .map(|t| (encode_path(&t.engine), encode_segment(&t.key))),
            auth,
            token: Mutex::new(TokenState {
                token: None,
                generation: 0,
                ttl: Duration::ZERO,
                renewable: false,
                obtained: Instant::now(),
            }),
            login_lock: tokio::sync::Mutex::new(()),
            create_lock: tokio::sync::Mutex::new(()),
            sealed: AtomicBool::new(false),
            seal_checked: Mutex::new(None),
            health_mode: AtomicU8::new(MODE_UNKNOWN),
            list_mode: AtomicU8::new(MODE_UNKNOWN),
            logins: AtomicU64::new(0),
        });
        {
            let _guard = inner.login_lock.lock().await;
            inner.login().await.map_err(Error::Login)?;
        }

        let mut tasks = vec![
            runtime
                .spawn(renew_loop(Arc::downgrade(&inner)))
                .abort_handle(),
        ];
        if !config.status_ping.is_zero() {
            tasks.push(
                runtime
                    .spawn(health_loop(Arc::downgrade(&inner), config.status_ping))
                    .abort_handle(),
            );
        }
        Ok(VaultKeyStore { inner, tasks })
    }

    /// How many logins the store has made (the first one included). For diagnostics and
    /// tests of the renewal and re-login paths.
    pub fn login_count(&self) -> u64 {
        self.inner.logins.load(Ordering::Relaxed)
    }

    /// The list method in use, once the first list call has found it out.
    pub fn list_method(&self) -> Option<ListMethod> {
        match self.inner.list_mode.load(Ordering::Relaxed) {
            MODE_PRIMARY => Some(ListMethod::List),
            MODE_FALLBACK => Some(ListMethod::GetWithQuery),
            _ => None,
        }
    }

    /// The health check in use, once the first check has found it out.
    pub fn health_method(&self) -> Option<HealthMethod> {
        match self.inner.health_mode.load(Ordering::Relaxed) {
            MODE_PRIMARY => Some(HealthMethod::SysHealth),
            MODE_FALLBACK => Some(HealthMethod::SealStatus),
            _ => None,
        }
    }
}

impl Drop for VaultKeyStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[async_trait::async_trait]
impl KeyStore for VaultKeyStore {
    fn describe(&self) -> String {
        format!("Hashicorp Vault: {}", self.inner.endpoint)
    }

    async fn status(&self) -> Result<Duration, StoreError> {
        self.inner.health().await
    }

    async fn create(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.create(name, value).await
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.inner.get(name).await
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.inner.delete(name).await
    }

    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> Result<ListPage, StoreError> {
        let names = self.inner.list_names().await?;
        Ok(list_page(names, prefix, continue_at, n))
    }
}

fn sealed_error() -> StoreError {
    StoreError::unreachable("vault: key store is sealed")
}

/// Percent-encodes a path (mount or prefix) segment by segment, dropping empty segments
/// (so leading, trailing and doubled `/` disappear, like Go's `path.Join`).
fn encode_path(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Key names are one path segment: `/` would move the key to another directory and `.` or
/// `..` out of the prefix.
fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(StoreError::InvalidName(name.to_owned()));
    }
    Ok(())
}

#[derive(Serialize)]
struct Kv2Write<'a> {
    options: Cas,
    data: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct Cas {
    cas: u64,
}

impl Inner {
    fn location(&self, name: &str) -> String {
        let name = encode_segment(name);
        if self.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn entry_path(&self, name: &str) -> String {
        match self.version {
            KvVersion::V1 => format!("{}/{}", self.engine, self.location(name)),
            KvVersion::V2 => format!("{}/data/{}", self.engine, self.location(name)),
        }
    }

    fn token_snapshot(&self) -> (Option<SecretString>, u64, Duration) {
        let state = self.token.lock().unwrap_or_else(|e| e.into_inner());
        (
            state.token.clone(),
            state.generation,
            state.obtained.elapsed(),
        )
    }

    /// Sends an authenticated request in the store's namespace. An answer of 403 to a token
    /// older than a second triggers one new login and one retry; a sealed answer sets the
    /// sealed flag and fails with "key store is sealed".
    async fn call(
        &self,
        method: Method,
        path: String,
        query: &'static str,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Reply, StoreError> {
        let mut req = ApiRequest::new(method, path);
        req.query = query;
        req.namespace = self.namespace.clone();
        req.body = body;
        let mut relogged = false;
        loop {
            let (token, generation, age) = self.token_snapshot();
            req.token = token;
            let reply = self.transport.send(&req, true, None).await?;
            if reply.is_sealed() {
                self.sealed.store(true, Ordering::Relaxed);
                return Err(sealed_error());
            }
            if reply.status == 403 && !relogged && age >= MIN_TOKEN_AGE_FOR_RELOGIN {
                relogged = true;
                self.relogin(generation).await?;
                continue;
            }
            return Ok(reply);
        }
    }

    /// Logs in again unless another task already replaced the token of `generation`.
    async fn relogin(&self, generation: u64) -> Result<(), StoreError> {
        let _guard = self.login_lock.lock().await;
        if self.token_snapshot().1 != generation {
            return Ok(());
        }
        self.login().await
    }

    /// Logs in with the configured method and installs the new token. Callers hold
    /// `login_lock`.
    async fn login(&self) -> Result<(), StoreError> {
        let (path, namespace, body) = match &self.auth {
            AuthMethod::AppRole {
                path,
                namespace,
                id,
                secret,
            } => {
                let body = BTreeMap::from([
                    ("role_id", id.as_str()),
                    ("secret_id", secret.expose_secret()),
                ]);
                (path, namespace, json_body(&body, id.len() + 64))
            }
            AuthMethod::Kubernetes {
                path,
                namespace,
                role,
                jwt,
            } => {
                let jwt = jwt
                    .read()
                    .map_err(|e| StoreError::other(format!("vault: authentication failed: {e}")))?;
                let body = BTreeMap::from([("role", role.as_str()), ("jwt", jwt.expose_secret())]);
                let hint = role.len() + jwt.expose_secret().len();
                (path, namespace, json_body(&body, hint))
            }
        };
        let mut req = ApiRequest::new(Method::PUT, path.clone());
        req.namespace = namespace.clone();
        req.body = Some(body);
        let reply = self.transport.send(&req, true, None).await?;
        if reply.is_sealed() {
            self.sealed.store(true, Ordering::Relaxed);
            return Err(sealed_error());
        }
        if !reply.is_success() {
            let msg = format!("vault: authentication failed: {}", reply.error_message());
            return Err(if reply.status == 503 {
                StoreError::unreachable(msg)
            } else {
                StoreError::other(msg)
            });
        }
        let auth = serde_json::from_slice::<wire::AuthReply>(&reply.body)
            .ok()
            .and_then(|r| r.auth);
        let Some((token, auth)) = auth.and_then(|a| a.token().map(|t| (t, a))) else {
            return Err(StoreError::other(
                "vault: authentication failed: SDK returned no error but also no token",
            ));
        };
        let mut state = self.token.lock().unwrap_or_else(|e| e.into_inner());
        state.token = Some(token);
        state.generation += 1;
        state.ttl = Duration::from_secs(auth.lease_duration);
        state.renewable = auth.renewable;
        state.obtained = Instant::now();
        self.logins.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `PUT auth/token/renew-self`; `Ok(false)` for a 4xx answer (no point retrying).
    async fn renew(&self) -> Result<bool, StoreError> {
        let (token, generation, _) = self.token_snapshot();
        let mut req = ApiRequest::new(Method::PUT, "auth/token/renew-self".to_owned());
        req.namespace = self.namespace.clone();
        req.token = token;
        req.body = Some(json_body(&BTreeMap::from([("increment", 0)]), 16));
        let reply = self.transport.send(&req, false, None).await?;
        if reply.is_sealed() {
            self.sealed.store(true, Ordering::Relaxed);
            return Err(sealed_error());
        }
        if (400..500).contains(&reply.status) {
            return Ok(false);
        }
        if !reply.is_success() {
            return Err(StoreError::other(format!(
                "vault: token renewal failed: {}",
                reply.error_message()
            )));
        }
        let auth = serde_json::from_slice::<wire::AuthReply>(&reply.body)
            .ok()
            .and_then(|r| r.auth)
            .ok_or_else(|| StoreError::other("vault: token renewal returned no auth data"))?;
        let mut state = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if state.generation == generation {
            if let Some(token) = auth.token() {
                state.token = Some(token);
            }
            state.ttl = Duration::from_secs(auth.lease_duration);
            state.renewable = auth.renewable;
            state.obtained = Instant::now();
        }
        Ok(true)
    }

    /// Fails fast while the server is known to be sealed, re-checking at most once a second.
    async fn ensure_unsealed(&self) -> Result<(), StoreError> {
        if !self.sealed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let due = {
            let mut checked = self.seal_checked.lock().unwrap_or_else(|e| e.into_inner());
            let due = checked.is_none_or(|t| t.elapsed() >= SEAL_RECHECK);
            if due {
                *checked = Some(Instant::now());
            }
            due
        };
        if due {
            // Updates the flag; its own error is the answer below.
            let _ = self.health().await;
        }
        if self.sealed.load(Ordering::Relaxed) {
            Err(sealed_error())
        } else {
            Ok(())
        }
    }

    /// One health check: `sys/health` (every state answered with 299), or `sys/seal-status`
    /// when the server has no `sys/health`. Sent without token and namespace.
    async fn health(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        let timeout = Some(STATUS_TIMEOUT);
        let mut reply = None;
        if self.health_mode.load(Ordering::Relaxed) != MODE_FALLBACK {
            let mut req = ApiRequest::new(Method::GET, "sys/health".to_owned());
            req.query = HEALTH_QUERY;
            let r = self.transport.send(&req, false, timeout).await?;
            if matches!(r.status, 404 | 405 | 501) {
                self.health_mode.store(MODE_FALLBACK, Ordering::Relaxed);
            } else {
                self.health_mode.store(MODE_PRIMARY, Ordering::Relaxed);
                reply = Some(r);
            }
        }
        let reply = match reply {
            Some(r) => r,
            None => {
                let req = ApiRequest::new(Method::GET, "sys/seal-status".to_owned());
                self.transport.send(&req, false, timeout).await?
            }
        };
        if reply.is_sealed() {
            self.sealed.store(true, Ordering::Relaxed);
            return Err(sealed_error());
        }
        if !reply.is_success() {
            return Err(StoreError::other(format!(
                "vault: health check failed: {}",
                reply.error_message()
            )));
        }
        let health: wire::Health = serde_json::from_slice(&reply.body)
            .map_err(|e| StoreError::other(format!("vault: invalid health check answer: {e}")))?;
        if health.initialized == Some(false) {
            return Err(StoreError::unreachable("vault: not initialized"));
        }
        let sealed = health.sealed == Some(true);
        self.sealed.store(sealed, Ordering::Relaxed);
        if sealed {
            return Err(sealed_error());
        }
        Ok(start.elapsed())
    }

    /// The error for an unexpected answer to `what`.
    fn failure(&self, what: &str, name: &str, reply: &Reply) -> StoreError {
        let msg = format!(
            "vault: failed to {what} '{}': {}",
            name.escape_debug(),
            reply.error_message()
        );
        if reply.status == 503 {
            StoreError::unreachable(msg)
        } else {
            StoreError::other(msg)
        }
    }

    async fn create(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        check_name(name)?;
        let value = std::str::from_utf8(value).map_err(|_| StoreError::InvalidValue {
            name: name.to_owned(),
            reason: "Vault stores text; the value is not UTF-8".to_owned(),
        })?;
        self.ensure_unsealed().await?;
        // KV v1 has no atomic create: serialize this process's creates so that concurrent
        // creates of one name have exactly one winner.
        let _guard = match self.version {
            KvVersion::V1 => Some(self.create_lock.lock().await),
            KvVersion::V2 => None,
        };
        let path = self.entry_path(name);
        let existing = self.call(Method::GET, path.clone(), "", None).await?;
        match existing.status {
            404 => {}
            s if (200..300).contains(&s) => {
                let fields = match self.version {
                    KvVersion::V1 => serde_json::from_slice::<wire::Kv1Read>(&existing.body)
                        .ok()
                        .and_then(|r| r.data),
                    KvVersion::V2 => serde_json::from_slice::<wire::Kv2Read>(&existing.body)
                        .ok()
                        .and_then(|r| r.data)
                        .and_then(|d| d.data),
                };
                match fields {
                    Some(fields) if fields.contains_key(name) => return Err(StoreError::Exists),
                    // KV v2: the latest version is deleted; check-and-set 0 decides below.
                    None if self.version == KvVersion::V2 => {}
                    _ => {
                        return Err(StoreError::other(format!(
                            "vault: an entry exists at the location of key '{}' but has no field named after it",
                            name.escape_debug()
                        )));
                    }
                }
            }
            _ => return Err(self.failure("create key", name, &existing)),
        }

        let wrapped;
        let stored = match &self.transit {
            Some(_) => {
                wrapped = self.encrypt(value).await?;
                wrapped.as_str()
            }
            None => value,
        };
        let body = match self.version {
            KvVersion::V1 => json_body(&BTreeMap::from([(name, stored)]), stored.len()),
            KvVersion::V2 => json_body(
                &Kv2Write {
                    options: Cas { cas: 0 },
                    data: BTreeMap::from([(name, stored)]),
                },
                stored.len(),
            ),
        };
        let reply = self.call(Method::PUT, path, "", Some(body)).await?;
        if reply.is_success() {
            return Ok(());
        }
        if self.version == KvVersion::V2
            && reply.status == 400
            && reply.error_message().contains("check-and-set")
        {
            return Err(StoreError::Exists);
        }
        Err(self.failure("create key", name, &reply))
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        check_name(name)?;
        self.ensure_unsealed().await?;
        let (path, query) = match self.version {
            KvVersion::V1 => (self.entry_path(name), ""),
            // KES always reads version 1: keys are created once and never updated.
            KvVersion::V2 => (self.entry_path(name), "version=1"),
        };
        let reply = self.call(Method::GET, path, query, None).await?;
        if reply.status == 404 {
            return Err(StoreError::NotFound);
        }
        if !reply.is_success() {
            return Err(self.failure("read key", name, &reply));
        }
        let invalid = |reason: &str| StoreError::InvalidValue {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let fields = match self.version {
            KvVersion::V1 => {
                serde_json::from_slice::<wire::Kv1Read>(&reply.body)
                    .map_err(|_| invalid("the Vault answer is not a K/V entry"))?
                    .data
            }
            KvVersion::V2 => serde_json::from_slice::<wire::Kv2Read>(&reply.body)
                .map_err(|_| invalid("the Vault answer is not a K/V v2 entry"))?
                .data
                .and_then(|d| d.data),
        };
        let Some(mut fields) = fields else {
            return Err(StoreError::NotFound);
        };
        let value = fields
            .remove(name)
            .ok_or_else(|| invalid("the Vault entry has no field named after the key"))?
            .0
            .ok_or_else(|| invalid("the Vault entry's field is not a string"))?;
        if value.starts_with(TRANSIT_PREFIX) {
            if self.transit.is_none() {
                return Err(StoreError::other(format!(
                    "vault: key '{}' is wrapped by the transit engine ('{TRANSIT_PREFIX}…') but no transit key is configured",
                    name.escape_debug()
                )));
            }
            return self.decrypt(name, &value).await;
        }
        Ok(Zeroizing::new(value.as_bytes().to_vec()))
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        check_name(name)?;
        self.ensure_unsealed().await?;
        let path = match self.version {
            KvVersion::V1 => self.entry_path(name),
            // All versions and the metadata.
            KvVersion::V2 => format!("{}/metadata/{}", self.engine, self.location(name)),
        };
        let reply = self.call(Method::DELETE, path, "", None).await?;
        // Like KES, a missing key is not an error.
        if reply.is_success() || reply.status == 404 {
            Ok(())
        } else {
            Err(self.failure("delete key", name, &reply))
        }
    }

    async fn list_names(&self) -> Result<Vec<String>, StoreError> {
        self.ensure_unsealed().await?;
        let mut path = match self.version {
            KvVersion::V1 => self.engine.clone(),
            KvVersion::V2 => format!("{}/metadata", self.engine),
        };
        if !self.prefix.is_empty() {
            path.push('/');
            path.push_str(&self.prefix);
        }
        path.push('/');

        let mut reply = None;
        if self.list_mode.load(Ordering::Relaxed) != MODE_FALLBACK {
            let list = Method::from_bytes(b"LIST").map_err(|e| StoreError::other(e.to_string()))?;
            let r = self.call(list, path.clone(), "", None).await?;
            if matches!(r.status, 405 | 501) {
                tracing::info!(
                    status = r.status,
                    "vault: the LIST method is not supported; listing with GET ?list=true"
                );
                self.list_mode.store(MODE_FALLBACK, Ordering::Relaxed);
            } else {
                self.list_mode.store(MODE_PRIMARY, Ordering::Relaxed);
                reply = Some(r);
            }
        }
        let reply = match reply {
            Some(r) => r,
            None => self.call(Method::GET, path, "list=true", None).await?,
        };
        // Vault answers 404 when there is nothing to list.
        if reply.status == 404 {
            return Ok(Vec::new());
        }
        if !reply.is_success() {
            return Err(self.failure("list keys under", &self.prefix, &reply));
        }
        let keys = serde_json::from_slice::<wire::ListReply>(&reply.body)
            .map_err(|e| StoreError::other(format!("vault: invalid list answer: {e}")))?
            .data
            .and_then(|d| d.keys)
            .unwrap_or_default();
        // Entries ending in `/` are sub-directories, not keys.
        Ok(keys.into_iter().filter(|k| !k.ends_with('/')).collect())
    }

    async fn encrypt(&self, value: &str) -> Result<String, StoreError> {
        let Some((engine, key)) = &self.transit else {
            return Err(StoreError::other("vault: no transit key configured"));
        };
        let plaintext = Zeroizing::new(BASE64.encode(value.as_bytes()));
        let body = json_body(
            &BTreeMap::from([("plaintext", plaintext.as_str())]),
            plaintext.len(),
        );
        let reply = self
            .call(
                Method::POST,
                format!("{engine}/encrypt/{key}"),
                "",
                Some(body),
            )
            .await?;
        if !reply.is_success() {
            return Err(self.failure("encrypt with transit key", key, &reply));
        }
        let ciphertext = serde_json::from_slice::<wire::TransitReply>(&reply.body)
            .ok()
            .and_then(|r| r.data)
            .and_then(|d| d.ciphertext)
            .ok_or_else(|| StoreError::other("vault: transit encrypt returned no ciphertext"))?;
        if !ciphertext.starts_with(TRANSIT_PREFIX) {
            return Err(StoreError::other(format!(
                "vault: transit ciphertext does not start with '{TRANSIT_PREFIX}'"
            )));
        }
        Ok(ciphertext)
    }

    async fn decrypt(
        &self,
        name: &str,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let Some((engine, key)) = &self.transit else {
            return Err(StoreError::other("vault: no transit key configured"));
        };
        let body = json_body(
            &BTreeMap::from([("ciphertext", ciphertext)]),
            ciphertext.len(),
        );
        let reply = self
            .call(
                Method::POST,
                format!("{engine}/decrypt/{key}"),
                "",
                Some(body),
            )
            .await?;
        if !reply.is_success() {
            return Err(self.failure("decrypt key", name, &reply));
        }
        let plaintext = serde_json::from_slice::<wire::TransitReply>(&reply.body)
            .ok()
            .and_then(|r| r.data)
            .and_then(|d| d.plaintext.0)
            .ok_or_else(|| StoreError::other("vault: transit decrypt returned no plaintext"))?;
        BASE64
            .decode(plaintext.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| StoreError::other("vault: transit decrypt returned invalid base64"))
    }
}

/// Keeps the token alive: renews it at 80 % of its TTL (`renew-self`, up to three tries,
/// stopping on a 4xx answer) and logs in again when it cannot be renewed. Waits while the
/// server is sealed. Ends when the store is dropped, or at once for tokens without TTL.
async fn renew_loop(store: Weak<Inner>) {
    loop {
        let Some(inner) = store.upgrade() else { return };
        let (ttl, renewable, obtained, generation) = {
            let s = inner.token.lock().unwrap_or_else(|e| e.into_inner());
            (s.ttl, s.renewable, s.obtained, s.generation)
        };
        if ttl.is_zero() {
            // A token without TTL never expires (KES does not renew it either).
            return;
        }
        if inner.sealed.load(Ordering::Relaxed) {
            drop(inner);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Renew at 80 % of the TTL, but never more often than every half second (a token
        // close to its max TTL comes back from renewal with a tiny TTL).
        let due = (obtained + ttl.mul_f64(0.8)).max(Instant::now() + MIN_RENEW_INTERVAL);
        drop(inner);
        tokio::time::sleep_until(due.into()).await;

        let Some(inner) = store.upgrade() else { return };
        if inner.token_snapshot().1 != generation {
            // A re-login after a 403 replaced the token meanwhile.
            continue;
        }
        let mut renewed = false;
        if renewable {
            for _ in 0..RENEW_TRIES {
                match inner.renew().await {
                    Ok(true) => {
                        renewed = true;
                        break;
                    }
                    Ok(false) => break,
                    Err(e) => tracing::debug!("vault: token renewal failed: {e}"),
                }
            }
        }
        if renewed {
            continue;
        }
        let result = {
            let _guard = inner.login_lock.lock().await;
            if inner.token_snapshot().1 == generation {
                inner.login().await
            } else {
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!("vault: failed to log in again: {e}");
            drop(inner);
            tokio::time::sleep(RELOGIN_RETRY).await;
        }
    }
}

/// Checks the server's health every `interval` (keeping the sealed flag current).
async fn health_loop(store: Weak<Inner>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = store.upgrade() else { return };
        if let Err(e) = inner.health().await {
            tracing::debug!("vault: health check failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_encoded() {
        assert_eq!(encode_path("/kv//a/"), "kv/a");
        assert_eq!(encode_path(""), "");
        assert_eq!(encode_path("my kv/ä"), "my%20kv/%C3%A4");
        assert_eq!(encode_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_segment("a?b#c%"), "a%3Fb%23c%25");
    }

    #[test]
    fn names_are_one_segment() {
        for bad in ["", ".", "..", "a/b", "/"] {
            assert!(
                matches!(check_name(bad), Err(StoreError::InvalidName(_))),
                "{bad:?}"
            );
        }
        for good in ["k", "my-key", "a.b", "..a", "with space"] {
            check_name(good).unwrap();
        }
    }
}
