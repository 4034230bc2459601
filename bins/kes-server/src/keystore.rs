//! Opening the keystore a configuration chooses, through `kes-backends` (the mapping it
//! shares with `kes-cli migrate`).
//!
//! The filesystem store (plain and sealed) is always available; every other backend is a
//! cargo feature of this crate forwarded to kes-backends: `vault` and `aws` (on by default),
//! `gcp`, `azure`, `gemalto`, `fortanix`, `entrust`, and `all`. A backend that is not
//! compiled in is a start-up error that names the feature.

use std::sync::Arc;

use kes_core::config::KeyStoreConfig;
use kes_keystore::KeyStore;

use crate::Error;

/// Opens (and for a network backend: connects and logs in to) the keystore of `config`.
///
/// `env` looks up environment variables (the `VAULT_*` defaults, the AWS, GCP and Azure
/// default credential chains).
///
/// # Errors
/// [`Error::BackendNotCompiled`] for a backend this build lacks, [`Error::Keystore`] when
/// the store's section is invalid or the store cannot be opened or reached.
pub async fn open(
    config: &KeyStoreConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Arc<dyn KeyStore>, Error> {
    kes_backends::open(config, env).await.map_err(|e| match e {
        kes_backends::Error::NotCompiled { section, feature } => {
            Error::BackendNotCompiled { section, feature }
        }
        other => Error::Keystore(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kes_core::config::{AwsKeyStore, FsKeyStore, GcpKeyStore, SecretText};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[tokio::test]
    async fn errors_keep_their_meaning() {
        let dir = tempfile::tempdir().unwrap();
        let fs = KeyStoreConfig::Fs(FsKeyStore {
            path: dir.path().join("keys"),
            seal: None,
        });
        let store = open(&fs, &no_env).await.unwrap();
        assert!(store.describe().starts_with("Filesystem: "));

        let aws = KeyStoreConfig::Aws(AwsKeyStore {
            endpoint: "secretsmanager.us-east-2.amazonaws.com".into(),
            region: String::new(),
            kms_key: String::new(),
            access_key: "AKID".into(),
            secret_key: SecretText::new("secret".into()),
            session_token: SecretText::default(),
        });
        let err = open(&aws, &no_env).await.err().unwrap();
        if cfg!(feature = "aws") {
            assert_eq!(
                err.to_string(),
                "failed to open keystore: invalid AWS secretsmanager keystore: no region specified"
            );
        } else {
            assert!(matches!(
                err,
                Error::BackendNotCompiled { feature: "aws", .. }
            ));
        }

        #[cfg(not(feature = "vault"))]
        {
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

        let gcp = KeyStoreConfig::Gcp(GcpKeyStore {
            project_id: String::new(),
            endpoint: String::new(),
            scopes: Vec::new(),
            credentials: Default::default(),
        });
        let err = open(&gcp, &no_env).await.err().unwrap();
        if cfg!(feature = "gcp") {
            assert!(matches!(err, Error::Keystore(_)), "{err:?}");
        } else {
            assert_eq!(
                err.to_string(),
                "keystore 'keystore.gcp.secretmanager' is not available in this build of \
                 kes-server: rebuild it with the cargo feature 'gcp' (cargo build --features gcp)"
            );
        }
    }
}
