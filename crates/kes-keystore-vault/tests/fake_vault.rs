//! The Vault keystore against `FakeVault`, for the Vault features RustyVault lacks: KV v2 with
//! check-and-set, namespaces, Kubernetes auth, transit, `sys/health`, `renew-self`,
//! `GET ?list=true`, `{"errors":[…]}` bodies, and a server that never answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use kes_keystore::conformance::{Options, run_all};
use kes_keystore::{Error, KeyStore};
use kes_keystore_vault::{
    AppRoleConfig, HealthMethod, KubernetesConfig, KubernetesJwt, KvVersion, ListMethod,
    TransitConfig, VaultConfig, VaultKeyStore,
};
use serde_json::json;
use support::eventually;
use support::fake_vault::FakeVault;

const ROLE_ID: &str = "fake-role-id";
const SECRET_ID: &str = "fake-secret-id";

/// A fake with KV v1 at `kv`, KV v2 at `secret`, transit at `transit` (key `kes`) and
/// AppRole at `approle`, all in the root namespace.
async fn fake() -> FakeVault {
    let fake = FakeVault::start().await;
    fake.mount_kv1("", "kv");
    fake.mount_kv2("", "secret");
    fake.mount_transit("", "transit", &["kes"]);
    fake.enable_approle("", "approle", ROLE_ID, SECRET_ID, 3600);
    fake
}

fn config(fake: &FakeVault, engine: &str, version: KvVersion) -> VaultConfig {
    let mut config = VaultConfig::new(fake.endpoint());
    config.engine = engine.to_owned();
    config.version = version;
    config.approle = Some(AppRoleConfig::new(ROLE_ID, SECRET_ID));
    config.timeout = Duration::from_secs(2);
    config.max_retries = 1;
    config.status_ping = Duration::from_secs(1);
    config
}

