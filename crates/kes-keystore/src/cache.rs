//! The key cache (spec §9): parsed keys by name in front of a [`KeyStore`], with expiry,
//! per-name single-flight on misses, and offline mode.
//!
//! The cache owns no timer and reads no clock: the caller passes `now` (an [`Instant`]) to
//! [`KeyCache::tick`] / [`KeyCache::sweep`], and [`KeyCache::next_deadline`] says when the next
//! tick is due — the quinn-proto style, so the runtime-free server core can own the cache and
//! its runtime shell drives it.
//!
//! # What is cached
//! The *parsed* value: the cache is generic over `V` and takes a parser
//! `Fn(&str, &[u8]) -> Result<V>`. The server uses [`KeyVersionCache`] (built with
//! [`KeyCache::for_key_versions`]), which caches `kes_crypto::KeyVersion`, so a stored value is
//! parsed once per fetch instead of once per request. Values are handed out as `Arc<V>`.
//!
//! # Semantics
//! * [`get`](KeyCache::get): a hit marks the entry used. A miss fetches from the store and
//!   parses; concurrent misses for the same name wait for one fetch (single-flight) and all
//!   receive its result. Errors are not cached.
//! * [`create`](KeyCache::create) writes through and does not populate the cache;
//!   [`delete`](KeyCache::delete) deletes from the store first and evicts on success (a fetch
//!   that raced with the delete does not re-insert the old value); [`list`](KeyCache::list)
//!   passes through.
//! * Sweeps (each disabled when its duration is zero), run by `tick`/`sweep` when due:
//!   * every `any`: drop every entry;
//!   * every `unused / 2`: drop entries not used since the previous sweep and clear the used
//!     flag of the others (an unused entry lives 0.5–1 × `unused`);
//!   * both are skipped while offline if `offline` > 0;
//!   * while offline with `offline` > 0: drop every entry once the store has been offline for
//!     `offline` (measured from when the probe first saw it offline, so cached keys work for
//!     *at most* `offline`; upstream's free-running timer could cut that short).
//! * Every `status_interval` (10 s) `tick` probes [`KeyStore::status`]; any error sets the
//!   offline flag, success clears it. While offline, [`status`](KeyCache::status) fails at once
//!   with [`Error::Unreachable`] `"keystore is offline"`, even when offline caching is off.
//!   Misses while offline still ask the store (which fails with unreachable if it is down), so
//!   recovery does not wait for the next probe.
//!
//! Defaults ([`CacheConfig::default`]): `any` = 5 m, `unused` = 30 s, `offline` = 0
//! (disabled) — the documented defaults, not upstream's buggy effective ones (spec §9, §14.5).
//!
//! # No lock on a hit
//! The entries live in a concurrent map with lock-free reads (`papaya`): a hit hashes the
//! name, sets the entry's `used` flag (an atomic, written only when it was clear) and clones
//! the `Arc`, without taking a lock, so requests on different threads never wait for each
//! other or for a sweep. Everything that changes the entries (a fetch's insert, a delete, the
//! sweeps) and the schedule state runs under one mutex, which keeps a fetch from re-inserting a
//! value that a delete removed meanwhile. A removed value is freed (and zeroized, for key
//! versions) once no reader that could still see it is running.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_lock::OnceCell;
use kes_crypto::KeyVersion;

use crate::{Error, KeyStore, ListPage, Result};

/// Expiry settings of a [`KeyCache`] (`cache.expiry.*` in the server config). A zero duration
/// disables the corresponding sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// `cache.expiry.any`: drop every entry this often (default 5 m).
    pub any: Duration,
    /// `cache.expiry.unused`: drop entries not used for this long (default 30 s).
    pub unused: Duration,
    /// `cache.expiry.offline`: while the store is offline, keep serving cached keys for up to
    /// this long (default 0 = offline caching disabled).
    pub offline: Duration,
    /// How often `tick` probes the store's status (10 s, as KES).
    pub status_interval: Duration,
}

