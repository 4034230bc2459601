//! KES secret keys, HMAC keys and data keys (`spec/kes-api.md` §7.1–7.3, §7.5).
//!
//! A [`SecretKey`] is 32 bytes plus a [`KeyAlgorithm`]. Every ciphertext
//! gets its own sub-key derived from the key and a random 16-byte iv:
//!
//! | algorithm | sub-key `K'` | AEAD |
//! |---|---|---|
//! | [`KeyAlgorithm::Aes256`] | `HMAC-SHA256(K, iv)` | AES-256-GCM |
//! | [`KeyAlgorithm::ChaCha20`] | `HChaCha20(K, iv)` | ChaCha20-Poly1305 (12-byte nonce, *not* XChaCha) |
//!
//! and the ciphertext is `AEAD-Seal(K', nonce, plaintext, aad) ‖ iv ‖ nonce`
//! (44 bytes of overhead). [`SecretKey::decrypt`] also reads the two legacy
//! encodings (msgpack and JSON) that older KES versions wrote; see
//! [`crate::ciphertext`].
//!
//! All primitives come from `ring` (HMAC-SHA256, AES-256-GCM,
//! ChaCha20-Poly1305) and the `chacha20` crate (HChaCha20). Key bytes live in
//! [`Zeroizing`] buffers; `ring`'s own expanded key schedules are dropped
//! right after each operation (ring does not zeroize them).

use std::fmt;
use std::str::FromStr;

use ring::aead;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::ciphertext::{self, IV_LEN, NONCE_LEN};
use crate::error::{Error, Result};
use crate::{mac, rng};

/// Length of every KES secret key and HMAC key, in bytes.
pub const KEY_LEN: usize = 32;

/// Length of a generated data key (DEK), in bytes.
pub const DEK_LEN: usize = 32;

/// Bytes a ciphertext adds to its plaintext: 16-byte tag, 16-byte iv,
/// 12-byte nonce.
pub const CIPHERTEXT_OVERHEAD: usize = TAG_LEN + IV_LEN + NONCE_LEN;

/// Length of an AEAD tag.
const TAG_LEN: usize = 16;

/// The algorithm of a KES secret key (§7.1).
///
/// Text forms: [`as_str`](Self::as_str) gives `AES256` / `ChaCha20` (what
/// `describe` returns); [`FromStr`] also accepts the historical aliases
/// `AES256-GCM_SHA256` and `XCHACHA20-POLY1305`. Numbers:
/// [`proto_type`](Self::proto_type) is the stored protobuf enum (1, 2) and
/// [`sdk_value`](Self::sdk_value) the Go SDK's `kes.KeyAlgorithm` (0, 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// Sub-key `HMAC-SHA256(K, iv)`, then AES-256-GCM.
    Aes256,
    /// Sub-key `HChaCha20(K, iv)`, then ChaCha20-Poly1305 with a 12-byte nonce.
    ChaCha20,
}

