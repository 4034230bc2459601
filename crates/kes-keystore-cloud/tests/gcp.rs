//! The GCP Secret Manager keystore against `FakeSecretManager` (tests/support).
//!
//! Set `KES_TEST_GCP_PROJECT_ID` to run the conformance case against the real Secret Manager
//! of that project, with the service account of `KES_TEST_GCP_CLIENT_EMAIL`,
//! `KES_TEST_GCP_CLIENT_ID`, `KES_TEST_GCP_PRIVATE_KEY_ID` and `KES_TEST_GCP_PRIVATE_KEY`
//! (literal `\n` allowed, as in KES's config) when they are set, else with the
//! application-default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud, metadata server).
//! `KES_TEST_GCP_ENDPOINT` optionally overrides the endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use kes_keystore::conformance::{Options, run_all};
use kes_keystore::{Error as StoreError, KeyStore};
use kes_keystore_cloud::gcp::{CredentialSource, GcpConfig, GcpKeyStore};
use kes_keystore_cloud::transport::{ClientOptions, RetryPolicy};
use support::fake_gcp::{
    FakeSecretManager, PROJECT_ID, REFRESH_TOKEN, Secret, USER_CLIENT_ID, USER_CLIENT_SECRET,
    Version, service_account,
};
use support::real;

/// A config for the fake with the vector's service account in KES's config fields.
fn config(fake: &FakeSecretManager) -> GcpConfig {
    let sa = service_account();
    let mut c = GcpConfig::new(PROJECT_ID);
    c.endpoint = fake.url.clone();
    c.token_url = Some(fake.token_url());
    // The config form with literal "\n" sequences, as it appears in KES's YAML.
    c.set_credentials(
        &sa.client_email,
        &sa.client_id,
        &sa.private_key_id,
        &sa.private_key_escaped,
    );
    c
}

fn no_env(_: &str) -> Option<String> {
    None
}

async fn connect(fake: &FakeSecretManager) -> GcpKeyStore {
    GcpKeyStore::connect_with_env(config(fake), &no_env)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let (store, _fake) = match real("KES_TEST_GCP_PROJECT_ID") {
        Some(project) => {
            let mut c = GcpConfig::new(project);
            c.endpoint = real("KES_TEST_GCP_ENDPOINT").unwrap_or_default();
            c.set_credentials(
                &real("KES_TEST_GCP_CLIENT_EMAIL").unwrap_or_default(),
                &real("KES_TEST_GCP_CLIENT_ID").unwrap_or_default(),
                &real("KES_TEST_GCP_PRIVATE_KEY_ID").unwrap_or_default(),
                &real("KES_TEST_GCP_PRIVATE_KEY").unwrap_or_default(),
            );
            (GcpKeyStore::connect(c).await.unwrap(), None)
        }
        None => {
            let fake = FakeSecretManager::start(Duration::from_secs(3600)).await;
            (connect(&fake).await, Some(fake))
        }
    };
    assert!(
        store.describe().starts_with("GCP SecretManager: Project="),
        "{}",
        store.describe()
    );
    let report = run_all(&store, &Options::default()).await;
    assert!(report.is_ok(), "{report}");
    if let Some(fake) = _fake {
        let st = fake.state.lock().unwrap();
        // The concurrent creates left one live version; the losers' versions are destroyed.
        assert!(st.secrets.is_empty(), "the suite cleans up");
        assert_eq!(st.jwt_grants, 1);
        assert_eq!(
            st.last_scope,
            "https://www.googleapis.com/auth/cloud-platform"
        );
    }
}