impl CacheConfig {
    /// The documented default for `cache.expiry.any`.
    pub const DEFAULT_ANY: Duration = Duration::from_secs(5 * 60);
    /// The documented default for `cache.expiry.unused`.
    pub const DEFAULT_UNUSED: Duration = Duration::from_secs(30);
    /// The status probe interval of KES.
    pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(10);
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            any: Self::DEFAULT_ANY,
            unused: Self::DEFAULT_UNUSED,
            offline: Duration::ZERO,
            status_interval: Self::DEFAULT_STATUS_INTERVAL,
        }
    }
}

/// Parses a stored value (name, bytes) into the cached form.
pub type Parser<V> = dyn Fn(&str, &[u8]) -> Result<V> + Send + Sync;

type Flight<V> = Arc<OnceCell<Result<Arc<V>>>>;

struct Entry<V> {
    value: Arc<V>,
    used: AtomicBool,
}

/// What changes the entries, and the schedule. Held by writers and maintenance, never by a hit.
struct State {
    /// Bumped by every delete; a fetch only inserts if no delete happened meanwhile.
    epoch: u64,
    offline_since: Option<Instant>,
    next_any: Option<Instant>,
    next_unused: Option<Instant>,
    next_status: Option<Instant>,
}

/// A cache of parsed keys in front of a [`KeyStore`]. See the [module docs](self).
pub struct KeyCache<V> {
    store: Arc<dyn KeyStore>,
    parse: Box<Parser<V>>,
    config: CacheConfig,
    /// Read without a lock; changed only under `state`.
    entries: papaya::HashMap<String, Entry<V>>,
    state: Mutex<State>,
    flights: Mutex<HashMap<String, Flight<V>>>,
}

impl<V> std::fmt::Debug for KeyCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("store", &self.store.describe())
            .field("config", &self.config)
            .field("entries", &self.entries.len())
            .field("offline", &lock(&self.state).offline_since.is_some())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn after(now: Instant, interval: Duration) -> Option<Instant> {
    if interval.is_zero() {
        None
    } else {
        now.checked_add(interval)
    }
}