impl KeyAlgorithm {
    /// The canonical text form: `AES256` or `ChaCha20`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => "AES256",
            Self::ChaCha20 => "ChaCha20",
        }
    }

    /// The historical text form written by KES v0.20 to 2023-10:
    /// `AES256-GCM_SHA256` or `XCHACHA20-POLY1305`.
    pub const fn legacy_str(self) -> &'static str {
        match self {
            Self::Aes256 => "AES256-GCM_SHA256",
            Self::ChaCha20 => "XCHACHA20-POLY1305",
        }
    }

    /// The `aead` name inside legacy JSON ciphertexts:
    /// `AES-256-GCM-HMAC-SHA-256` or `ChaCha20Poly1305`.
    pub const fn legacy_aead_name(self) -> &'static str {
        match self {
            Self::Aes256 => "AES-256-GCM-HMAC-SHA-256",
            Self::ChaCha20 => "ChaCha20Poly1305",
        }
    }

    /// Parses a legacy JSON ciphertext's `aead` name (exact match).
    pub fn from_legacy_aead_name(name: &[u8]) -> Option<Self> {
        [Self::Aes256, Self::ChaCha20]
            .into_iter()
            .find(|alg| alg.legacy_aead_name().as_bytes() == name)
    }

    /// Parses any of the four accepted text forms (exact, case-sensitive),
    /// as bytes. See also [`FromStr`].
    pub fn from_text(text: &[u8]) -> Option<Self> {
        [Self::Aes256, Self::ChaCha20]
            .into_iter()
            .find(|alg| alg.as_str().as_bytes() == text || alg.legacy_str().as_bytes() == text)
    }

    /// The `SecretKey.Type` number in the stored protobuf: 1 or 2.
    pub const fn proto_type(self) -> u32 {
        match self {
            Self::Aes256 => 1,
            Self::ChaCha20 => 2,
        }
    }

    /// The algorithm for a protobuf `SecretKey.Type` number.
    ///
    /// # Errors
    /// [`Error::InvalidAlgorithm`] for anything but 1 and 2.
    pub fn from_proto_type(value: u32) -> Result<Self> {
        match value {
            1 => Ok(Self::Aes256),
            2 => Ok(Self::ChaCha20),
            other => Err(Error::InvalidAlgorithm(format!("protobuf type {other}"))),
        }
    }

    /// The value of the Go SDK's `kes.KeyAlgorithm` enum: 0 or 1.
    pub const fn sdk_value(self) -> u32 {
        match self {
            Self::Aes256 => 0,
            Self::ChaCha20 => 1,
        }
    }

    /// The algorithm for a Go SDK `kes.KeyAlgorithm` value.
    ///
    /// # Errors
    /// [`Error::InvalidAlgorithm`] for anything but 0 and 1.
    pub fn from_sdk_value(value: u32) -> Result<Self> {
        match value {
            0 => Ok(Self::Aes256),
            1 => Ok(Self::ChaCha20),
            other => Err(Error::InvalidAlgorithm(format!("SDK value {other}"))),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    /// Accepts `AES256`, `AES256-GCM_SHA256`, `ChaCha20` and
    /// `XCHACHA20-POLY1305` (exact, case-sensitive, as KES does).
    fn from_str(s: &str) -> Result<Self> {
        Self::from_text(s.as_bytes()).ok_or_else(|| Error::InvalidAlgorithm(s.to_owned()))
    }
}

impl serde::Serialize for KeyAlgorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for KeyAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether decryption honours the algorithm embedded in a legacy
/// (msgpack or JSON) ciphertext.
///
/// Current KES always uses the key's own algorithm ([`Self::Ignore`]). KES up
/// to 2023-12 used the embedded one, which matters for keys stored without an
/// algorithm: those are typed AES256 today, but their old ciphertexts may be
/// ChaCha20 (§7.3, "legacy-keystore hazard"). [`crate::KeyVersion::decrypt`]
/// picks [`Self::Honour`] for exactly those keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EmbeddedAlgorithm {
    /// Decrypt with the key's algorithm, whatever the ciphertext says.
    #[default]
    Ignore,
    /// For legacy-format ciphertexts, decrypt with the algorithm they name.
    Honour,
}

/// A 32-byte KES secret key and its algorithm.
///
/// Zeroized on drop, `Debug` shows only the algorithm, not `Serialize`,
/// compared in constant time. The bytes leave only through
/// [`as_bytes`](Self::as_bytes).
#[derive(Clone)]
pub struct SecretKey {
    algorithm: KeyAlgorithm,
    /// The key bytes and their preparation for HMAC-SHA-256 sub-key derivation (AES-256).
    material: mac::Prepared,
}

impl SecretKey {
    /// Wraps 32 key bytes. The array is moved into zeroizing storage; the
    /// caller should zeroize any copy of its own.
    pub fn new(algorithm: KeyAlgorithm, bytes: [u8; KEY_LEN]) -> Self {
        Self::from_zeroizing(algorithm, Zeroizing::new(bytes))
    }

    fn from_zeroizing(algorithm: KeyAlgorithm, bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self {
            algorithm,
            material: mac::Prepared::new(bytes),
        }
    }