#[tokio::test]
async fn banner_layout_and_paging() {
    let fake = FakeSecretManager::start(Duration::from_secs(3600)).await;
    let store = connect(&fake).await;
    assert_eq!(
        store.describe(),
        format!("GCP SecretManager: Project={PROJECT_ID}")
    );
    assert_eq!(store.credential_source(), &CredentialSource::Config);
    store
        .create("my-key", b"{\"bytes\":\"AAAA\"}")
        .await
        .unwrap();
    {
        // KES's layout: a secret named after the key, the value as version 1's payload.
        let st = fake.state.lock().unwrap();
        let v = &st.secrets["my-key"].versions;
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].data, b"{\"bytes\":\"AAAA\"}");
    }
    // A secret KES wrote (version 1) is read.
    fake.state.lock().unwrap().secrets.insert(
        "kes-written".into(),
        Secret {
            versions: vec![Version {
                data: b"legacy".to_vec(),
                state: "ENABLED",
            }],
        },
    );
    assert_eq!(
        store.get("kes-written").await.unwrap().as_slice(),
        b"legacy"
    );
    store.delete("my-key").await.unwrap();
    store.delete("kes-written").await.unwrap();

    for i in 0..600 {
        store.create(&format!("k-{i:03}"), b"v").await.unwrap();
    }
    fake.state.lock().unwrap().log.clear();
    let names = store.list_all("").await.unwrap();
    assert_eq!(names.len(), 600);
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    let st = fake.state.lock().unwrap();
    let pages: Vec<&String> = st.log.iter().filter(|l| l.contains("pageSize=")).collect();
    // 600 secrets, at most 100 per page: six pages, each after the first with a pageToken.
    assert_eq!(pages.len(), 6, "{pages:?}");
    assert!(pages[1..].iter().all(|p| p.contains("&pageToken=")));
}

