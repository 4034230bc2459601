//! Sealing and opening single DARE packages; the state both stream
//! directions share.

use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{
    CipherSuite, DecryptOptions, HEADER_SIZE, KEY_SIZE, MAX_PACKAGE_SIZE, MAX_PAYLOAD_SIZE,
    NONCE_SIZE, TAG_SIZE, Version,
};
use crate::{Error, Result};

const FINAL_FLAG: u8 = 0x80;

pub(super) fn aead_key(suite: CipherSuite, key: &[u8; KEY_SIZE]) -> Result<LessSafeKey> {
    let alg = match suite {
        CipherSuite::Aes256Gcm => &AES_256_GCM,
        CipherSuite::ChaCha20Poly1305 => &CHACHA20_POLY1305,
    };
    UnboundKey::new(alg, key)
        .map(LessSafeKey::new)
        .map_err(|_| Error::InvalidKey("DARE keys are 32 bytes"))
}

/// The AEAD nonce of DARE 2.0 package `seq`: the header nonce with `seq`
/// XORed little-endian into its last four bytes.
fn v2_nonce(header_nonce: &[u8; NONCE_SIZE], seq: u32) -> Nonce {
    let mut n = *header_nonce;
    let [a, b, c, d] = seq.to_le_bytes();
    n[8] ^= a;
    n[9] ^= b;
    n[10] ^= c;
    n[11] ^= d;
    Nonce::assume_unique_for_key(n)
}

fn stream_too_long() -> Error {
    Error::Malformed {
        what: "DARE stream",
        reason: "more than 2^32 packages",
    }
}

/// Writes DARE 2.0 packages of one stream: fixed key, suite and nonce,
/// increasing sequence numbers, at most one final package.
pub(super) struct Sealer {
    aead: LessSafeKey,
    suite: CipherSuite,
    /// The stream nonce with the final flag cleared.
    nonce: [u8; NONCE_SIZE],
    /// The next sequence number; may reach 2^32 (then nothing more seals).
    seq: u64,
    finalized: bool,
}

impl Sealer {
    pub(super) fn new(
        key: &[u8; KEY_SIZE],
        suite: CipherSuite,
        mut nonce: [u8; NONCE_SIZE],
        seq: u32,
    ) -> Result<Self> {
        nonce[0] &= !FINAL_FLAG;
        Ok(Self {
            aead: aead_key(suite, key)?,
            suite,
            nonce,
            seq: u64::from(seq),
            finalized: false,
        })
    }

    /// Seals the `len` payload bytes at `buf[HEADER_SIZE..HEADER_SIZE + len]`
    /// in place: writes the header before and the tag after them. Returns the
    /// package length (`len + 32`).
    pub(super) fn seal_in_place(
        &mut self,
        buf: &mut [u8],
        len: usize,
        last: bool,
    ) -> Result<usize> {
        if self.finalized {
            return Err(Error::Malformed {
                what: "DARE stream",
                reason: "package after the final package",
            });
        }
        if len == 0 || len > MAX_PAYLOAD_SIZE {
            return Err(Error::Malformed {
                what: "DARE package",
                reason: "payload must be 1 to 65536 bytes",
            });
        }
        let seq = u32::try_from(self.seq).map_err(|_| stream_too_long())?;
        let total = HEADER_SIZE + len + TAG_SIZE;
        let package = buf.get_mut(..total).ok_or(Error::Malformed {
            what: "DARE package",
            reason: "buffer too small",
        })?;
        let (header, rest) = package.split_at_mut(HEADER_SIZE);
        let (payload, tag_out) = rest.split_at_mut(len);

        let mut header_nonce = self.nonce;
        if last {
            header_nonce[0] |= FINAL_FLAG;
        }
        let len_field = u16::try_from(len - 1).map_err(|_| stream_too_long())?;
        header[0] = Version::V20.byte();
        header[1] = self.suite.id();
        header[2..4].copy_from_slice(&len_field.to_le_bytes());
        header[4..].copy_from_slice(&header_nonce);

        let tag = self
            .aead
            .seal_in_place_separate_tag(
                v2_nonce(&header_nonce, seq),
                Aad::from(&header[..4]),
                payload,
            )
            .map_err(|_| Error::NotAuthentic)?;
        tag_out.copy_from_slice(tag.as_ref());
        self.seq += 1;
        self.finalized = last;
        Ok(total)
    }
}

