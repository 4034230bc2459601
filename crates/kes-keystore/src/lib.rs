#![doc = include_str!("../README.md")]

pub mod cache;
pub mod error;
pub mod list;
pub mod memory;
pub mod store;

pub use cache::{CacheConfig, KeyCache};
pub use error::{Error, Result};
pub use list::{DEFAULT_LIST_LIMIT, list_page};
pub use memory::MemKeyStore;
pub use store::{KeyStore, ListPage};