    /// Copies key bytes from a slice.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(algorithm: KeyAlgorithm, bytes: &[u8]) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(Error::InvalidKey("a secret key must be 32 bytes"));
        }
        key.copy_from_slice(bytes);
        Ok(Self::from_zeroizing(algorithm, key))
    }

    /// Generates a random key (one call to the OS CSPRNG).
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng::fill(bytes.as_mut_slice())?;
        Ok(Self::from_zeroizing(algorithm, bytes))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The raw key bytes. The only way key material leaves this type.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.material.key()
    }

    /// The key prepared for HMAC-SHA-256 (MinIO's static-key MAC signs with it too).
    pub(crate) fn prf(&self) -> &mac::Prepared {
        &self.material
    }

    /// Encrypts `plaintext` bound to `associated_data`, with a fresh random
    /// iv and nonce (28 bytes from one OS CSPRNG call), in the current
    /// binary layout `sealed ‖ iv ‖ nonce` (`plaintext.len() + 44` bytes).
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn encrypt(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>> {
        let mut iv = [0u8; IV_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng::fill_parts(&mut [&mut iv, &mut nonce])?;
        self.encrypt_with(&iv, &nonce, plaintext, associated_data)
    }

    /// [`encrypt`](Self::encrypt) with a caller-chosen iv and nonce.
    ///
    /// Deterministic: for test vectors and for formats that bring their own
    /// randomness. The (iv, nonce) pair must never repeat under one key.
    ///
    /// # Errors
    /// [`Error::Malformed`] only if the plaintext is too long for the AEAD.
    pub fn encrypt_with(
        &self,
        iv: &[u8; IV_LEN],
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
        associated_data: &[u8],
    ) -> Result<Vec<u8>> {
        let len = plaintext
            .len()
            .checked_add(CIPHERTEXT_OVERHEAD)
            .ok_or(TOO_LONG)?;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(plaintext);
        let aead_key = aead_key(self.algorithm, self, iv)?;
        match aead_key.seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(*nonce),
            aead::Aad::from(associated_data),
            &mut out,
        ) {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                out.extend_from_slice(iv);
                out.extend_from_slice(nonce);
                Ok(out)
            }
            Err(_) => {
                out.zeroize();
                Err(TOO_LONG)
            }
        }
    }

    /// Decrypts a ciphertext in any format KES ever wrote (current binary,
    /// legacy msgpack, legacy JSON; §7.3) with this key's algorithm, as
    /// current KES does.
    ///
    /// # Errors
    /// [`Error::NotAuthentic`] for every failure: wrong key or associated
    /// data, tampering, truncation, malformed input.
    pub fn decrypt(&self, ciphertext: &[u8], associated_data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.decrypt_with(ciphertext, associated_data, EmbeddedAlgorithm::Ignore)
    }

    /// [`decrypt`](Self::decrypt), choosing whether a legacy ciphertext's
    /// embedded algorithm overrides the key's (see [`EmbeddedAlgorithm`]).
    ///
    /// # Errors
    /// [`Error::NotAuthentic`] for every failure.
    pub fn decrypt_with(
        &self,
        ciphertext: &[u8],
        associated_data: &[u8],
        embedded: EmbeddedAlgorithm,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let parsed = ciphertext::parse(ciphertext)?;
        let algorithm = match (embedded, parsed.embedded_algorithm) {
            (EmbeddedAlgorithm::Honour, Some(alg)) => alg,
            _ => self.algorithm,
        };
        let sealed: &[u8] = &parsed.sealed;
        let body_len = sealed
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::NotAuthentic)?;
        let (body, tag) = sealed.split_at(body_len);
        let tag = aead::Tag::try_from(tag).map_err(|_| Error::NotAuthentic)?;
        let mut out = Zeroizing::new(body.to_vec());
        let aead_key = aead_key(algorithm, self, &parsed.iv).map_err(|_| Error::NotAuthentic)?;
        aead_key
            .open_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(parsed.nonce),
                aead::Aad::from(associated_data),
                tag,
                out.as_mut_slice(),
                0..,
            )
            .map_err(|_| Error::NotAuthentic)?;
        Ok(out)
    }

    /// Generates a data key: 32 random bytes and their encryption under this
    /// key bound to `associated_data` (76 bytes). All 60 random bytes (DEK,
    /// iv, nonce) come from one OS CSPRNG call.
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn generate_dek(&self, associated_data: &[u8]) -> Result<DataKey> {
        let mut plaintext = Zeroizing::new([0u8; DEK_LEN]);
        let mut iv = [0u8; IV_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng::fill_parts(&mut [plaintext.as_mut_slice(), &mut iv, &mut nonce])?;
        let ciphertext = self.encrypt_with(&iv, &nonce, plaintext.as_slice(), associated_data)?;
        Ok(DataKey {
            plaintext,
            ciphertext,
        })
    }
}

const TOO_LONG: Error = Error::Malformed {
    what: "plaintext",
    reason: "too long for the AEAD",
};

