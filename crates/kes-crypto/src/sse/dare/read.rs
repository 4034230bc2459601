//! Decrypting DARE streams: a `Read` adapter and whole-buffer helpers.

use std::io::{self, Read};
use std::ops::Range;

use zeroize::Zeroizing;

use super::package::{Opener, decrypt_slice_into};
use super::{DecryptOptions, HEADER_SIZE, KEY_SIZE, MAX_PACKAGE_SIZE, read_full, to_io_error};
use crate::{Error, Result};

/// Decrypts the whole DARE stream `ciphertext` (1.0 or 2.0, detected from the
/// first byte) starting at sequence number 0. An empty input is the empty
/// stream.
///
/// # Errors
/// [`Error::NotAuthentic`] if the stream does not decrypt, is truncated,
/// reordered or followed by trailing data.
pub fn decrypt_to_vec(key: &[u8; KEY_SIZE], ciphertext: &[u8]) -> Result<Vec<u8>> {
    decrypt_to_vec_with(key, ciphertext, &DecryptOptions::new())
}

/// Like [`decrypt_to_vec`] with explicit versions and first sequence number.
///
/// # Errors
/// [`Error::NotAuthentic`] if the stream does not decrypt.
pub fn decrypt_to_vec_with(
    key: &[u8; KEY_SIZE],
    ciphertext: &[u8],
    options: &DecryptOptions,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(ciphertext.len());
    decrypt_slice_into(key, ciphertext, options, &mut out)?;
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    Done,
    Failed,
}

/// Reads a DARE stream from the caller's reader and yields its plaintext.
///
/// Every package is authenticated before any of its bytes are returned. The
/// end of the stream is checked when the inner reader reports end of input: a
/// DARE 2.0 stream must have ended with its final package, and nothing may
/// follow it. A failure is reported once as an `io::Error` of kind
/// `InvalidData` wrapping [`Error::NotAuthentic`] (errors of the inner reader
/// are passed through unchanged); after any error the reader stays failed.
///
/// The inner reader should be blocking: a `WouldBlock` in the middle of a
/// package is an error like any other.
///
/// ```
/// use std::io::Read as _;
/// use kes_crypto::sse::dare::{self, CipherSuite, DareDecryptReader};
///
/// let key = [1u8; 32];
/// let ciphertext = dare::encrypt_to_vec(&key, CipherSuite::ChaCha20Poly1305, &[9u8; 100_000])?;
/// let mut plaintext = Vec::new();
/// DareDecryptReader::new(&ciphertext[..], &key).read_to_end(&mut plaintext)?;
/// assert_eq!(plaintext, vec![9u8; 100_000]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DareDecryptReader<R> {
    inner: R,
    opener: Opener,
    buf: Zeroizing<Vec<u8>>,
    plain: Range<usize>,
    state: State,
}

impl<R> std::fmt::Debug for DareDecryptReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DareDecryptReader")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<R: Read> DareDecryptReader<R> {
    /// Decrypts DARE 1.0 or 2.0 (detected from the first byte) from sequence
    /// number 0, as MinIO reads object data.
    pub fn new(inner: R, key: &[u8; KEY_SIZE]) -> Self {
        Self::with_options(inner, key, &DecryptOptions::new())
    }

    /// Decrypts with explicit versions and first sequence number.
    pub fn with_options(inner: R, key: &[u8; KEY_SIZE], options: &DecryptOptions) -> Self {
        Self {
            inner,
            opener: Opener::new(key, *options),
            buf: Zeroizing::new(vec![0u8; MAX_PACKAGE_SIZE]),
            plain: 0..0,
            state: State::Active,
        }
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Gives back the inner reader, positioned wherever decryption stopped.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads and opens the next package. When `out` can hold the whole
    /// package body, the package is decrypted right there (saving a copy)
    /// and `Direct(len)` says how much plaintext `out` now starts with.
    fn next_package(&mut self, out: &mut [u8]) -> Result<Step> {
        let mut header = [0u8; HEADER_SIZE];
        let n = read_full(&mut self.inner, &mut header)?;
        if n == 0 {
            self.opener.finish()?;
            return Ok(Step::End);
        }
        if n < HEADER_SIZE {
            return Err(Error::NotAuthentic);
        }
        let body = self.opener.body_len(&header)?;
        if let Some(dst) = out.get_mut(..body) {
            if read_full(&mut self.inner, dst)? < body {
                return Err(Error::NotAuthentic);
            }
            let len = self.opener.open_body(&header, dst)?.len();
            return Ok(Step::Direct(len));
        }
        let dst = self.buf.get_mut(..body).ok_or(Error::NotAuthentic)?;
        if read_full(&mut self.inner, dst)? < body {
            return Err(Error::NotAuthentic);
        }
        let len = self.opener.open_body(&header, dst)?.len();
        self.plain = 0..len;
        Ok(Step::Buffered)
    }
}

enum Step {
    End,
    Buffered,
    Direct(usize),
}

impl<R: Read> Read for DareDecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.plain.is_empty() {
                let available = self.buf.get(self.plain.clone()).unwrap_or_default();
                let n = available.len().min(out.len());
                out[..n].copy_from_slice(&available[..n]);
                self.plain.start += n;
                return Ok(n);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => return Err(to_io_error(Error::NotAuthentic)),
                State::Active => {}
            }
            match self.next_package(out) {
                Ok(Step::Direct(n)) if n > 0 => return Ok(n),
                Ok(Step::Direct(_) | Step::Buffered) => {}
                Ok(Step::End) => self.state = State::Done,
                Err(e) => {
                    self.state = State::Failed;
                    self.plain = 0..0;
                    return Err(to_io_error(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CipherSuite, encrypt_to_vec_with_nonce};
    use super::*;

    const KEY: [u8; 32] = [3; 32];

    #[test]
    fn reader_matches_buffer_decrypt() {
        let pt: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let ct = encrypt_to_vec_with_nonce(&KEY, CipherSuite::Aes256Gcm, [1; 12], &pt).unwrap();
        let mut got = Vec::new();
        DareDecryptReader::new(&ct[..], &KEY)
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, pt);
        assert_eq!(decrypt_to_vec(&KEY, &ct).unwrap(), pt);
    }

    #[test]
    fn reader_fails_once_and_stays_failed() {
        let ct = encrypt_to_vec_with_nonce(&KEY, CipherSuite::Aes256Gcm, [1; 12], b"abc").unwrap();
        let mut r = DareDecryptReader::new(&ct[..ct.len() - 1], &KEY);
        let mut out = [0u8; 8];
        let e = r.read(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(r.read(&mut out).is_err());
    }

    #[test]
    fn inner_io_errors_pass_through() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
            }
        }
        let mut r = DareDecryptReader::new(Broken, &KEY);
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn empty_input() {
        assert!(decrypt_to_vec(&KEY, &[]).unwrap().is_empty());
        assert!(decrypt_to_vec_with(&KEY, &[], &DecryptOptions::v2_only()).is_err());
        let mut got = Vec::new();
        DareDecryptReader::new(&[][..], &KEY)
            .read_to_end(&mut got)
            .unwrap();
        assert!(got.is_empty());
    }
}
