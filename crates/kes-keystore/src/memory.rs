//! The in-memory keystore (spec §8.4): dev mode and tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::{Error, KeyStore, ListPage, Result, list_page};

/// A keystore that keeps every value in a process-local map. Nothing survives a restart.
///
/// `status` always reports 1 ms; deleting a missing key is [`Error::NotFound`].
#[derive(Default)]
pub struct MemKeyStore {
    keys: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl std::fmt::Debug for MemKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemKeyStore")
            .field("keys", &self.lock().len())
            .finish()
    }
}

impl MemKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Zeroizing<Vec<u8>>>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is a
        // single insert/remove), so a poisoned lock is still consistent.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl KeyStore for MemKeyStore {
    fn describe(&self) -> String {
        "In Memory".to_owned()
    }

    async fn status(&self) -> Result<Duration> {
        Ok(Duration::from_millis(1))
    }

    async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        let mut keys = self.lock();
        if keys.contains_key(name) {
            return Err(Error::Exists);
        }
        keys.insert(name.to_owned(), Zeroizing::new(value.to_vec()));
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.lock().get(name).cloned().ok_or(Error::NotFound)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.lock().remove(name).map(drop).ok_or(Error::NotFound)
    }

    async fn list(&self, prefix: &str, continue_at: &str, n: usize) -> Result<ListPage> {
        let keys = self.lock();
        Ok(list_page(
            keys.keys().map(String::as_str),
            prefix,
            continue_at,
            n,
        ))
    }
}
