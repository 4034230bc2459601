//! Parsing KES ciphertexts in all three formats KES ever wrote (§7.2–7.3).
//!
//! | first byte | format | written by |
//! |---|---|---|
//! | `0x95` | msgpack `[alg, id, iv, nonce, sealed]` | KES v0.19 (2022-03) to 2023-12 |
//! | `{` | JSON `{"aead","id"?,"iv","nonce","bytes"}` | KES up to v0.18 |
//! | anything | binary `sealed ‖ iv(16) ‖ nonce(12)` | KES since 2024-01, and this crate |
//!
//! A legacy parse that fails is not an error: the input is then taken as a
//! binary ciphertext unchanged (a random binary ciphertext may start with
//! `0x95` or `{`). [`parse`] only fails when the resulting binary form is
//! 28 bytes or shorter. Every failure is the opaque [`Error::NotAuthentic`].
//!
//! The JSON reader follows Go's `encoding/json` where it matters for
//! accepting the same inputs: object keys match field names
//! case-insensitively, the last duplicate wins, unknown fields and `null`
//! values are ignored, `[]byte` fields are padded standard base64 (line
//! breaks skipped), and invalid UTF-8 is replaced rather than rejected.
//! The msgpack reader is written by hand: the structure is one fixed
//! five-element array, which is smaller than a dependency.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::key::KeyAlgorithm;

/// Length of the per-ciphertext iv (the sub-key derivation input).
pub const IV_LEN: usize = 16;

/// Length of the AEAD nonce.
pub const NONCE_LEN: usize = 12;

/// Which encoding a ciphertext was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `sealed ‖ iv ‖ nonce` (current).
    Binary,
    /// msgpack array `[algorithm, key id, iv, nonce, sealed]` (2022-03 to 2023-12).
    LegacyMsgpack,
    /// JSON object `{"aead","id","iv","nonce","bytes"}` (up to 2022-03).
    LegacyJson,
}

/// A parsed ciphertext: the AEAD output and the values needed to open it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// AEAD ciphertext followed by its 16-byte tag. Borrowed for binary and
    /// msgpack input, decoded for JSON input.
    pub sealed: Cow<'a, [u8]>,
    /// The sub-key derivation input.
    pub iv: [u8; IV_LEN],
    /// The AEAD nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The encoding the input was in.
    pub format: Format,
    /// The algorithm a legacy ciphertext names; `None` for binary ones.
    pub embedded_algorithm: Option<KeyAlgorithm>,
}

/// Length of the `iv ‖ nonce` trailer of a binary ciphertext.
const TRAILER_LEN: usize = IV_LEN + NONCE_LEN;

/// Parses a ciphertext with the rules of §7.3. Never panics.
///
/// # Errors
/// [`Error::NotAuthentic`] when the (possibly rewritten) ciphertext is 28
/// bytes or shorter. Authentication is not checked here.
pub fn parse(ciphertext: &[u8]) -> Result<Parsed<'_>> {
    let legacy = match ciphertext.first() {
        Some(0x95) => parse_msgpack(ciphertext),
        Some(b'{') => parse_json(ciphertext),
        _ => None,
    };
    if let Some(parsed) = legacy {
        // Rewritten as sealed ‖ iv ‖ nonce, the length rule applies too.
        if parsed.sealed.is_empty() {
            return Err(Error::NotAuthentic);
        }
        return Ok(parsed);
    }
    parse_binary(ciphertext)
}

fn parse_binary(ciphertext: &[u8]) -> Result<Parsed<'_>> {
    if ciphertext.len() <= TRAILER_LEN {
        return Err(Error::NotAuthentic);
    }
    let (sealed, trailer) = ciphertext.split_at(ciphertext.len() - TRAILER_LEN);
    let (iv, nonce) = trailer.split_at(IV_LEN);
    Ok(Parsed {
        sealed: Cow::Borrowed(sealed),
        iv: iv.try_into().map_err(|_| Error::NotAuthentic)?,
        nonce: nonce.try_into().map_err(|_| Error::NotAuthentic)?,
        format: Format::Binary,
        embedded_algorithm: None,
    })
}

/// A cursor over msgpack bytes.
struct Msgpack<'a> {
    rest: &'a [u8],
}

