//! Opening the keystore a configuration chooses.
//!
//! The filesystem store (plain and sealed) is always available; HashiCorp Vault needs the
//! `vault` cargo feature (on by default). A backend that is not compiled in is a start-up
//! error that names the feature.

use std::sync::Arc;

use kes_core::config::{FsKeyStore, KeyStoreConfig, SealKeySource};
use kes_keystore::KeyStore;
use kes_keystore::fs::FsKeyStore as FsStore;

use crate::Error;

/// Opens (and for Vault: connects and logs in to) the keystore of `config`.
///
/// `env` looks up environment variables (the `VAULT_*` defaults of the Vault client).
///
/// # Errors
/// [`Error::Keystore`] when the store cannot be opened or reached,
/// [`Error::BackendNotCompiled`] for a backend this build lacks.
pub async fn open(
    config: &KeyStoreConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Arc<dyn KeyStore>, Error> {
    match config {
        KeyStoreConfig::Fs(fs) => open_fs(fs),
        #[cfg(feature = "vault")]
        KeyStoreConfig::Vault(vault) => vault::open(vault, env).await,
        #[cfg(not(feature = "vault"))]
        KeyStoreConfig::Vault(_) => Err(Error::BackendNotCompiled {
            section: config.section(),
            feature: Some("vault"),
        }),
        other => {
            let _ = env;
            Err(Error::BackendNotCompiled {
                section: other.section(),
                feature: None,
            })
        }
    }
}

fn open_fs(fs: &FsKeyStore) -> Result<Arc<dyn KeyStore>, Error> {
    let keystore_err = |e: kes_keystore::Error| Error::Keystore(e.to_string());
    let store = match &fs.seal {
        None => FsStore::open(&fs.path).map_err(keystore_err)?,
        Some(SealKeySource::File(path)) => {
            let key = kes_keystore::read_seal_key_file(path).map_err(|e| {
                Error::Keystore(format!(
                    "failed to read the seal key file '{}': {e}",
                    path.display()
                ))
            })?;
            FsStore::open_sealed(&fs.path, &key).map_err(keystore_err)?
        }
        Some(SealKeySource::Key(key)) => {
            FsStore::open_sealed(&fs.path, key.expose_secret()).map_err(keystore_err)?
        }
    };
    Ok(Arc::new(store))
}

#[cfg(feature = "vault")]
mod vault {
    use std::sync::Arc;

    use kes_core::config::{VaultAuth, VaultJwt, VaultKeyStore, VaultKvVersion};
    use kes_keystore::KeyStore;
    use kes_keystore_vault as kv;

    use crate::Error;

    /// The credential as the Vault client's config takes it (it wraps it in a secret type).
    fn secret(text: &kes_core::config::SecretText) -> String {
        text.expose_secret().to_owned()
    }

    pub(super) async fn open(
        cfg: &VaultKeyStore,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Arc<dyn KeyStore>, Error> {
        let mut config = kv::VaultConfig::new(cfg.endpoint.clone());
        config.engine = cfg.engine.clone();
        config.version = match cfg.version {
            VaultKvVersion::V1 => kv::KvVersion::V1,
            VaultKvVersion::V2 => kv::KvVersion::V2,
        };
        config.namespace = cfg.namespace.clone();
        config.prefix = cfg.prefix.clone();
        config.transit = cfg.transit.as_ref().map(|t| {
            let mut transit = kv::TransitConfig::new(t.key.clone());
            transit.engine = t.engine.clone();
            transit
        });
        match &cfg.auth {
            Some(VaultAuth::AppRole(a)) => {
                let mut approle = kv::AppRoleConfig::new(a.id.clone(), secret(&a.secret));
                approle.engine = a.engine.clone();
                approle.namespace = a.namespace.clone();
                config.approle = Some(approle);
            }
            Some(VaultAuth::Kubernetes(k)) => {
                let jwt = match &k.jwt {
                    VaultJwt::File(path) => kv::KubernetesJwt::File(path.clone()),
                    VaultJwt::Token(token) => kv::KubernetesJwt::from_config(&secret(token)),
                };
                let mut kubernetes = kv::KubernetesConfig::new(k.role.clone(), jwt);
                kubernetes.engine = k.engine.clone();
                kubernetes.namespace = k.namespace.clone();
                config.kubernetes = Some(kubernetes);
            }
            None => {}
        }
        config.tls.key = cfg.tls.key.clone();
        config.tls.cert = cfg.tls.cert.clone();
        config.tls.ca = cfg.tls.ca.clone();
        config.status_ping = cfg.status_ping;
        config
            .apply_env(env)
            .map_err(|e| Error::Keystore(e.to_string()))?;
        let store = kv::VaultKeyStore::connect(config)
            .await
            .map_err(|e| Error::Keystore(e.to_string()))?;
        Ok(Arc::new(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[cfg(not(feature = "vault"))]
    #[tokio::test]
    async fn vault_without_the_feature_names_it() {
        let vault = kes_core::config::load(
            "admin:\n  identity: disabled\ntls:\n  key: k\n  cert: c\nkeystore:\n  vault:\n    endpoint: http://127.0.0.1:8200\n    approle:\n      id: i\n      secret: s\n",
            &no_env,
        )
        .unwrap()
        .config
        .keystore;
        let err = open(&vault, &no_env).await.err().unwrap().to_string();
        assert!(err.contains("cargo feature 'vault'"), "{err}");
    }

    #[tokio::test]
    async fn fs_store_opens_and_sealed_store_needs_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let key_file = dir.path().join("seal.key");
        std::fs::write(&key_file, "11".repeat(32)).unwrap();
        let sealed = KeyStoreConfig::Fs(FsKeyStore {
            path: path.clone(),
            seal: Some(SealKeySource::File(key_file.clone())),
        });
        let store = open(&sealed, &no_env).await.unwrap();
        store.create("k", b"v").await.unwrap();
        drop(store);
        let plain = KeyStoreConfig::Fs(FsKeyStore {
            path: path.clone(),
            seal: None,
        });
        let err = open(&plain, &no_env).await.err().unwrap().to_string();
        assert!(err.contains("sealed"), "{err}");
        std::fs::write(&key_file, "22".repeat(32)).unwrap();
        assert!(open(&sealed, &no_env).await.is_err());
        let missing = KeyStoreConfig::Fs(FsKeyStore {
            path,
            seal: Some(SealKeySource::File(PathBuf::from("/nonexistent/seal.key"))),
        });
        let err = open(&missing, &no_env).await.err().unwrap().to_string();
        assert!(err.contains("/nonexistent/seal.key"), "{err}");
    }
}
