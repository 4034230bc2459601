//! The Azure Key Vault keystore against `FakeKeyVault` (tests/support).
//!
//! Set `KES_TEST_AZURE_ENDPOINT` to run the conformance case against that real vault, with
//! the client secret of `KES_TEST_AZURE_TENANT_ID`, `KES_TEST_AZURE_CLIENT_ID` and
//! `KES_TEST_AZURE_CLIENT_SECRET` when set, else the managed identity
//! `KES_TEST_AZURE_MANAGED_IDENTITY_CLIENT_ID` when set, else the default chain (`AZURE_*`
//! environment, workload identity, managed identity).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use kes_keystore::conformance::{CASES, Options, run_all};
use kes_keystore::{Error as StoreError, KeyStore};
use kes_keystore_cloud::azure::{
    AzureConfig, AzureKeyStore, CredentialSource, HASHED_PREFIX, MAX_VALUE, NAME_TAG, hashed_slot,
};
use kes_keystore_cloud::transport::{ClientOptions, RetryPolicy};
use support::fake_azure::{
    CLIENT_ID, CLIENT_SECRET, FEDERATED_TOKEN, FakeKeyVault, MI_CLIENT_ID, TENANT_ID,
};
use support::real;

fn config(fake: &FakeKeyVault) -> AzureConfig {
    let mut c = AzureConfig::new(fake.url.clone());
    c.set_client_secret(TENANT_ID, CLIENT_ID, CLIENT_SECRET);
    c.authority_host = Some(fake.url.clone());
    c
}

fn no_env(_: &str) -> Option<String> {
    None
}

async fn connect(fake: &FakeKeyVault) -> AzureKeyStore {
    AzureKeyStore::connect_with_env(config(fake), &no_env)
        .await
        .unwrap()
}

async fn real_or_fake() -> (AzureKeyStore, Option<FakeKeyVault>) {
    match real("KES_TEST_AZURE_ENDPOINT") {
        Some(endpoint) => {
            let mut c = AzureConfig::new(endpoint);
            match (
                real("KES_TEST_AZURE_TENANT_ID"),
                real("KES_TEST_AZURE_CLIENT_ID"),
                real("KES_TEST_AZURE_CLIENT_SECRET"),
                real("KES_TEST_AZURE_MANAGED_IDENTITY_CLIENT_ID"),
            ) {
                (Some(t), Some(c_id), Some(s), _) => c.set_client_secret(t, c_id, s),
                (_, _, _, Some(mi)) => c.set_managed_identity(mi),
                _ => {}
            }
            (AzureKeyStore::connect(c).await.unwrap(), None)
        }
        None => {
            let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
            (connect(&fake).await, Some(fake))
        }
    }
}

/// The whole suite, its large value at Key Vault's limit (25 KiB): one byte more must be
/// refused before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let (store, fake) = real_or_fake().await;
    assert!(store.describe().starts_with("Azure KeyVault: "));
    let options = Options {
        max_value_len: Some(MAX_VALUE),
        ..Options::default()
    };
    let report = run_all(&store, &options).await;
    assert_eq!(report.passed.len(), CASES.len(), "{report}");
    if let Some(fake) = fake {
        let st = fake.state.lock().unwrap();
        assert!(st.secrets.is_empty(), "the suite cleans up");
        assert!(st.deleted.is_empty(), "deleted secrets are purged");
        assert_eq!(st.secret_grants, 1);
    }
}

/// Values that are not text are refused before any request (Key Vault secrets are strings).
#[tokio::test]
async fn binary_values_are_refused() {
    let (store, _fake) = real_or_fake().await;
    assert!(matches!(
        store.create("conformance-val-binary", &[0xff, 0xfe]).await,
        Err(StoreError::InvalidValue { .. })
    ));
}

