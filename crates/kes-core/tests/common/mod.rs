//! Shared test harness: a server over an in-memory keystore with failure injection, a
//! manually advanced clock, a recording event sink, and fixed identities.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use kes_core::{
    AuditEvent, Clock, ErrorEvent, EventSink, Peer, Request, RequestContext, Response, Server,
    ServerEnv, ServerOptions, VersionInfo,
};
use kes_keystore::{Error as StoreError, KeyStore, ListPage, MemKeyStore};
use kes_policy::Identity;
use zeroize::Zeroizing;

pub const ADMIN: &str = "a2f8e3a9c3b9e0d1f1c7b2a4e6d8c0b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5";
pub const APP: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
pub const LEGACY_APP: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// 2023-11-14T22:13:20Z.
pub fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A clock tests move by hand.
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn new(t: SystemTime) -> Self {
        Self(Mutex::new(t))
    }
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// Records every event it receives.
#[derive(Default)]
pub struct MemSink {
    pub audit: Mutex<Vec<AuditEvent<'static>>>,
    pub error: Mutex<Vec<ErrorEvent>>,
}

impl EventSink for MemSink {
    fn audit(&self, ev: &AuditEvent<'_>) {
        self.audit.lock().unwrap().push(ev.clone().into_owned());
    }
    fn error(&self, ev: &ErrorEvent) {
        self.error.lock().unwrap().push(ev.clone());
    }
}

/// An in-memory store that can be taken down (unreachable) or made to fail (other errors).
#[derive(Default)]
pub struct FlakyStore {
    pub inner: MemKeyStore,
    pub down: AtomicBool,
    pub broken: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unreachable("connection refused"));
        }
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::other("disk on fire"));
        }
        Ok(())
    }
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    pub fn set_broken(&self, broken: bool) {
        self.broken.store(broken, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl KeyStore for FlakyStore {
    fn describe(&self) -> String {
        "In Memory".into()
    }
    async fn status(&self) -> Result<Duration, StoreError> {
        self.check()?;
        Ok(Duration::from_micros(300))
    }
    async fn create(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create(name, value).await
    }
    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.check()?;
        self.inner.get(name).await
    }
    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.delete(name).await
    }
    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> Result<ListPage, StoreError> {
        self.check()?;
        self.inner.list(prefix, continue_at, n).await
    }
}

pub struct Harness {
    pub server: Server,
    pub clock: Arc<ManualClock>,
    pub sink: Arc<MemSink>,
    pub store: Arc<FlakyStore>,
}

/// The default options of the harness: admin, an `app` policy for APP and a legacy-matcher
/// policy for LEGACY_APP.
pub fn options(store: Arc<FlakyStore>) -> ServerOptions {
    let mut opts = ServerOptions::new(ADMIN, store);
    opts.policies = vec![
        kes_core::PolicyOptions::new(
            "app",
            [
                "/v1/key/create/app-*",
                "/v1/key/generate/app-*",
                "/v1/key/decrypt/app-*",
                "/v1/key/describe/*",
                "/v1/key/list/*",
                "/v1/status",
            ],
            ["/v1/key/create/app-internal*", "/v1/key/describe/secret*"],
            [APP],
        ),
        {
            let mut p = kes_core::PolicyOptions::new(
                "legacy",
                ["/v1/key/*/legacy-key", "/v1/key/list/*"],
                [] as [&str; 0],
                [LEGACY_APP],
            );
            p.legacy = true;
            p
        },
    ];
    opts
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(f: impl FnOnce(&mut ServerOptions)) -> Self {
        let store = Arc::new(FlakyStore::default());
        let mut opts = options(store.clone());
        f(&mut opts);
        Self::build(store, opts)
    }

    pub fn build(store: Arc<FlakyStore>, opts: ServerOptions) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let sink = Arc::new(MemSink::default());
        let mut env = ServerEnv::new(clock.clone());
        env.sink = sink.clone();
        env.version = VersionInfo {
            version: "2025-03-12T09-35-18Z".into(),
            commit: "0123456789abcdef".into(),
        };
        let server = Server::new(opts, env, start()).expect("valid options");
        Self {
            server,
            clock,
            sink,
            store,
        }
    }

    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub fn ctx(&self, identity: Option<&str>) -> RequestContext {
        let peer = match identity {
            Some(id) => Peer::Certificate(Identity::try_from(id.to_owned()).unwrap()),
            None => Peer::NoCertificate,
        };
        RequestContext::new(peer, Some("10.0.0.7:4242".parse().unwrap()), self.now())
    }

    pub async fn send(&self, identity: Option<&str>, req: Request) -> Response {
        self.server.handle(self.ctx(identity), req).await
    }

    pub async fn call(&self, identity: &str, method: &str, path: &str, body: &str) -> Response {
        self.send(
            Some(identity),
            Request::new(method, path).with_body(body.as_bytes()),
        )
        .await
    }

    pub async fn admin(&self, method: &str, path: &str, body: &str) -> Response {
        self.call(ADMIN, method, path, body).await
    }

    pub async fn tick(&self, d: Duration) {
        self.clock.advance(d);
        self.server.tick(self.now()).await;
    }
}

/// The response body as text.
pub fn text(r: &Response) -> String {
    String::from_utf8(r.body_bytes().to_vec()).unwrap()
}

/// The response body as JSON.
pub fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(r.body_bytes()).unwrap_or_else(|e| panic!("{e}: {}", text(r)))
}

/// Asserts a KES error response: status, `application/json`, body `{"message":"…"\n}`.
#[track_caller]
pub fn assert_error(r: &Response, status: u16, message: &str) {
    assert_eq!(
        (r.status, text(r).as_str()),
        (
            status,
            format!(
                "{{\"message\":{}\n}}",
                serde_json::to_string(message).unwrap()
            )
            .as_str()
        ),
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

pub fn b64(bytes: &[u8]) -> String {
    kes_types::json::encode_base64(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    kes_types::json::decode_base64(s).unwrap()
}

/// Loads a test vector file from `tests/data`.
pub fn vector(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}
