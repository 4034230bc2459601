//! The key management services sse-demo can use, behind one small trait:
//!
//! * [`KesKms`]: a KES-compatible server (MinIO KES or kes-rs), through `kes-client`;
//! * [`StaticKms`]: MinIO's single static key (`MINIO_KMS_SECRET_KEY=name:base64`);
//! * [`MasterKeyFallback`]: the pre-2021 `MINIO_KMS_MASTER_KEY=name:hex`, read-only, in
//!   front of one of the others (or alone), for reading old objects.
//!
//! Every call takes the KMS context as a [`Context`] and sends its canonical JSON bytes, the
//! associated data MinIO binds every DEK to.

use std::cell::Cell;
use std::time::{Duration, Instant};

use kes_client::{Client, KeyAlgorithm, Sentinel};
use kes_crypto::sse::static_kms::LegacyMasterKey;
use kes_crypto::sse::{Context, Dek, ExternalKey, StaticKey};

/// Why a KMS call failed. The messages carry KES's wire messages where there is one
/// (`key does not exist`, `key already exists`, `decryption failed: ciphertext is not
/// authentic`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum KmsError {
    /// The named key is not known to the KMS (deleted, never created, or another name than
    /// the static key's).
    #[error("KMS key '{0}': key does not exist")]
    KeyNotFound(String),
    /// The KMS could not decrypt the DEK: wrong key bytes, wrong context or a changed
    /// ciphertext.
    #[error("KMS key '{0}': decryption failed: ciphertext is not authentic")]
    NotAuthentic(String),
    /// `create`/`import` of a name that is taken.
    #[error("KMS key '{0}': key already exists")]
    KeyExists(String),
    /// SSE-S3 or config encryption needs a default key and the KMS has none.
    #[error(
        "the KMS has no default key: set MINIO_KMS_KES_KEY_NAME or --kes-key-name \
         (SSE-S3 and config encryption use it)"
    )]
    NoDefaultKey,
    /// The KMS cannot do this (the static key cannot be deleted, the master key is read-only).
    #[error("{0}")]
    Unsupported(String),
    /// The KMS returned a DEK MinIO would refuse.
    #[error("the KMS returned a {0}-byte data key; MinIO requires 32 bytes")]
    BadDekLength(usize),
    /// Any other failure talking to the KES server.
    #[error("KES server: {0}")]
    Kes(String),
}

/// What sse-demo needs from a KMS (MinIO's `kms.KMS` subset plus key management for the
/// walkthrough).
pub(crate) trait Kms {
    /// One line naming the KMS, for summaries (`KES server https://…`, `static key 'k'`).
    fn describe(&self) -> String;

    /// The default key (SSE-S3, config encryption), if any.
    fn default_key(&self) -> Option<String>;

    /// `GenerateKey(name, context)`: a fresh 32-byte DEK and its ciphertext. An empty name
    /// means the default key.
    fn generate_key(&self, name: &str, context: &Context) -> Result<Dek, KmsError>;

    /// `Decrypt(name, ciphertext, context)`: the DEK plaintext.
    fn decrypt(
        &self,
        name: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<ExternalKey, KmsError>;

    /// Whether keys can be created, imported and deleted (KES only).
    fn manages_keys(&self) -> bool {
        false
    }

    /// Imports 32 bytes of key material (AES256, what `kes-cli key import` sends).
    fn import_key(&self, name: &str, key: &[u8; 32]) -> Result<(), KmsError> {
        let _ = key;
        Err(KmsError::Unsupported(format!(
            "{} cannot import key '{name}'",
            self.describe()
        )))
    }

    /// Deletes a key: every DEK it sealed becomes undecryptable.
    fn delete_key(&self, name: &str) -> Result<(), KmsError> {
        Err(KmsError::Unsupported(format!(
            "{} cannot delete key '{name}'",
            self.describe()
        )))
    }

    /// Number of calls made and the time spent in them, for the throughput summary.
    fn stats(&self) -> (u32, Duration);
}

/// Call counter shared by the implementations.
#[derive(Debug, Default)]
struct Stats {
    calls: Cell<u32>,
    spent: Cell<Duration>,
}

impl Stats {
    fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.calls.set(self.calls.get().saturating_add(1));
        self.spent.set(self.spent.get() + start.elapsed());
        out
    }

    fn get(&self) -> (u32, Duration) {
        (self.calls.get(), self.spent.get())
    }
}

/// MinIO's static single-key KMS.
#[derive(Debug)]
pub(crate) struct StaticKms {
    key: StaticKey,
    stats: Stats,
}

