//! ETags of encrypted objects (spec `sse.md` §12.2).
//!
//! MinIO stores the ETag of an encrypted object sealed: one DARE 2.0 package
//! over the raw ETag bytes under the key `HMAC-SHA256(object key, "SSE-etag")`
//! — a 16-byte MD5 becomes 48 bytes, 96 hex characters. Multipart parts are
//! sealed with the object key, not the part key.
//!
//! Two readers of that value exist in MinIO and both are here:
//! - `cmd` `DecryptETag` ([`decrypt_etag`]): `<32 hex>-<n>` is returned as
//!   is, anything else must be hex and is unsealed when longer than 16 bytes;
//! - the `internal/etag` package ([`ETag`]): ETags of 32 bytes or more count
//!   as encrypted.

use zeroize::Zeroizing;

use super::dare::{self, CipherSuite, DecryptOptions, KEY_SIZE, NONCE_SIZE};
use crate::{Error, Result, mac};

/// The HMAC message that derives the ETag key from the object key.
pub const ETAG_KEY_CONTEXT: &[u8] = b"SSE-etag";

/// `HMAC-SHA256(object_key, "SSE-etag")`: the DARE key of sealed ETags.
pub fn etag_key(object_key: &[u8; KEY_SIZE]) -> Zeroizing<[u8; KEY_SIZE]> {
    mac::sign(object_key, &[ETAG_KEY_CONTEXT])
}

/// Whether a stored (raw) ETag looks sealed: longer than 16 bytes
/// (`crypto.IsETagSealed`).
pub fn is_etag_sealed(etag: &[u8]) -> bool {
    etag.len() > 16
}

/// Seals a raw ETag with a fresh random nonce (`ObjectKey.SealETag`). An
/// empty ETag stays empty.
///
/// # Errors
/// [`Error::Rng`] if the OS randomness source fails; [`Error::Malformed`]
/// for an ETag longer than one DARE package (64 KiB).
pub fn seal_etag(object_key: &[u8; KEY_SIZE], etag: &[u8], suite: CipherSuite) -> Result<Vec<u8>> {
    if etag.is_empty() {
        return Ok(Vec::new());
    }
    seal_etag_with_nonce(object_key, etag, suite, dare::random_nonce()?)
}

/// Like [`seal_etag`] with a given DARE nonce (deterministic).
///
/// # Errors
/// [`Error::Malformed`] for an ETag longer than 64 KiB.
pub fn seal_etag_with_nonce(
    object_key: &[u8; KEY_SIZE],
    etag: &[u8],
    suite: CipherSuite,
    nonce: [u8; NONCE_SIZE],
) -> Result<Vec<u8>> {
    if etag.is_empty() {
        return Ok(Vec::new());
    }
    dare::seal_package(&etag_key(object_key), suite, nonce, etag)
}

/// Unseals a stored raw ETag (`ObjectKey.UnsealETag`): a value of at most 16
/// bytes is not sealed and returned as is; a longer one is decrypted as a
/// DARE stream (1.0 or 2.0).
///
/// # Errors
/// [`Error::NotAuthentic`] if a sealed ETag does not decrypt.
pub fn unseal_etag(object_key: &[u8; KEY_SIZE], etag: &[u8]) -> Result<Vec<u8>> {
    if !is_etag_sealed(etag) {
        return Ok(etag.to_vec());
    }
    dare::decrypt_to_vec_with(&etag_key(object_key), etag, &DecryptOptions::new())
}

fn tampered(reason: &'static str) -> Error {
    Error::Malformed {
        what: "ETag",
        reason,
    }
}

/// MinIO's `DecryptETag`: turns the stored ETag string of an encrypted
/// object into the client-visible one.
///
/// - `<32 hex>-<n>` (a multipart ETag; `n` a 32-bit integer) is returned
///   unchanged; any other ETag with a `-` is an error ("object tampered");
/// - otherwise the ETag must be hex; it is unsealed with
///   [`unseal_etag`] and returned as lowercase hex.
///
/// # Errors
/// [`Error::Malformed`] (`what` = "ETag") for a malformed value,
/// [`Error::NotAuthentic`] if a sealed ETag does not decrypt.
pub fn decrypt_etag(object_key: &[u8; KEY_SIZE], etag: &str) -> Result<String> {
    let dashes = etag.bytes().filter(|&b| b == b'-').count();
    if dashes > 0 {
        let (prefix, suffix) = etag.split_once('-').ok_or(tampered("malformed"))?;
        if dashes != 1 || prefix.len() != 32 || hex::decode(prefix).is_err() {
            return Err(tampered("malformed multipart ETag"));
        }
        suffix
            .parse::<i32>()
            .map_err(|_| tampered("part count is not a number"))?;
        return Ok(etag.to_owned());
    }
    let raw = hex::decode(etag).map_err(|_| tampered("not hex"))?;
    Ok(hex::encode(unseal_etag(object_key, &raw)?))
}

