//! Filesystem-store specifics: layout, name rule, modes, temp files, sealing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::time::Duration;

use kes_keystore::fs::validate_fs_name;
use kes_keystore::{Error, FsKeyStore, KeyStore};

use common::{TempDir, vectors};

#[test]
fn fs_name_rule_vectors() {
    let v = vectors("names.json");
    let cases = v["fs_key_name"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let valid = case["valid"].as_bool().unwrap();
        assert_eq!(validate_fs_name(name).is_ok(), valid, "{name:?}");
    }
}

#[tokio::test]
async fn invalid_names_are_rejected_by_every_operation() {
    let dir = TempDir::new("names");
    let store = FsKeyStore::open(dir.path()).unwrap();
    for name in ["", ".", "..", "../escape", "a/b", "a\\b", "my.key"] {
        assert!(
            matches!(store.create(name, b"v").await, Err(Error::InvalidName(_))),
            "{name:?}"
        );
        assert!(
            matches!(store.get(name).await, Err(Error::InvalidName(_))),
            "{name:?}"
        );
        assert!(
            matches!(store.delete(name).await, Err(Error::InvalidName(_))),
            "{name:?}"
        );
    }
    assert!(!dir.path().parent().unwrap().join("escape").exists());
}

#[tokio::test]
async fn layout_is_one_file_per_key() {
    let dir = TempDir::new("layout");
    let keys = dir.path().join("nested/keys");
    let store = FsKeyStore::open(&keys).unwrap();
    assert_eq!(store.describe(), format!("Filesystem: {}", keys.display()));
    store.create("my-key", b"{\"bytes\":\"x\"}").await.unwrap();
    assert_eq!(fs::read(keys.join("my-key")).unwrap(), b"{\"bytes\":\"x\"}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(keys.join("my-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = fs::metadata(&keys).unwrap().permissions().mode();
        assert_eq!(mode & 0o700, 0o700);
    }
    // Only the key file is left: no temp file after a successful create.
    let entries: Vec<_> = fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["my-key"]);
    assert!(store.status().await.is_ok());
}

#[tokio::test]
async fn path_that_is_a_file_is_an_error() {
    let dir = TempDir::new("file");
    let file = dir.path().join("f");
    fs::write(&file, b"").unwrap();
    assert!(matches!(FsKeyStore::open(&file), Err(Error::Io { .. })));
}

#[tokio::test]
async fn status_is_unreachable_when_the_directory_is_gone() {
    let dir = TempDir::new("gone");
    let keys = dir.path().join("keys");
    let store = FsKeyStore::open(&keys).unwrap();
    fs::remove_dir_all(&keys).unwrap();
    assert!(store.status().await.unwrap_err().is_unreachable());
}

#[tokio::test]
async fn foreign_files_are_listed_temp_files_are_not() {
    let dir = TempDir::new("foreign");
    let store = FsKeyStore::open(dir.path()).unwrap();
    // KES lists every directory entry, including names from older versions.
    fs::write(dir.path().join("old.key"), b"x").unwrap();
    fs::write(dir.path().join(".kes-tmp.1.2.3"), b"partial").unwrap();
    store.create("k", b"v").await.unwrap();
    assert_eq!(store.list_all("").await.unwrap(), ["k", "old.key"]);
    // A recent temp file survives the default cleanup, an old-enough one does not.
    assert_eq!(
        store
            .remove_stale_temp_files(Duration::from_secs(3600))
            .unwrap(),
        0
    );
    assert_eq!(store.remove_stale_temp_files(Duration::ZERO).unwrap(), 1);
    assert!(!dir.path().join(".kes-tmp.1.2.3").exists());
}

#[tokio::test]
async fn oversized_values_are_rejected() {
    let dir = TempDir::new("big");
    let store = FsKeyStore::open(dir.path()).unwrap();
    fs::write(dir.path().join("big"), vec![b'a'; (1 << 20) + 1]).unwrap();
    assert!(matches!(
        store.get("big").await,
        Err(Error::InvalidValue { .. })
    ));
    fs::write(dir.path().join("max"), vec![b'a'; 1 << 20]).unwrap();
    assert_eq!(store.get("max").await.unwrap().len(), 1 << 20);
}

