//! MinIO's single-key KMS (`spec/sse.md` §9).
//!
//! [`StaticKey`] is `MINIO_KMS_SECRET_KEY=<name>:<base64 of 32 bytes>`:
//! it generates DEKs in the current binary format and decrypts every
//! format MinIO ever wrote with it:
//!
//! | era | ciphertext |
//! |---|---|
//! | since 2024-05 | binary `AES-256-GCM(HMAC(secret, iv16), nonce12, DEK, aad) ‖ iv16 ‖ nonce12` (76 bytes) |
//! | 2021 – 2024-05 | JSON `{"aead":"AES-256-GCM-HMAC-SHA-256"\|"ChaCha20Poly1305","iv","nonce","bytes"}`; the `aead` field is honoured (ChaCha20: HChaCha20(secret, iv16), not XChaCha20) |
//!
//! The associated data is the canonical JSON of the [`Context`]. These are
//! the constructions of KES's own keys, so this module reuses
//! [`crate::SecretKey`].
//!
//! [`LegacyMasterKey`] is the removed pre-2021 `MINIO_KMS_MASTER_KEY=<name>:<hex>`
//! KMS, kept read-only for migrations: each DEK is one DARE 2.0 package
//! under `HMAC-SHA256(master, key_id ‖ context JSON)`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::key::{EmbeddedAlgorithm, KeyAlgorithm, SecretKey};
use crate::mac;

use super::context::Context;
use super::dare::{self, DecryptOptions};
use super::object_key::{Dek, ExternalKey};

/// Splits `name:value` on the first `:`.
fn split_setting<'a>(setting: &'a str, what: &'static str) -> Result<(&'a str, &'a str)> {
    match setting.split_once(':') {
        Some((name, value)) if !name.is_empty() => Ok((name, value)),
        _ => Err(Error::Malformed {
            what,
            reason: "expected <key-name>:<key>",
        }),
    }
}

/// The static key of MinIO's `MINIO_KMS_SECRET_KEY`.
///
/// `Debug` shows the name only; the key bytes leave only through
/// [`StaticKey::secret_key`].
#[derive(Clone, PartialEq, Eq)]
pub struct StaticKey {
    name: String,
    key: SecretKey,
}

impl StaticKey {
    /// A static key from its name and bytes.
    pub fn new(name: impl Into<String>, key: [u8; 32]) -> Self {
        Self {
            name: name.into(),
            key: SecretKey::new(KeyAlgorithm::Aes256, key),
        }
    }

    /// Parses `<name>:<base64>` (split on the first `:`; standard padded
    /// base64 of exactly 32 bytes), the value of `MINIO_KMS_SECRET_KEY`.
    ///
    /// # Errors
    /// [`Error::Malformed`] without a name or `:`, [`Error::InvalidKey`] when
    /// the key is not base64 of 32 bytes.
    pub fn parse(setting: &str) -> Result<Self> {
        let (name, b64) = split_setting(setting, "MINIO_KMS_SECRET_KEY")?;
        let bytes = Zeroizing::new(
            B64.decode(b64.trim_end())
                .map_err(|_| Error::InvalidKey("the static key is not valid base64"))?,
        );
        let key = SecretKey::from_slice(KeyAlgorithm::Aes256, &bytes)
            .map_err(|_| Error::InvalidKey("the static key must be 32 bytes"))?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// The key name: the KMS default key and the only one it knows.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key as a KES secret key (AES256): what `kes key import` makes of
    /// it. Carries the key bytes.
    pub fn secret_key(&self) -> &SecretKey {
        &self.key
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if name.is_empty() || name == self.name {
            Ok(())
        } else {
            Err(Error::KeyNotFound)
        }
    }

    /// GenerateKey: a random 32-byte DEK and its 76-byte binary ciphertext
    /// bound to `context`; all 60 random bytes come from one OS call. An
    /// empty `name` means the default (this) key.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] for any other name; [`Error::Rng`].
    pub fn generate_key(&self, name: &str, context: &Context) -> Result<Dek> {
        self.check_name(name)?;
        let data_key = self.key.generate_dek(&context.to_json())?;
        let (plaintext, ciphertext) = data_key.into_parts();
        Ok(Dek::new(
            self.name.clone(),
            ExternalKey::from_bytes(*plaintext),
            ciphertext,
        ))
    }

    /// [`StaticKey::generate_key`] with caller-chosen DEK, iv and nonce
    /// (deterministic, for vectors and replay).
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] for a name other than this key's.
    pub fn generate_key_with(
        &self,
        name: &str,
        context: &Context,
        plaintext: ExternalKey,
        iv: &[u8; 16],
        nonce: &[u8; 12],
    ) -> Result<Dek> {
        self.check_name(name)?;
        let ciphertext =
            self.key
                .encrypt_with(iv, nonce, plaintext.expose_secret(), &context.to_json())?;
        Ok(Dek::new(self.name.clone(), plaintext, ciphertext))
    }