#[tokio::test]
async fn version_one_defect_fixed() {
    let fake = FakeSecretManager::start(Duration::from_secs(3600)).await;
    let store = connect(&fake).await;
    let secret = |states: &[(&[u8], &'static str)]| Secret {
        versions: states
            .iter()
            .map(|(d, s)| Version {
                data: d.to_vec(),
                state: s,
            })
            .collect(),
    };
    // A create that died between CreateSecret and AddSecretVersion: upstream is stuck with
    // "exists" on create and "not found" on get; here get says not found and create finishes.
    fake.state
        .lock()
        .unwrap()
        .secrets
        .insert("half".into(), Secret::default());
    assert!(matches!(store.get("half").await, Err(StoreError::NotFound)));
    store.create("half", b"value").await.unwrap();
    assert_eq!(store.get("half").await.unwrap().as_slice(), b"value");
    assert!(matches!(
        store.create("half", b"other").await,
        Err(StoreError::Exists)
    ));

    // Version 1 destroyed, version 2 live: read version 2 (upstream failed).
    fake.state.lock().unwrap().secrets.insert(
        "rotated".into(),
        secret(&[(b"", "DESTROYED"), (b"second", "ENABLED")]),
    );
    assert_eq!(store.get("rotated").await.unwrap().as_slice(), b"second");
    // A key with a live version exists: create does not add another one.
    assert!(matches!(
        store.create("rotated", b"x").await,
        Err(StoreError::Exists)
    ));

    // A disabled version 1 is an error (an operator blocked the key), not a fallback.
    fake.state.lock().unwrap().secrets.insert(
        "blocked".into(),
        secret(&[(b"v", "DISABLED"), (b"w", "ENABLED")]),
    );
    let err = store.get("blocked").await.unwrap_err();
    assert!(err.to_string().contains("version 1 is disabled"), "{err}");
    assert!(matches!(
        store.create("blocked", b"x").await,
        Err(StoreError::Exists)
    ));

    // Every version destroyed: not found; create makes it a key again.
    fake.state
        .lock()
        .unwrap()
        .secrets
        .insert("gone".into(), secret(&[(b"", "DESTROYED")]));
    assert!(matches!(store.get("gone").await, Err(StoreError::NotFound)));
    store.create("gone", b"new").await.unwrap();
    assert_eq!(store.get("gone").await.unwrap().as_slice(), b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_on_a_half_created_secret_have_one_winner() {
    let fake = FakeSecretManager::start(Duration::from_secs(3600)).await;
    // Two stores (two servers) on one project.
    let a = connect(&fake).await;
    let b = connect(&fake).await;
    for round in 0..10 {
        let name = format!("race-{round}");
        fake.state
            .lock()
            .unwrap()
            .secrets
            .insert(name.clone(), Secret::default());
        let (ra, rb) = tokio::join!(a.create(&name, b"from-a"), b.create(&name, b"from-b"));
        let winner: &[u8] = match (ra, rb) {
            (Ok(()), Err(StoreError::Exists)) => b"from-a",
            (Err(StoreError::Exists), Ok(())) => b"from-b",
            other => panic!("round {round}: {other:?}"),
        };
        assert_eq!(a.get(&name).await.unwrap().as_slice(), winner);
        assert_eq!(b.get(&name).await.unwrap().as_slice(), winner);
        let st = fake.state.lock().unwrap();
        let live: Vec<&Version> = st.secrets[&name]
            .versions
            .iter()
            .filter(|v| v.state != "DESTROYED")
            .collect();
        assert_eq!(live.len(), 1, "the loser's version is destroyed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expires_while_running_without_a_failed_request() {
    let fake = FakeSecretManager::start(Duration::from_secs(2)).await;
    let store = connect(&fake).await;
    store.create("k1", b"v1").await.unwrap();
    // Past half the lifetime: a new token before the old one expires.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get("k1").await.unwrap().as_slice(), b"v1");
    {
        let st = fake.state.lock().unwrap();
        assert_eq!((st.jwt_grants, st.rejected_tokens), (2, 0));
    }
    // Every token expires (or is revoked) while the store idles: one 401, a new token, and
    // the request succeeds.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    fake.state.lock().unwrap().tokens.clear();
    assert_eq!(store.get("k1").await.unwrap().as_slice(), b"v1");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.jwt_grants, 3);
    assert!(st.rejected_tokens <= 1, "{}", st.rejected_tokens);
}

#[tokio::test]
async fn throttling_backs_off() {
    let fake = FakeSecretManager::start(Duration::from_secs(3600)).await;
    let mut c = config(&fake);
    c.http = ClientOptions {
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        },
        ..ClientOptions::default()
    };
    let store = GcpKeyStore::connect_with_env(c, &no_env).await.unwrap();
    fake.state.lock().unwrap().throttle = 3;
    let started = Instant::now();
    store.create("t", b"v").await.unwrap();
    // Three throttled answers: waits of at least 50 + 100 + 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert_eq!(fake.state.lock().unwrap().throttled, 3);
    assert_eq!(store.get("t").await.unwrap().as_slice(), b"v");

    // Throttled for longer than the attempts last: a clear error, not a hang.
    fake.state.lock().unwrap().throttle = 100;
    let err = store.get("t").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("429 RESOURCE_EXHAUSTED"), "{err}");
    assert_eq!(fake.state.lock().unwrap().throttled, 3 + 5);
}

#[tokio::test]
async fn service_account_json_matches_kes_bytes() {
    let sa = service_account();
    for v in &sa.vectors {
        let mut c = GcpConfig::new(v["project_id"].as_str().unwrap());
        c.set_credentials(
            v["client_email"].as_str().unwrap(),
            v["client_id"].as_str().unwrap(),
            v["private_key_id"].as_str().unwrap(),
            v["private_key"].as_str().unwrap(),
        );
        let json = c.service_account_json().unwrap();
        assert_eq!(json.as_str(), v["expected_json"].as_str().unwrap());
    }
    assert!(GcpConfig::new("p").service_account_json().is_none());
}

#[tokio::test]
async fn default_chain_credentials_file_and_metadata_server() {
    let fake = FakeSecretManager::start(Duration::from_secs(3600)).await;
    let sa = service_account();
    let dir = tempfile::tempdir().unwrap();

    // GOOGLE_APPLICATION_CREDENTIALS: a service-account key file whose token_uri is the fake.
    let file = dir.path().join("sa.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": sa.private_key_id,
            "private_key": sa.private_key,
            "client_email": sa.client_email,
            "client_id": sa.client_id,
            "token_uri": fake.token_url(),
        })
        .to_string(),
    )
    .unwrap();
    let mut c = GcpConfig::new(PROJECT_ID);
    c.endpoint = fake.url.clone();
    c.scopes = vec!["https://www.googleapis.com/auth/cloud-platform".into()];
    let path = file.display().to_string();
    let env = move |k: &str| (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| path.clone());
    let store = GcpKeyStore::connect_with_env(c.clone(), &env)
        .await
        .unwrap();
    assert_eq!(
        store.credential_source(),
        &CredentialSource::EnvironmentFile(file.clone())
    );
    store.create("from-file", b"v").await.unwrap();

    // An authorized_user file (gcloud auth application-default login).
    let user = dir.path().join("user.json");
    std::fs::write(
        &user,
        serde_json::json!({
            "type": "authorized_user",
            "client_id": USER_CLIENT_ID,
            "client_secret": USER_CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        })
        .to_string(),
    )
    .unwrap();
    let mut cu = c.clone();
    cu.token_url = Some(fake.token_url());
    let path = user.display().to_string();
    let env = move |k: &str| (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| path.clone());
    let store = GcpKeyStore::connect_with_env(cu, &env).await.unwrap();
    assert_eq!(store.get("from-file").await.unwrap().as_slice(), b"v");
    assert_eq!(fake.state.lock().unwrap().refresh_grants, 1);

    // Workload identity / GCE: the metadata server (GCE_METADATA_HOST points at the fake).
    let host = fake.url.trim_start_matches("http://").to_owned();
    let env = move |k: &str| (k == "GCE_METADATA_HOST").then(|| host.clone());
    let store = GcpKeyStore::connect_with_env(c, &env).await.unwrap();
    assert!(matches!(
        store.credential_source(),
        CredentialSource::MetadataServer(_)
    ));
    assert_eq!(store.get("from-file").await.unwrap().as_slice(), b"v");
    let st = fake.state.lock().unwrap();
    assert_eq!(st.metadata_grants, 1);
    assert_eq!(
        st.last_scope,
        "https://www.googleapis.com/auth/cloud-platform"
    );
}

