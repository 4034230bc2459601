//! AES-256-GCM-SIV key wrapping for kes-rs's own at-rest formats.
//!
//! Used where kes-rs itself stores secrets under a key it holds: the sealed
//! filesystem keystore and the "v2" sealed object key of `sse-demo`. It is
//! not a KES or MinIO format. GCM-SIV is nonce-misuse resistant: a repeated
//! random nonce reveals only whether two identical plaintexts were wrapped,
//! never the key or the plaintext.
//!
//! Format v1 (also in `docs/formats.md`):
//!
//! ```text
//! binary:  0xC1 ‖ key id (8) ‖ nonce (12) ‖ AES-256-GCM-SIV ciphertext ‖ tag (16)
//! text:    "kes-rs:wrap:v1:" ‖ base64(binary)          (standard alphabet, padded)
//!
//! K_enc  = HMAC-SHA256(K, "kes-rs/keywrap/v1/aes-256-gcm-siv")
//! key id = HMAC-SHA256(K, "kes-rs/keywrap/v1/key-id")[..8]
//! AEAD associated data = 0xC1 ‖ key id ‖ caller's associated data
//! ```
//!
//! `0xC1` is never the first byte of UTF-8 text, so a binary wrapped value
//! can never be mistaken for a KES stored key (ASCII JSON or base64), and the
//! text prefix contains `:`, which neither form has. Use the text form for
//! keystores that only hold strings (Vault, cloud secret managers).

use std::fmt;

use aes_gcm_siv::aead::{AeadInPlace, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Nonce, Tag};
use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::{mac, rng};

/// First byte of a binary v1 wrapped value.
pub const VERSION_V1: u8 = 0xC1;

/// Prefix of a text v1 wrapped value.
pub const TEXT_PREFIX: &str = "kes-rs:wrap:v1:";

/// Length of a key id.
pub const KEY_ID_LEN: usize = 8;

/// Length of the nonce.
pub const NONCE_LEN: usize = 12;

/// Length of the tag.
const TAG_LEN: usize = 16;

/// Length of the header: version byte and key id.
const HEADER_LEN: usize = 1 + KEY_ID_LEN;

/// Bytes a binary wrapped value adds to its plaintext (37).
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

const ENC_LABEL: &[u8] = b"kes-rs/keywrap/v1/aes-256-gcm-siv";
const ID_LABEL: &[u8] = b"kes-rs/keywrap/v1/key-id";

/// The two encodings of a wrapped value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// Starts with the byte [`VERSION_V1`].
    Binary,
    /// Starts with [`TEXT_PREFIX`].
    Text,
}

/// Tells whether `value` is a wrapped value, and in which form. Checks only
/// the prefix, not authenticity.
pub fn detect(value: &[u8]) -> Option<Form> {
    if value.first() == Some(&VERSION_V1) {
        Some(Form::Binary)
    } else if value.starts_with(TEXT_PREFIX.as_bytes()) {
        Some(Form::Text)
    } else {
        None
    }
}

/// The key id a wrapped value (either form) names, so that a holder of
/// several wrap keys can pick the right one. `None` if `value` is not a
/// well-formed wrapped value.
pub fn key_id_of(value: &[u8]) -> Option<[u8; KEY_ID_LEN]> {
    let binary = to_binary(value)?;
    header_key_id(&binary)
}

fn header_key_id(binary: &[u8]) -> Option<[u8; KEY_ID_LEN]> {
    binary.get(1..HEADER_LEN)?.try_into().ok()
}

/// The binary form of a wrapped value in either form.
fn to_binary(value: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    match detect(value)? {
        Form::Binary => Some(std::borrow::Cow::Borrowed(value)),
        Form::Text => {
            let encoded = value.get(TEXT_PREFIX.len()..)?;
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .map(std::borrow::Cow::Owned)
        }
    }
}

/// A 32-byte key-wrapping key.
///
/// Holds the derived AES-256-GCM-SIV key (whose key schedule is zeroized on
/// drop) and the key id; the input key itself is not kept.
#[derive(Clone)]
pub struct WrapKey {
    cipher: Aes256GcmSiv,
    id: [u8; KEY_ID_LEN],
}

impl WrapKey {
    /// Derives the wrapping key and key id from 32 bytes of key material.
    pub fn new(key: [u8; 32]) -> Self {
        Self::derive(&mac::Prepared::new(Zeroizing::new(key)))
    }

