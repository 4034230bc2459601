//! The CipherTrust / Gemalto keystore against `FakeCipherTrust` (tests/support).
//!
//! Set `KES_TEST_GEMALTO_ENDPOINT` and `KES_TEST_GEMALTO_TOKEN` (optional
//! `KES_TEST_GEMALTO_DOMAIN`) to run the conformance case against a real CipherTrust Manager.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use kes_keystore::conformance::{Options, run_all};
use kes_keystore::{Error as StoreError, KeyStore};
use kes_keystore_cloud::gemalto::{GemaltoConfig, GemaltoKeyStore};
use support::fake_ciphertrust::FakeCipherTrust;
use support::real;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let (config, _fake) = match (
        real("KES_TEST_GEMALTO_ENDPOINT"),
        real("KES_TEST_GEMALTO_TOKEN"),
    ) {
        (Some(endpoint), Some(token)) => {
            let mut c = GemaltoConfig::new(endpoint, token);
            c.domain = real("KES_TEST_GEMALTO_DOMAIN").unwrap_or_default();
            (c, None)
        }
        _ => {
            let fake = FakeCipherTrust::start("refresh-1", Duration::from_secs(300)).await;
            let mut c = GemaltoConfig::new(fake.url.clone(), "refresh-1");
            c.domain = "kes".into();
            (c, Some(fake))
        }
    };
    let store = GemaltoKeyStore::connect(config.clone()).await.unwrap();
    assert_eq!(
        store.describe(),
        format!(
            "Gemalto KeySecure: {}",
            config.endpoint.trim_end_matches('/')
        )
    );
    let report = run_all(&store, &Options::default()).await;
    assert!(report.is_ok(), "{report}");
    if let Some(fake) = _fake {
        assert_eq!(fake.state.lock().unwrap().last_domain, "kes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_renewed_at_half_lifetime_and_after_expiry() {
    let fake = FakeCipherTrust::start("refresh-1", Duration::from_secs(2)).await;
    let store = GemaltoKeyStore::connect(GemaltoConfig::new(fake.url.clone(), "refresh-1"))
        .await
        .unwrap();
    store.create("k1", b"v1").await.unwrap();
    assert_eq!(fake.state.lock().unwrap().logins, 1);
    // Past half the lifetime the next call logs in again, before the JWT expires.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get("k1").await.unwrap().as_slice(), b"v1");
    assert_eq!(fake.state.lock().unwrap().logins, 2);
    assert_eq!(fake.state.lock().unwrap().rejected_tokens, 0);

    // The server revokes every JWT while we run: one 401, one new login, no failed request.
    fake.state.lock().unwrap().jwts.clear();
    assert_eq!(store.get("k1").await.unwrap().as_slice(), b"v1");
    let st = fake.state.lock().unwrap();
    assert_eq!((st.logins, st.rejected_tokens), (3, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_refresh_token_and_missing_keys() {
    let fake = FakeCipherTrust::start("refresh-1", Duration::from_secs(300)).await;
    let err = GemaltoKeyStore::connect(GemaltoConfig::new(fake.url.clone(), "wrong"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("login failed: HTTP 401: Invalid refresh token"),
        "{err}"
    );

    let store = GemaltoKeyStore::connect(GemaltoConfig::new(fake.url.clone(), "refresh-1"))
        .await
        .unwrap();
    assert!(matches!(
        store.get("missing").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete("missing").await,
        Err(StoreError::NotFound)
    ));
    // Names travel percent-encoded in the path.
    store.create("with space", b"v").await.unwrap();
    assert_eq!(store.get("with space").await.unwrap().as_slice(), b"v");
    // The stored secret is what KES writes: dataType seed, material = value.
    assert_eq!(
        fake.state
            .lock()
            .unwrap()
            .secrets
            .get("with space")
            .map(|s| s.1.clone()),
        Some("v".to_owned())
    );
}
