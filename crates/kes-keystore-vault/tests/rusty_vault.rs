//! The Vault keystore against a real Vault-API server: RustyVault on loopback.
//!
//! These tests need the `rvault` binary (`kes_testpeers::rusty_vault::binary` finds or builds
//! it); when it cannot be provided they fail with a message saying how to get it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kes_keystore::conformance::{Options, run_all};
use kes_keystore::{CacheConfig, Error, KeyCache, KeyStore};
use kes_keystore_vault::{HealthMethod, ListMethod, VaultKeyStore};
use kes_testpeers::{Pki, RustyVault};
use serde_json::json;
use support::{eventually, rv_config};

fn start() -> RustyVault {
    RustyVault::start().unwrap_or_else(|e| {
        panic!("RustyVault is required for these tests and could not be started: {e}")
    })
}

fn vault_options() -> Options {
    Options {
        delete_reports_missing: false,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kv1_custom_mount_without_prefix() {
    let rv = start();
    let store = VaultKeyStore::connect(rv_config(&rv, "kes", 3600))
        .await
        .unwrap();
    let report = run_all(&store, &vault_options()).await;
    assert!(report.is_ok(), "{report}: {:?}", report.failed);
    assert_eq!(store.list_method(), Some(ListMethod::List));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kv1_with_prefix_and_kes_layout() {
    let rv = start();
    let mut config = rv_config(&rv, "kes", 3600);
    config.prefix = "/tenant-1/keys/".to_owned();
    let store = VaultKeyStore::connect(config).await.unwrap();
    let report = run_all(&store, &vault_options()).await;
    assert!(report.is_ok(), "{report}: {:?}", report.failed);

    // What we write is where KES looks: one field named after the key.
    store.create("my-key", b"value-1").await.unwrap();
    let body = rv
        .root_call("GET", "/v1/kes-kv/tenant-1/keys/my-key", None, &[200])
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], json!({"my-key": "value-1"}));

    // What KES wrote, we read; keys outside the prefix are not listed.
    rv.root_call(
        "PUT",
        "/v1/kes-kv/tenant-1/keys/kes-written",
        Some(&json!({"kes-written": "value-2"})),
        &[200, 204],
    )
    .unwrap();
    rv.root_call(
        "PUT",
        "/v1/kes-kv/elsewhere",
        Some(&json!({"elsewhere": "x"})),
        &[200, 204],
    )
    .unwrap();
    rv.root_call(
        "PUT",
        "/v1/kes-kv/tenant-1/keys/sub/dir",
        Some(&json!({"dir": "x"})),
        &[200, 204],
    )
    .unwrap();
    assert_eq!(
        store.get("kes-written").await.unwrap().as_slice(),
        b"value-2"
    );
    assert_eq!(store.list_all("").await.unwrap(), ["kes-written", "my-key"]);
    assert!(matches!(store.get("elsewhere").await, Err(Error::NotFound)));

    // An entry at the key's location without the key's field is an error, never overwritten.
    rv.root_call(
        "PUT",
        "/v1/kes-kv/tenant-1/keys/odd",
        Some(&json!({"other": "x"})),
        &[200, 204],
    )
    .unwrap();
    assert!(matches!(
        store.create("odd", b"v").await,
        Err(Error::Other(_))
    ));
    assert!(matches!(
        store.get("odd").await,
        Err(Error::InvalidValue { .. })
    ));
    assert!(matches!(store.get("a/b").await, Err(Error::InvalidName(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approle_login_health_fallback_and_describe() {
    let rv = start();
    let store = VaultKeyStore::connect(rv_config(&rv, "kes", 3600))
        .await
        .unwrap();
    assert_eq!(
        store.describe(),
        format!("Hashicorp Vault: {}", rv.endpoint())
    );
    assert_eq!(store.login_count(), 1);
    store.status().await.unwrap();
    // RustyVault has no sys/health: the store fell back to sys/seal-status.
    assert_eq!(store.health_method(), Some(HealthMethod::SealStatus));

    // A wrong secret ID fails the connect, as it aborts KES's startup.
    let mut bad = rv_config(&rv, "kes", 3600);
    bad.approle.as_mut().unwrap().secret = "not-the-secret".to_owned().into();
    let err = VaultKeyStore::connect(bad).await.unwrap_err();
    assert!(err.to_string().contains("authentication failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_replaced_by_a_new_login() {
    let rv = start();
    // RustyVault enforces token TTLs and has no renew-self: the store must log in again.
    let store = VaultKeyStore::connect(rv_config(&rv, "short", 2))
        .await
        .unwrap();
    store.create("k", b"v").await.unwrap();
    let before = store.login_count();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(store.get("k").await.unwrap().as_slice(), b"v");
    store.create("k2", b"v2").await.unwrap();
    assert!(
        store.login_count() > before,
        "no new login after the token expired"
    );

    // Tokens of this role really expire on the server.
    let creds = rv.approle("short", 2).unwrap();
    let login = json!({"role_id": creds.role_id, "secret_id": creds.secret_id});
    let (status, body) = rv
        .request("PUT", "/v1/auth/approle/login", None, Some(&login))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = v["auth"]["client_token"].as_str().unwrap();
    let (status, _) = rv
        .request("GET", "/v1/kes-kv/k", Some(token), None)
        .unwrap();
    assert_eq!(status, 200);
    // RustyVault revokes expired tokens from its expiration manager, not on each request: on
    // a busy machine that can come a few seconds after the TTL. Wait for it, within reason.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        let (status, _) = rv
            .request("GET", "/v1/kes-kv/k", Some(token), None)
            .unwrap();
        if status != 200 || std::time::Instant::now() >= deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(status, 403, "the 2 s token still worked 33 s after login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_vault_fails_fast_and_recovers_after_unseal() {
    let rv = start();
    let store = VaultKeyStore::connect(rv_config(&rv, "kes", 3600))
        .await
        .unwrap();
    store.create("k", b"v").await.unwrap();
    rv.seal().unwrap();

    let started = Instant::now();
    let sealed = |e: Error| {
        assert!(e.is_unreachable(), "{e}");
        assert!(e.to_string().contains("key store is sealed"), "{e}");
    };
    sealed(store.get("k").await.unwrap_err());
    sealed(store.create("k2", b"v").await.unwrap_err());
    sealed(store.delete("k").await.unwrap_err());
    sealed(store.list("", "", 0).await.unwrap_err());
    sealed(store.status().await.unwrap_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "sealed answers took {:?}",
        started.elapsed()
    );

    rv.unseal().unwrap();
    let value = eventually(Duration::from_secs(5), || async {
        store.get("k").await.ok()
    })
    .await
    .expect("the store did not recover after the unseal");
    assert_eq!(value.as_slice(), b"v");
    store.status().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_vault_is_unreachable_and_a_restart_reconnects() {
    let mut rv = start();
    let store = VaultKeyStore::connect(rv_config(&rv, "kes", 3600))
        .await
        .unwrap();
    store.create("k", b"v").await.unwrap();

    rv.stop();
    let started = Instant::now();
    for e in [
        store.get("k").await.unwrap_err(),
        store.status().await.unwrap_err(),
        store.create("k2", b"v").await.unwrap_err(),
    ] {
        assert!(e.is_unreachable(), "{e}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "unreachable answers took {:?}",
        started.elapsed()
    );

    rv.restart().unwrap();
    // It comes back sealed.
    let e = store.status().await.unwrap_err();
    assert!(e.to_string().contains("sealed"), "{e}");
    rv.unseal().unwrap();
    let value = eventually(Duration::from_secs(5), || async {
        store.get("k").await.ok()
    })
    .await
    .expect("the store did not reconnect after the restart");
    assert_eq!(value.as_slice(), b"v");
    store.create("k3", b"v3").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_cache_serves_cached_keys_while_sealed() {
    let rv = start();
    let store: Arc<dyn KeyStore> = Arc::new(
        VaultKeyStore::connect(rv_config(&rv, "kes", 3600))
            .await
            .unwrap(),
    );
    store.create("cached", b"c").await.unwrap();
    store.create("uncached", b"u").await.unwrap();
    let config = CacheConfig {
        offline: Duration::from_secs(60),
        ..CacheConfig::default()
    };
    let t0 = Instant::now();
    let cache = KeyCache::new(Arc::clone(&store), config, t0, |_: &str, v: &[u8]| {
        Ok(v.to_vec())
    });
    assert_eq!(cache.get("cached").await.unwrap().as_slice(), b"c");

    rv.seal().unwrap();
    let e = cache.probe(t0 + Duration::from_secs(10)).await.unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(cache.is_offline());
    cache.tick(t0 + Duration::from_secs(20)).await;

    assert_eq!(cache.get("cached").await.unwrap().as_slice(), b"c");
    let e = cache.get("uncached").await.unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(cache.status().await.unwrap_err().is_unreachable());

    rv.unseal().unwrap();
    eventually(Duration::from_secs(5), || async {
        cache.probe(t0 + Duration::from_secs(30)).await.ok()
    })
    .await
    .expect("the cache did not come back online");
    assert_eq!(cache.get("uncached").await.unwrap().as_slice(), b"u");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_ca_file_directory_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path()).unwrap();
    let rv = RustyVault::start_tls(&pki).unwrap_or_else(|e| {
        panic!("RustyVault is required for these tests and could not be started: {e}")
    });

    let mut config = rv_config(&rv, "kes", 3600);
    config.tls.ca = Some(pki.ca_cert.clone());
    config.tls.cert = Some(pki.client_cert.clone());
    config.tls.key = Some(pki.client_key.clone());
    let store = VaultKeyStore::connect(config.clone()).await.unwrap();
    store.create("tls-key", b"v").await.unwrap();
    assert_eq!(store.get("tls-key").await.unwrap().as_slice(), b"v");
    store.status().await.unwrap();

    // `tls.ca` as a directory of PEM files.
    let mut by_dir = config.clone();
    by_dir.tls.ca = Some(dir.path().to_path_buf());
    let store = VaultKeyStore::connect(by_dir).await.unwrap();
    assert_eq!(store.get("tls-key").await.unwrap().as_slice(), b"v");

    // The same through VAULT_CACERT / VAULT_CLIENT_CERT / VAULT_CLIENT_KEY.
    let mut by_env = rv_config(&rv, "kes", 3600);
    let env = [
        ("VAULT_CACERT", pki.ca_cert.clone()),
        ("VAULT_CLIENT_CERT", pki.client_cert.clone()),
        ("VAULT_CLIENT_KEY", pki.client_key.clone()),
    ];
    by_env
        .apply_env(|name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.display().to_string())
        })
        .unwrap();
    let store = VaultKeyStore::connect(by_env).await.unwrap();
    assert_eq!(store.get("tls-key").await.unwrap().as_slice(), b"v");

    // Without a client certificate the server refuses the handshake.
    let mut no_cert = config.clone();
    no_cert.tls.cert = None;
    no_cert.tls.key = None;
    assert!(VaultKeyStore::connect(no_cert).await.is_err());

    // Without our CA the server certificate is not trusted...
    let mut untrusted = config.clone();
    untrusted.tls.ca = None;
    assert!(VaultKeyStore::connect(untrusted.clone()).await.is_err());
    // ...unless verification is switched off (VAULT_SKIP_VERIFY).
    untrusted.tls_skip_verify = true;
    let store = VaultKeyStore::connect(untrusted).await.unwrap();
    assert_eq!(store.get("tls-key").await.unwrap().as_slice(), b"v");
}
