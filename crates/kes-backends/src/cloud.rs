//! The `kes-keystore-cloud` backends: each config section → the backend's config type.

use kes_keystore_cloud::Error as CloudError;

use crate::Error;

/// A cloud backend's error: its validation message as [`Error::Config`], the rest as
/// [`Error::Open`].
fn convert(backend: &'static str) -> impl Fn(CloudError) -> Error {
    move |e| match e {
        CloudError::Config(message) => Error::Config(message),
        other => Error::open(backend, other),
    }
}

#[cfg(feature = "gcp")]
pub(crate) mod gcp {
    //! `keystore.gcp.secretmanager` → [`kes_keystore_cloud::gcp::GcpConfig`].

    use std::sync::Arc;

    use kes_core::config::GcpKeyStore;
    use kes_keystore::KeyStore;
    use kes_keystore_cloud::gcp;

    use crate::{EnvLookup, Error};

    /// Every field; a service account by KES's rule (any credential field set), else the
    /// application-default credentials.
    pub(crate) fn config(cfg: &GcpKeyStore) -> gcp::GcpConfig {
        let mut config = gcp::GcpConfig::new(cfg.project_id.clone());
        config.endpoint = cfg.endpoint.clone();
        config.scopes = cfg.scopes.clone();
        let c = &cfg.credentials;
        config.set_credentials(
            &c.client_email,
            &c.client_id,
            &c.private_key_id,
            c.private_key.expose_secret(),
        );
        config
    }

    pub(crate) async fn open(
        cfg: &GcpKeyStore,
        env: EnvLookup<'_>,
    ) -> Result<Arc<dyn KeyStore>, Error> {
        let store = gcp::GcpKeyStore::connect_with_env(config(cfg), env)
            .await
            .map_err(super::convert("gcp"))?;
        Ok(Arc::new(store))
    }
}

#[cfg(feature = "azure")]
pub(crate) mod azure {
    //! `keystore.azure.keyvault` → [`kes_keystore_cloud::azure::AzureConfig`].

    use std::sync::Arc;

    use kes_core::config::{AzureAuth, AzureKeyStore};
    use kes_keystore::KeyStore;
    use kes_keystore_cloud::azure;

    use crate::{EnvLookup, Error};

    /// The endpoint and the login method: a client secret, a managed identity, or the
    /// default chain.
    pub(crate) fn config(cfg: &AzureKeyStore) -> azure::AzureConfig {
        let mut config = azure::AzureConfig::new(cfg.endpoint.clone());
        match &cfg.auth {
            AzureAuth::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
            } => config.set_client_secret(
                tenant_id.clone(),
                client_id.clone(),
                client_secret.expose_secret(),
            ),
            AzureAuth::ManagedIdentity { client_id } => {
                config.set_managed_identity(client_id.clone());
            }
            AzureAuth::Default => {}
        }
        config
    }

    pub(crate) async fn open(
        cfg: &AzureKeyStore,
        env: EnvLookup<'_>,
    ) -> Result<Arc<dyn KeyStore>, Error> {
        let store = azure::AzureKeyStore::connect_with_env(config(cfg), env)
            .await
            .map_err(super::convert("azure"))?;
        Ok(Arc::new(store))
    }
}

#[cfg(feature = "gemalto")]
pub(crate) mod gemalto {
    //! `keystore.gemalto.keysecure` → [`kes_keystore_cloud::gemalto::GemaltoConfig`].

    use std::sync::Arc;

    use kes_core::config::GemaltoKeyStore;
    use kes_keystore::KeyStore;
    use kes_keystore_cloud::gemalto;

    use crate::Error;

    pub(crate) fn config(cfg: &GemaltoKeyStore) -> gemalto::GemaltoConfig {
        let mut config =
            gemalto::GemaltoConfig::new(cfg.endpoint.clone(), cfg.token.expose_secret());
        config.domain = cfg.domain.clone();
        config.ca = cfg.ca.clone();
        config
    }

    pub(crate) async fn open(cfg: &GemaltoKeyStore) -> Result<Arc<dyn KeyStore>, Error> {
        let store = gemalto::GemaltoKeyStore::connect(config(cfg))
            .await
            .map_err(super::convert("gemalto"))?;
        Ok(Arc::new(store))
    }
}

#[cfg(feature = "fortanix")]
pub(crate) mod fortanix {
    //! `keystore.fortanix.sdkms` → [`kes_keystore_cloud::fortanix::FortanixConfig`].

    use std::sync::Arc;

    use kes_core::config::FortanixKeyStore;
    use kes_keystore::KeyStore;
    use kes_keystore_cloud::fortanix;

    use crate::Error;

    pub(crate) fn config(cfg: &FortanixKeyStore) -> fortanix::FortanixConfig {
        let mut config =
            fortanix::FortanixConfig::new(cfg.endpoint.clone(), cfg.api_key.expose_secret());
        config.group_id = cfg.group_id.clone();
        config.ca = cfg.ca.clone();
        config
    }

    pub(crate) async fn open(cfg: &FortanixKeyStore) -> Result<Arc<dyn KeyStore>, Error> {
        let store = fortanix::FortanixKeyStore::connect(config(cfg))
            .await
            .map_err(super::convert("fortanix"))?;
        Ok(Arc::new(store))
    }
}

#[cfg(feature = "entrust")]
pub(crate) mod entrust {
    //! `keystore.entrust.keycontrol` → [`kes_keystore_cloud::entrust::EntrustConfig`].

    use std::sync::Arc;

    use kes_core::config::EntrustKeyStore;
    use kes_keystore::KeyStore;
    use kes_keystore_cloud::entrust;

    use crate::Error;

    pub(crate) fn config(cfg: &EntrustKeyStore) -> entrust::EntrustConfig {
        let mut config = entrust::EntrustConfig::new(
            cfg.endpoint.clone(),
            cfg.vault_id.clone(),
            cfg.box_id.clone(),
            cfg.username.clone(),
            cfg.password.expose_secret(),
        );
        config.ca = cfg.ca.clone();
        config
    }

    pub(crate) async fn open(cfg: &EntrustKeyStore) -> Result<Arc<dyn KeyStore>, Error> {
        let store = entrust::EntrustKeyStore::connect(config(cfg))
            .await
            .map_err(super::convert("entrust"))?;
        Ok(Arc::new(store))
    }
}

#[cfg(test)]
mod tests;