#[tokio::test]
async fn sealed_values_are_not_plaintext_on_disk() {
    let dir = TempDir::new("sealed-disk");
    let store = FsKeyStore::open_sealed(dir.path(), &[7; 32]).unwrap();
    assert!(store.is_sealed());
    let value = b"{\"bytes\":\"J8qmOyEV2ce2yoAC+5t0Y7CSP/hTMppL7XHpAnyc+0E=\"}";
    store.create("k", value).await.unwrap();
    let on_disk = fs::read(dir.path().join("k")).unwrap();
    assert!(on_disk.is_ascii());
    assert!(on_disk.starts_with(b"kes-rs:wrap:v1:"));
    assert!(!on_disk.windows(8).any(|w| w == &value[..8]));
    assert_eq!(store.get("k").await.unwrap().as_slice(), value);
}

#[tokio::test]
async fn sealed_values_cannot_be_swapped_between_names() {
    let dir = TempDir::new("sealed-swap");
    let store = FsKeyStore::open_sealed(dir.path(), &[7; 32]).unwrap();
    store.create("a", b"value-a").await.unwrap();
    fs::copy(dir.path().join("a"), dir.path().join("b")).unwrap();
    let err = store.get("b").await.unwrap_err();
    assert!(matches!(err, Error::Seal(_)), "{err}");
    assert_eq!(store.get("a").await.unwrap().as_slice(), b"value-a");
}

#[tokio::test]
async fn wrong_or_missing_master_key_is_a_startup_error() {
    let dir = TempDir::new("sealed-key");
    let store = FsKeyStore::open_sealed(dir.path(), &[1; 32]).unwrap();
    store.create("k", b"v").await.unwrap();
    drop(store);

    let err = FsKeyStore::open_sealed(dir.path(), &[2; 32]).unwrap_err();
    assert!(matches!(err, Error::Seal(_)));
    assert!(err.to_string().contains("wrong master key"), "{err}");

    let err = FsKeyStore::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("a master key is required"),
        "{err}"
    );

    // The right key opens it again.
    let store = FsKeyStore::open_sealed(dir.path(), &[1; 32]).unwrap();
    assert_eq!(store.get("k").await.unwrap().as_slice(), b"v");
}

#[tokio::test]
async fn sealed_value_without_the_check_file_reports_the_key() {
    let dir = TempDir::new("sealed-nocheck");
    FsKeyStore::open_sealed(dir.path(), &[1; 32])
        .unwrap()
        .create("k", b"v")
        .await
        .unwrap();
    fs::remove_file(dir.path().join(".kes-seal")).unwrap();
    // Plain store: the value is sealed, say so instead of returning ciphertext.
    let plain = FsKeyStore::open(dir.path()).unwrap();
    let err = plain.get("k").await.unwrap_err();
    assert!(err.to_string().contains("is sealed"), "{err}");
    // Another key: the per-value key id names the problem.
    let other = FsKeyStore::open_sealed(dir.path(), &[2; 32]).unwrap();
    let err = other.get("k").await.unwrap_err();
    assert!(err.to_string().contains("different master key"), "{err}");
}

#[tokio::test]
async fn plaintext_kes_files_stay_readable_in_a_sealed_store() {
    let dir = TempDir::new("sealed-mixed");
    let legacy = b"{\"bytes\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}";
    fs::write(dir.path().join("from-kes"), legacy).unwrap();
    let store = FsKeyStore::open_sealed(dir.path(), &[9; 32]).unwrap();
    store.create("from-us", b"new").await.unwrap();
    assert_eq!(store.get("from-kes").await.unwrap().as_slice(), legacy);
    assert_eq!(store.get("from-us").await.unwrap().as_slice(), b"new");
    assert_eq!(store.list_all("").await.unwrap(), ["from-kes", "from-us"]);
}

#[test]
fn master_key_file() {
    let dir = TempDir::new("keyfile");
    let path = dir.path().join("master.key");
    fs::write(
        &path,
        "4242424242424242424242424242424242424242424242424242424242424242\n",
    )
    .unwrap();
    assert_eq!(
        *kes_keystore::read_seal_key_file(&path).unwrap(),
        [0x42; 32]
    );
    fs::write(&path, "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=").unwrap();
    assert_eq!(
        *kes_keystore::read_seal_key_file(&path).unwrap(),
        [0x42; 32]
    );
    fs::write(&path, "too short").unwrap();
    let err = kes_keystore::read_seal_key_file(&path).unwrap_err();
    assert!(err.to_string().contains("invalid master key"), "{err}");
    assert!(
        !err.to_string().contains("too short"),
        "the key file content must not be echoed"
    );
    assert!(matches!(
        kes_keystore::read_seal_key_file(dir.path().join("missing")),
        Err(Error::Io { .. })
    ));
}
