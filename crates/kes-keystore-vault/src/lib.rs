#![doc = include_str!("../README.md")]

pub mod config;
mod error;
mod http;
mod store;
mod wire;

pub use config::{
    AppRoleConfig, KubernetesConfig, KubernetesJwt, KvVersion, TransitConfig, VaultConfig,
    VaultTlsConfig,
};
pub use error::{Error, Result};
pub use store::{HealthMethod, ListMethod, TRANSIT_PREFIX, VaultKeyStore};