/// Derives the per-ciphertext sub-key and builds the AEAD key from it.
///
/// Always inlined: ring's AES-GCM key is several hundred bytes, and building
/// it in place in the caller instead of returning it saves a measurable
/// share of a 32-byte decryption (see `docs/benchmarks.md`).
#[inline(always)]
fn aead_key(
    algorithm: KeyAlgorithm,
    key: &SecretKey,
    iv: &[u8; IV_LEN],
) -> Result<aead::LessSafeKey> {
    // Both algorithms take exactly 32-byte keys, so `UnboundKey::new` does
    // not fail. Both sub-keys are wiped right after ring has built its key
    // from them. `algorithm` may differ from the key's own (a legacy
    // ciphertext's embedded algorithm); the prepared HMAC key serves either.
    let unbound = match algorithm {
        KeyAlgorithm::Aes256 => {
            let sub_key = key.prf().sign(&[iv]);
            aead::UnboundKey::new(&aead::AES_256_GCM, sub_key.as_slice())
        }
        KeyAlgorithm::ChaCha20 => {
            let mut sub_key = chacha20::hchacha::<chacha20::cipher::consts::U10>(
                key.material.key().into(),
                iv.into(),
            );
            let unbound = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, sub_key.as_slice());
            sub_key.as_mut_slice().zeroize();
            unbound
        }
    };
    unbound
        .map(aead::LessSafeKey::new)
        .map_err(|_| Error::InvalidKey("the AEAD rejected the derived key"))
}

impl PartialEq for SecretKey {
    /// Constant time in the key bytes.
    fn eq(&self, other: &Self) -> bool {
        let same_bytes: bool = self.material.key().ct_eq(other.material.key()).into();
        same_bytes & (self.algorithm == other.algorithm)
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A 32-byte HMAC-SHA256 key (the `/v1/key/hmac` key of a key version).
///
/// Zeroized on drop, redacted `Debug`, not `Serialize`, constant-time `Eq`.
#[derive(Clone)]
pub struct HmacKey {
    /// The key bytes and their preparation for signing.
    material: mac::Prepared,
}

impl HmacKey {
    /// Wraps 32 key bytes.
    pub fn new(bytes: [u8; KEY_LEN]) -> Self {
        Self::from_zeroizing(Zeroizing::new(bytes))
    }

    fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self {
            material: mac::Prepared::new(bytes),
        }
    }

    /// Copies key bytes from a slice.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != KEY_LEN {
            return Err(Error::InvalidKey("an HMAC key must be 32 bytes"));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(Self::from_zeroizing(key))
    }

    /// Generates a random key (one call to the OS CSPRNG).
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng::fill(bytes.as_mut_slice())?;
        Ok(Self::from_zeroizing(bytes))
    }

    /// The raw key bytes. The only way key material leaves this type.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.material.key()
    }

    /// `HMAC-SHA256(key, message)`.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        *self.material.sign(&[message])
    }
}

impl PartialEq for HmacKey {
    /// Constant time.
    fn eq(&self, other: &Self) -> bool {
        self.material.key().ct_eq(other.material.key()).into()
    }
}

impl Eq for HmacKey {}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("hash", &"SHA256")
            .finish_non_exhaustive()
    }
}

/// A generated data key: the 32-byte plaintext (zeroized on drop) and its
/// 76-byte ciphertext under the KES key (§4.4 generate).
pub struct DataKey {
    plaintext: Zeroizing<[u8; DEK_LEN]>,
    ciphertext: Vec<u8>,
}

impl DataKey {
    /// The plaintext data key. Secret.
    pub fn plaintext(&self) -> &[u8; DEK_LEN] {
        &self.plaintext
    }

