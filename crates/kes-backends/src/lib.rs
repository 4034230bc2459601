#![doc = include_str!("../README.md")]

mod error;
mod fs;

#[cfg(feature = "aws")]
mod aws;
#[cfg(any(
    feature = "gcp",
    feature = "azure",
    feature = "gemalto",
    feature = "fortanix",
    feature = "entrust"
))]
mod cloud;
#[cfg(feature = "vault")]
mod vault;

#[cfg(test)]
mod testutil;

use std::sync::Arc;

use kes_core::config::KeyStoreConfig;
use kes_keystore::KeyStore;

pub use error::Error;

/// The environment lookup the backends read (the `VAULT_*` defaults, the AWS, GCP and Azure
/// default credential chains, `AWS_CA_BUNDLE`): `|name| std::env::var(name).ok()` in a
/// binary, a fixed map in a test.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Every backend feature, in the order the docs list them.
pub const FEATURES: &[&str] = &[
    "vault", "aws", "gcp", "azure", "gemalto", "fortanix", "entrust",
];

/// The backend features this build contains.
const COMPILED: &[&str] = &[
    #[cfg(feature = "vault")]
    "vault",
    #[cfg(feature = "aws")]
    "aws",
    #[cfg(feature = "gcp")]
    "gcp",
    #[cfg(feature = "azure")]
    "azure",
    #[cfg(feature = "gemalto")]
    "gemalto",
    #[cfg(feature = "fortanix")]
    "fortanix",
    #[cfg(feature = "entrust")]
    "entrust",
];

/// The backend features this build contains (a subset of [`FEATURES`]; the filesystem store
/// needs none).
pub fn compiled_features() -> &'static [&'static str] {
    COMPILED
}

/// The cargo feature that provides the backend of `config`, or `None` for the filesystem
/// store (always built in).
pub fn required_feature(config: &KeyStoreConfig) -> Option<&'static str> {
    match config {
        KeyStoreConfig::Vault(_) => Some("vault"),
        KeyStoreConfig::Aws(_) => Some("aws"),
        KeyStoreConfig::Gcp(_) => Some("gcp"),
        KeyStoreConfig::Azure(_) => Some("azure"),
        KeyStoreConfig::Gemalto(_) => Some("gemalto"),
        KeyStoreConfig::Fortanix(_) => Some("fortanix"),
        KeyStoreConfig::Entrust(_) => Some("entrust"),
        _ => None,
    }
}

/// Checks that a build with the backend features `compiled` can open `config`.
///
/// # Errors
/// [`Error::NotCompiled`] naming the section and the feature.
pub fn check_compiled(config: &KeyStoreConfig, compiled: &[&str]) -> Result<(), Error> {
    match required_feature(config) {
        Some(feature) if !compiled.contains(&feature) => Err(Error::NotCompiled {
            section: config.section(),
            feature,
        }),
        _ => Ok(()),
    }
}

