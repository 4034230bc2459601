//! DARE, the authenticated stream format of `minio/sio` v0.4.1 (spec `sse.md` §7).
//!
//! MinIO seals object data, object keys, ETags and a few metadata blobs with
//! DARE. A stream is a sequence of *packages*:
//!
//! ```text
//! package = header (16) ‖ AEAD(payload, 1..=65536 bytes) ‖ tag (16)
//! DARE 2.0 header = 0x20 ‖ cipher ‖ LE16(len − 1) ‖ nonce12   (bit 7 of nonce12[0] = final flag)
//! DARE 1.0 header = 0x10 ‖ cipher ‖ LE16(len − 1) ‖ LE32(seq) ‖ rand8
//! ```
//!
//! The associated data of every package is its first four header bytes. In
//! DARE 2.0 the AEAD nonce is the header's 12 nonce bytes with the sequence
//! number XORed (little endian) into the last four, so the final flag is part
//! of the nonce and a truncated or reordered stream fails to decrypt.
//!
//! What this module offers:
//!
//! | need | API |
//! |---|---|
//! | seal / open one package (object keys, ETags) | [`seal_package`], [`open_package`], [`open_package_with`] |
//! | whole buffers | [`encrypt_to_vec`], [`encrypt_to_vec_with_nonce`], [`decrypt_to_vec`], [`decrypt_to_vec_with`] |
//! | streams over the caller's IO | [`DareEncryptWriter`], [`DareEncryptReader`], [`DareDecryptReader`] |
//! | sizes | [`encrypted_size`], [`decrypted_size`] |
//! | range reads (single- and multipart objects) | [`RangePlan::new`], [`RangePlan::decrypt`] → [`DareRangeReader`] |
//!
//! Only DARE 2.0 is written. DARE 1.0 is read, as MinIO still reads it. Every
//! decryption failure — malformed header, wrong key, reordered, truncated or
//! trailing data — is the same opaque [`Error::NotAuthentic`]; errors from
//! the caller's reader or writer are [`Error::Io`].
//!
//! ```
//! use kes_crypto::sse::dare::{self, CipherSuite};
//!
//! let key = [7u8; 32];
//! let sealed = dare::encrypt_to_vec(&key, CipherSuite::Aes256Gcm, b"hello")?;
//! assert_eq!(sealed.len() as u64, dare::encrypted_size(5)?);
//! assert_eq!(dare::decrypt_to_vec(&key, &sealed)?, b"hello");
//! # Ok::<(), kes_crypto::Error>(())
//! ```

mod package;
mod range;
mod read;
mod write;

use crate::{Error, Result};

pub use package::{open_package, open_package_with, seal_package, seal_package_with_sequence};
pub use range::{DareRangeReader, PartSpan, RangePlan};
pub use read::{DareDecryptReader, decrypt_to_vec, decrypt_to_vec_with};
pub use write::{DareEncryptReader, DareEncryptWriter, encrypt_to_vec, encrypt_to_vec_with_nonce};

/// Size of a package header in bytes.
pub const HEADER_SIZE: usize = 16;
/// Size of a package's authentication tag in bytes.
pub const TAG_SIZE: usize = 16;
/// The largest payload of one package: 64 KiB.
pub const MAX_PAYLOAD_SIZE: usize = 1 << 16;
/// The largest package: header, 64 KiB payload and tag (65568 bytes).
pub const MAX_PACKAGE_SIZE: usize = HEADER_SIZE + MAX_PAYLOAD_SIZE + TAG_SIZE;
/// Size of the DARE 2.0 stream nonce in bytes.
pub const NONCE_SIZE: usize = 12;
/// Size of a DARE key in bytes.
pub const KEY_SIZE: usize = 32;
/// The largest plaintext a DARE stream may carry: 2^48 bytes (2^32 packages).
pub const MAX_DECRYPTED_SIZE: u64 = 1 << 48;
/// The largest encrypted DARE stream: [`MAX_DECRYPTED_SIZE`] plus 32 bytes per package.
pub const MAX_ENCRYPTED_SIZE: u64 =
    MAX_DECRYPTED_SIZE + ((HEADER_SIZE + TAG_SIZE) as u64) * (1 << 32);