impl StaticKms {
    pub(crate) fn new(key: StaticKey) -> Self {
        Self {
            key,
            stats: Stats::default(),
        }
    }

    fn map(&self, name: &str, e: kes_crypto::Error) -> KmsError {
        match e {
            kes_crypto::Error::KeyNotFound => KmsError::KeyNotFound(name.to_owned()),
            kes_crypto::Error::NotAuthentic => KmsError::NotAuthentic(self.resolve(name)),
            other => KmsError::Unsupported(other.to_string()),
        }
    }

    fn resolve(&self, name: &str) -> String {
        if name.is_empty() {
            self.key.name().to_owned()
        } else {
            name.to_owned()
        }
    }
}

impl Kms for StaticKms {
    fn describe(&self) -> String {
        format!("static key '{}' (MINIO_KMS_SECRET_KEY)", self.key.name())
    }

    fn default_key(&self) -> Option<String> {
        Some(self.key.name().to_owned())
    }

    fn generate_key(&self, name: &str, context: &Context) -> Result<Dek, KmsError> {
        self.stats
            .time(|| self.key.generate_key(name, context))
            .map_err(|e| self.map(name, e))
    }

    fn decrypt(
        &self,
        name: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<ExternalKey, KmsError> {
        self.stats
            .time(|| self.key.decrypt(name, ciphertext, context))
            .map_err(|e| self.map(name, e))
    }

    fn stats(&self) -> (u32, Duration) {
        self.stats.get()
    }
}

/// A KES server through `kes-client`, driven by a single-threaded Tokio runtime.
pub(crate) struct KesKms {
    client: Client,
    runtime: tokio::runtime::Runtime,
    endpoint: String,
    default_key: Option<String>,
    stats: Stats,
}

impl std::fmt::Debug for KesKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KesKms")
            .field("endpoint", &self.endpoint)
            .field("default_key", &self.default_key)
            .finish_non_exhaustive()
    }
}

impl KesKms {
    /// Wraps a built client. `default_key` is `MINIO_KMS_KES_KEY_NAME`.
    pub(crate) fn new(client: Client, default_key: Option<String>) -> Result<Self, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let endpoint = client.endpoints().join(",");
        Ok(Self {
            client,
            runtime,
            endpoint,
            default_key,
            stats: Stats::default(),
        })
    }

    fn name<'a>(&'a self, name: &'a str) -> Result<&'a str, KmsError> {
        if !name.is_empty() {
            return Ok(name);
        }
        self.default_key.as_deref().ok_or(KmsError::NoDefaultKey)
    }

    fn map(name: &str, e: &kes_client::Error) -> KmsError {
        if e.is(Sentinel::KeyNotFound) {
            KmsError::KeyNotFound(name.to_owned())
        } else if e.is(Sentinel::Decrypt) {
            KmsError::NotAuthentic(name.to_owned())
        } else if e.is(Sentinel::KeyExists) {
            KmsError::KeyExists(name.to_owned())
        } else {
            KmsError::Kes(e.to_string())
        }
    }
}

impl Kms for KesKms {
    fn describe(&self) -> String {
        format!("KES server {}", self.endpoint)
    }

    fn default_key(&self) -> Option<String> {
        self.default_key.clone()
    }

    fn generate_key(&self, name: &str, context: &Context) -> Result<Dek, KmsError> {
        let name = self.name(name)?;
        let json = context.to_json();
        let dek = self
            .stats
            .time(|| self.runtime.block_on(self.client.generate_key(name, &json)))
            .map_err(|e| Self::map(name, &e))?;
        let plaintext = dek.plaintext.expose_secret();
        let plaintext = ExternalKey::try_from_slice(plaintext)
            .map_err(|_| KmsError::BadDekLength(plaintext.len()))?;
        Ok(Dek::new(name, plaintext, dek.ciphertext))
    }

