//! The KMS context: the associated data MinIO binds to every DEK.
//!
//! MinIO never sends the map itself; it sends the bytes of a canonical JSON
//! encoding, and the same bytes must be presented again to decrypt
//! (`spec/sse.md` §8):
//!
//! - an empty map encodes as the two bytes `{}` (never as empty AAD);
//! - otherwise `{"k":"v","k2":"v2"}` with no whitespace, keys sorted bytewise
//!   on their *unescaped* UTF-8 bytes (Go `sort.Strings`);
//! - strings use Go's `encoding/json` escaping with HTML escaping on:
//!   `"` and `\` get a backslash, `\n` `\r` `\t` their short forms, other
//!   bytes below 0x20 and `<` `>` `&` become `\u00xx` (lowercase hex),
//!   U+2028/U+2029 become `\u2028`/`\u2029`, each byte of invalid UTF-8
//!   becomes `\ufffd`, everything else (DEL and valid non-ASCII included)
//!   passes through raw.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{Error, Result};

use super::object_key::go_path_join;

/// A KMS context: a map of strings to strings, kept sorted.
///
/// `BTreeMap<String, String>` orders keys bytewise on their UTF-8 bytes,
/// which is exactly Go's `sort.Strings` order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Context(BTreeMap<String, String>);

impl Context {
    /// An empty context (encodes as `{}`).
    pub fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// The SSE-S3 / default SSE-KMS context `{bucket: path.Join(bucket, object)}`.
    pub fn for_object(bucket: &str, object: &str) -> Self {
        let mut ctx = Self::new();
        ctx.insert(bucket, go_path_join(bucket, object));
        ctx
    }

    /// The context SSE-KMS sends to the KMS: a copy of this (client) context
    /// plus the entry `bucket → path.Join(bucket, object)`, added only when
    /// the client context has no entry under the bucket name.
    pub fn with_object_entry(&self, bucket: &str, object: &str) -> Self {
        let mut ctx = self.clone();
        if !ctx.0.contains_key(bucket) {
            ctx.insert(bucket, go_path_join(bucket, object));
        }
        ctx
    }

    /// Inserts an entry, returning the previous value under `key`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// Removes an entry, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether there is an entry under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the context has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in encoding order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The underlying sorted map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The canonical JSON bytes MinIO uses as associated data
    /// (`kms.Context.MarshalText`).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            2 + self
                .0
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>(),
        );
        write_object(
            self.0.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
            &mut out,
            true,
        );
        out
    }

    /// The canonical JSON as a string (same bytes as [`Context::to_json`]).
    pub fn to_json_string(&self) -> String {
        // All inputs are valid UTF-8 and the escaper only emits ASCII or
        // copies valid UTF-8, so the lossy conversion never replaces anything.
        String::from_utf8_lossy(&self.to_json()).into_owned()
    }

    /// The encoding of MinIO's 2020-era context writer, which sorted the keys
    /// but escaped nothing. Only the pre-2021 master-key KMS
    /// ([`super::static_kms::LegacyMasterKey`]) derived keys from it.
    pub fn to_json_unescaped(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_object(
            self.0.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
            &mut out,
            false,
        );
        out
    }

    /// Standard base64 (with padding) of the canonical JSON: the form of the
    /// `X-Amz-Server-Side-Encryption-Context` header and the stored
    /// `...-Context` metadata entry.
    pub fn to_base64(&self) -> String {
        B64.encode(self.to_json())
    }

    /// Parses a JSON object of strings to strings, as Go's `json.Unmarshal`
    /// into a `map[string]string` does: any whitespace and key order,
    /// duplicate keys keep the last value, and `null` is an empty context.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        let map: Option<BTreeMap<String, String>> =
            serde_json::from_slice(json).map_err(|_| Error::Malformed {
                what: "KMS context",
                reason: "not a JSON object of strings",
            })?;
        Ok(Self(map.unwrap_or_default()))
    }

    /// Parses base64 (standard, padded) of a JSON object of strings.
    pub fn from_base64(b64: &str) -> Result<Self> {
        let json = B64.decode(b64).map_err(|_| Error::Malformed {
            what: "KMS context",
            reason: "not valid base64",
        })?;
        Self::from_json(&json)
    }
}

