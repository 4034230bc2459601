//! Key cache expiry and offline mode (advancing a fixed clock), declarative keys, reload
//! while requests are in flight, and TLS proxies (`tls_proxy_header.json`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use kes_core::{CacheConfig, Peer, ProxyOptions, Request, RequestContext};
use kes_keystore::KeyStore;

fn cache(any: u64, unused: u64, offline: u64) -> CacheConfig {
    CacheConfig {
        any: Duration::from_secs(any),
        unused: Duration::from_secs(unused),
        offline: Duration::from_secs(offline),
        ..CacheConfig::default()
    }
}

/// Removes `name` behind the cache's back, so only a cached copy can still answer.
async fn remove_from_store(h: &Harness, name: &str) {
    h.store.inner.delete(name).await.unwrap();
}

#[tokio::test]
async fn expiry_any_drops_cached_keys() {
    let h = Harness::with(|o| o.cache = cache(300, 0, 0));
    h.admin("PUT", "/v1/key/create/k", "").await;
    assert_eq!(h.admin("GET", "/v1/key/describe/k", "").await.status, 200); // now cached
    remove_from_store(&h, "k").await;
    h.tick(Duration::from_secs(299)).await;
    assert_eq!(
        h.admin("GET", "/v1/key/describe/k", "").await.status,
        200,
        "still cached"
    );
    h.tick(Duration::from_secs(2)).await;
    assert_error(
        &h.admin("GET", "/v1/key/describe/k", "").await,
        404,
        "key does not exist",
    );
}

#[tokio::test]
async fn expiry_unused_keeps_used_keys() {
    let h = Harness::with(|o| o.cache = cache(0, 30, 0));
    for k in ["used", "idle"] {
        h.admin("PUT", &format!("/v1/key/create/{k}"), "").await;
        h.admin("PUT", &format!("/v1/key/generate/{k}"), "").await;
        remove_from_store(&h, k).await;
    }
    for _ in 0..6 {
        h.tick(Duration::from_secs(15)).await;
        assert_eq!(
            h.admin("PUT", "/v1/key/generate/used", "").await.status,
            200
        );
    }
    assert_error(
        &h.admin("PUT", "/v1/key/generate/idle", "").await,
        404,
        "key does not exist",
    );
}

#[tokio::test]
async fn offline_mode_serves_cached_keys_for_a_while() {
    let h = Harness::with(|o| o.cache = cache(300, 30, 60));
    h.admin("PUT", "/v1/key/create/cached", "").await;
    h.admin("PUT", "/v1/key/create/uncached", "").await;
    let r = json(&h.admin("PUT", "/v1/key/generate/cached", "").await);
    let ct = r["ciphertext"].as_str().unwrap().to_owned();

    h.store.set_down(true);
    h.tick(Duration::from_secs(10)).await; // status probe: offline
    assert_error(
        &h.admin("GET", "/v1/ready", "").await,
        504,
        "key store is not reachable",
    );
    let status = json(&h.admin("GET", "/v1/status", "").await);
    assert_eq!(status["keystore_unreachable"], true);

    // Cached keys keep working (unused/any sweeps are suspended); uncached ones fail.
    for _ in 0..5 {
        h.tick(Duration::from_secs(10)).await;
        assert_eq!(
            h.admin("PUT", "/v1/key/generate/cached", "").await.status,
            200
        );
        let body = format!("{{\"ciphertext\":\"{ct}\"}}");
        assert_eq!(
            h.admin("PUT", "/v1/key/decrypt/cached", &body).await.status,
            200
        );
        assert_eq!(
            h.admin("GET", "/v1/key/describe/cached", "").await.status,
            200
        );
    }
    assert_error(
        &h.admin("PUT", "/v1/key/generate/uncached", "").await,
        502,
        "failed to read key",
    );
    assert_error(
        &h.admin("PUT", "/v1/key/create/new", "").await,
        502,
        "failed to create key",
    );
    assert_error(
        &h.admin("GET", "/v1/key/list/*", "").await,
        502,
        "failed to list keys",
    );
    assert_error(
        &h.admin("DELETE", "/v1/key/delete/cached", "").await,
        502,
        "failed to delete key",
    );

    // After `offline` the cache is emptied.
    h.tick(Duration::from_secs(15)).await;
    assert_error(
        &h.admin("PUT", "/v1/key/generate/cached", "").await,
        502,
        "failed to read key",
    );

    // Recovery.
    h.store.set_down(false);
    h.tick(Duration::from_secs(10)).await;
    assert_eq!(h.admin("GET", "/v1/ready", "").await.status, 200);
    assert_eq!(
        h.admin("PUT", "/v1/key/generate/cached", "").await.status,
        200
    );
}