/// Checks and opens the packages of one stream, in order.
pub(super) struct Opener {
    key: Zeroizing<[u8; KEY_SIZE]>,
    aeads: [Option<LessSafeKey>; 2],
    options: DecryptOptions,
    /// Fixed by the first package.
    version: Option<Version>,
    /// DARE 2.0: the first package's cipher id and nonce (final flag cleared).
    reference: Option<(u8, [u8; NONCE_SIZE])>,
    /// The next expected sequence number.
    seq: u64,
    finalized: bool,
}

impl Opener {
    pub(super) fn new(key: &[u8; KEY_SIZE], options: DecryptOptions) -> Self {
        Self {
            key: Zeroizing::new(*key),
            aeads: [None, None],
            options,
            version: None,
            reference: None,
            seq: u64::from(options.first_sequence_number()),
            finalized: false,
        }
    }

    /// Checks a header before its body is read and returns the body length
    /// (payload and tag). Rejects data after a final package and versions
    /// that are not accepted or differ from the stream's.
    pub(super) fn body_len(&mut self, header: &[u8]) -> Result<usize> {
        if self.finalized {
            return Err(Error::NotAuthentic);
        }
        if header.len() < HEADER_SIZE {
            return Err(Error::NotAuthentic);
        }
        let version = Version::from_byte(header[0]).ok_or(Error::NotAuthentic)?;
        if !self.options.accepts(version) {
            return Err(Error::NotAuthentic);
        }
        match self.version {
            None => self.version = Some(version),
            Some(v) if v != version => return Err(Error::NotAuthentic),
            Some(_) => {}
        }
        let len = u16::from_le_bytes([header[2], header[3]]);
        Ok(usize::from(len) + 1 + TAG_SIZE)
    }

    /// Opens one complete package in place and returns its plaintext, which
    /// lies at `package[HEADER_SIZE..package.len() - TAG_SIZE]`.
    pub(super) fn open_in_place<'p>(&mut self, package: &'p mut [u8]) -> Result<&'p mut [u8]> {
        if package.len() < HEADER_SIZE {
            return Err(Error::NotAuthentic);
        }
        let (header, body) = package.split_at_mut(HEADER_SIZE);
        self.open_body(header, body)
    }

    /// Opens a package given as its header and, separately, its body
    /// (ciphertext ‖ tag), decrypting the body in place. The plaintext is
    /// the returned prefix of `body`.
    pub(super) fn open_body<'b>(
        &mut self,
        header: &[u8],
        body: &'b mut [u8],
    ) -> Result<&'b mut [u8]> {
        let expected = self.body_len(header)?;
        if body.len() != expected || HEADER_SIZE + body.len() > MAX_PACKAGE_SIZE {
            return Err(Error::NotAuthentic);
        }
        let seq = u32::try_from(self.seq).map_err(|_| Error::NotAuthentic)?;
        let mut h = [0u8; HEADER_SIZE];
        h.copy_from_slice(header.get(..HEADER_SIZE).ok_or(Error::NotAuthentic)?);
        let payload_len = body.len() - TAG_SIZE;

        let nonce = match self.version {
            Some(Version::V20) => self.check_v2(&h, payload_len, seq)?,
            Some(Version::V10) => {
                // DARE 1.0: the header carries the sequence number, and the
                // AEAD nonce is header[4..16] as is.
                if u32::from_le_bytes([h[4], h[5], h[6], h[7]]) != seq {
                    return Err(Error::NotAuthentic);
                }
                let mut n = [0u8; NONCE_SIZE];
                n.copy_from_slice(&h[4..]);
                Nonce::assume_unique_for_key(n)
            }
            None => return Err(Error::NotAuthentic),
        };
        let suite = CipherSuite::from_id(h[1]).ok_or(Error::NotAuthentic)?;
        let aead = self.aead(suite)?;
        let plaintext = aead
            .open_in_place(nonce, Aad::from(&h[..4]), body)
            .map_err(|_| Error::NotAuthentic)?;
        self.seq += 1;
        Ok(plaintext)
    }

    fn check_v2(&mut self, h: &[u8; HEADER_SIZE], payload_len: usize, seq: u32) -> Result<Nonce> {
        let cipher = h[1];
        let mut nonce = [0u8; NONCE_SIZE];
        nonce.copy_from_slice(&h[4..]);
        let last = nonce[0] & FINAL_FLAG != 0;
        let (ref_cipher, mut ref_nonce) = *self.reference.get_or_insert_with(|| {
            let mut n = nonce;
            n[0] &= !FINAL_FLAG;
            (cipher, n)
        });
        if cipher != ref_cipher || CipherSuite::from_id(cipher).is_none() {
            return Err(Error::NotAuthentic);
        }
        if !last && payload_len != MAX_PAYLOAD_SIZE {
            return Err(Error::NotAuthentic);
        }
        if last {
            ref_nonce[0] |= FINAL_FLAG;
            self.finalized = true;
        }
        if !bool::from(nonce.ct_eq(&ref_nonce)) {
            return Err(Error::NotAuthentic);
        }
        Ok(v2_nonce(&nonce, seq))
    }

    fn aead(&mut self, suite: CipherSuite) -> Result<&LessSafeKey> {
        let slot = match suite {
            CipherSuite::Aes256Gcm => &mut self.aeads[0],
            CipherSuite::ChaCha20Poly1305 => &mut self.aeads[1],
        };
        if slot.is_none() {
            *slot = Some(aead_key(suite, &self.key)?);
        }
        slot.as_ref().ok_or(Error::NotAuthentic)
    }

    /// Checks that the stream may end here: a DARE 2.0 stream must have
    /// ended with its final package; a 2.0-only decryptor rejects an empty
    /// stream. DARE 1.0 has no final flag and may end at any package.
    pub(super) fn finish(&self) -> Result<()> {
        match self.version {
            Some(Version::V20) if !self.finalized => Err(Error::NotAuthentic),
            Some(_) => Ok(()),
            None if self.options.accepts(Version::V10) => Ok(()),
            None => Err(Error::NotAuthentic),
        }
    }

    /// Whether no more data may follow (a DARE 2.0 final package was opened).
    pub(super) fn is_finalized(&self) -> bool {
        self.finalized
    }
}