impl From<BTreeMap<String, String>> for Context {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Context {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Context {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.0
            .extend(iter.into_iter().map(|(k, v)| (k.into(), v.into())));
    }
}

impl IntoIterator for Context {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Encodes arbitrary byte-string entries the way MinIO encodes a Go
/// `map[string]string` (Go strings may hold invalid UTF-8; each invalid byte
/// is written as `\ufffd`). Entries are sorted bytewise; for duplicate keys
/// the last one wins.
pub fn encode_raw<'a, I>(entries: I) -> Vec<u8>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let map: BTreeMap<&[u8], &[u8]> = entries.into_iter().collect();
    let mut out = Vec::new();
    write_object(map.into_iter(), &mut out, true);
    out
}

fn write_object<'a>(
    entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    out: &mut Vec<u8>,
    escape: bool,
) {
    out.push(b'{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        if escape {
            escape_json_string(k, out);
        } else {
            out.extend_from_slice(k);
        }
        out.extend_from_slice(b"\":\"");
        if escape {
            escape_json_string(v, out);
        } else {
            out.extend_from_slice(v);
        }
        out.push(b'"');
    }
    out.push(b'}');
}

/// Appends `s` escaped as the inside of a JSON string, exactly as Go's
/// `encoding/json` does with HTML escaping on (without the quotes).
pub fn escape_json_string(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Bytes are copied in runs; only the bytes that need escaping (and
    // invalid UTF-8) interrupt a run.
    let mut run_start = 0;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        let (width, escape): (usize, Option<&[u8]>) = if b < 0x80 {
            match b {
                b'"' => (1, Some(b"\\\"")),
                b'\\' => (1, Some(b"\\\\")),
                b'\n' => (1, Some(b"\\n")),
                b'\r' => (1, Some(b"\\r")),
                b'\t' => (1, Some(b"\\t")),
                b'<' | b'>' | b'&' | 0x00..=0x1f => (1, Some(&[])),
                _ => (1, None),
            }
        } else {
            let width = match b {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => 0,
            };
            match s
                .get(i..i + width)
                .filter(|_| width > 0)
                .map(std::str::from_utf8)
            {
                Some(Ok("\u{2028}")) => (width, Some(b"\\u2028")),
                Some(Ok("\u{2029}")) => (width, Some(b"\\u2029")),
                Some(Ok(_)) => (width, None),
                // Go replaces each byte of invalid UTF-8 on its own.
                _ => (1, Some(b"\\ufffd")),
            }
        };
        if let Some(escape) = escape {
            out.extend_from_slice(s.get(run_start..i).unwrap_or_default());
            if escape.is_empty() {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            } else {
                out.extend_from_slice(escape);
            }
            run_start = i + width;
        }
        i += width;
    }
    out.extend_from_slice(s.get(run_start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_braces() {
        assert_eq!(Context::new().to_json(), b"{}");
        assert_eq!(Context::new().to_base64(), "e30=");
    }

    #[test]
    fn html_and_controls() {
        let ctx: Context = [("k", "<a&b>\u{7f}\u{8}")].into_iter().collect();
        assert_eq!(
            ctx.to_json_string(),
            r#"{"k":"\u003ca\u0026b\u003e\u007f\u0008"}"#.replace("\\u007f", "\u{7f}")
        );
    }

    #[test]
    fn invalid_utf8_each_byte() {
        let mut out = Vec::new();
        escape_json_string(b"\xe2\x82x\xff", &mut out);
        assert_eq!(out, b"\\ufffd\\ufffdx\\ufffd");
    }

    #[test]
    fn null_is_empty_and_non_string_fails() {
        assert!(Context::from_json(b"null").unwrap().is_empty());
        assert!(Context::from_json(b"{\"a\":1}").is_err());
        assert!(Context::from_json(b"").is_err());
        assert_eq!(
            Context::from_json(b"{\"a\":\"1\",\"a\":\"2\"}")
                .unwrap()
                .get("a"),
            Some("2")
        );
    }

    #[test]
    fn object_entry_keeps_client_value() {
        let client: Context = [("b", "custom")].into_iter().collect();
        assert_eq!(client.with_object_entry("b", "o").get("b"), Some("custom"));
        let other: Context = [("x", "y")].into_iter().collect();
        assert_eq!(other.with_object_entry("b", "o").get("b"), Some("b/o"));
    }
}