#[tokio::test]
async fn without_offline_caching_an_outage_fails_everything() {
    let h = Harness::with(|o| o.cache = cache(300, 30, 0));
    h.admin("PUT", "/v1/key/create/k", "").await;
    h.admin("PUT", "/v1/key/generate/k", "").await;
    h.store.set_down(true);
    h.tick(Duration::from_secs(10)).await;
    // Still cached until the next unused sweep …
    assert_eq!(h.admin("PUT", "/v1/key/generate/k", "").await.status, 200);
    // … which is not suspended without offline caching.
    h.tick(Duration::from_secs(15)).await;
    h.tick(Duration::from_secs(15)).await;
    assert_error(
        &h.admin("PUT", "/v1/key/generate/k", "").await,
        502,
        "failed to read key",
    );
}

#[tokio::test]
async fn declarative_keys_on_start_and_reload() {
    let h = Harness::with(|o| o.keys = vec!["decl-1".into(), "decl-2".into()]);
    assert_error(
        &h.admin("GET", "/v1/key/describe/decl-1", "").await,
        404,
        "key does not exist",
    );
    h.server.start(h.now()).await.unwrap();
    let d = json(&h.admin("GET", "/v1/key/describe/decl-1", "").await);
    assert_eq!(d["created_by"], ADMIN);
    assert_eq!(d["algorithm"], "AES256");
    // Idempotent: existing keys are kept as they are.
    let before = h.store.inner.get("decl-2").await.unwrap();
    h.server.start(h.now()).await.unwrap();
    assert_eq!(h.store.inner.get("decl-2").await.unwrap(), before);

    let mut opts = options(h.store.clone());
    opts.keys = vec!["decl-3".into()];
    opts.key_algorithm = kes_crypto::KeyAlgorithm::ChaCha20;
    h.server.reload(opts, h.now()).await.unwrap();
    assert_eq!(
        json(&h.admin("GET", "/v1/key/describe/decl-3", "").await)["algorithm"],
        "ChaCha20"
    );

    // A store failure aborts the reload and keeps the old configuration.
    h.store.set_broken(true);
    let mut opts = options(h.store.clone());
    opts.keys = vec!["decl-4".into()];
    opts.policies.clear();
    let err = h.server.reload(opts, h.now()).await.unwrap_err();
    assert!(err.to_string().contains("decl-4"), "{err}");
    h.store.set_broken(false);
    assert_eq!(
        h.call(APP, "GET", "/v1/status", "").await.status,
        200,
        "old policies remain"
    );
}

#[tokio::test]
async fn reload_swaps_policies_atomically() {
    let h = Harness::new();
    assert_error(
        &h.call(OTHER, "GET", "/v1/status", "").await,
        403,
        "not authorized: insufficient permissions",
    );
    let mut opts = options(h.store.clone());
    opts.policies.push(kes_core::PolicyOptions::new(
        "other",
        ["/v1/status"],
        [] as [&str; 0],
        [OTHER],
    ));
    opts.policies.retain(|p| p.name != "app");
    h.server.reload(opts, h.now()).await.unwrap();
    assert_eq!(h.call(OTHER, "GET", "/v1/status", "").await.status, 200);
    assert_eq!(h.call(APP, "GET", "/v1/status", "").await.status, 403);
    // Invalid configurations are refused and change nothing.
    let mut bad = options(h.store.clone());
    bad.policies.push(kes_core::PolicyOptions::new(
        "dup",
        ["/v1/status"],
        [] as [&str; 0],
        [APP],
    ));
    let err = h.server.reload(bad, h.now()).await.unwrap_err();
    assert!(
        err.to_string().contains("identity already has a policy"),
        "{err}"
    );
    assert_eq!(h.call(OTHER, "GET", "/v1/status", "").await.status, 200);
}