/// An ETag as MinIO's `internal/etag` package holds it: the raw bytes, with
/// a multipart ETag kept as 16 raw bytes followed by `-<n>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ETag(Vec<u8>);

impl ETag {
    /// An ETag from its raw bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// Parses the textual form (`etag.Parse`, non-strict): optional double
    /// quotes, then hex (any length; encrypted ETags are longer than 16
    /// bytes), or `<32 hex>-<n>`.
    ///
    /// # Errors
    /// [`Error::Malformed`] if it is neither.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(s);
        let Some(dash) = s.find('-') else {
            return hex::decode(s).map(Self).map_err(|_| tampered("not hex"));
        };
        let (prefix, suffix) = s.split_at(dash);
        if prefix.len() != 32 {
            return Err(tampered("multipart prefix is not 32 hex characters"));
        }
        let digits = suffix.get(1..).unwrap_or_default();
        if digits.is_empty() {
            return Err(tampered("part count is missing"));
        }
        let mut raw = hex::decode(prefix).map_err(|_| tampered("not hex"))?;
        digits
            .parse::<i64>()
            .map_err(|_| tampered("part count is not a number"))?;
        raw.extend_from_slice(suffix.as_bytes());
        Ok(Self(raw))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the ETag is encrypted: 32 bytes or longer.
    pub fn is_encrypted(&self) -> bool {
        self.0.len() >= 32
    }

    /// Whether it is a multipart ETag (`<md5>-<n>`).
    pub fn is_multipart(&self) -> bool {
        self.0.len() > 16 && !self.is_encrypted() && self.0.contains(&b'-')
    }

    /// Decrypts an encrypted ETag with the object key (`etag.Decrypt`); an
    /// ETag that is not encrypted is returned unchanged.
    ///
    /// # Errors
    /// [`Error::NotAuthentic`] if it does not decrypt.
    pub fn decrypt(&self, object_key: &[u8; KEY_SIZE]) -> Result<Self> {
        if !self.is_encrypted() {
            return Ok(self.clone());
        }
        dare::decrypt_to_vec(&etag_key(object_key), &self.0).map(Self)
    }
}

impl std::fmt::Display for ETag {
    /// Hex, except that a multipart ETag keeps its `-<n>` suffix as text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.split_at_checked(16) {
            Some((md5, suffix)) if self.is_multipart() => {
                f.write_str(&hex::encode(md5))?;
                f.write_str(&String::from_utf8_lossy(suffix))
            }
            _ => f.write_str(&hex::encode(&self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0x11; 32];

    #[test]
    fn seal_unseal_roundtrip() {
        for len in [1usize, 16, 20, 36] {
            let etag = vec![0xAB; len];
            let sealed = seal_etag(&KEY, &etag, CipherSuite::Aes256Gcm).unwrap();
            assert_eq!(sealed.len(), len + 32);
            assert!(is_etag_sealed(&sealed));
            assert_eq!(unseal_etag(&KEY, &sealed).unwrap(), etag);
            assert!(unseal_etag(&[0; 32], &sealed).is_err());
        }
        assert!(
            seal_etag(&KEY, &[], CipherSuite::Aes256Gcm)
                .unwrap()
                .is_empty()
        );
        assert_eq!(unseal_etag(&KEY, &[1; 16]).unwrap(), vec![1; 16]);
    }

    #[test]
    fn etag_parse_and_display() {
        let e = ETag::parse("\"7b976cc68452e003eec7cb0eb631a19a-3\"").unwrap();
        assert!(e.is_multipart() && !e.is_encrypted());
        assert_eq!(e.to_string(), "7b976cc68452e003eec7cb0eb631a19a-3");
        assert!(ETag::parse("7b976cc68452e003eec7cb0eb631a19a-").is_err());
        assert!(ETag::parse("7b976cc68452e003eec7cb0eb631a19-1").is_err());
        assert!(ETag::parse("xyz").is_err());
        assert_eq!(ETag::parse("").unwrap(), ETag::default());
    }

    #[test]
    fn decrypt_etag_multipart_rules() {
        let m = "916516b396f0f4d4f2a0e7177557bec4-+5";
        assert_eq!(decrypt_etag(&KEY, m).unwrap(), m);
        assert!(decrypt_etag(&KEY, "916516b396f0f4d4f2a0e7177557bec4-99999999999").is_err());
        assert!(decrypt_etag(&KEY, "916516b396f0f4d4f2a0e7177557becZ-1").is_err());
    }
}
