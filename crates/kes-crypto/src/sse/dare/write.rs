//! Encrypting DARE 2.0 streams: a `Write` adapter, a `Read` adapter and
//! whole-buffer helpers.

use std::io::{self, Read, Write};
use std::ops::Range;

use zeroize::Zeroizing;

use super::package::Sealer;
use super::{
    CipherSuite, HEADER_SIZE, KEY_SIZE, MAX_PACKAGE_SIZE, MAX_PAYLOAD_SIZE, NONCE_SIZE, TAG_SIZE,
    encrypted_size, random_nonce, read_full, to_io_error,
};
use crate::{Error, Result};

/// Encrypts `plaintext` as one DARE 2.0 stream with a fresh random nonce.
///
/// # Errors
/// [`Error::Rng`] if the OS randomness source fails; [`Error::Malformed`] if
/// the plaintext is larger than DARE allows.
pub fn encrypt_to_vec(
    key: &[u8; KEY_SIZE],
    suite: CipherSuite,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    encrypt_to_vec_with_nonce(key, suite, random_nonce()?, plaintext)
}

/// Encrypts `plaintext` as one DARE 2.0 stream with the given stream nonce
/// (deterministic: the same inputs give the same bytes). Never reuse a nonce
/// with the same key for different plaintexts.
///
/// An empty plaintext gives an empty ciphertext; a plaintext of k·65536 bytes
/// ends with a full final package.
///
/// # Errors
/// [`Error::Malformed`] if the plaintext is larger than DARE allows.
pub fn encrypt_to_vec_with_nonce(
    key: &[u8; KEY_SIZE],
    suite: CipherSuite,
    nonce: [u8; NONCE_SIZE],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let size = u64::try_from(plaintext.len())
        .ok()
        .and_then(|n| encrypted_size(n).ok())
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(Error::Malformed {
            what: "DARE stream size",
            reason: "larger than DARE allows",
        })?;
    let mut sealer = Sealer::new(key, suite, nonce, 0)?;
    let mut out = Vec::with_capacity(size);
    let mut chunks = plaintext.chunks(MAX_PAYLOAD_SIZE).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let start = out.len();
        out.extend_from_slice(&[0u8; HEADER_SIZE]);
        out.extend_from_slice(chunk);
        out.extend_from_slice(&[0u8; TAG_SIZE]);
        let package = out.get_mut(start..).ok_or(Error::NotAuthentic)?;
        sealer.seal_in_place(package, chunk.len(), last)?;
    }
    Ok(out)
}

/// Encrypts everything written to it as one DARE 2.0 stream into the
/// caller's writer.
///
/// Plaintext is buffered up to one package (64 KiB); a full package is only
/// sealed once more data arrives, so that the last package can carry the
/// final flag. **Call [`finish`](Self::finish)** to seal the final package;
/// a writer dropped without it leaves a stream that does not decrypt (DARE
/// 2.0 detects the missing final package). After an error the writer stays
/// failed.
///
/// ```
/// use std::io::Write as _;
/// use kes_crypto::sse::dare::{self, CipherSuite, DareEncryptWriter};
///
/// let key = [5u8; 32];
/// let mut w = DareEncryptWriter::new(Vec::new(), &key, CipherSuite::Aes256Gcm)?;
/// w.write_all(b"part one, ")?;
/// w.write_all(b"part two")?;
/// let ciphertext = w.finish()?;
/// assert_eq!(dare::decrypt_to_vec(&key, &ciphertext)?, b"part one, part two");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DareEncryptWriter<W: Write> {
    inner: W,
    sealer: Sealer,
    buf: Zeroizing<Vec<u8>>,
    filled: usize,
    failed: bool,
}