fn vault_options() -> Options {
    Options {
        delete_reports_missing: false,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kv2_with_prefix() {
    let fake = fake().await;
    let mut config = config(&fake, "secret", KvVersion::V2);
    config.prefix = "kes".to_owned();
    let store = VaultKeyStore::connect(config).await.unwrap();
    let report = run_all(&store, &vault_options()).await;
    assert!(report.is_ok(), "{report}: {:?}", report.failed);

    // KES's layout: secret/data/<prefix>/<name>, one field named after the key, written
    // once with check-and-set 0.
    store.create("k", b"v1").await.unwrap();
    assert_eq!(fake.kv2("", "secret", "kes/k"), [Some(json!({"k": "v1"}))]);
    let cas = fake
        .seen()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path == "/v1/secret/data/kes/k")
        .count();
    assert_eq!(cas, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv2_reads_version_one_and_cas_decides_creates() {
    let fake = fake().await;
    let store = VaultKeyStore::connect(config(&fake, "secret", KvVersion::V2))
        .await
        .unwrap();
    // Someone else wrote a second version: KES (and we) read version 1.
    fake.put_kv2("", "secret", "k", json!({"k": "first"}));
    fake.put_kv2("", "secret", "k", json!({"k": "second"}));
    assert_eq!(store.get("k").await.unwrap().as_slice(), b"first");
    assert!(matches!(store.create("k", b"x").await, Err(Error::Exists)));

    // Deleting removes every version and the metadata; the name is free again.
    store.delete("k").await.unwrap();
    assert!(fake.kv2("", "secret", "k").is_empty());
    assert!(matches!(store.get("k").await, Err(Error::NotFound)));
    store.create("k", b"new").await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_slice(), b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_for_keys_and_per_login_override() {
    let fake = FakeVault::start().await;
    fake.mount_kv1("team-a", "kv");
    fake.mount_kv1("", "kv");
    fake.enable_approle("team-a", "approle", ROLE_ID, SECRET_ID, 3600);

    // Login in the store's namespace.
    let mut c = config(&fake, "kv", KvVersion::V1);
    c.namespace = "team-a".to_owned();
    let store = VaultKeyStore::connect(c.clone()).await.unwrap();
    store.create("k", b"v").await.unwrap();
    assert_eq!(fake.kv1("team-a", "kv", "k"), Some(json!({"k": "v"})));
    assert_eq!(fake.kv1("", "kv", "k"), None);
    store.status().await.unwrap();
    for r in fake.seen() {
        if r.path.starts_with("/v1/sys/") {
            assert_eq!(r.namespace, None, "health calls carry no namespace: {r:?}");
        } else {
            assert_eq!(r.namespace.as_deref(), Some("team-a"), "{r:?}");
        }
    }

    // `/` logs in at the root namespace; keys still go to the store's namespace.
    let fake = FakeVault::start().await;
    fake.mount_kv1("team-a", "kv");
    fake.enable_approle("", "approle", ROLE_ID, SECRET_ID, 3600);
    let mut c = config(&fake, "kv", KvVersion::V1);
    c.namespace = "team-a".to_owned();
    c.approle.as_mut().unwrap().namespace = "/".to_owned();
    let store = VaultKeyStore::connect(c).await.unwrap();
    store.create("k", b"v").await.unwrap();
    let login = fake
        .seen()
        .into_iter()
        .find(|r| r.path == "/v1/auth/approle/login")
        .unwrap();
    assert_eq!(login.namespace, None);
    assert_eq!(fake.kv1("team-a", "kv", "k"), Some(json!({"k": "v"})));

    // A per-login namespace other than `/`.
    let fake = FakeVault::start().await;
    fake.mount_kv1("", "kv");
    fake.enable_approle("auth-ns", "approle", ROLE_ID, SECRET_ID, 3600);
    let mut c = config(&fake, "kv", KvVersion::V1);
    c.approle.as_mut().unwrap().namespace = "auth-ns".to_owned();
    let store = VaultKeyStore::connect(c).await.unwrap();
    store.create("k", b"v").await.unwrap();
    assert_eq!(fake.kv1("", "kv", "k"), Some(json!({"k": "v"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_login_rereads_the_jwt_file() {
    let fake = fake().await;
    fake.enable_kubernetes("", "k8s", "kes", "jwt-1", 3600);
    let dir = tempfile::tempdir().unwrap();
    let jwt_file = dir.path().join("token");
    std::fs::write(&jwt_file, "jwt-1\n").unwrap();

    let mut c = config(&fake, "kv", KvVersion::V1);
    c.approle = None;
    let mut k8s = KubernetesConfig::new(
        "kes",
        KubernetesJwt::from_config(jwt_file.to_str().unwrap()),
    );
    k8s.engine = "k8s".to_owned();
    c.kubernetes = Some(k8s);
    let store = VaultKeyStore::connect(c.clone()).await.unwrap();
    store.create("k", b"v").await.unwrap();

    // The token rotates: Vault now expects jwt-2, and the file holds it.
    fake.enable_kubernetes("", "k8s", "kes", "jwt-2", 3600);
    std::fs::write(&jwt_file, "jwt-2").unwrap();
    fake.expire_tokens();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get("k").await.unwrap().as_slice(), b"v");
    assert_eq!(store.login_count(), 2);

    // An inline JWT.
    let mut inline = c.clone();
    inline.kubernetes.as_mut().unwrap().jwt = KubernetesJwt::from_config("jwt-2");
    VaultKeyStore::connect(inline).await.unwrap();

    // A wrong JWT: Vault's `{"errors":[..]}` body ends up in the message.
    let mut wrong = c;
    wrong.kubernetes.as_mut().unwrap().jwt = KubernetesJwt::from_config("nope");
    let e = VaultKeyStore::connect(wrong).await.unwrap_err().to_string();
    assert!(
        e.contains("authentication failed") && e.contains("permission denied"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_wrapping_and_mixed_stores() {
    let fake = fake().await;
    let mut c = config(&fake, "kv", KvVersion::V1);
    c.transit = Some(TransitConfig::new("kes"));
    let store = VaultKeyStore::connect(c.clone()).await.unwrap();
    store.create("wrapped", b"secret value").await.unwrap();
    let stored = fake.kv1("", "kv", "wrapped").unwrap();
    let stored = stored["wrapped"].as_str().unwrap();
    assert!(stored.starts_with("vault:v1:"), "{stored}");
    assert!(!stored.contains("secret value"));
    assert_eq!(
        store.get("wrapped").await.unwrap().as_slice(),
        b"secret value"
    );

    // Plain values (written before transit was configured) still read as they are.
    fake.put_kv1("", "kv", "plain", json!({"plain": "plain value"}));
    assert_eq!(store.get("plain").await.unwrap().as_slice(), b"plain value");
    let report = run_all(&store, &vault_options()).await;
    assert!(report.is_ok(), "{report}: {:?}", report.failed);

    // A wrapped value without transit configured is an error, not garbage.
    let mut without = c.clone();
    without.transit = None;
    let plain_store = VaultKeyStore::connect(without).await.unwrap();
    let e = plain_store.get("wrapped").await.unwrap_err();
    assert!(
        matches!(e, Error::Other(_)) && e.to_string().contains("transit"),
        "{e}"
    );

    // An unknown transit key fails the create and writes nothing.
    let mut bad_key = c;
    bad_key.transit = Some(TransitConfig::new("missing"));
    let bad = VaultKeyStore::connect(bad_key).await.unwrap();
    assert!(bad.create("never", b"v").await.is_err());
    assert_eq!(fake.kv1("", "kv", "never"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_health_sealed_and_uninitialized() {
    let fake = fake().await;
    let store = VaultKeyStore::connect(config(&fake, "kv", KvVersion::V1))
        .await
        .unwrap();
    store.create("k", b"v").await.unwrap();
    store.status().await.unwrap();
    assert_eq!(store.health_method(), Some(HealthMethod::SysHealth));
    let health = fake
        .seen()
        .into_iter()
        .find(|r| r.path.starts_with("/v1/sys/health"))
        .unwrap();
    assert!(health.path.contains("sealedcode=299") && health.path.contains("uninitcode=299"));
    assert!(!health.token && health.namespace.is_none());

    fake.set_sealed(true);
    let started = Instant::now();
    for e in [
        store.status().await.unwrap_err(),
        store.get("k").await.unwrap_err(),
        store.list("", "", 0).await.unwrap_err(),
    ] {
        assert!(
            e.is_unreachable() && e.to_string().contains("key store is sealed"),
            "{e}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    fake.set_sealed(false);
    let v = eventually(Duration::from_secs(5), || async {
        store.get("k").await.ok()
    })
    .await
    .expect("no recovery after unseal");
    assert_eq!(v.as_slice(), b"v");

    fake.set_initialized(false);
    let e = store.status().await.unwrap_err();
    assert!(
        e.is_unreachable() && e.to_string().contains("not initialized"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewable_token_is_renewed_not_replaced() {
    let fake = FakeVault::start().await;
    fake.mount_kv1("", "kv");
    fake.enable_approle("", "approle", ROLE_ID, SECRET_ID, 2);
    let store = VaultKeyStore::connect(config(&fake, "kv", KvVersion::V1))
        .await
        .unwrap();
    store.create("k", b"v").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(store.get("k").await.unwrap().as_slice(), b"v");
    assert!(fake.renewals() >= 2, "renewals: {}", fake.renewals());
    assert_eq!(store.login_count(), 1);
    assert_eq!(fake.logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_triggers_one_new_login() {
    let fake = fake().await;
    let store = VaultKeyStore::connect(config(&fake, "kv", KvVersion::V1))
        .await
        .unwrap();
    store.create("k", b"v").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.expire_tokens();
    // Concurrent operations that all see 403 share one new login.
    let (a, b, c) = tokio::join!(store.get("k"), store.get("k"), store.list("", "", 0));
    assert_eq!(a.unwrap().as_slice(), b"v");
    assert_eq!(b.unwrap().as_slice(), b"v");
    assert_eq!(c.unwrap().names, ["k"]);
    assert_eq!(store.login_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_falls_back_to_get_with_list_query() {
    let fake = fake().await;
    fake.reject_list_method(true);
    let store = VaultKeyStore::connect(config(&fake, "kv", KvVersion::V1))
        .await
        .unwrap();
    assert_eq!(store.list_method(), None);
    store.create("b", b"v").await.unwrap();
    store.create("a", b"v").await.unwrap();
    assert_eq!(store.list_all("").await.unwrap(), ["a", "b"]);
    assert_eq!(store.list_method(), Some(ListMethod::GetWithQuery));
    // The choice is remembered: no more LIST requests.
    store.list("", "", 0).await.unwrap();
    let lists = fake
        .seen()
        .into_iter()
        .filter(|r| r.method == "LIST")
        .count();
    assert_eq!(lists, 1);
    assert!(
        fake.seen()
            .iter()
            .any(|r| r.method == "GET" && r.path == "/v1/kv/?list=true")
    );
    // An empty directory is a 404 in Vault: an empty list.
    let mut empty = config(&fake, "kv", KvVersion::V1);
    empty.prefix = "nothing-here".to_owned();
    let store = VaultKeyStore::connect(empty).await.unwrap();
    assert!(store.list_all("").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_unreachable_within_the_timeout() {
    let fake = fake().await;
    let mut c = config(&fake, "kv", KvVersion::V1);
    c.timeout = Duration::from_millis(500);
    c.max_retries = 1;
    let store = VaultKeyStore::connect(c).await.unwrap();
    fake.set_stall(true);
    let started = Instant::now();
    let e = store.get("k").await.unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    let e = store.status().await.unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    // Two attempts of 0.5 s plus one backoff for `get`, one bounded attempt for `status`.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_errors() {
    let fake = fake().await;
    let mut wrong = config(&fake, "kv", KvVersion::V1);
    wrong.approle = Some(AppRoleConfig::new(ROLE_ID, "wrong"));
    let e = VaultKeyStore::connect(wrong).await.unwrap_err().to_string();
    assert!(e.contains("invalid role or secret ID"), "{e}");

    fake.login_without_auth(true);
    let e = VaultKeyStore::connect(config(&fake, "kv", KvVersion::V1))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "vault: authentication failed: SDK returned no error but also no token"
    );

    let mut no_auth = config(&fake, "kv", KvVersion::V1);
    no_auth.approle = None;
    let e = VaultKeyStore::connect(no_auth)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no authentication method specified"), "{e}");
}
