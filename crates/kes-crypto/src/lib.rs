#![doc = include_str!("../README.md")]

pub mod ciphertext;
pub mod error;
pub mod key;
pub mod keywrap;
mod mac;
pub mod rng;
pub mod sse;
pub mod version;

pub use error::{Error, Result};
pub use key::{DataKey, EmbeddedAlgorithm, HmacKey, KeyAlgorithm, SecretKey};
pub use keywrap::WrapKey;
pub use version::KeyVersion;