/// Opens the keystore `config` names: the filesystem store (plain or sealed) directly, a
/// network backend by mapping every field of its config section to the backend's config,
/// validating it, and connecting (logging in, or checking that the service answers and
/// accepts the credentials, as KES does at startup).
///
/// `env` is the environment the backends read (see [`EnvLookup`]). Network backends need a
/// Tokio runtime. The returned future is `Send`.
///
/// # Errors
/// [`Error::NotCompiled`] for a backend this build lacks (naming the feature),
/// [`Error::Config`] with the backend's validation message, [`Error::SealKeyFile`],
/// [`Error::Open`] when the store cannot be opened, reached or logged in to.
pub async fn open(config: &KeyStoreConfig, env: EnvLookup<'_>) -> Result<Arc<dyn KeyStore>, Error> {
    check_compiled(config, COMPILED)?;
    match config {
        KeyStoreConfig::Fs(fs) => fs::open(fs),
        #[cfg(feature = "vault")]
        KeyStoreConfig::Vault(c) => vault::open(c, env).await,
        #[cfg(feature = "aws")]
        KeyStoreConfig::Aws(c) => aws::open(c, env).await,
        #[cfg(feature = "gcp")]
        KeyStoreConfig::Gcp(c) => cloud::gcp::open(c, env).await,
        #[cfg(feature = "azure")]
        KeyStoreConfig::Azure(c) => cloud::azure::open(c, env).await,
        #[cfg(feature = "gemalto")]
        KeyStoreConfig::Gemalto(c) => cloud::gemalto::open(c).await,
        #[cfg(feature = "fortanix")]
        KeyStoreConfig::Fortanix(c) => cloud::fortanix::open(c).await,
        #[cfg(feature = "entrust")]
        KeyStoreConfig::Entrust(c) => cloud::entrust::open(c).await,
        other => {
            let _ = env;
            // Not compiled in (already reported above) or unknown to this crate.
            check_compiled(other, COMPILED)?;
            Err(Error::Unsupported {
                section: other.section(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn a_backend_that_is_not_compiled_names_its_feature() {
        let cases = [
            (vault_config("http://127.0.0.1:1"), "vault", "vault"),
            (
                aws_config("http://127.0.0.1:1"),
                "aws.secretsmanager",
                "aws",
            ),
            (gcp_config(), "gcp.secretmanager", "gcp"),
            (
                azure_config("http://127.0.0.1:1"),
                "azure.keyvault",
                "azure",
            ),
            (
                gemalto_config("http://127.0.0.1:1"),
                "gemalto.keysecure",
                "gemalto",
            ),
            (
                fortanix_config("http://127.0.0.1:1"),
                "fortanix.sdkms",
                "fortanix",
            ),
            (
                entrust_config("http://127.0.0.1:1"),
                "entrust.keycontrol",
                "entrust",
            ),
        ];
        for (config, section, feature) in &cases {
            assert_eq!(required_feature(config), Some(*feature));
            let err = check_compiled(config, &[]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("keystore '{section}' needs the cargo feature '{feature}'")
            );
            assert!(matches!(err, Error::NotCompiled { feature: f, .. } if f == *feature));
            check_compiled(config, FEATURES).unwrap();
            let others: Vec<&str> = FEATURES.iter().copied().filter(|f| f != feature).collect();
            assert!(check_compiled(config, &others).is_err());
        }
        let fs = fs_config(std::path::Path::new("/nonexistent"), None);
        assert_eq!(required_feature(&fs), None);
        check_compiled(&fs, &[]).unwrap();
    }

    #[test]
    fn compiled_features_follow_the_cargo_features() {
        for feature in FEATURES {
            let on = match *feature {
                "vault" => cfg!(feature = "vault"),
                "aws" => cfg!(feature = "aws"),
                "gcp" => cfg!(feature = "gcp"),
                "azure" => cfg!(feature = "azure"),
                "gemalto" => cfg!(feature = "gemalto"),
                "fortanix" => cfg!(feature = "fortanix"),
                "entrust" => cfg!(feature = "entrust"),
                other => panic!("unknown feature {other}"),
            };
            assert_eq!(compiled_features().contains(feature), on, "{feature}");
        }
        assert!(compiled_features().iter().all(|f| FEATURES.contains(f)));
    }

    /// `open` itself refuses what this build lacks, before touching the network.
    #[tokio::test]
    async fn open_refuses_backends_this_build_lacks() {
        for config in [
            vault_config("http://127.0.0.1:1"),
            aws_config("http://127.0.0.1:1"),
            gcp_config(),
            azure_config("http://127.0.0.1:1"),
            gemalto_config("http://127.0.0.1:1"),
            fortanix_config("http://127.0.0.1:1"),
            entrust_config("http://127.0.0.1:1"),
        ] {
            let feature = required_feature(&config).unwrap();
            if compiled_features().contains(&feature) {
                continue;
            }
            let err = open(&config, &no_env).await.err().unwrap();
            assert!(
                err.to_string()
                    .ends_with(&format!("needs the cargo feature '{feature}'")),
                "{err}"
            );
        }
    }

    /// Callers may spawn `open` (a server reloads its config on a signal task).
    #[test]
    fn open_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let config = fs_config(std::path::Path::new("/nonexistent"), None);
        let future = open(&config, &no_env);
        assert_send(&future);
    }
}