#[tokio::test]
async fn wrong_credentials_and_project_are_clear_errors() {
    let fake = FakeSecretManager::start(Duration::from_secs(3600)).await;
    // A key id the service does not know: the token request fails at connect.
    let mut c = config(&fake);
    if let Some(creds) = c.credentials.as_mut() {
        creds.private_key_id = "0000000000000000000000000000000000000000".into();
    }
    let err = GcpKeyStore::connect_with_env(c, &no_env).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP 400: invalid_grant: Invalid JWT Signature."),
        "{err}"
    );
    // A private key that is not one.
    let mut c = config(&fake);
    if let Some(creds) = c.credentials.as_mut() {
        creds.private_key = "-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n"
            .to_owned()
            .into();
    }
    let err = GcpKeyStore::connect_with_env(c, &no_env).await.unwrap_err();
    assert!(err.to_string().contains("invalid private key"), "{err}");

    // Another project: every call is denied with Google's message.
    let mut c = config(&fake);
    c.project_id = "someone-elses".into();
    let store = GcpKeyStore::connect_with_env(c, &no_env).await.unwrap();
    let err = store.create("k", b"v").await.unwrap_err();
    assert!(err.to_string().contains("403 PERMISSION_DENIED"), "{err}");
    assert!(!err.is_unreachable());

    // Names Secret Manager cannot hold; values over 64 KiB.
    let store = connect(&fake).await;
    assert!(matches!(
        store.create("a.b", b"v").await,
        Err(StoreError::InvalidName(_))
    ));
    assert!(matches!(store.get("a.b").await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.create("big", &vec![b'a'; 64 * 1024 + 1]).await,
        Err(StoreError::InvalidValue { .. })
    ));
    // Unreachable endpoint: status says so.
    let mut c = config(&fake);
    c.endpoint = "http://127.0.0.1:1".into();
    let store = GcpKeyStore::connect_with_env(c, &no_env).await.unwrap();
    assert!(store.status().await.unwrap_err().is_unreachable());
}
