//! Stored key values: what a keystore holds under a key name (§7.4).
//!
//! Two encodings exist:
//!
//! * **legacy JSON** (written until 2024-01):
//!   `{"bytes":B64,"algorithm":…?,"created_at":…?,"created_by":…?,"version":…?}`,
//!   with no HMAC key;
//! * **base64 protobuf** (written since 2024-01): standard padded base64 of
//!   a `miniohq.kms.KeyVersion` message with the secret key, an HMAC key,
//!   the creation time and the creator's identity.
//!
//! [`KeyVersion::parse`] reads both (bytes that are valid JSON are the legacy
//! form); [`KeyVersion::encode`] writes the protobuf form, byte for byte what
//! KES writes (canonical proto3: fields in number order, zero values left
//! out). The protobuf messages are declared here with `prost` derives; no
//! build script, no `.proto` file.

use std::fmt;

use base64::Engine as _;
use prost::Message as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::ciphertext::{self, GoJson, go_bytes, go_field_eq, go_string};
use crate::error::{Error, Result};
use crate::key::{DataKey, EmbeddedAlgorithm, HmacKey, KEY_LEN, KeyAlgorithm, SecretKey};
use crate::rng;

/// The `created_at` of legacy JSON keys that carry none: Go's zero time,
/// `0001-01-01T00:00:00Z`.
pub const GO_ZERO_TIME: OffsetDateTime = time::macros::datetime!(0001-01-01 0:00 UTC);

/// One version of a KES key, as stored: secret key, optional HMAC key and
/// creation metadata.
///
/// `Debug` prints no key bytes; there is no `Serialize`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyVersion {
    /// The encryption key.
    pub key: SecretKey,
    /// The HMAC-SHA256 key. `None` for legacy JSON keys, which can compute
    /// no HMAC and cannot be re-encoded.
    pub hmac: Option<HmacKey>,
    /// When the key was created. [`GO_ZERO_TIME`] for legacy keys without
    /// one; the Unix epoch for protobuf values without one.
    pub created_at: OffsetDateTime,
    /// The identity that created the key (may be empty).
    pub created_by: String,
    /// The stored value named no algorithm (legacy JSON without
    /// `algorithm`). The key is typed AES256, but legacy-format ciphertexts
    /// decrypt with the algorithm they embed (§7.3 rec): KES of that era
    /// chose the algorithm per ciphertext.
    pub implicit_algorithm: bool,
}

impl KeyVersion {
    /// A key version in the current format.
    pub fn new(
        key: SecretKey,
        hmac: HmacKey,
        created_at: OffsetDateTime,
        created_by: impl Into<String>,
    ) -> Self {
        Self {
            key,
            hmac: Some(hmac),
            created_at,
            created_by: created_by.into(),
            implicit_algorithm: false,
        }
    }