    /// [`new`](Self::new) from a slice.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] unless `key` is exactly 32 bytes long.
    pub fn from_slice(key: &[u8]) -> Result<Self> {
        if key.len() != 32 {
            return Err(Error::InvalidKey("a wrap key must be 32 bytes"));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(key);
        Ok(Self::derive(&mac::Prepared::new(bytes)))
    }

    fn derive(prf: &mac::Prepared) -> Self {
        let enc = prf.sign(&[ENC_LABEL]);
        let id_tag = prf.sign(&[ID_LABEL]);
        let mut id = [0u8; KEY_ID_LEN];
        for (dst, src) in id.iter_mut().zip(id_tag.as_ref()) {
            *dst = *src;
        }
        let cipher = Aes256GcmSiv::new(enc.as_ref().into());
        Self { cipher, id }
    }

    /// The key id written into every value this key wraps.
    pub fn key_id(&self) -> [u8; KEY_ID_LEN] {
        self.id
    }

    /// Wraps `plaintext` bound to `associated_data`, with a random nonce, in
    /// the binary form (`plaintext.len() + 37` bytes).
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>> {
        let nonce = rng::array::<NONCE_LEN>()?;
        self.seal_with_nonce(&nonce, plaintext, associated_data)
    }

    /// [`seal`](Self::seal) with a caller-chosen nonce (deterministic; for
    /// test vectors).
    ///
    /// # Errors
    /// [`Error::Malformed`] only if the input is too long for AES-GCM-SIV.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
        associated_data: &[u8],
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plaintext.len().saturating_add(OVERHEAD));
        out.push(VERSION_V1);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(nonce);
        out.extend_from_slice(plaintext);
        let aad = self.full_aad(associated_data);
        let body = out.get_mut(HEADER_LEN + NONCE_LEN..).ok_or(TOO_LONG)?;
        match self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), &aad, body)
        {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(out)
            }
            Err(_) => {
                out.zeroize();
                Err(TOO_LONG)
            }
        }
    }

    /// [`seal`](Self::seal) in the text form: [`TEXT_PREFIX`] and base64.
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn seal_text(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<String> {
        let binary = self.seal(plaintext, associated_data)?;
        let mut text = String::with_capacity(TEXT_PREFIX.len() + binary.len().div_ceil(3) * 4);
        text.push_str(TEXT_PREFIX);
        base64::engine::general_purpose::STANDARD.encode_string(&binary, &mut text);
        Ok(text)
    }

    /// Unwraps a value in either form.
    ///
    /// # Errors
    /// [`Error::NotAuthentic`] for every failure: not a wrapped value,
    /// another key's value, wrong associated data, tampering, truncation.
    pub fn open(&self, wrapped: &[u8], associated_data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let binary = to_binary(wrapped).ok_or(Error::NotAuthentic)?;
        if binary.len() < OVERHEAD
            || binary.first() != Some(&VERSION_V1)
            || header_key_id(&binary) != Some(self.id)
        {
            return Err(Error::NotAuthentic);
        }
        let rest = binary.get(HEADER_LEN..).ok_or(Error::NotAuthentic)?;
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let (body, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut out = Zeroizing::new(body.to_vec());
        let aad = self.full_aad(associated_data);
        self.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                &aad,
                out.as_mut_slice(),
                Tag::from_slice(tag),
            )
            .map_err(|_| Error::NotAuthentic)?;
        Ok(out)
    }

    /// `0xC1 ‖ key id ‖ associated_data`.
    fn full_aad(&self, associated_data: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(HEADER_LEN + associated_data.len());
        aad.push(VERSION_V1);
        aad.extend_from_slice(&self.id);
        aad.extend_from_slice(associated_data);
        aad
    }
}

const TOO_LONG: Error = Error::Malformed {
    what: "plaintext",
    reason: "too long for AES-256-GCM-SIV",
};

impl fmt::Debug for WrapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapKey")
            .field("key_id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_forms() {
        let key = WrapKey::new([7; 32]);
        let wrapped = key.seal(b"secret", b"name").unwrap();
        assert_eq!(wrapped.len(), 6 + OVERHEAD);
        assert_eq!(detect(&wrapped), Some(Form::Binary));
        assert_eq!(key_id_of(&wrapped), Some(key.key_id()));
        assert_eq!(key.open(&wrapped, b"name").unwrap().as_slice(), b"secret");
        assert!(key.open(&wrapped, b"other").is_err());
        // The text form must carry a binary v1 value too.
        let mut other_version = wrapped.clone();
        other_version[0] = 0xC2;
        let text = format!(
            "{TEXT_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(&other_version)
        );
        assert!(key.open(text.as_bytes(), b"name").is_err());

        let text = key.seal_text(b"secret", b"").unwrap();
        assert!(text.starts_with(TEXT_PREFIX));
        assert_eq!(detect(text.as_bytes()), Some(Form::Text));
        assert_eq!(key_id_of(text.as_bytes()), Some(key.key_id()));
        assert_eq!(
            key.open(text.as_bytes(), b"").unwrap().as_slice(),
            b"secret"
        );
    }

    #[test]
    fn kes_values_are_not_wrapped() {
        for value in [
            &b"{\"bytes\":\"AAAA\"}"[..],
            b"CiQKIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAE=",
            b"",
            b"kes-rs:wrap:v2:AAAA",
        ] {
            assert_eq!(detect(value), None);
            assert_eq!(key_id_of(value), None);
        }
    }

    #[test]
    fn wrong_key_is_rejected_by_id_and_by_tag() {
        let a = WrapKey::new([1; 32]);
        let b = WrapKey::new([2; 32]);
        assert_ne!(a.key_id(), b.key_id());
        let wrapped = a.seal(b"x", b"").unwrap();
        assert!(b.open(&wrapped, b"").is_err());
        // Even with a forged key id, the tag does not verify.
        let mut forged = wrapped.clone();
        forged[1..9].copy_from_slice(&b.key_id());
        assert!(b.open(&forged, b"").is_err());
        assert!(a.open(&forged, b"").is_err());
    }

    #[test]
    fn debug_shows_only_the_key_id() {
        let key = WrapKey::new([1; 32]);
        let text = format!("{key:?}");
        assert!(text.contains(&hex::encode(key.key_id())), "{text}");
        assert!(WrapKey::from_slice(&[0; 31]).is_err());
        assert_eq!(
            WrapKey::from_slice(&[1; 32]).unwrap().key_id(),
            key.key_id()
        );
    }
}