    /// The data key encrypted under the KES key (current binary format).
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Splits into the plaintext (still zeroizing) and the ciphertext.
    pub fn into_parts(self) -> (Zeroizing<[u8; DEK_LEN]>, Vec<u8>) {
        (self.plaintext, self.ciphertext)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_key_bytes() {
        let key = SecretKey::new(KeyAlgorithm::ChaCha20, [0xab; 32]);
        let text = format!("{key:?}");
        assert!(text.contains("ChaCha20"));
        assert!(!text.to_lowercase().contains("ab, "));
        assert!(!text.contains("171"));
        let hmac = HmacKey::new([0xab; 32]);
        assert!(!format!("{hmac:?}").contains("171"));
        let dek = key.generate_dek(b"").unwrap();
        let shown = format!("{dek:?}");
        assert!(shown.contains("ciphertext_len: 76"), "{shown}");
        assert!(!shown.contains('['), "{shown}");
    }

    #[test]
    fn equality_covers_algorithm_and_bytes() {
        let a = SecretKey::new(KeyAlgorithm::Aes256, [1; 32]);
        assert_eq!(a, SecretKey::new(KeyAlgorithm::Aes256, [1; 32]));
        assert_ne!(a, SecretKey::new(KeyAlgorithm::ChaCha20, [1; 32]));
        let mut other = [1; 32];
        other[31] = 2;
        assert_ne!(a, SecretKey::new(KeyAlgorithm::Aes256, other));
        assert_eq!(HmacKey::new([3; 32]), HmacKey::new([3; 32]));
        assert_ne!(HmacKey::new([3; 32]), HmacKey::new([4; 32]));
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(SecretKey::from_slice(KeyAlgorithm::Aes256, &[0; 31]).is_err());
        assert!(SecretKey::from_slice(KeyAlgorithm::Aes256, &[0; 33]).is_err());
        assert!(HmacKey::from_slice(&[0; 16]).is_err());
        let key = SecretKey::from_slice(KeyAlgorithm::Aes256, &[7; 32]).unwrap();
        assert_eq!(key.as_bytes(), &[7; 32]);
    }

    #[test]
    fn generated_keys_differ() {
        let a = SecretKey::generate(KeyAlgorithm::Aes256).unwrap();
        let b = SecretKey::generate(KeyAlgorithm::Aes256).unwrap();
        assert_ne!(a, b);
        assert_ne!(HmacKey::generate().unwrap(), HmacKey::generate().unwrap());
    }

    #[test]
    fn dek_has_the_documented_shape_and_decrypts() {
        for alg in [KeyAlgorithm::Aes256, KeyAlgorithm::ChaCha20] {
            let key = SecretKey::generate(alg).unwrap();
            let dek = key.generate_dek(b"{}").unwrap();
            assert_eq!(dek.ciphertext().len(), 76);
            let plain = key.decrypt(dek.ciphertext(), b"{}").unwrap();
            assert_eq!(plain.as_slice(), dek.plaintext());
            assert!(key.decrypt(dek.ciphertext(), b"").is_err());
            let (p, c) = dek.into_parts();
            assert_eq!(c.len(), 76);
            assert_eq!(p.len(), 32);
        }
    }

    #[test]
    fn algorithms_are_not_interchangeable() {
        let aes = SecretKey::new(KeyAlgorithm::Aes256, [9; 32]);
        let chacha = SecretKey::new(KeyAlgorithm::ChaCha20, [9; 32]);
        let ct = aes.encrypt(b"hello", b"").unwrap();
        assert!(chacha.decrypt(&ct, b"").is_err());
        // A binary ciphertext has no embedded algorithm, so honouring it
        // changes nothing.
        assert!(
            chacha
                .decrypt_with(&ct, b"", EmbeddedAlgorithm::Honour)
                .is_err()
        );
    }

    #[test]
    fn algorithm_numbers_round_trip() {
        for alg in [KeyAlgorithm::Aes256, KeyAlgorithm::ChaCha20] {
            assert_eq!(
                KeyAlgorithm::from_proto_type(alg.proto_type()).unwrap(),
                alg
            );
            assert_eq!(KeyAlgorithm::from_sdk_value(alg.sdk_value()).unwrap(), alg);
            assert_eq!(alg.as_str().parse::<KeyAlgorithm>().unwrap(), alg);
            assert_eq!(alg.legacy_str().parse::<KeyAlgorithm>().unwrap(), alg);
            assert_eq!(
                KeyAlgorithm::from_legacy_aead_name(alg.legacy_aead_name().as_bytes()),
                Some(alg)
            );
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
            assert_eq!(serde_json::from_str::<KeyAlgorithm>(&json).unwrap(), alg);
        }
        assert!(KeyAlgorithm::from_proto_type(0).is_err());
        assert!(KeyAlgorithm::from_proto_type(3).is_err());
        assert!(KeyAlgorithm::from_sdk_value(2).is_err());
        assert!("aes256".parse::<KeyAlgorithm>().is_err());
        assert!(serde_json::from_str::<KeyAlgorithm>("\"\"").is_err());
    }
}