#[tokio::test]
async fn kes_layout_names_and_case() {
    let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
    let store = connect(&fake).await;
    assert_eq!(store.describe(), format!("Azure KeyVault: {}", fake.url));
    assert_eq!(store.credential_source(), &CredentialSource::ClientSecret);

    // Secrets KES wrote (no tags, the key name as secret name) are keys.
    fake.insert_untagged("MinIO-Key", &["{\"bytes\":\"kes\"}"]);
    assert_eq!(
        store.get("MinIO-Key").await.unwrap().as_slice(),
        b"{\"bytes\":\"kes\"}"
    );
    assert!(matches!(
        store.create("MinIO-Key", b"x").await,
        Err(StoreError::Exists)
    ));

    // A name Key Vault can hold is stored under itself, with the name tag (KES reads it).
    store.create("my-key", b"v1").await.unwrap();
    {
        let st = fake.state.lock().unwrap();
        let s = &st.secrets["my-key"];
        assert_eq!(s.name, "my-key");
        assert_eq!(s.versions[0].value, "v1");
        assert_eq!(s.versions[0].tags.as_ref().unwrap()[NAME_TAG], "my-key");
    }
    // A name with '_' goes to its hashed slot.
    store.create("my_key", b"v2").await.unwrap();
    let slot = hashed_slot("my_key");
    assert!(slot.starts_with(HASHED_PREFIX));
    assert!(fake.state.lock().unwrap().secrets.contains_key(&slot));
    // Names that differ only in case are different keys (Key Vault's names are not).
    store.create("My-Key", b"v3").await.unwrap();
    assert_eq!(store.get("my-key").await.unwrap().as_slice(), b"v1");
    assert_eq!(store.get("my_key").await.unwrap().as_slice(), b"v2");
    assert_eq!(store.get("My-Key").await.unwrap().as_slice(), b"v3");
    assert!(matches!(
        store.get("MY-KEY").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.list_all("").await.unwrap(),
        ["MinIO-Key", "My-Key", "my-key", "my_key"]
    );
    // Deleting `my-key` frees its own slot; `My-Key` stays in its hashed slot.
    store.delete("my-key").await.unwrap();
    assert_eq!(store.get("My-Key").await.unwrap().as_slice(), b"v3");
    assert!(matches!(
        store.get("my-key").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.create("My-Key", b"again").await,
        Err(StoreError::Exists)
    ));
    store.delete("My-Key").await.unwrap();
    assert!(matches!(
        store.delete("My-Key").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list_all("").await.unwrap(), ["MinIO-Key", "my_key"]);
}

#[tokio::test]
async fn soft_delete_purge_and_recreate() {
    let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
    fake.state.lock().unwrap().delete_delay = Duration::from_millis(400);
    let store = connect(&fake).await;
    store.create("k", b"one").await.unwrap();
    // Delete waits out "being deleted" to purge; the purge itself takes a moment, which the
    // next create waits out (409 ObjectIsBeingDeleted).
    let started = Instant::now();
    store.delete("k").await.unwrap();
    store.create("k", b"two").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(store.get("k").await.unwrap().as_slice(), b"two");

    // A secret someone else deleted without purging: create purges it (as KES).
    fake.insert_untagged("gone", &["old"]);
    {
        let mut st = fake.state.lock().unwrap();
        let secret = st.secrets.remove("gone").unwrap();
        st.deleted.insert(
            "gone".into(),
            support::fake_azure::Deleted {
                secret,
                deleting_until: Instant::now(),
            },
        );
    }
    assert!(matches!(store.get("gone").await, Err(StoreError::NotFound)));
    store.create("gone", b"new").await.unwrap();
    assert_eq!(store.get("gone").await.unwrap().as_slice(), b"new");

    // Purge protection: delete succeeds (the key is gone), re-creating the name fails clearly.
    fake.state.lock().unwrap().purge_forbidden = true;
    store.delete("gone").await.unwrap();
    assert!(matches!(store.get("gone").await, Err(StoreError::NotFound)));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let err = store.create("gone", b"x").await.unwrap_err();
    assert!(err.to_string().contains("cannot be purged"), "{err}");
}

#[tokio::test]
async fn oldest_version_over_pages_and_attributes() {
    let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
    let store = connect(&fake).await;
    // 30 versions: two pages of versions (upstream: TooManyObjectVersions). The oldest is the key.
    let values: Vec<String> = (0..30).map(|i| format!("value-{i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    fake.insert_untagged("many", &refs);
    fake.state.lock().unwrap().log.clear();
    assert_eq!(store.get("many").await.unwrap().as_slice(), b"value-0");
    {
        let st = fake.state.lock().unwrap();
        let pages = st.log.iter().filter(|l| l.contains("/versions")).count();
        assert_eq!(pages, 2, "{:?}", st.log);
        assert!(st.log.iter().any(|l| l.contains("$skiptoken")));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (name, edit, want) in [
        ("disabled", 0, "is disabled"),
        ("early", 1, "is not valid yet"),
        ("expired", 2, "has expired"),
    ] {
        fake.insert_untagged(name, &["v"]);
        {
            let mut st = fake.state.lock().unwrap();
            let v = &mut st.secrets.get_mut(name).unwrap().versions[0];
            match edit {
                0 => v.enabled = false,
                1 => v.nbf = Some(now + 3600),
                _ => v.exp = Some(now - 1),
            }
        }
        let err = store.get(name).await.unwrap_err();
        assert!(err.to_string().contains(want), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expires_while_running_without_a_failed_request() {
    let fake = FakeKeyVault::start(Duration::from_secs(2)).await;
    let store = connect(&fake).await;
    store.create("k1", b"v1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get("k1").await.unwrap().as_slice(), b"v1");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!((st.secret_grants, st.rejected_tokens), (2, 0));
    }
    // Every token revoked while the store idles: one 401, a new token, the call succeeds.
    fake.state.lock().unwrap().tokens.clear();
    assert_eq!(store.get("k1").await.unwrap().as_slice(), b"v1");
    let st = fake.state.lock().unwrap();
    assert_eq!((st.secret_grants, st.rejected_tokens), (3, 1));
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
    let store = connect(&fake).await;
    store.create("t", b"v").await.unwrap();
    {
        let mut st = fake.state.lock().unwrap();
        st.throttle = 2;
        st.retry_after = 1;
    }
    let started = Instant::now();
    assert_eq!(store.get("t").await.unwrap().as_slice(), b"v");
    // Two 429s with Retry-After: 1 — at least two seconds of waiting.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.state.lock().unwrap().throttled, 2);

    // Throttled for longer than the attempts last: a clear error.
    let mut c = config(&fake);
    c.http = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        ..ClientOptions::default()
    };
    let store = AzureKeyStore::connect_with_env(c, &no_env).await.unwrap();
    {
        let mut st = fake.state.lock().unwrap();
        st.throttle = 100;
        st.throttled = 0;
    }
    let err = store.get("t").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("429 Throttled"), "{err}");
    assert_eq!(fake.state.lock().unwrap().throttled, 3);
}

#[tokio::test]
async fn managed_identity_workload_identity_and_environment() {
    let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
    // The config's managed identity, through IMDS.
    let mut c = AzureConfig::new(fake.url.clone());
    c.set_managed_identity(MI_CLIENT_ID);
    c.managed_identity_endpoint = Some(fake.url.clone());
    let store = AzureKeyStore::connect_with_env(c.clone(), &no_env)
        .await
        .unwrap();
    assert_eq!(
        store.credential_source(),
        &CredentialSource::ManagedIdentity(Some(MI_CLIENT_ID.into()))
    );
    store.create("mi", b"v").await.unwrap();
    assert_eq!(fake.state.lock().unwrap().imds_grants, 1);
    // An identity the VM does not have: a startup error with IMDS's words.
    c.set_managed_identity("00000000-0000-0000-0000-000000000000");
    let err = AzureKeyStore::connect_with_env(c, &no_env)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Identity not found"), "{err}");

    // Default chain: the environment's client secret.
    let url = fake.url.clone();
    let env = move |k: &str| match k {
        "AZURE_TENANT_ID" => Some(TENANT_ID.to_owned()),
        "AZURE_CLIENT_ID" => Some(CLIENT_ID.to_owned()),
        "AZURE_CLIENT_SECRET" => Some(CLIENT_SECRET.to_owned()),
        "AZURE_AUTHORITY_HOST" => Some(url.clone()),
        _ => None,
    };
    let store = AzureKeyStore::connect_with_env(AzureConfig::new(fake.url.clone()), &env)
        .await
        .unwrap();
    assert_eq!(store.credential_source(), &CredentialSource::Environment);
    assert_eq!(store.get("mi").await.unwrap().as_slice(), b"v");

    // Default chain: workload identity (the federated token file is re-read at every login).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, FEDERATED_TOKEN).unwrap();
    let path = file.display().to_string();
    let url = fake.url.clone();
    let env = move |k: &str| match k {
        "AZURE_TENANT_ID" => Some(TENANT_ID.to_owned()),
        "AZURE_CLIENT_ID" => Some(CLIENT_ID.to_owned()),
        "AZURE_FEDERATED_TOKEN_FILE" => Some(path.clone()),
        "AZURE_AUTHORITY_HOST" => Some(url.clone()),
        _ => None,
    };
    let store = AzureKeyStore::connect_with_env(AzureConfig::new(fake.url.clone()), &env)
        .await
        .unwrap();
    assert_eq!(
        store.credential_source(),
        &CredentialSource::WorkloadIdentity
    );
    assert_eq!(store.get("mi").await.unwrap().as_slice(), b"v");
    assert_eq!(fake.state.lock().unwrap().federated_grants, 1);

    // Default chain without variables: the system-assigned managed identity.
    let mut c = AzureConfig::new(fake.url.clone());
    c.managed_identity_endpoint = Some(fake.url.clone());
    let store = AzureKeyStore::connect_with_env(c, &no_env).await.unwrap();
    assert_eq!(
        store.credential_source(),
        &CredentialSource::ManagedIdentity(None)
    );
    assert_eq!(store.get("mi").await.unwrap().as_slice(), b"v");
}

#[tokio::test]
async fn wrong_credentials_are_startup_errors() {
    let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
    let mut c = config(&fake);
    c.set_client_secret(TENANT_ID, CLIENT_ID, "wrong");
    let err = AzureKeyStore::connect_with_env(c, &no_env)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided."),
        "{err}"
    );
    let mut c = config(&fake);
    c.set_client_secret("other-tenant", CLIENT_ID, CLIENT_SECRET);
    let err = AzureKeyStore::connect_with_env(c, &no_env)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS90002"), "{err}");
    // Unreachable vault: status says so.
    let mut c = config(&fake);
    c.endpoint = "http://127.0.0.1:1".into();
    let store = AzureKeyStore::connect_with_env(c, &no_env).await.unwrap();
    assert!(store.status().await.unwrap_err().is_unreachable());
    assert!(connect(&fake).await.status().await.is_ok());
}

/// Two servers on one vault create one name at the same time. Key Vault has no conditional
/// write, so two successes are possible within one second; what holds: at least one create
/// succeeds, both servers read the same value, and it is a successful creator's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_race_on_one_name() {
    let fake = FakeKeyVault::start(Duration::from_secs(3600)).await;
    let a = connect(&fake).await;
    let b = connect(&fake).await;
    for round in 0..8 {
        let name = format!("race-{round}");
        let (ra, rb) = tokio::join!(a.create(&name, b"from-a"), b.create(&name, b"from-b"));
        for r in [&ra, &rb] {
            assert!(matches!(r, Ok(()) | Err(StoreError::Exists)), "{r:?}");
        }
        assert!(
            ra.is_ok() || rb.is_ok(),
            "round {round}: no create succeeded"
        );
        let va = a.get(&name).await.unwrap();
        let vb = b.get(&name).await.unwrap();
        assert_eq!(va.as_slice(), vb.as_slice());
        let winner_a = ra.is_ok() && va.as_slice() == b"from-a";
        let winner_b = rb.is_ok() && va.as_slice() == b"from-b";
        assert!(
            winner_a || winner_b,
            "round {round}: the value read is a loser's"
        );
    }
    // Another server's version lands between this create's check and its PUT: the later
    // version loses, and reads see the other one.
    fake.state.lock().unwrap().sneak_in = Some("from-elsewhere".into());
    assert!(matches!(
        a.create("sneaky", b"mine").await,
        Err(StoreError::Exists)
    ));
    assert_eq!(a.get("sneaky").await.unwrap().as_slice(), b"from-elsewhere");
    assert_eq!(b.get("sneaky").await.unwrap().as_slice(), b"from-elsewhere");
}