impl<'a> Msgpack<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }

    fn be_len(&mut self, width: usize) -> Option<usize> {
        let bytes = self.take(width)?;
        let len = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        usize::try_from(len).ok()
    }

    /// A msgpack str (fixstr, str8, str16, str32).
    fn str(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            lead @ 0xa0..=0xbf => usize::from(lead & 0x1f),
            0xd9 => self.be_len(1)?,
            0xda => self.be_len(2)?,
            0xdb => self.be_len(4)?,
            _ => return None,
        };
        self.take(len)
    }

    /// A msgpack bin (bin8, bin16, bin32).
    fn bin(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            0xc4 => self.be_len(1)?,
            0xc5 => self.be_len(2)?,
            0xc6 => self.be_len(4)?,
            _ => return None,
        };
        self.take(len)
    }
}

fn parse_msgpack(input: &[u8]) -> Option<Parsed<'_>> {
    let mut r = Msgpack { rest: input };
    if r.byte()? != 0x95 {
        return None;
    }
    let algorithm = KeyAlgorithm::from_text(r.str()?)?;
    let _key_id = r.str()?;
    let iv: [u8; IV_LEN] = r.bin()?.try_into().ok()?;
    let nonce: [u8; NONCE_LEN] = r.bin()?.try_into().ok()?;
    let sealed = r.bin()?;
    if !r.rest.is_empty() {
        return None;
    }
    Some(Parsed {
        sealed: Cow::Borrowed(sealed),
        iv,
        nonce,
        format: Format::LegacyMsgpack,
        embedded_algorithm: Some(algorithm),
    })
}

fn parse_json(input: &[u8]) -> Option<Parsed<'static>> {
    let GoJson::Object(mut entries) = GoJson::parse(input)? else {
        return None;
    };
    let mut aead: Option<String> = None;
    let mut iv: Option<Vec<u8>> = None;
    let mut nonce: Option<Vec<u8>> = None;
    let mut sealed: Option<Vec<u8>> = None;
    let mut ok = true;
    for (name, value) in &entries {
        if go_field_eq(name, "aead") {
            ok &= go_string(value, &mut aead);
        } else if go_field_eq(name, "id") {
            let mut ignored = None;
            ok &= go_string(value, &mut ignored);
        } else if go_field_eq(name, "iv") {
            ok &= go_bytes(value, &mut iv);
        } else if go_field_eq(name, "nonce") {
            ok &= go_bytes(value, &mut nonce);
        } else if go_field_eq(name, "bytes") {
            ok &= go_bytes(value, &mut sealed);
        }
    }
    wipe_entries(&mut entries);
    if !ok {
        return None;
    }
    let algorithm = KeyAlgorithm::from_legacy_aead_name(aead?.as_bytes())?;
    Some(Parsed {
        iv: iv?.as_slice().try_into().ok()?,
        nonce: nonce?.as_slice().try_into().ok()?,
        sealed: Cow::Owned(sealed.unwrap_or_default()),
        format: Format::LegacyJson,
        embedded_algorithm: Some(algorithm),
    })
}

/// A JSON document as Go's `encoding/json` sees it when decoding into a
/// struct: an object with its members in document order, `null`, or
/// anything else.
pub(crate) enum GoJson {
    /// An object, members in order (duplicates kept).
    Object(Vec<(String, serde_json::Value)>),
    /// `null`: decoding it into a struct changes nothing.
    Null,
    /// Any other valid JSON value.
    Other,
}

impl GoJson {
    /// Parses `input` if it is valid JSON (invalid UTF-8 is replaced by
    /// U+FFFD first, as Go does). `None` when it is not valid JSON.
    pub(crate) fn parse(input: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(input);
        let parsed = serde_json::from_str::<GoJson>(&text).ok();
        if let Cow::Owned(mut owned) = text {
            owned.zeroize();
        }
        parsed
    }
}

impl<'de> serde::Deserialize<'de> for GoJson {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> std::result::Result<Self, D::Error> {
        de.deserialize_any(GoJsonVisitor)
    }
}

struct GoJsonVisitor;

