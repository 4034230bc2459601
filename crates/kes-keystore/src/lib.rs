#![doc = include_str!("../README.md")]

pub mod cache;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod fs;
pub mod list;
pub mod memory;
pub mod seal;
pub mod store;

pub use cache::{CacheConfig, KeyCache, KeyVersionCache, parse_key_version};
pub use error::{Error, Result};
pub use fs::FsKeyStore;
pub use list::{DEFAULT_LIST_LIMIT, list_page};
pub use memory::MemKeyStore;
pub use seal::{parse_seal_key, read_seal_key_file};
pub use store::{KeyStore, ListPage};
