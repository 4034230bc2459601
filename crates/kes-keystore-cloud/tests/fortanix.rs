//! The Fortanix DSM keystore against `FakeDsm` (tests/support).
//!
//! Set `KES_TEST_FORTANIX_ENDPOINT` and `KES_TEST_FORTANIX_API_KEY` (optional
//! `KES_TEST_FORTANIX_GROUP_ID`) to run the conformance case against a real DSM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use kes_keystore::conformance::{Options, run_all};
use kes_keystore::{Error as StoreError, KeyStore};
use kes_keystore_cloud::fortanix::{FortanixConfig, FortanixKeyStore};
use support::fake_fortanix::{API_KEY, FakeDsm, GROUP_ID};
use support::real;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_and_listing_advances() {
    let (config, fake) = match (
        real("KES_TEST_FORTANIX_ENDPOINT"),
        real("KES_TEST_FORTANIX_API_KEY"),
    ) {
        (Some(e), Some(k)) => {
            let mut c = FortanixConfig::new(e, k);
            c.group_id = real("KES_TEST_FORTANIX_GROUP_ID").unwrap_or_default();
            (c, None)
        }
        _ => {
            let fake = FakeDsm::start().await;
            let mut c = FortanixConfig::new(fake.url.clone(), API_KEY);
            c.group_id = GROUP_ID.into();
            (c, Some(fake))
        }
    };
    let store = FortanixKeyStore::connect(config).await.unwrap();
    assert!(store.describe().starts_with("Fortanix SDKMS: "));
    let report = run_all(&store, &Options::default()).await;
    assert!(report.is_ok(), "{report}");
    if let Some(fake) = fake {
        // The bulk case (1100 keys) needed more than 11 pages of 100, and they ended.
        assert!(fake.state.lock().unwrap().list_requests > 11);
        let st = fake.state.lock().unwrap();
        assert_eq!(st.sessions.len(), 1);
        assert_eq!(
            st.terminated, st.sessions,
            "the check session is terminated"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_api_key_disabled_keys_and_delete_without_export() {
    let fake = FakeDsm::start().await;
    let err = FortanixKeyStore::connect(FortanixConfig::new(fake.url.clone(), "d3Jvbmc="))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("authentication with the API key failed: HTTP 401"),
        "{err}"
    );

    let mut c = FortanixConfig::new(fake.url.clone(), API_KEY);
    c.group_id = "no-such-group".into();
    let store = FortanixKeyStore::connect(c).await.unwrap();
    let err = store.create("k", b"v").await.unwrap_err();
    assert!(err.to_string().contains("group does not exist"), "{err}");

    let store = FortanixKeyStore::connect(FortanixConfig::new(fake.url.clone(), API_KEY))
        .await
        .unwrap();
    store.create("k", b"value").await.unwrap();
    assert!(matches!(
        store.create("k", b"other").await,
        Err(StoreError::Exists)
    ));
    fake.state
        .lock()
        .unwrap()
        .objects
        .get_mut("k")
        .unwrap()
        .enabled = false;
    let err = store.get("k").await.unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");
    let exports = fake.state.lock().unwrap().exports;
    store.delete("k").await.unwrap();
    assert_eq!(
        fake.state.lock().unwrap().exports,
        exports,
        "delete does not export the key"
    );
    assert!(matches!(store.delete("k").await, Err(StoreError::NotFound)));
    assert!(matches!(store.get("k").await, Err(StoreError::NotFound)));
    // Listing an empty store ends at once.
    assert!(store.list_all("").await.unwrap().is_empty());
}