const PACKAGE_OVERHEAD: u64 = (HEADER_SIZE + TAG_SIZE) as u64;
const MAX_PAYLOAD_U64: u64 = MAX_PAYLOAD_SIZE as u64;
const MAX_PACKAGE_U64: u64 = MAX_PACKAGE_SIZE as u64;

/// The AEAD of a DARE package (header byte 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// AES-256-GCM, id `0x00`.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439), id `0x01`.
    ChaCha20Poly1305,
}

impl CipherSuite {
    /// The cipher id written into header byte 1.
    pub const fn id(self) -> u8 {
        match self {
            Self::Aes256Gcm => 0x00,
            Self::ChaCha20Poly1305 => 0x01,
        }
    }

    /// The suite with the given header id, if any.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x00 => Some(Self::Aes256Gcm),
            0x01 => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The suite `minio/sio` v0.4.1 picks on this machine: AES-256-GCM on
    /// x86/x86-64 with AES-NI and PCLMULQDQ and on s390x, ChaCha20-Poly1305
    /// everywhere else (arm64 included). Either suite decrypts anywhere; this
    /// only matters for writing byte-for-byte what MinIO would write.
    pub fn platform_default() -> Self {
        if hardware_aes() {
            Self::Aes256Gcm
        } else {
            Self::ChaCha20Poly1305
        }
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn hardware_aes() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "s390x")]
fn hardware_aes() -> bool {
    true
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "s390x")))]
fn hardware_aes() -> bool {
    false
}

/// A DARE format version (header byte 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// DARE 1.0 (`0x10`): read only.
    V10,
    /// DARE 2.0 (`0x20`): what MinIO writes.
    V20,
}

impl Version {
    /// The version byte.
    pub const fn byte(self) -> u8 {
        match self {
            Self::V10 => 0x10,
            Self::V20 => 0x20,
        }
    }

    /// The version with the given byte, if any.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x10 => Some(Self::V10),
            0x20 => Some(Self::V20),
            _ => None,
        }
    }
}

/// How to decrypt: which versions to accept and the first sequence number.
///
/// The default accepts DARE 1.0 and 2.0 (detected from the first byte, then
/// fixed for the stream) and starts at sequence number 0, as MinIO reads
/// object data. Sealed object keys are opened with
/// [`DecryptOptions::v2_only`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecryptOptions {
    min_version: Version,
    max_version: Version,
    sequence_number: u32,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DecryptOptions {
    /// DARE 1.0 and 2.0, starting at sequence number 0.
    pub const fn new() -> Self {
        Self {
            min_version: Version::V10,
            max_version: Version::V20,
            sequence_number: 0,
        }
    }

    /// DARE 2.0 only, starting at sequence number 0. An empty input is then
    /// an error, as in `minio/sio`'s 2.0-only decryptor.
    pub const fn v2_only() -> Self {
        Self {
            min_version: Version::V20,
            max_version: Version::V20,
            sequence_number: 0,
        }
    }

    /// Accept only versions in `min..=max`. If `min > max` nothing decrypts.
    #[must_use]
    pub const fn versions(mut self, min: Version, max: Version) -> Self {
        self.min_version = min;
        self.max_version = max;
        self
    }

    /// Start at this sequence number (range reads start mid-stream).
    #[must_use]
    pub const fn sequence_number(mut self, seq: u32) -> Self {
        self.sequence_number = seq;
        self
    }

    /// The oldest accepted version.
    pub const fn min_version(&self) -> Version {
        self.min_version
    }

    /// The newest accepted version.
    pub const fn max_version(&self) -> Version {
        self.max_version
    }

    /// The first expected sequence number.
    pub const fn first_sequence_number(&self) -> u32 {
        self.sequence_number
    }

    fn accepts(&self, version: Version) -> bool {
        self.min_version <= version && version <= self.max_version
    }
}

