//! The shared conformance suite against every store in this crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kes_keystore::conformance::{self, CASES, Options};
use kes_keystore::{FsKeyStore, KeyStore, MemKeyStore};

use common::TempDir;

async fn run(store: &dyn KeyStore, options: &Options) {
    let report = conformance::run_all(store, options).await;
    assert_eq!(report.passed.len(), CASES.len(), "{report}");
    assert!(report.is_ok(), "{report}");
    // Every case cleans up after itself.
    assert!(store.list_all("").await.unwrap().is_empty());
}

#[tokio::test]
async fn memory() {
    run(&MemKeyStore::new(), &Options::default()).await;
}

#[tokio::test]
async fn memory_threaded_races() {
    let options = Options {
        threads: true,
        ..Options::default()
    };
    run(&MemKeyStore::new(), &options).await;
}

#[tokio::test]
async fn filesystem() {
    let dir = TempDir::new("conf-fs");
    run(&FsKeyStore::open(dir.path()).unwrap(), &Options::default()).await;
}

#[tokio::test]
async fn filesystem_threaded_races() {
    let dir = TempDir::new("conf-fs-threads");
    let options = Options {
        threads: true,
        racers: 32,
        bulk_keys: 10,
        ..Options::default()
    };
    run(&FsKeyStore::open(dir.path()).unwrap(), &options).await;
}

#[tokio::test]
async fn sealed_filesystem() {
    let dir = TempDir::new("conf-sealed");
    let store = FsKeyStore::open_sealed(dir.path(), &[0x42; 32]).unwrap();
    run(&store, &Options::default()).await;
}

#[tokio::test]
async fn sealed_filesystem_threaded_races() {
    let dir = TempDir::new("conf-sealed-threads");
    let store = FsKeyStore::open_sealed(dir.path(), &[0x42; 32]).unwrap();
    let options = Options {
        threads: true,
        racers: 32,
        bulk_keys: 10,
        ..Options::default()
    };
    run(&store, &options).await;
}

/// The suite itself must be able to fail: a store that overwrites on create, loses sort
/// order and ignores the page size is caught.
#[tokio::test]
async fn suite_catches_a_broken_store() {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use kes_keystore::{Error, ListPage};
    use zeroize::Zeroizing;

    #[derive(Default)]
    struct Broken(Mutex<HashMap<String, Vec<u8>>>);

    #[async_trait::async_trait]
    impl KeyStore for Broken {
        fn describe(&self) -> String {
            "Broken".into()
        }
        async fn status(&self) -> kes_keystore::Result<Duration> {
            Ok(Duration::ZERO)
        }
        async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
            self.0.lock().unwrap().insert(name.into(), value.to_vec());
            Ok(())
        }
        async fn get(&self, name: &str) -> kes_keystore::Result<Zeroizing<Vec<u8>>> {
            let map = self.0.lock().unwrap();
            map.get(name)
                .cloned()
                .map(Zeroizing::new)
                .ok_or(Error::NotFound)
        }
        async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
            self.0.lock().unwrap().remove(name);
            Ok(())
        }
        async fn list(&self, prefix: &str, _: &str, _: usize) -> kes_keystore::Result<ListPage> {
            let map = self.0.lock().unwrap();
            let names = map
                .keys()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect();
            Ok(ListPage {
                names,
                continue_at: String::new(),
            })
        }
    }

    let report = conformance::run_all(&Broken::default(), &Options::default()).await;
    let failed: Vec<&str> = report.failed.iter().map(|(c, _)| *c).collect();
    for case in [
        "create_get_delete",
        "create_is_create_only",
        "list_continuation",
        "bulk_keys",
        "concurrent_create_one_wins",
    ] {
        assert!(failed.contains(&case), "{case} not caught: {report}");
    }
    assert!(
        conformance::run_case(&Broken::default(), &Options::default(), "nope")
            .await
            .is_err()
    );
}

/// A store that holds values up to `max` bytes (as Azure Key Vault, 25 KiB), or accepts
/// anything when `enforce` is off.
struct Limited {
    inner: MemKeyStore,
    max: usize,
    enforce: bool,
}

#[async_trait::async_trait]
impl KeyStore for Limited {
    fn describe(&self) -> String {
        "Limited".into()
    }
    async fn status(&self) -> kes_keystore::Result<std::time::Duration> {
        self.inner.status().await
    }
    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        if self.enforce && value.len() > self.max {
            return Err(kes_keystore::Error::InvalidValue {
                name: name.into(),
                reason: format!("larger than {} bytes", self.max),
            });
        }
        self.inner.create(name, value).await
    }
    async fn get(&self, name: &str) -> kes_keystore::Result<zeroize::Zeroizing<Vec<u8>>> {
        self.inner.get(name).await
    }
    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        self.inner.delete(name).await
    }
    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> kes_keystore::Result<kes_keystore::ListPage> {
        self.inner.list(prefix, continue_at, n).await
    }
}

/// `max_value_len`: a store with a value limit passes the whole suite with it, fails
/// `value_alphabet` without it, and a store that does not refuse larger values is caught.
#[tokio::test]
async fn max_value_len_runs_the_whole_suite_on_a_limited_store() {
    const MAX: usize = 25 * 1024;
    let limited = Limited {
        inner: MemKeyStore::new(),
        max: MAX,
        enforce: true,
    };
    let options = Options {
        max_value_len: Some(MAX),
        ..Options::default()
    };
    run(&limited, &options).await;

    let report = conformance::run_all(&limited, &Options::default()).await;
    let failed: Vec<&str> = report.failed.iter().map(|(c, _)| *c).collect();
    assert_eq!(failed, ["value_alphabet"], "{report}");
    assert!(
        report.failed[0].1.contains(&format!("{} bytes", 64 * 1024)),
        "{report}"
    );

    let lax = Limited {
        inner: MemKeyStore::new(),
        max: MAX,
        enforce: false,
    };
    let err = conformance::run_case(&lax, &options, "value_alphabet")
        .await
        .unwrap_err();
    assert!(err.contains("was accepted"), "{err}");
    assert!(lax.list_all("").await.unwrap().is_empty(), "cleaned up");
}