impl<W: Write> std::fmt::Debug for DareEncryptWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DareEncryptWriter")
            .field("buffered", &self.filled)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<W: Write> DareEncryptWriter<W> {
    /// Encrypts into `inner` with a fresh random stream nonce (one OS call).
    ///
    /// # Errors
    /// [`Error::Rng`] if the OS randomness source fails.
    pub fn new(inner: W, key: &[u8; KEY_SIZE], suite: CipherSuite) -> Result<Self> {
        Self::with_nonce(inner, key, suite, random_nonce()?)
    }

    /// Encrypts into `inner` with the given stream nonce (deterministic; e.g.
    /// MinIO's multipart nonce `SHA-256(uploadID ‖ partNumber)[..12]`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the AEAD rejects the key (never for 32 bytes).
    pub fn with_nonce(
        inner: W,
        key: &[u8; KEY_SIZE],
        suite: CipherSuite,
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Self> {
        Ok(Self {
            inner,
            sealer: Sealer::new(key, suite, nonce, 0)?,
            buf: Zeroizing::new(vec![0u8; MAX_PACKAGE_SIZE]),
            filled: 0,
            failed: false,
        })
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn seal_buffered(&mut self, last: bool) -> Result<()> {
        let n = self
            .sealer
            .seal_in_place(&mut self.buf, self.filled, last)?;
        self.filled = 0;
        let package = self.buf.get(..n).ok_or(Error::NotAuthentic)?;
        self.inner.write_all(package)?;
        Ok(())
    }

    /// Seals the buffered plaintext as the final package, flushes the inner
    /// writer and returns it. For an empty stream nothing is written.
    ///
    /// # Errors
    /// [`Error::Io`] from the inner writer; an error if the writer failed before.
    pub fn finish(mut self) -> Result<W> {
        if self.failed {
            return Err(Error::Io(io::Error::other(
                "DARE writer failed before finish",
            )));
        }
        if self.filled > 0 {
            self.seal_buffered(true)?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for DareEncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("DARE writer failed earlier"));
        }
        let mut rest = data;
        while !rest.is_empty() {
            if self.filled == MAX_PAYLOAD_SIZE {
                // More data follows, so the full package is not the last one.
                if let Err(e) = self.seal_buffered(false) {
                    self.failed = true;
                    return Err(to_io_error(e));
                }
            }
            let start = HEADER_SIZE + self.filled;
            let take = rest.len().min(MAX_PAYLOAD_SIZE - self.filled);
            let (now, later) = rest.split_at(take);
            self.buf[start..start + take].copy_from_slice(now);
            self.filled += take;
            rest = later;
        }
        Ok(data.len())
    }

    /// Flushes the inner writer. Buffered plaintext stays buffered: a DARE
    /// package cannot be emitted before it is full or the stream ends.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads plaintext from the caller's reader and yields one DARE 2.0 stream,
/// like `minio/sio`'s encrypting reader (it reads one byte ahead to know
/// which package is the last).
///
/// ```
/// use std::io::Read as _;
/// use kes_crypto::sse::dare::{self, CipherSuite, DareEncryptReader};
///
/// let key = [6u8; 32];
/// let mut ciphertext = Vec::new();
/// DareEncryptReader::with_nonce(&b"hello"[..], &key, CipherSuite::Aes256Gcm, [0u8; 12])?
///     .read_to_end(&mut ciphertext)?;
/// assert_eq!(ciphertext.len(), 5 + 32);
/// assert_eq!(dare::decrypt_to_vec(&key, &ciphertext)?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DareEncryptReader<R> {
    packer: Packer<R>,
    buf: Zeroizing<Vec<u8>>,
    out: Range<usize>,
    failed: bool,
}

/// The reader's sealing state: plaintext source, sealer and the one byte of
/// look-ahead that tells whether a full package is the last one.
struct Packer<R> {
    inner: R,
    sealer: Sealer,
    lookahead: Option<u8>,
    done: bool,
}

impl<R> std::fmt::Debug for DareEncryptReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DareEncryptReader")
            .field("done", &self.packer.done)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<R: Read> DareEncryptReader<R> {
    /// Encrypts from `inner` with a fresh random stream nonce.
    ///
    /// # Errors
    /// [`Error::Rng`] if the OS randomness source fails.
    pub fn new(inner: R, key: &[u8; KEY_SIZE], suite: CipherSuite) -> Result<Self> {
        Self::with_nonce(inner, key, suite, random_nonce()?)
    }

    /// Encrypts from `inner` with the given stream nonce.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the AEAD rejects the key (never for 32 bytes).
    pub fn with_nonce(
        inner: R,
        key: &[u8; KEY_SIZE],
        suite: CipherSuite,
        nonce: [u8; NONCE_SIZE],
    ) -> Result<Self> {
        Ok(Self {
            packer: Packer {
                inner,
                sealer: Sealer::new(key, suite, nonce, 0)?,
                lookahead: None,
                done: false,
            },
            buf: Zeroizing::new(vec![0u8; MAX_PACKAGE_SIZE]),
            out: 0..0,
            failed: false,
        })
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.packer.inner
    }
}

impl<R: Read> Packer<R> {
    /// Reads the next payload into `package` (at least [`MAX_PACKAGE_SIZE`]
    /// bytes) and seals it there. Returns the package's length, 0 once the
    /// stream is complete.
    fn seal_next(&mut self, package: &mut [u8]) -> Result<usize> {
        if self.done {
            return Ok(0);
        }
        let mut n = 0;
        if let Some(b) = self.lookahead.take() {
            *package.get_mut(HEADER_SIZE).ok_or(Error::NotAuthentic)? = b;
            n = 1;
        }
        // The rest of a full payload and one byte more, in one read: that byte (it lands
        // where the tag goes) says whether another package follows.
        let end = HEADER_SIZE + MAX_PAYLOAD_SIZE + 1;
        let payload = package
            .get_mut(HEADER_SIZE + n..end)
            .ok_or(Error::NotAuthentic)?;
        n += read_full(&mut self.inner, payload)?;
        let mut last = true;
        if n > MAX_PAYLOAD_SIZE {
            self.lookahead = package.get(end - 1).copied();
            n = MAX_PAYLOAD_SIZE;
            last = false;
        }
        if n == 0 {
            // Only an empty stream gets here: it encrypts to nothing.
            self.done = true;
            return Ok(0);
        }
        let total = self.sealer.seal_in_place(package, n, last)?;
        self.done = last;
        Ok(total)
    }
}

impl<R: Read> Read for DareEncryptReader<R> {
    /// Yields the stream. A call whose buffer can hold a whole package while
    /// none is pending gets the package sealed straight into that buffer
    /// (saving one copy of the data); smaller reads are served from an
    /// internal package buffer.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.out.is_empty() {
                let available = self.buf.get(self.out.clone()).unwrap_or_default();
                let n = available.len().min(out.len());
                out[..n].copy_from_slice(&available[..n]);
                self.out.start += n;
                return Ok(n);
            }
            if self.failed {
                return Err(io::Error::other("DARE encryption failed earlier"));
            }
            let direct = out.len() >= MAX_PACKAGE_SIZE;
            let sealed = if direct {
                self.packer.seal_next(out)
            } else {
                self.packer.seal_next(&mut self.buf)
            };
            match sealed {
                Ok(0) => return Ok(0),
                Ok(n) if direct => return Ok(n),
                Ok(n) => self.out = 0..n,
                Err(e) => {
                    self.failed = true;
                    if direct {
                        // Do not leave unsealed plaintext behind in the caller's buffer.
                        out.fill(0);
                    }
                    return Err(to_io_error(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::decrypt_to_vec;
    use super::*;

    const KEY: [u8; 32] = [9; 32];
    const NONCE: [u8; 12] = [7; 12];

    fn all_three(pt: &[u8]) -> [Vec<u8>; 3] {
        let a = encrypt_to_vec_with_nonce(&KEY, CipherSuite::Aes256Gcm, NONCE, pt).unwrap();
        let mut w =
            DareEncryptWriter::with_nonce(Vec::new(), &KEY, CipherSuite::Aes256Gcm, NONCE).unwrap();
        for chunk in pt.chunks(1000) {
            w.write_all(chunk).unwrap();
        }
        let b = w.finish().unwrap();
        let mut c = Vec::new();
        DareEncryptReader::with_nonce(pt, &KEY, CipherSuite::Aes256Gcm, NONCE)
            .unwrap()
            .read_to_end(&mut c)
            .unwrap();
        [a, b, c]
    }

    #[test]
    fn three_encryptors_agree() {
        for len in [0usize, 1, 65535, 65536, 65537, 131072, 131073] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let [a, b, c] = all_three(&pt);
            assert_eq!(a, b, "writer differs at {len}");
            assert_eq!(a, c, "reader differs at {len}");
            assert_eq!(a.len() as u64, encrypted_size(len as u64).unwrap());
            assert_eq!(decrypt_to_vec(&KEY, &a).unwrap(), pt);
        }
    }

    /// Reads the whole stream with read buffers of the given sizes, in turn.
    fn read_with(pt: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut r = DareEncryptReader::with_nonce(pt, &KEY, CipherSuite::Aes256Gcm, NONCE).unwrap();
        let mut got = Vec::new();
        for &size in sizes.iter().cycle() {
            let mut buf = vec![0u8; size];
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
        }
        unreachable!("cycle never ends")
    }

    #[test]
    fn reader_gives_the_same_stream_for_any_read_sizes() {
        const P: usize = MAX_PACKAGE_SIZE;
        let size_plans: [&[usize]; 6] = [
            &[P],          // every package sealed straight into the caller's buffer
            &[P - 1],      // never room for a package: all through the internal buffer
            &[1 << 20],    // several packages' room, one package per call
            &[P, 1000, P], // a pending package is drained before a direct one
            &[P + 7, 3, P - 1, 2 * P],
            &[1],
        ];
        for len in [0usize, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 5] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            let want = encrypt_to_vec_with_nonce(&KEY, CipherSuite::Aes256Gcm, NONCE, &pt).unwrap();
            for sizes in size_plans {
                assert_eq!(read_with(&pt, sizes), want, "len {len}, reads {sizes:?}");
            }
        }
    }

    #[test]
    fn reader_over_a_trickling_source_gives_the_same_stream() {
        /// Yields at most 7 bytes per call, as a slow pipe might.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(7);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for len in [0usize, 1, 65535, 65536, 65537, 2 * 65536] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 5 + 2) as u8).collect();
            let want = encrypt_to_vec_with_nonce(&KEY, CipherSuite::Aes256Gcm, NONCE, &pt).unwrap();
            for size in [MAX_PACKAGE_SIZE, 1000] {
                let mut r = DareEncryptReader::with_nonce(
                    Trickle(&pt),
                    &KEY,
                    CipherSuite::Aes256Gcm,
                    NONCE,
                )
                .unwrap();
                let mut got = Vec::new();
                let mut buf = vec![0u8; size];
                loop {
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(got, want, "len {len}, reads of {size}");
            }
        }
    }

    #[test]
    fn direct_read_failure_leaves_no_plaintext_in_the_callers_buffer() {
        /// Yields some secret bytes, then fails.
        struct FailsAfter(usize);
        impl Read for FailsAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
                }
                let n = self.0.min(buf.len());
                buf[..n].fill(0xA5);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut r =
            DareEncryptReader::with_nonce(FailsAfter(5000), &KEY, CipherSuite::Aes256Gcm, NONCE)
                .unwrap();
        let mut buf = vec![0u8; MAX_PACKAGE_SIZE];
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert!(buf.iter().all(|&b| b == 0), "plaintext left in the buffer");
        assert!(r.read(&mut buf).is_err(), "the reader stays failed");
    }

    #[test]
    fn random_nonces_differ() {
        let a = encrypt_to_vec(&KEY, CipherSuite::Aes256Gcm, b"x").unwrap();
        let b = encrypt_to_vec(&KEY, CipherSuite::Aes256Gcm, b"x").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn writer_surfaces_inner_errors_and_stays_failed() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = DareEncryptWriter::new(Full, &KEY, CipherSuite::ChaCha20Poly1305).unwrap();
        w.write_all(&[0u8; MAX_PAYLOAD_SIZE]).unwrap();
        let e = w.write(&[1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(w.write(&[1]).is_err());
        assert!(w.finish().is_err());
    }
}