    /// Generates a new key version: random secret key and HMAC key (64
    /// bytes from one OS CSPRNG call). The time is an argument: this crate
    /// reads no clock.
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn generate(
        algorithm: KeyAlgorithm,
        created_at: OffsetDateTime,
        created_by: impl Into<String>,
    ) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut hmac = Zeroizing::new([0u8; KEY_LEN]);
        rng::fill_parts(&mut [key.as_mut_slice(), hmac.as_mut_slice()])?;
        Ok(Self::new(
            SecretKey::new(algorithm, *key),
            HmacKey::new(*hmac),
            created_at,
            created_by,
        ))
    }

    /// The algorithm of the secret key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm()
    }

    /// Parses a stored key value (§7.4): legacy JSON if `value` is valid
    /// JSON, otherwise base64 protobuf.
    ///
    /// # Errors
    /// [`Error::Malformed`] (or [`Error::InvalidKey`] /
    /// [`Error::InvalidAlgorithm`]) for anything KES would reject, and also
    /// for a protobuf value without a secret key or HMAC key (KES panics on
    /// those).
    pub fn parse(value: &[u8]) -> Result<Self> {
        match GoJson::parse(value) {
            Some(json) => parse_json(json),
            None => parse_protobuf(value),
        }
    }

    /// Encodes this key version in the current stored format: standard
    /// padded base64 of the canonical protobuf `KeyVersion`.
    ///
    /// A legacy key's [`implicit_algorithm`](Self::implicit_algorithm) is not
    /// part of the format: once re-encoded, the key is explicitly typed.
    ///
    /// # Errors
    /// [`Error::NoHmacKey`] when there is no HMAC key (legacy JSON keys).
    pub fn encode(&self) -> Result<Zeroizing<String>> {
        let hmac = self.hmac.as_ref().ok_or(Error::NoHmacKey)?;
        let nanos = self.created_at.unix_timestamp_nanos();
        let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).map_err(|_| BAD_TIME)?;
        let subsec = i32::try_from(nanos.rem_euclid(1_000_000_000)).map_err(|_| BAD_TIME)?;
        let message = pb::KeyVersion {
            key: Some(pb::SecretKey {
                key: self.key.as_bytes().to_vec(),
                r#type: self.key.algorithm().proto_type(),
            }),
            hmac_key: Some(pb::HmacKey {
                key: hmac.as_bytes().to_vec(),
                hash: pb::HASH_SHA256,
            }),
            created_at: Some(pb::Timestamp {
                seconds,
                nanos: subsec,
            }),
            created_by: self.created_by.clone(),
        };
        let bytes = Zeroizing::new(message.encode_to_vec());
        Ok(Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(bytes.as_slice()),
        ))
    }

    /// Encrypts with the secret key (see [`SecretKey::encrypt`]).
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn encrypt(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>> {
        self.key.encrypt(plaintext, associated_data)
    }

    /// Decrypts any KES ciphertext format with the secret key. For keys with
    /// an [`implicit_algorithm`](Self::implicit_algorithm), legacy-format
    /// ciphertexts decrypt with the algorithm they embed, so data that old
    /// KES wrote with a ChaCha20 choice stays readable (§7.3 rec).
    ///
    /// # Errors
    /// [`Error::NotAuthentic`] for every failure.
    pub fn decrypt(&self, ciphertext: &[u8], associated_data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let embedded = if self.implicit_algorithm {
            EmbeddedAlgorithm::Honour
        } else {
            EmbeddedAlgorithm::Ignore
        };
        self.key.decrypt_with(ciphertext, associated_data, embedded)
    }

    /// Generates a data key under the secret key (see
    /// [`SecretKey::generate_dek`]).
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn generate_dek(&self, associated_data: &[u8]) -> Result<DataKey> {
        self.key.generate_dek(associated_data)
    }

    /// `HMAC-SHA256(hmac_key, message)` (`/v1/key/hmac`).
    ///
    /// # Errors
    /// [`Error::NoHmacKey`] for key versions without an HMAC key (KES
    /// answers 409 `key does not support HMAC`).
    pub fn hmac(&self, message: &[u8]) -> Result<[u8; 32]> {
        self.hmac
            .as_ref()
            .map(|key| key.sign(message))
            .ok_or(Error::NoHmacKey)
    }
}

const BAD_TIME: Error = Error::Malformed {
    what: "key version",
    reason: "created_at is out of range",
};

fn malformed(reason: &'static str) -> Error {
    Error::Malformed {
        what: "key version",
        reason,
    }
}

/// The legacy JSON form, decoded like Go's `encoding/json` into
/// `{Bytes []byte; Algorithm string; CreatedAt time.Time; CreatedBy string}`.
fn parse_json(json: GoJson) -> Result<KeyVersion> {
    let mut entries = match json {
        GoJson::Object(entries) => entries,
        // `null` decodes into an empty struct: no key bytes.
        GoJson::Null => Vec::new(),
        GoJson::Other => return Err(malformed("JSON value is not an object")),
    };
    let result = parse_json_entries(&entries);
    ciphertext::wipe_entries(&mut entries);
    result
}

fn parse_json_entries(entries: &[(String, serde_json::Value)]) -> Result<KeyVersion> {
    let mut bytes: Option<Vec<u8>> = None;
    let mut algorithm: Option<String> = None;
    let mut created_at: Option<String> = None;
    let mut created_by: Option<String> = None;
    let mut ok = true;
    for (name, value) in entries {
        if go_field_eq(name, "bytes") {
            ok &= go_bytes(value, &mut bytes);
        } else if go_field_eq(name, "algorithm") {
            ok &= go_string(value, &mut algorithm);
        } else if go_field_eq(name, "created_at") {
            ok &= go_string(value, &mut created_at);
        } else if go_field_eq(name, "created_by") {
            ok &= go_string(value, &mut created_by);
        }
    }
    let bytes = Zeroizing::new(bytes.unwrap_or_default());
    if !ok {
        return Err(malformed(
            "a JSON field has the wrong type or invalid base64",
        ));
    }
    let (algorithm, implicit_algorithm) = match algorithm.as_deref() {
        None | Some("") => (KeyAlgorithm::Aes256, true),
        Some(text) => (text.parse()?, false),
    };
    let created_at = match created_at {
        None => GO_ZERO_TIME,
        Some(text) => OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(|_| malformed("created_at is not an RFC 3339 time"))?,
    };
    Ok(KeyVersion {
        key: SecretKey::from_slice(algorithm, &bytes)?,
        hmac: None,
        created_at,
        created_by: created_by.unwrap_or_default(),
        implicit_algorithm,
    })
}