/// The size of the DARE stream that encrypts `plaintext_len` bytes
/// (`minio/sio` `EncryptedSize`).
///
/// # Errors
/// [`Error::Malformed`] when `plaintext_len` exceeds [`MAX_DECRYPTED_SIZE`].
pub fn encrypted_size(plaintext_len: u64) -> Result<u64> {
    if plaintext_len > MAX_DECRYPTED_SIZE {
        return Err(Error::Malformed {
            what: "DARE stream size",
            reason: "larger than DARE allows",
        });
    }
    let full = plaintext_len / MAX_PAYLOAD_U64;
    let rest = plaintext_len % MAX_PAYLOAD_U64;
    let tail = if rest > 0 { rest + PACKAGE_OVERHEAD } else { 0 };
    Ok(full * MAX_PACKAGE_U64 + tail)
}

/// The plaintext size of a DARE stream of `encrypted_len` bytes
/// (`minio/sio` `DecryptedSize`).
///
/// # Errors
/// [`Error::Malformed`] when no stream has that size (the last package would
/// hold 1 to 32 bytes; MinIO calls such an object "tampered") or when it
/// exceeds [`MAX_ENCRYPTED_SIZE`].
pub fn decrypted_size(encrypted_len: u64) -> Result<u64> {
    if encrypted_len > MAX_ENCRYPTED_SIZE {
        return Err(Error::Malformed {
            what: "DARE stream size",
            reason: "larger than DARE allows",
        });
    }
    let full = encrypted_len / MAX_PACKAGE_U64;
    let rest = encrypted_len % MAX_PACKAGE_U64;
    let tail = match rest {
        0 => 0,
        r if r <= PACKAGE_OVERHEAD => {
            return Err(Error::Malformed {
                what: "DARE stream size",
                reason: "not the size of any DARE stream",
            });
        }
        r => r - PACKAGE_OVERHEAD,
    };
    Ok(full * MAX_PAYLOAD_U64 + tail)
}

/// Draws a fresh 12-byte stream nonce from the operating system.
///
/// # Errors
/// [`Error::Rng`] if the OS randomness source fails.
pub fn random_nonce() -> Result<[u8; NONCE_SIZE]> {
    let mut nonce = [0u8; NONCE_SIZE];
    crate::rng::fill(&mut nonce)?;
    Ok(nonce)
}

/// Reads until `buf` is full or the reader reports end of input; retries
/// on `Interrupted`. Returns the number of bytes read.
pub(crate) fn read_full<R: std::io::Read + ?Sized>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n.min(rest.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(filled)
}

/// Converts a crate error into an `io::Error` for the `Read`/`Write` impls.
/// Errors that came from the caller's IO are passed back unchanged.
pub(crate) fn to_io_error(err: Error) -> std::io::Error {
    match err {
        Error::Io(e) => e,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_invert() {
        for n in [0u64, 1, 32, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 7] {
            let e = encrypted_size(n).unwrap();
            assert_eq!(decrypted_size(e).unwrap(), n);
        }
        assert!(encrypted_size(MAX_DECRYPTED_SIZE).is_ok());
        assert!(encrypted_size(MAX_DECRYPTED_SIZE + 1).is_err());
        assert_eq!(
            encrypted_size(MAX_DECRYPTED_SIZE).unwrap(),
            MAX_ENCRYPTED_SIZE
        );
        assert!(decrypted_size(MAX_ENCRYPTED_SIZE + 1).is_err());
        assert!(decrypted_size(32).is_err());
        assert!(decrypted_size(MAX_PACKAGE_U64 + 1).is_err());
    }

    #[test]
    fn suite_and_version_ids() {
        for s in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
            assert_eq!(CipherSuite::from_id(s.id()), Some(s));
        }
        assert_eq!(CipherSuite::from_id(2), None);
        for v in [Version::V10, Version::V20] {
            assert_eq!(Version::from_byte(v.byte()), Some(v));
        }
        assert_eq!(Version::from_byte(0x11), None);
        let _ = CipherSuite::platform_default();
    }

    #[test]
    fn options() {
        let o = DecryptOptions::default();
        assert!(o.accepts(Version::V10) && o.accepts(Version::V20));
        let o = DecryptOptions::v2_only().sequence_number(9);
        assert!(!o.accepts(Version::V10) && o.accepts(Version::V20));
        assert_eq!(o.first_sequence_number(), 9);
        let o = DecryptOptions::new().versions(Version::V20, Version::V10);
        assert!(!o.accepts(Version::V10) && !o.accepts(Version::V20));
    }
}
