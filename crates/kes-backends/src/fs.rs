//! `keystore.fs`: the filesystem store, plain or sealed (`seal.key_file` / `seal.key`).

use std::sync::Arc;

use kes_core::config::{FsKeyStore, SealKeySource};
use kes_keystore::{FsKeyStore as Store, KeyStore};

use crate::Error;

/// Opens (creating if missing) the key directory; a sealed store reads its master key file
/// first.
pub(crate) fn open(config: &FsKeyStore) -> Result<Arc<dyn KeyStore>, Error> {
    let opened = |e: kes_keystore::Error| Error::open("fs", e);
    let store = match &config.seal {
        None => Store::open(&config.path).map_err(opened)?,
        Some(SealKeySource::File(path)) => {
            let key =
                kes_keystore::read_seal_key_file(path).map_err(|source| Error::SealKeyFile {
                    path: path.clone(),
                    source,
                })?;
            Store::open_sealed(&config.path, &key).map_err(opened)?
        }
        Some(SealKeySource::Key(key)) => {
            Store::open_sealed(&config.path, key.expose_secret()).map_err(opened)?
        }
    };
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use kes_core::config::{SealKey, SealKeySource};

    use crate::testutil::*;

    #[tokio::test]
    async fn plain_and_sealed_stores_open_and_need_the_right_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let key_file = dir.path().join("seal.key");
        std::fs::write(&key_file, "11".repeat(32)).unwrap();
        let sealed = fs_config(&path, Some(SealKeySource::File(key_file.clone())));
        let store = crate::open(&sealed, &no_env).await.unwrap();
        assert_eq!(store.describe(), format!("Filesystem: {}", path.display()));
        store.create("k", b"v").await.unwrap();
        drop(store);
        assert!(path.join(".kes-seal").exists(), "the store is sealed");

        // The same key given inline opens it too.
        let inline = fs_config(
            &path,
            Some(SealKeySource::Key(SealKey::new([0x11; 32].into()))),
        );
        let store = crate::open(&inline, &no_env).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().as_slice(), b"v");
        drop(store);

        // Unsealed access and a wrong key are refused.
        let plain = fs_config(&path, None);
        let err = crate::open(&plain, &no_env).await.err().unwrap();
        assert!(err.to_string().contains("sealed"), "{err}");
        assert!(matches!(err, crate::Error::Open { backend: "fs", .. }));
        std::fs::write(&key_file, "22".repeat(32)).unwrap();
        assert!(crate::open(&sealed, &no_env).await.is_err());

        // A missing key file names the file.
        let missing = fs_config(
            &path,
            Some(SealKeySource::File(PathBuf::from("/nonexistent/seal.key"))),
        );
        let err = crate::open(&missing, &no_env).await.err().unwrap();
        assert!(
            err.to_string()
                .starts_with("failed to read the seal key file '/nonexistent/seal.key'"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_plain_store_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("keys");
        let store = crate::open(&fs_config(&path, None), &no_env).await.unwrap();
        store.create("k", b"v").await.unwrap();
        assert!(path.join("k").is_file());
    }
}