/// Seals `plaintext` (1 to 65536 bytes) as one final DARE 2.0 package with
/// sequence number 0: the form MinIO uses for sealed object keys (32 bytes →
/// 64) and sealed ETags.
///
/// # Errors
/// [`Error::Malformed`] if `plaintext` is empty or longer than 65536 bytes.
pub fn seal_package(
    key: &[u8; KEY_SIZE],
    suite: CipherSuite,
    nonce: [u8; NONCE_SIZE],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    seal_package_with_sequence(key, suite, nonce, 0, plaintext)
}

/// Like [`seal_package`] with sequence number `seq` (the `minio/sio` golden
/// vectors seal final packages with non-zero sequence numbers).
///
/// # Errors
/// [`Error::Malformed`] if `plaintext` is empty or longer than 65536 bytes.
pub fn seal_package_with_sequence(
    key: &[u8; KEY_SIZE],
    suite: CipherSuite,
    nonce: [u8; NONCE_SIZE],
    seq: u32,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    if plaintext.is_empty() || plaintext.len() > MAX_PAYLOAD_SIZE {
        return Err(Error::Malformed {
            what: "DARE package",
            reason: "payload must be 1 to 65536 bytes",
        });
    }
    let mut sealer = Sealer::new(key, suite, nonce, seq)?;
    let mut buf = vec![0u8; HEADER_SIZE + plaintext.len() + TAG_SIZE];
    buf[HEADER_SIZE..HEADER_SIZE + plaintext.len()].copy_from_slice(plaintext);
    let n = sealer.seal_in_place(&mut buf, plaintext.len(), true)?;
    buf.truncate(n);
    Ok(buf)
}

/// Opens a DARE **2.0** stream held in memory — normally the single package
/// of a sealed object key or ETag — starting at sequence number 0, as
/// `minio/sio` `DecryptBuffer` with min = max = 2.0 does. The plaintext is
/// returned in zeroizing memory; callers check its length (32 for object keys).
///
/// # Errors
/// [`Error::NotAuthentic`] for anything that does not decrypt, including an
/// empty input, a DARE 1.0 package and a stream without a final package.
pub fn open_package(key: &[u8; KEY_SIZE], package: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    open_package_with(key, package, &DecryptOptions::v2_only())
}