fn parse_protobuf(value: &[u8]) -> Result<KeyVersion> {
    let raw = Zeroizing::new(
        ciphertext::go_base64_decode(value).ok_or(malformed("not JSON and not base64"))?,
    );
    let message = pb::KeyVersion::decode(raw.as_slice())
        .map_err(|_| malformed("invalid protobuf KeyVersion"))?;
    let secret = message.key.as_ref().ok_or(malformed("no secret key"))?;
    let algorithm = KeyAlgorithm::from_proto_type(secret.r#type)?;
    let key = SecretKey::from_slice(algorithm, &secret.key)?;
    let hmac = message.hmac_key.as_ref().ok_or(malformed("no HMAC key"))?;
    if hmac.hash != pb::HASH_SHA256 {
        return Err(malformed("unsupported HMAC hash function"));
    }
    let hmac = HmacKey::from_slice(&hmac.key)?;
    // Go: CreatedAt.AsTime(), i.e. time.Unix(seconds, nanos) with nanos
    // normalised; a missing timestamp is the Unix epoch.
    let created_at = match &message.created_at {
        None => OffsetDateTime::UNIX_EPOCH,
        Some(ts) => {
            let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| BAD_TIME)?
        }
    };
    Ok(KeyVersion {
        key,
        hmac: Some(hmac),
        created_at,
        created_by: message.created_by.clone(),
        implicit_algorithm: false,
    })
}

/// The protobuf messages of `miniohq.kms` (KES `internal/crypto`).
mod pb {
    use zeroize::Zeroize;