    /// Decrypt: the DEK plaintext of a ciphertext in any format this KMS
    /// ever wrote, bound to `context`. An empty `name` means this key.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] for another name; [`Error::NotAuthentic`] for
    /// every decryption failure, including a plaintext that is not 32 bytes.
    pub fn decrypt(&self, name: &str, ciphertext: &[u8], context: &Context) -> Result<ExternalKey> {
        self.check_name(name)?;
        let plaintext =
            self.key
                .decrypt_with(ciphertext, &context.to_json(), EmbeddedAlgorithm::Honour)?;
        ExternalKey::try_from_slice(&plaintext).map_err(|_| Error::NotAuthentic)
    }

    /// The MAC MinIO uses to derive root credentials from the key:
    /// `HMAC-SHA256(secret, message)`. (KES uses a separate HMAC key per
    /// key, so the values differ after `kes key import`.)
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        *self.key.prf().sign(&[message])
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The pre-2021 master key of `MINIO_KMS_MASTER_KEY=<name>:<hex>`,
/// decrypt-only (current MinIO and KES cannot read its DEKs).
#[derive(Clone)]
pub struct LegacyMasterKey {
    name: String,
    /// The key, prepared for its only use: the per-DEK HMAC.
    key: mac::Prepared,
}

impl LegacyMasterKey {
    /// A master key from its name and bytes.
    pub fn new(name: impl Into<String>, key: [u8; 32]) -> Self {
        Self {
            name: name.into(),
            key: mac::Prepared::new(Zeroizing::new(key)),
        }
    }

    /// Parses `<name>:<hex of 32 bytes>`.
    ///
    /// # Errors
    /// [`Error::Malformed`] without a name or `:`, [`Error::InvalidKey`] when
    /// the key is not hex of 32 bytes.
    pub fn parse(setting: &str) -> Result<Self> {
        let (name, hex_key) = split_setting(setting, "MINIO_KMS_MASTER_KEY")?;
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key.trim_end(), key.as_mut_slice())
            .map_err(|_| Error::InvalidKey("the master key must be hex of 32 bytes"))?;
        Ok(Self {
            name: name.to_owned(),
            key: mac::Prepared::new(key),
        })
    }

    /// The key name stored as the key id of the objects it protected.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The per-DEK key: `HMAC-SHA256(master, key_id ‖ context_json)`.
    fn derive(&self, key_id: &str, context_json: &[u8]) -> Zeroizing<[u8; 32]> {
        self.key.sign(&[key_id.as_bytes(), context_json])
    }

    /// Decrypts a DEK sealed by the old master-key KMS for `key_id` (the
    /// stored key name, which must be this key's) and `context`.
    ///
    /// That KMS serialised the context with its 2020 writer, which escaped
    /// nothing ([`Context::to_json_unescaped`]); for contexts where that
    /// differs from today's canonical JSON, the escaped form is tried too.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] for another key name; [`Error::NotAuthentic`]
    /// for every decryption failure.
    pub fn decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<ExternalKey> {
        if key_id != self.name {
            return Err(Error::KeyNotFound);
        }
        let unescaped = context.to_json_unescaped();
        let escaped = context.to_json();
        let mut candidates = vec![unescaped.as_slice()];
        if escaped != unescaped {
            candidates.push(escaped.as_slice());
        }
        for json in candidates {
            let key = self.derive(key_id, json);
            if let Ok(plaintext) =
                dare::open_package_with(&key, ciphertext, &DecryptOptions::v2_only())
            {
                return ExternalKey::try_from_slice(&plaintext).map_err(|_| Error::NotAuthentic);
            }
        }
        Err(Error::NotAuthentic)
    }
}

impl fmt::Debug for LegacyMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyMasterKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let k = StaticKey::parse("my-key:eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8=").unwrap();
        assert_eq!(k.name(), "my-key");
        assert!(!format!("{k:?}").contains("eEm"));
        // Split on the first ':' only: the rest is the key.
        assert!(StaticKey::parse("a:b:eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8=").is_err());
        assert!(StaticKey::parse("no-colon").is_err());
        assert!(StaticKey::parse(":eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8=").is_err());
        assert!(StaticKey::parse("k:AAAA").is_err());
        assert!(LegacyMasterKey::parse("k:00").is_err());
        assert!(LegacyMasterKey::parse(&format!("k:{}", "ab".repeat(32))).is_ok());
    }

    #[test]
    fn other_names_are_not_found() {
        let k = StaticKey::new("a", [1; 32]);
        assert!(matches!(
            k.generate_key("b", &Context::new()),
            Err(Error::KeyNotFound)
        ));
        let dek = k.generate_key("", &Context::new()).unwrap();
        assert_eq!(dek.key_id(), "a");
        assert!(matches!(
            k.decrypt("b", dek.ciphertext(), &Context::new()),
            Err(Error::KeyNotFound)
        ));
        assert_eq!(
            &k.decrypt("a", dek.ciphertext(), &Context::new()).unwrap(),
            dek.plaintext()
        );
    }
}