    fn decrypt(
        &self,
        name: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<ExternalKey, KmsError> {
        let name = self.name(name)?;
        let json = context.to_json();
        let plaintext = self
            .stats
            .time(|| {
                self.runtime
                    .block_on(self.client.decrypt(name, ciphertext, &json))
            })
            .map_err(|e| Self::map(name, &e))?;
        let bytes = plaintext.expose_secret();
        ExternalKey::try_from_slice(bytes).map_err(|_| KmsError::BadDekLength(bytes.len()))
    }

    fn manages_keys(&self) -> bool {
        true
    }

    fn import_key(&self, name: &str, key: &[u8; 32]) -> Result<(), KmsError> {
        self.stats
            .time(|| {
                self.runtime
                    .block_on(self.client.import_key(name, key, KeyAlgorithm::Aes256))
            })
            .map_err(|e| Self::map(name, &e))
    }

    fn delete_key(&self, name: &str) -> Result<(), KmsError> {
        self.stats
            .time(|| self.runtime.block_on(self.client.delete_key(name)))
            .map_err(|e| Self::map(name, &e))
    }

    fn stats(&self) -> (u32, Duration) {
        self.stats.get()
    }
}

/// The pre-2021 master key, read-only, in front of an optional current KMS: DEKs whose
/// stored key id is the master key's name are tried with the master key first.
pub(crate) struct MasterKeyFallback {
    master: LegacyMasterKey,
    next: Option<Box<dyn Kms>>,
    stats: Stats,
}

impl MasterKeyFallback {
    pub(crate) fn new(master: LegacyMasterKey, next: Option<Box<dyn Kms>>) -> Self {
        Self {
            master,
            next,
            stats: Stats::default(),
        }
    }

    fn read_only(&self) -> KmsError {
        KmsError::Unsupported(format!(
            "the legacy master key '{}' (MINIO_KMS_MASTER_KEY) is read-only: configure \
             --kes or --kms-secret-key to write",
            self.master.name()
        ))
    }
}

impl Kms for MasterKeyFallback {
    fn describe(&self) -> String {
        let master = format!("legacy master key '{}' (read-only)", self.master.name());
        match &self.next {
            Some(next) => format!("{} + {master}", next.describe()),
            None => master,
        }
    }

    fn default_key(&self) -> Option<String> {
        self.next.as_ref().and_then(|n| n.default_key())
    }

    fn generate_key(&self, name: &str, context: &Context) -> Result<Dek, KmsError> {
        match &self.next {
            Some(next) => next.generate_key(name, context),
            None => Err(self.read_only()),
        }
    }

    fn decrypt(
        &self,
        name: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<ExternalKey, KmsError> {
        if name == self.master.name() {
            match self
                .stats
                .time(|| self.master.decrypt(name, ciphertext, context))
            {
                Ok(ek) => return Ok(ek),
                Err(_) if self.next.is_some() => {}
                Err(_) => return Err(KmsError::NotAuthentic(name.to_owned())),
            }
        }
        match &self.next {
            Some(next) => next.decrypt(name, ciphertext, context),
            None => Err(KmsError::KeyNotFound(name.to_owned())),
        }
    }

    fn manages_keys(&self) -> bool {
        self.next.as_ref().is_some_and(|n| n.manages_keys())
    }

    fn import_key(&self, name: &str, key: &[u8; 32]) -> Result<(), KmsError> {
        match &self.next {
            Some(next) => next.import_key(name, key),
            None => Err(self.read_only()),
        }
    }

    fn delete_key(&self, name: &str) -> Result<(), KmsError> {
        match &self.next {
            Some(next) => next.delete_key(name),
            None => Err(self.read_only()),
        }
    }

    fn stats(&self) -> (u32, Duration) {
        let (calls, spent) = self.stats.get();
        let (c2, s2) = self.next.as_ref().map(|n| n.stats()).unwrap_or_default();
        (calls.saturating_add(c2), spent + s2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_kms_round_trip_and_errors() {
        let kms = StaticKms::new(StaticKey::new("k", [3; 32]));
        let ctx = Context::for_object("b", "o");
        let dek = kms.generate_key("", &ctx).unwrap();
        assert_eq!(dek.key_id(), "k");
        assert_eq!(
            &kms.decrypt("k", dek.ciphertext(), &ctx).unwrap(),
            dek.plaintext()
        );
        let err = kms.decrypt("other", dek.ciphertext(), &ctx).unwrap_err();
        assert!(err.to_string().contains("key does not exist"), "{err}");
        let err = kms
            .decrypt("k", dek.ciphertext(), &Context::for_object("b", "x"))
            .unwrap_err();
        assert!(matches!(err, KmsError::NotAuthentic(_)), "{err}");
        assert!(kms.delete_key("k").is_err());
        assert_eq!(kms.stats().0, 4);
    }

    #[test]
    fn master_key_alone_is_read_only() {
        let kms = MasterKeyFallback::new(LegacyMasterKey::new("m", [1; 32]), None);
        let err = kms.generate_key("", &Context::new()).unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        assert!(matches!(
            kms.decrypt("x", &[0; 64], &Context::new()),
            Err(KmsError::KeyNotFound(_))
        ));
        assert!(matches!(
            kms.decrypt("m", &[0; 64], &Context::new()),
            Err(KmsError::NotAuthentic(_))
        ));
    }
}