    /// `HMACKey.Hash` value for SHA-256.
    pub(super) const HASH_SHA256: u32 = 1;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct SecretKey {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) key: Vec<u8>,
        #[prost(uint32, tag = "2")]
        pub(super) r#type: u32,
    }

    impl Drop for SecretKey {
        fn drop(&mut self) {
            self.key.zeroize();
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct HmacKey {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) key: Vec<u8>,
        #[prost(uint32, tag = "2")]
        pub(super) hash: u32,
    }

    impl Drop for HmacKey {
        fn drop(&mut self) {
            self.key.zeroize();
        }
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Timestamp {
        #[prost(int64, tag = "1")]
        pub(super) seconds: i64,
        #[prost(int32, tag = "2")]
        pub(super) nanos: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct KeyVersion {
        #[prost(message, optional, tag = "1")]
        pub(super) key: Option<SecretKey>,
        #[prost(message, optional, tag = "2")]
        pub(super) hmac_key: Option<HmacKey>,
        #[prost(message, optional, tag = "3")]
        pub(super) created_at: Option<Timestamp>,
        #[prost(string, tag = "4")]
        pub(super) created_by: String,
    }
}

impl fmt::Display for KeyVersion {
    /// A one-line summary without key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} key{}",
            self.key.algorithm(),
            if self.hmac.is_some() {
                " with HMAC"
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeyVersion {
        KeyVersion::new(
            SecretKey::new(KeyAlgorithm::ChaCha20, [5; 32]),
            HmacKey::new([6; 32]),
            time::macros::datetime!(2024-05-06 07:08:09.123456789 UTC),
            "me",
        )
    }

    #[test]
    fn encode_parse_round_trip() {
        let v = sample();
        let encoded = v.encode().unwrap();
        let back = KeyVersion::parse(encoded.as_bytes()).unwrap();
        assert_eq!(back, v);
        assert!(!back.implicit_algorithm);
    }

    #[test]
    fn protobuf_without_secret_or_hmac_key_is_an_error() {
        let b64 = |m: &pb::KeyVersion| {
            base64::engine::general_purpose::STANDARD.encode(m.encode_to_vec())
        };
        let full = pb::KeyVersion {
            key: Some(pb::SecretKey {
                key: vec![1; 32],
                r#type: 1,
            }),
            hmac_key: Some(pb::HmacKey {
                key: vec![2; 32],
                hash: 1,
            }),
            created_at: None,
            created_by: String::new(),
        };
        let parsed = KeyVersion::parse(b64(&full).as_bytes()).unwrap();
        assert_eq!(parsed.created_at, OffsetDateTime::UNIX_EPOCH);

        let mut m = full.clone();
        m.key = None;
        assert!(KeyVersion::parse(b64(&m).as_bytes()).is_err());
        let mut m = full.clone();
        m.hmac_key = None;
        assert!(KeyVersion::parse(b64(&m).as_bytes()).is_err());
        let mut m = full.clone();
        m.hmac_key.as_mut().unwrap().hash = 2;
        assert!(KeyVersion::parse(b64(&m).as_bytes()).is_err());
        let mut m = full.clone();
        m.key.as_mut().unwrap().r#type = 3;
        assert!(KeyVersion::parse(b64(&m).as_bytes()).is_err());
        let mut m = full.clone();
        m.key.as_mut().unwrap().key = vec![1; 31];
        assert!(KeyVersion::parse(b64(&m).as_bytes()).is_err());
        let mut m = full;
        m.hmac_key.as_mut().unwrap().key = vec![1; 33];
        assert!(KeyVersion::parse(b64(&m).as_bytes()).is_err());
    }

    #[test]
    fn timestamps_normalise_like_go() {
        let m = pb::KeyVersion {
            key: Some(pb::SecretKey {
                key: vec![1; 32],
                r#type: 2,
            }),
            hmac_key: Some(pb::HmacKey {
                key: vec![2; 32],
                hash: 1,
            }),
            created_at: Some(pb::Timestamp {
                seconds: 10,
                nanos: -1,
            }),
            created_by: "x".into(),
        };
        let text = base64::engine::general_purpose::STANDARD.encode(m.encode_to_vec());
        let v = KeyVersion::parse(text.as_bytes()).unwrap();
        assert_eq!(v.created_at.unix_timestamp_nanos(), 9_999_999_999);
        assert_eq!(v.algorithm(), KeyAlgorithm::ChaCha20);
    }

    #[test]
    fn legacy_json_variants() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let v = KeyVersion::parse(
            format!(r#"{{"bytes":"{key}","algorithm":"ChaCha20","version":"v1","x":[]}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(v.algorithm(), KeyAlgorithm::ChaCha20);
        assert!(!v.implicit_algorithm);
        assert_eq!(v.created_at, GO_ZERO_TIME);
        assert!(v.hmac(b"m").is_err());
        assert!(matches!(v.encode(), Err(Error::NoHmacKey)));

        let v = KeyVersion::parse(format!(r#" {{"Bytes":"{key}","algorithm":""}} "#).as_bytes())
            .unwrap();
        assert!(v.implicit_algorithm);
        assert_eq!(v.algorithm(), KeyAlgorithm::Aes256);

        let v = KeyVersion::parse(
            format!(r#"{{"bytes":"{key}","created_at":"2022-06-01T10:00:00.5+02:00","created_by":"id"}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(v.created_at.unix_timestamp(), 1_654_070_400);
        assert_eq!(v.created_by, "id");

        for bad in [
            format!(r#"{{"bytes":"{key}","algorithm":"AES-256"}}"#),
            format!(r#"{{"bytes":"{key}","created_at":"yesterday"}}"#),
            format!(r#"{{"bytes":"{key}","created_by":5}}"#),
            r#"{"bytes":"AAAA"}"#.to_owned(),
            "null".to_owned(),
            "[1]".to_owned(),
            "{}".to_owned(),
            String::new(),
            "!!!".to_owned(),
        ] {
            assert!(KeyVersion::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn generate_makes_distinct_keys() {
        let at = time::macros::datetime!(2025-01-01 0:00 UTC);
        let a = KeyVersion::generate(KeyAlgorithm::Aes256, at, "id").unwrap();
        let b = KeyVersion::generate(KeyAlgorithm::Aes256, at, "id").unwrap();
        assert_ne!(a, b);
        assert_ne!(a.key.as_bytes(), a.hmac.as_ref().unwrap().as_bytes());
        assert_eq!(a.created_by, "id");
        assert_eq!(format!("{a}"), "AES256 key with HMAC");
        let v = KeyVersion::new(
            SecretKey::new(KeyAlgorithm::Aes256, [0xab; 32]),
            HmacKey::new([0xab; 32]),
            at,
            "id",
        );
        let text = format!("{v:?}");
        assert!(
            text.contains("SecretKey") && !text.contains("171"),
            "{text}"
        );
    }
}
