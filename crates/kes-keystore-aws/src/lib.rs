#![doc = include_str!("../README.md")]

pub mod config;
pub mod credentials;
mod error;
mod store;
mod wire;

pub use config::{AwsConfig, StaticCredentials};
pub use credentials::{CredentialSource, EnvLookup};
pub use error::{Error, Result};
pub use store::{AwsKeyStore, is_valid_secret_name};