impl<V: Send + Sync + 'static> KeyCache<V> {
    /// A cache over `store` that parses values with `parse`. `now` starts the sweep and probe
    /// schedules.
    pub fn new<F>(store: Arc<dyn KeyStore>, config: CacheConfig, now: Instant, parse: F) -> Self
    where
        F: Fn(&str, &[u8]) -> Result<V> + Send + Sync + 'static,
    {
        let state = State {
            epoch: 0,
            offline_since: None,
            next_any: after(now, config.any),
            next_unused: after(now, unused_interval(config.unused)),
            next_status: after(now, config.status_interval),
        };
        KeyCache {
            store,
            parse: Box::new(parse),
            config,
            entries: papaya::HashMap::new(),
            state: Mutex::new(state),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// The expiry settings.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// `true` while the last status probe failed.
    pub fn is_offline(&self) -> bool {
        self.lock_state().offline_since.is_some()
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if `name` is cached (does not mark it used).
    pub fn contains(&self, name: &str) -> bool {
        self.entries.pin().contains_key(name)
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Returns the parsed key `name`, from the cache or (single-flight) from the store.
    pub async fn get(&self, name: &str) -> Result<Arc<V>> {
        if let Some(value) = self.lookup(name) {
            return Ok(value);
        }
        let flight: Flight<V> = lock(&self.flights)
            .entry(name.to_owned())
            .or_default()
            .clone();
        let result = flight.get_or_init(|| self.fetch(name)).await.clone();
        let mut flights = lock(&self.flights);
        if flights.get(name).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(name);
        }
        result
    }

    /// A hit: no lock (see the module docs).
    fn lookup(&self, name: &str) -> Option<Arc<V>> {
        let entries = self.entries.pin();
        let entry = entries.get(name)?;
        // Write the flag only when it changes: most hits then only read the entry's line.
        if !entry.used.load(Ordering::Relaxed) {
            entry.used.store(true, Ordering::Relaxed);
        }
        Some(entry.value.clone())
    }

    fn fetch<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<V>>> + Send + 'a>> {
        Box::pin(async move {
            // A previous flight may have filled the cache between our miss and this flight.
            if let Some(value) = self.lookup(name) {
                return Ok(value);
            }
            let epoch = self.lock_state().epoch;
            let raw = self.store.get(name).await?;
            let value = Arc::new((self.parse)(name, &raw)?);
            let state = self.lock_state();
            if state.epoch == epoch {
                self.entries.pin().insert(
                    name.to_owned(),
                    Entry {
                        value: value.clone(),
                        used: AtomicBool::new(true),
                    },
                );
            }
            drop(state);
            Ok(value)
        })
    }

    /// Creates `name` in the store (write-through; the cache is not populated).
    pub async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        self.store.create(name, value).await
    }

    /// Deletes `name` from the store, then evicts it from the cache.
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.store.delete(name).await?;
        let mut state = self.lock_state();
        self.entries.pin().remove(name);
        state.epoch = state.epoch.wrapping_add(1);
        drop(state);
        lock(&self.flights).remove(name);
        Ok(())
    }

    /// Lists names in the store (passes through; see [`KeyStore::list`]).
    pub async fn list(&self, prefix: &str, continue_at: &str, n: usize) -> Result<ListPage> {
        self.store.list(prefix, continue_at, n).await
    }

    /// The store's status, or [`Error::Unreachable`] `"keystore is offline"` at once while the
    /// last probe failed.
    pub async fn status(&self) -> Result<Duration> {
        if self.is_offline() {
            return Err(Error::unreachable("keystore is offline"));
        }
        self.store.status().await
    }

    /// Runs the sweeps that are due at `now`, then the status probe if it is due.
    pub async fn tick(&self, now: Instant) {
        self.sweep(now);
        let probe_due = {
            let mut state = self.lock_state();
            match state.next_status {
                Some(at) if now >= at => {
                    state.next_status = after(now, self.config.status_interval);
                    true
                }
                _ => false,
            }
        };
        if probe_due {
            // The outcome is recorded in the offline flag.
            let _ = self.probe(now).await;
        }
    }

    /// Probes the store's status now and sets or clears the offline flag accordingly.
    pub async fn probe(&self, now: Instant) -> Result<Duration> {
        let result = self.store.status().await;
        let mut state = self.lock_state();
        match (&result, state.offline_since) {
            (Err(_), None) => state.offline_since = Some(now),
            (Ok(_), Some(_)) => state.offline_since = None,
            _ => {}
        }
        result
    }

    /// Runs the expiry sweeps that are due at `now` (no IO).
    pub fn sweep(&self, now: Instant) {
        let config = self.config;
        let mut state = self.lock_state();
        let holding_offline = state.offline_since.is_some() && !config.offline.is_zero();

        if let Some(at) = state.next_any {
            if now >= at {
                state.next_any = after(now, config.any);
                if !holding_offline {
                    self.entries.pin().clear();
                }
            }
        }
        if let Some(at) = state.next_unused {
            if now >= at {
                state.next_unused = after(now, unused_interval(config.unused));
                if !holding_offline {
                    // Keeps the entries used since the last sweep and clears their flag.
                    self.entries
                        .pin()
                        .retain(|_, entry| entry.used.swap(false, Ordering::Relaxed));
                }
            }
        }
        if holding_offline {
            if let Some(since) = state.offline_since {
                if since
                    .checked_add(config.offline)
                    .is_some_and(|end| now >= end)
                {
                    self.entries.pin().clear();
                    state.offline_since = Some(now);
                }
            }
        }
    }

    /// When the next sweep or probe is due (`None` if everything is disabled).
    pub fn next_deadline(&self) -> Option<Instant> {
        let state = self.lock_state();
        let offline_end = match state.offline_since {
            Some(since) if !self.config.offline.is_zero() => since.checked_add(self.config.offline),
            _ => None,
        };
        [
            state.next_any,
            state.next_unused,
            state.next_status,
            offline_end,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// A cache of parsed KES keys (§7.4), as the server uses it.
pub type KeyVersionCache = KeyCache<KeyVersion>;

/// Parses a stored value as a KES key version (§7.4); a malformed value is
/// [`Error::InvalidValue`] (the server answers `502 failed to read key`).
pub fn parse_key_version(name: &str, value: &[u8]) -> Result<KeyVersion> {
    KeyVersion::parse(value).map_err(|e| Error::InvalidValue {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

impl KeyCache<KeyVersion> {
    /// A cache of parsed KES keys over `store` (uses [`parse_key_version`]).
    pub fn for_key_versions(store: Arc<dyn KeyStore>, config: CacheConfig, now: Instant) -> Self {
        KeyCache::new(store, config, now, parse_key_version)
    }
}

fn unused_interval(unused: Duration) -> Duration {
    let half = unused / 2;
    if half.is_zero() { unused } else { half }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use zeroize::Zeroizing;

    use super::*;
    use crate::MemKeyStore;

    /// A memory store that counts gets, can be taken down, and can hold gets at a gate.
    #[derive(Default)]
    struct TestStore {
        inner: MemKeyStore,
        down: AtomicBool,
        gets: AtomicUsize,
        gate: async_lock::Mutex<()>,
    }

    impl TestStore {
        fn check(&self) -> Result<()> {
            if self.down.load(Ordering::SeqCst) {
                Err(Error::unreachable("connection refused"))
            } else {
                Ok(())
            }
        }
    }

    #[async_trait::async_trait]
    impl KeyStore for TestStore {
        fn describe(&self) -> String {
            "Test".into()
        }
        async fn status(&self) -> Result<Duration> {
            self.check()?;
            self.inner.status().await
        }
        async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
            self.check()?;
            self.inner.create(name, value).await
        }
        async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            drop(self.gate.lock().await);
            self.check()?;
            self.inner.get(name).await
        }
        async fn delete(&self, name: &str) -> Result<()> {
            self.check()?;
            self.inner.delete(name).await
        }
        async fn list(&self, prefix: &str, continue_at: &str, n: usize) -> Result<ListPage> {
            self.check()?;
            self.inner.list(prefix, continue_at, n).await
        }
    }

    fn parse(name: &str, raw: &[u8]) -> Result<String> {
        String::from_utf8(raw.to_vec()).map_err(|_| Error::InvalidValue {
            name: name.to_owned(),
            reason: "not UTF-8".into(),
        })
    }

    fn setup(config: CacheConfig) -> (Arc<TestStore>, KeyCache<String>, Instant) {
        let store = Arc::new(TestStore::default());
        let now = Instant::now();
        let cache = KeyCache::new(store.clone(), config, now, parse);
        (store, cache, now)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = CacheConfig::default();
        assert_eq!(
            (c.any, c.unused, c.offline),
            (secs(300), secs(30), Duration::ZERO)
        );
        assert_eq!(c.status_interval, secs(10));
    }

    #[tokio::test]
    async fn hit_miss_errors_not_cached() {
        let (store, cache, _) = setup(CacheConfig::default());
        assert!(matches!(cache.get("k").await, Err(Error::NotFound)));
        assert!(matches!(cache.get("k").await, Err(Error::NotFound)));
        assert_eq!(store.gets.load(Ordering::SeqCst), 2);

        cache.create("k", b"v1").await.unwrap();
        assert!(cache.is_empty(), "create must not populate the cache");
        assert_eq!(*cache.get("k").await.unwrap(), "v1");
        assert_eq!(*cache.get("k").await.unwrap(), "v1");
        assert_eq!(store.gets.load(Ordering::SeqCst), 3);

        store.inner.create("bad", &[0xff]).await.unwrap();
        assert!(matches!(
            cache.get("bad").await,
            Err(Error::InvalidValue { .. })
        ));
        assert!(!cache.contains("bad"));
        assert_eq!(cache.list("", "", 0).await.unwrap().names, ["bad", "k"]);
    }

    /// A hit takes no lock: it completes while another thread holds the cache's mutex (as a
    /// sweep, a delete or a fetch's insert does), and it still marks the entry used.
    #[tokio::test]
    async fn hits_do_not_wait_for_the_cache_lock() {
        let (store, cache, now) = setup(CacheConfig::default());
        cache.create("k", b"v").await.unwrap();
        cache.get("k").await.unwrap();
        let cache = Arc::new(cache);
        let held = cache.lock_state();
        let reader = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let value = cache.lookup("k").map(|v| (*v).clone());
                let flag = cache
                    .entries
                    .pin()
                    .get("k")
                    .map(|e| e.used.load(Ordering::Relaxed));
                (value, flag)
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !reader.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "a cache hit waited for the cache's lock"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(held);
        assert_eq!(reader.join().unwrap(), (Some("v".to_owned()), Some(true)));
        assert_eq!(
            store.gets.load(Ordering::SeqCst),
            1,
            "the hit did not go to the store"
        );
        // The flag the hit set keeps the entry through the next unused sweep.
        cache
            .entries
            .pin()
            .get("k")
            .unwrap()
            .used
            .store(false, Ordering::Relaxed);
        cache.lookup("k").unwrap();
        cache.sweep(now + secs(15));
        assert!(cache.contains("k"));
    }

    #[tokio::test]
    async fn delete_evicts_after_store_delete() {
        let (store, cache, _) = setup(CacheConfig::default());
        cache.create("k", b"v").await.unwrap();
        cache.get("k").await.unwrap();
        store.down.store(true, Ordering::SeqCst);
        assert!(cache.delete("k").await.is_err());
        assert!(cache.contains("k"), "failed delete must not evict");
        store.down.store(false, Ordering::SeqCst);
        cache.delete("k").await.unwrap();
        assert!(!cache.contains("k"));
        assert!(matches!(cache.get("k").await, Err(Error::NotFound)));
        assert!(matches!(cache.delete("k").await, Err(Error::NotFound)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_fetch() {
        let (store, cache, _) = setup(CacheConfig::default());
        store.inner.create("k", b"v").await.unwrap();
        let cache = Arc::new(cache);
        let gate = store.gate.lock().await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get("k").await })
            })
            .collect();
        // Let every task reach the cache while the first fetch is held at the gate.
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(gate);
        for task in tasks {
            assert_eq!(*task.await.unwrap().unwrap(), "v");
        }
        assert_eq!(store.gets.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_error() {
        let (store, cache, _) = setup(CacheConfig::default());
        let cache = Arc::new(cache);
        let gate = store.gate.lock().await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get("missing").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(gate);
        for task in tasks {
            assert!(matches!(task.await.unwrap(), Err(Error::NotFound)));
        }
        assert_eq!(store.gets.load(Ordering::SeqCst), 1);
        // The failed flight is gone: the next miss fetches again.
        assert!(cache.get("missing").await.is_err());
        assert_eq!(store.gets.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn any_drops_everything() {
        let config = CacheConfig {
            unused: Duration::ZERO,
            ..CacheConfig::default()
        };
        let (store, cache, t0) = setup(config);
        store.inner.create("k", b"v").await.unwrap();
        cache.get("k").await.unwrap();
        cache.sweep(t0 + secs(299));
        assert!(cache.contains("k"));
        cache.sweep(t0 + secs(300));
        assert!(!cache.contains("k"));
        assert_eq!(cache.next_deadline(), Some(t0 + secs(10)));
    }

    #[tokio::test]
    async fn unused_entries_expire_used_ones_survive() {
        let (store, cache, t0) = setup(CacheConfig::default());
        store.inner.create("hot", b"h").await.unwrap();
        store.inner.create("cold", b"c").await.unwrap();
        cache.get("hot").await.unwrap();
        cache.get("cold").await.unwrap();
        // First unused sweep at 15 s: both were used since the start; flags cleared.
        cache.sweep(t0 + secs(15));
        assert!(cache.contains("hot") && cache.contains("cold"));
        cache.get("hot").await.unwrap();
        // Second sweep at 30 s: only "hot" was used since the previous sweep.
        cache.sweep(t0 + secs(30));
        assert!(cache.contains("hot"));
        assert!(!cache.contains("cold"));
        // A hit does not go to the store.
        assert_eq!(store.gets.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn status_probe_sets_and_clears_offline() {
        let (store, cache, t0) = setup(CacheConfig::default());
        assert!(cache.status().await.is_ok());
        store.down.store(true, Ordering::SeqCst);
        cache.tick(t0 + secs(5)).await;
        assert!(!cache.is_offline(), "probe is not due before 10 s");
        cache.tick(t0 + secs(10)).await;
        assert!(cache.is_offline());
        let err = cache.status().await.unwrap_err();
        assert!(err.is_unreachable());
        assert_eq!(err.to_string(), "keystore is offline");
        store.down.store(false, Ordering::SeqCst);
        assert!(
            cache.status().await.is_err(),
            "offline until the next probe"
        );
        cache.tick(t0 + secs(20)).await;
        assert!(!cache.is_offline());
        assert!(cache.status().await.is_ok());
    }

    #[tokio::test]
    async fn offline_mode_serves_cached_keys_for_up_to_offline() {
        let config = CacheConfig {
            any: secs(60),
            unused: secs(30),
            offline: secs(120),
            status_interval: secs(10),
        };
        let (store, cache, t0) = setup(config);
        store.inner.create("cached", b"c").await.unwrap();
        store.inner.create("uncached", b"u").await.unwrap();
        cache.get("cached").await.unwrap();

        store.down.store(true, Ordering::SeqCst);
        cache.tick(t0 + secs(10)).await;
        assert!(cache.is_offline());
        // any (60 s) and unused (30 s) sweeps are suspended while offline.
        for s in [20, 30, 40, 60, 90, 120] {
            cache.tick(t0 + secs(s)).await;
        }
        assert_eq!(*cache.get("cached").await.unwrap(), "c");
        let err = cache.get("uncached").await.unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        // Offline since t0+10 s: after 120 s offline everything is dropped.
        cache.tick(t0 + secs(129)).await;
        assert!(cache.contains("cached"));
        cache.tick(t0 + secs(130)).await;
        assert!(!cache.contains("cached"));
        assert!(cache.get("cached").await.unwrap_err().is_unreachable());

        // Recovery.
        store.down.store(false, Ordering::SeqCst);
        cache.tick(t0 + secs(140)).await;
        assert!(!cache.is_offline());
        assert_eq!(*cache.get("cached").await.unwrap(), "c");
    }

    #[tokio::test]
    async fn without_offline_caching_sweeps_continue_while_offline() {
        let (store, cache, t0) = setup(CacheConfig::default());
        store.inner.create("k", b"v").await.unwrap();
        cache.get("k").await.unwrap();
        store.down.store(true, Ordering::SeqCst);
        cache.tick(t0 + secs(10)).await;
        assert!(cache.is_offline());
        cache.tick(t0 + secs(15)).await; // clears used flag
        cache.tick(t0 + secs(30)).await; // drops the unused entry
        assert!(!cache.contains("k"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fetch_racing_a_delete_does_not_reinsert() {
        let (store, cache, _) = setup(CacheConfig::default());
        store.inner.create("k", b"v").await.unwrap();
        let cache = Arc::new(cache);
        let gate = store.gate.lock().await;
        let task = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("k").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The fetch has started (and waits at the gate); delete the key meanwhile, then put a
        // value back so the fetch itself succeeds.
        cache.delete("k").await.unwrap();
        store.inner.create("k", b"v").await.unwrap();
        drop(gate);
        assert_eq!(*task.await.unwrap().unwrap(), "v");
        assert!(
            !cache.contains("k"),
            "a fetch that raced a delete must not be cached"
        );
    }

    #[test]
    fn zero_durations_disable_everything() {
        let config = CacheConfig {
            any: Duration::ZERO,
            unused: Duration::ZERO,
            offline: Duration::ZERO,
            status_interval: Duration::ZERO,
        };
        let (_, cache, _) = setup(config);
        assert_eq!(cache.next_deadline(), None);
    }
}