impl<'de> serde::de::Visitor<'de> for GoJsonVisitor {
    type Value = GoJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<GoJson, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
            entries.push(entry);
        }
        Ok(GoJson::Object(entries))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<GoJson, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(GoJson::Other)
    }

    fn visit_unit<E>(self) -> std::result::Result<GoJson, E> {
        Ok(GoJson::Null)
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<GoJson, E> {
        Ok(GoJson::Other)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<GoJson, E> {
        Ok(GoJson::Other)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<GoJson, E> {
        Ok(GoJson::Other)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<GoJson, E> {
        Ok(GoJson::Other)
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<GoJson, E> {
        Ok(GoJson::Other)
    }
}

/// Whether a JSON object key selects a struct field, with the case folding
/// Go's `encoding/json` uses (`field` is ASCII lowercase). Besides ASCII
/// case, Go folds U+017F (long s) to `s` and U+212A (Kelvin sign) to `k`.
pub(crate) fn go_field_eq(key: &str, field: &str) -> bool {
    let mut key_chars = key.chars();
    for expected in field.chars() {
        let folded = match key_chars.next() {
            Some('\u{17f}') => 's',
            Some('\u{212a}') => 'k',
            Some(c) => c.to_ascii_lowercase(),
            None => return false,
        };
        if folded != expected {
            return false;
        }
    }
    key_chars.next().is_none()
}

/// Decodes a JSON value into a Go `string` field: a string sets it, `null`
/// leaves it unchanged, anything else is an error (`false`).
pub(crate) fn go_string(value: &serde_json::Value, out: &mut Option<String>) -> bool {
    match value {
        serde_json::Value::String(s) => {
            *out = Some(s.clone());
            true
        }
        serde_json::Value::Null => true,
        _ => false,
    }
}

/// Decodes a JSON value into a Go `[]byte` field: a base64 string (or an
/// array of byte values) sets it, `null` clears it, anything else is an
/// error (`false`). The previous
/// value is zeroized.
pub(crate) fn go_bytes(value: &serde_json::Value, out: &mut Option<Vec<u8>>) -> bool {
    if let Some(old) = out.as_mut() {
        old.zeroize();
    }
    match value {
        serde_json::Value::String(s) => match go_base64_decode(s.as_bytes()) {
            Some(bytes) => {
                *out = Some(bytes);
                true
            }
            None => false,
        },
        serde_json::Value::Null => {
            *out = None;
            true
        }
        // Go also decodes a JSON array of numbers 0..=255 into a []byte
        // (a null element leaves its byte zero).
        serde_json::Value::Array(items) => {
            let mut bytes = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::Null => bytes.push(0),
                    serde_json::Value::Number(n) => {
                        match n.as_u64().and_then(|v| u8::try_from(v).ok()) {
                            Some(b) => bytes.push(b),
                            None => {
                                bytes.zeroize();
                                return false;
                            }
                        }
                    }
                    _ => {
                        bytes.zeroize();
                        return false;
                    }
                }
            }
            *out = Some(bytes);
            true
        }
        _ => false,
    }
}

/// Zeroizes every string in parsed JSON members (they may hold base64 key
/// material).
pub(crate) fn wipe_entries(entries: &mut [(String, serde_json::Value)]) {
    for (name, value) in entries.iter_mut() {
        name.zeroize();
        wipe_value(value);
    }
}

fn wipe_value(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(wipe_value),
        serde_json::Value::Object(map) => map.values_mut().for_each(wipe_value),
        _ => {}
    }
}

/// Go's `base64.StdEncoding`: standard alphabet, padding required, `\r` and
/// `\n` skipped anywhere, non-zero trailing bits accepted.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes padded standard base64 the way Go's `base64.StdEncoding` does.
pub(crate) fn go_base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        let mut cleaned: Vec<u8> = text
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        let decoded = GO_STD.decode(&cleaned).ok();
        cleaned.zeroize();
        decoded
    } else {
        GO_STD.decode(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn binary_needs_more_than_28_bytes() {
        assert!(parse(&binary(28)).is_err());
        assert!(parse(&[]).is_err());
        let ct = binary(29);
        let p = parse(&ct).unwrap();
        assert_eq!(p.format, Format::Binary);
        assert_eq!(&*p.sealed, &[0]);
        assert_eq!(p.iv[0], 1);
        assert_eq!(p.nonce[11], 28);
        assert_eq!(p.embedded_algorithm, None);
    }

    fn msgpack(alg: &[u8], iv: &[u8], nonce: &[u8], sealed: &[u8]) -> Vec<u8> {
        let mut out = vec![0x95, 0xa0 | alg.len() as u8];
        out.extend_from_slice(alg);
        out.extend_from_slice(&[0xd9, 2, b'i', b'd']);
        for bin in [iv, nonce, sealed] {
            out.extend_from_slice(&[0xc4, bin.len() as u8]);
            out.extend_from_slice(bin);
        }
        out
    }

    #[test]
    fn msgpack_is_rewritten() {
        let ct = msgpack(b"ChaCha20", &[1; 16], &[2; 12], &[3; 20]);
        let p = parse(&ct).unwrap();
        assert_eq!(p.format, Format::LegacyMsgpack);
        assert_eq!(p.embedded_algorithm, Some(KeyAlgorithm::ChaCha20));
        assert_eq!(p.iv, [1; 16]);
        assert_eq!(p.nonce, [2; 12]);
        assert_eq!(&*p.sealed, &[3; 20]);
    }

    #[test]
    fn bad_msgpack_falls_back_to_binary() {
        for ct in [
            msgpack(b"AES-256-GCM", &[1; 16], &[2; 12], &[3; 20]),
            msgpack(b"AES256", &[1; 15], &[2; 12], &[3; 20]),
            msgpack(b"AES256", &[1; 16], &[2; 13], &[3; 20]),
            {
                let mut t = msgpack(b"AES256", &[1; 16], &[2; 12], &[3; 20]);
                t.push(0);
                t
            },
        ] {
            let p = parse(&ct).unwrap();
            assert_eq!(p.format, Format::Binary);
            assert_eq!(p.sealed.len(), ct.len() - 28);
        }
        // A msgpack with an empty sealed part is too short after rewriting.
        assert!(parse(&msgpack(b"AES256", &[1; 16], &[2; 12], &[])).is_err());
    }

    #[test]
    fn msgpack_length_prefixes() {
        let mut ct = vec![0x95, 0xda, 0, 6];
        ct.extend_from_slice(b"AES256");
        ct.extend_from_slice(&[0xdb, 0, 0, 0, 0]);
        ct.extend_from_slice(&[0xc5, 0, 16]);
        ct.extend_from_slice(&[5; 16]);
        ct.extend_from_slice(&[0xc6, 0, 0, 0, 12]);
        ct.extend_from_slice(&[6; 12]);
        ct.extend_from_slice(&[0xc4, 17]);
        ct.extend_from_slice(&[7; 17]);
        let p = parse(&ct).unwrap();
        assert_eq!(p.format, Format::LegacyMsgpack);
        assert_eq!(p.embedded_algorithm, Some(KeyAlgorithm::Aes256));
        assert_eq!(&*p.sealed, &[7; 17]);
    }

    #[test]
    fn json_follows_go_decoding() {
        let ct = br#"{"AEAD":"ChaCha20Poly1305","Iv":"AQEBAQEBAQEBAQEBAQEBAQ==","nonce":"AgICAgICAgICAgIC","bytes":"AwMD","unknown":[1,2]}"#;
        let p = parse(ct).unwrap();
        assert_eq!(p.format, Format::LegacyJson);
        assert_eq!(p.embedded_algorithm, Some(KeyAlgorithm::ChaCha20));
        assert_eq!(p.iv, [1; 16]);
        assert_eq!(p.nonce, [2; 12]);
        assert_eq!(&*p.sealed, &[3; 3]);

        // Last duplicate wins; null leaves a string unchanged.
        let ct = br#"{"aead":"x","aead":"AES-256-GCM-HMAC-SHA-256","aead":null,"iv":"AQEBAQEBAQEBAQEBAQEBAQ==","nonce":"AgICAgICAgICAgIC","bytes":"AwMD"}"#;
        let p = parse(ct).unwrap();
        assert_eq!(p.embedded_algorithm, Some(KeyAlgorithm::Aes256));
        assert_eq!(p.format, Format::LegacyJson);

        // A non-string id is a decode error: binary fallback.
        let ct = br#"{"aead":"AES-256-GCM-HMAC-SHA-256","id":1,"iv":"AQEBAQEBAQEBAQEBAQEBAQ==","nonce":"AgICAgICAgICAgIC","bytes":"AwMD"}"#;
        assert_eq!(parse(ct).unwrap().format, Format::Binary);

        // Unpadded base64 is rejected, like Go's StdEncoding.
        let ct = br#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"AQEBAQEBAQEBAQEBAQEBAQ","nonce":"AgICAgICAgICAgIC","bytes":"AwMD"}"#;
        assert_eq!(parse(ct).unwrap().format, Format::Binary);
    }

    #[test]
    fn go_field_matching() {
        assert!(go_field_eq("bytes", "bytes"));
        assert!(go_field_eq("BYTES", "bytes"));
        assert!(go_field_eq("byte\u{17f}", "bytes"));
        assert!(!go_field_eq("byte", "bytes"));
        assert!(!go_field_eq("bytess", "bytes"));
        assert!(!go_field_eq("bytés", "bytes"));
    }

    #[test]
    fn go_base64() {
        assert_eq!(go_base64_decode(b"AQI=").unwrap(), vec![1, 2]);
        assert_eq!(go_base64_decode(b"AQ\r\nI=").unwrap(), vec![1, 2]);
        assert_eq!(go_base64_decode(b"AQJ=").unwrap(), vec![1, 2]);
        assert!(go_base64_decode(b"AQI").is_none());
        assert!(go_base64_decode(b"AQ-_").is_none());
    }
}