/// A store whose `get` waits until released, to hold requests in flight.
struct GatedStore {
    inner: kes_keystore::MemKeyStore,
    gate: async_lock_gate::Gate,
}

mod async_lock_gate {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    pub(crate) struct Gate(AtomicBool);
    impl Gate {
        pub(crate) fn open(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
        pub(crate) async fn wait(&self) {
            while !self.0.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
}

#[async_trait::async_trait]
impl KeyStore for GatedStore {
    fn describe(&self) -> String {
        "Gated".into()
    }
    async fn status(&self) -> kes_keystore::Result<Duration> {
        Ok(Duration::from_millis(1))
    }
    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        self.inner.create(name, value).await
    }
    async fn get(&self, name: &str) -> kes_keystore::Result<zeroize::Zeroizing<Vec<u8>>> {
        self.gate.wait().await;
        self.inner.get(name).await
    }
    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        self.inner.delete(name).await
    }
    async fn list(
        &self,
        p: &str,
        c: &str,
        n: usize,
    ) -> kes_keystore::Result<kes_keystore::ListPage> {
        self.inner.list(p, c, n).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_during_requests_keeps_their_snapshot() {
    let gated = Arc::new(GatedStore {
        inner: kes_keystore::MemKeyStore::new(),
        gate: Default::default(),
    });
    let store = Arc::new(FlakyStore::default());
    let mut opts = options(store.clone());
    opts.keystore = gated.clone();
    let h = Arc::new(Harness::build(store.clone(), opts));
    h.admin("PUT", "/v1/key/create/app-k", "").await;

    // Requests that passed authorisation under the old policy and now wait on the store.
    let mut inflight = Vec::new();
    for _ in 0..8 {
        let h = h.clone();
        inflight.push(tokio::spawn(async move {
            h.call(APP, "PUT", "/v1/key/generate/app-k", "")
                .await
                .status
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Reload: APP loses its policy, the keystore changes to an empty one.
    let mut opts = options(store.clone());
    opts.policies.retain(|p| p.name != "app");
    h.server.reload(opts, h.now()).await.unwrap();
    assert_error(
        &h.call(APP, "PUT", "/v1/key/generate/app-k", "").await,
        403,
        "not authorized: insufficient permissions",
    );

    gated.gate.open();
    for t in inflight {
        assert_eq!(
            t.await.unwrap(),
            200,
            "in-flight requests finish on their snapshot"
        );
    }
    // New requests use the new keystore, where the key does not exist.
    assert_error(
        &h.admin("PUT", "/v1/key/generate/app-k", "").await,
        404,
        "key does not exist",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_and_reloads() {
    let h = Arc::new(Harness::new());
    h.admin("PUT", "/v1/key/create/app-k", "").await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                let r = h.call(APP, "PUT", "/v1/key/generate/app-k", "").await;
                assert_eq!(r.status, 200, "task {i}");
            }
        }));
    }
    for _ in 0..50 {
        h.server
            .reload(options(h.store.clone()), h.now())
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
}

// ---- TLS proxies ----------------------------------------------------------------------------

const PROXY: &str = "5050505050505050505050505050505050505050505050505050505050505050";

fn proxied(header: &str) -> Harness {
    let header = header.to_owned();
    Harness::with(move |o| {
        let mut p = ProxyOptions::new([PROXY]);
        p.cert_header = header;
        o.proxy = Some(p);
        // The forwarded client's identity gets a policy.
        let pem = std::fs::read_to_string(format!(
            "{}/tests/data/proxy_test_client_cert.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let id = kes_policy::Certificate::from_pem(&pem).unwrap().identity();
        o.policies.push(kes_core::PolicyOptions::new(
            "proxied",
            ["/v1/status"],
            [] as [&str; 0],
            [id.as_str()],
        ));
    })
}

#[tokio::test]
async fn tls_proxy_header_vectors() {
    let v = vector("tls_proxy_header.json");
    for (i, case) in v["vectors"].as_array().unwrap().iter().enumerate() {
        let h = proxied(case["cert_header"].as_str().unwrap());
        let mut req = Request::new("GET", "/v1/status");
        for (name, values) in case["headers"].as_object().unwrap() {
            for value in values.as_array().unwrap() {
                req = req.with_header(name.clone(), value.as_str().unwrap());
            }
        }
        let r = h.send(Some(PROXY), req).await;
        match case["error"].as_object() {
            Some(err) => assert_error(
                &r,
                err["status"].as_u64().unwrap() as u16,
                err["message"].as_str().unwrap(),
            ),
            None => assert_eq!(r.status, 200, "case {i}: {}", text(&r)),
        }
    }
}

#[tokio::test]
async fn tls_proxy_identity_and_ip() {
    let h = proxied("");
    let pem = std::fs::read_to_string(format!(
        "{}/tests/data/proxy_test_client_cert.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let id = kes_policy::Certificate::from_pem(&pem).unwrap().identity();
    let escaped: String = pem
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect();
    let req = Request::new("GET", "/v1/identity/self/describe")
        .with_header("x-tls-client-cert", escaped.clone())
        .with_header("X-Forwarded-For", "192.0.2.1:1234, 10.0.0.1");
    let r = h.send(Some(PROXY), req).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(json(&r)["identity"], id.as_str());
    let audit = h.sink.audit.lock().unwrap().last().cloned().unwrap();
    assert_eq!(audit.identity.as_deref(), Some(id.as_str()));
    assert_eq!(audit.ip, Some("192.0.2.1".parse().unwrap()));

    // Non-proxy peers are never re-identified by the header.
    let req = Request::new("GET", "/v1/status").with_header("X-Tls-Client-Cert", escaped.clone());
    assert_error(
        &h.send(Some(OTHER), req).await,
        403,
        "not authorized: insufficient permissions",
    );

    // tls.auth=on: the forwarded certificate must verify.
    struct Reject;
    impl kes_core::ForwardedCertVerifier for Reject {
        fn verify(&self, _: &[u8], _: std::time::SystemTime) -> bool {
            false
        }
    }
    let h = Harness::with(|o| {
        let mut p = ProxyOptions::new([PROXY]);
        p.verifier = Some(Arc::new(Reject));
        o.proxy = Some(p);
    });
    let req = Request::new("GET", "/v1/status").with_header("X-Tls-Client-Cert", escaped);
    assert_error(&h.send(Some(PROXY), req).await, 403, "");
}

#[tokio::test]
async fn proxy_configuration_errors() {
    let env = || kes_core::ServerEnv::new(Arc::new(ManualClock::new(start())));
    let store = Arc::new(FlakyStore::default());
    let mut o = options(store.clone());
    o.proxy = Some(ProxyOptions::new([ADMIN]));
    assert_eq!(
        kes_core::Server::new(o, env(), start())
            .unwrap_err()
            .to_string(),
        format!("kes: invalid tls proxy: identity '{ADMIN}' is already admin")
    );
    let mut o = options(store.clone());
    o.proxy = Some(ProxyOptions::new([APP]));
    assert_eq!(
        kes_core::Server::new(o, env(), start())
            .unwrap_err()
            .to_string(),
        format!("kes: invalid policy 'app': identity '{APP}' is already a TLS proxy")
    );
    let mut o = options(store.clone());
    o.policies[0].identities.push(ADMIN.into());
    assert_eq!(
        kes_core::Server::new(o, env(), start())
            .unwrap_err()
            .to_string(),
        format!("kes: invalid policy 'app': identity '{ADMIN}' is already admin")
    );
    let mut o = options(store.clone());
    o.policies[0].name = "bad.name".into();
    assert!(
        kes_core::Server::new(o, env(), start())
            .unwrap_err()
            .to_string()
            .contains("bad.name")
    );
    let mut o = options(store);
    o.admin = String::new();
    assert_eq!(
        kes_core::Server::new(o, env(), start())
            .unwrap_err()
            .to_string(),
        "kes: invalid admin identity: no admin identity"
    );
}

#[tokio::test]
async fn identify_mode_never_rejects() {
    let h = Harness::new();
    for peer in [
        Peer::Insecure,
        Peer::TooManyCertificates,
        Peer::InvalidCertificate,
    ] {
        let r = h
            .server
            .handle(
                RequestContext::new(peer, None, h.now()),
                Request::new("GET", "/v1/identity/self/describe"),
            )
            .await;
        assert_error(&r, 404, "identity does not exist");
    }
}