/// Like [`open_package`] with explicit options, e.g. [`DecryptOptions::new`]
/// to accept DARE 1.0 as well (the legacy `DARE-SHA256` SSE-C seal).
///
/// # Errors
/// [`Error::NotAuthentic`] for anything that does not decrypt.
pub fn open_package_with(
    key: &[u8; KEY_SIZE],
    package: &[u8],
    options: &DecryptOptions,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(package.len()));
    decrypt_slice_into(key, package, options, &mut out)?;
    Ok(out)
}

/// Decrypts a whole in-memory stream and appends the plaintext to `out`.
/// On error `out` may hold a prefix of the plaintext; callers discard it.
pub(super) fn decrypt_slice_into(
    key: &[u8; KEY_SIZE],
    mut src: &[u8],
    options: &DecryptOptions,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut opener = Opener::new(key, *options);
    while !src.is_empty() {
        let header = src.get(..HEADER_SIZE).ok_or(Error::NotAuthentic)?;
        let total = HEADER_SIZE + opener.body_len(header)?;
        let body = src.get(HEADER_SIZE..total).ok_or(Error::NotAuthentic)?;
        let start = out.len();
        out.extend_from_slice(body);
        let sealed = out.get_mut(start..).ok_or(Error::NotAuthentic)?;
        let len = opener.open_body(header, sealed)?.len();
        out.truncate(start + len);
        src = src.get(total..).unwrap_or_default();
    }
    opener.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0x42; 32];
    const NONCE: [u8; 12] = [0xA5; 12];

    #[test]
    fn package_roundtrip_both_suites() {
        for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
            let p = seal_package(&KEY, suite, NONCE, &[1u8; 32]).unwrap();
            assert_eq!(p.len(), 64);
            assert_eq!(p[0], 0x20);
            assert_eq!(p[1], suite.id());
            assert_eq!(&p[2..4], &[31, 0]);
            assert_eq!(p[4], NONCE[0] | FINAL_FLAG);
            assert_eq!(&open_package(&KEY, &p).unwrap()[..], &[1u8; 32]);
        }
    }

    #[test]
    fn package_size_limits() {
        assert!(seal_package(&KEY, CipherSuite::Aes256Gcm, NONCE, &[]).is_err());
        let big = vec![0u8; MAX_PAYLOAD_SIZE + 1];
        assert!(seal_package(&KEY, CipherSuite::Aes256Gcm, NONCE, &big).is_err());
        let max = vec![0u8; MAX_PAYLOAD_SIZE];
        let p = seal_package(&KEY, CipherSuite::Aes256Gcm, NONCE, &max).unwrap();
        assert_eq!(p.len(), MAX_PACKAGE_SIZE);
        assert_eq!(&p[2..4], &[0xff, 0xff]);
        assert_eq!(open_package(&KEY, &p).unwrap().len(), MAX_PAYLOAD_SIZE);
    }

    #[test]
    fn open_rejects_empty_and_wrong_key() {
        assert!(matches!(open_package(&KEY, &[]), Err(Error::NotAuthentic)));
        let p = seal_package(&KEY, CipherSuite::Aes256Gcm, NONCE, b"x").unwrap();
        assert!(matches!(
            open_package(&[0u8; 32], &p),
            Err(Error::NotAuthentic)
        ));
        // The final flag is part of the AEAD nonce: clearing it breaks the
        // package even though a short non-final package is caught first.
        let mut q = p.clone();
        q[4] &= !FINAL_FLAG;
        assert!(open_package(&KEY, &q).is_err());
        // Trailing data after the final package.
        let mut r = p.clone();
        r.extend_from_slice(&p);
        assert!(open_package(&KEY, &r).is_err());
    }

    #[test]
    fn sealer_refuses_after_final_and_at_seq_limit() {
        let mut s = Sealer::new(&KEY, CipherSuite::Aes256Gcm, NONCE, u32::MAX).unwrap();
        let mut buf = vec![0u8; 64];
        s.seal_in_place(&mut buf, 1, false).unwrap();
        assert!(s.seal_in_place(&mut buf, 1, true).is_err());
        let mut s = Sealer::new(&KEY, CipherSuite::Aes256Gcm, NONCE, 0).unwrap();
        s.seal_in_place(&mut buf, 1, true).unwrap();
        assert!(s.seal_in_place(&mut buf, 1, true).is_err());
        assert!(s.seal_in_place(&mut buf, 0, true).is_err());
    }
}
