//! The `secure-io/sio-go` v0.3.1 stream format and MinIO's encrypted
//! IAM/config blobs built on it (spec `sse.md` §11.1).
//!
//! This is **not DARE**. A stream is a sequence of chunks of `buf_size`
//! plaintext bytes (MinIO: 16 KiB), each sealed with an AEAD:
//!
//! ```text
//! T       = AEAD.Seal(nonce ‖ LE32(0), plaintext = "", aad = associated data)   (not transmitted)
//! chunk i = AEAD.Seal(nonce ‖ LE32(i), chunk, aad = flag ‖ T)   i = 1, 2, …;  flag 0x00, last 0x80
//! ```
//!
//! Every chunk but the last is exactly `buf_size` bytes; the last holds
//! 0..=`buf_size` bytes (0 only for an empty stream, which still has one
//! chunk: its tag). The AEAD nonce is the stream nonce followed by the
//! counter, so the stream nonce is the AEAD's nonce size minus 4 bytes.
//!
//! MinIO uses AES-256-GCM or ChaCha20-Poly1305 with an 8-byte nonce; the
//! sio-go test vectors also use AES-128-GCM and XChaCha20-Poly1305 (stream
//! nonce 20 bytes), which are supported here too. All primitives come from
//! `ring`; XChaCha20 is HChaCha20 (from the `chacha20` crate) followed by
//! ring's ChaCha20-Poly1305.
//!
//! ```
//! use kes_crypto::sse::stream::{Algorithm, Stream};
//!
//! let stream = Stream::new(Algorithm::Aes256Gcm, &[3u8; 32])?;
//! let nonce = [0u8; 8];
//! let sealed = stream.encrypt_to_vec(&nonce, b"", b"config")?;
//! assert_eq!(sealed.len(), 6 + 16);
//! assert_eq!(stream.decrypt_to_vec(&nonce, b"", &sealed)?, b"config");
//! # Ok::<(), kes_crypto::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::ops::Range;

use ring::aead::{
    AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use zeroize::{Zeroize as _, Zeroizing};

use crate::{Error, Result};

/// The buffer (chunk) size MinIO uses: 16 KiB.
pub const BUF_SIZE: usize = 1 << 14;
/// The largest chunk size sio-go allows.
pub const MAX_BUF_SIZE: usize = (1 << 24) - 1;
/// The tag size of every supported AEAD.
pub const TAG_SIZE: usize = 16;

const FLAG_FINAL: u8 = 0x80;

/// An AEAD for sio-go streams, named as sio-go names it (the names MinIO
/// writes into config blobs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `AES-128-GCM` (16-byte key, 8-byte stream nonce).
    Aes128Gcm,
    /// `AES-256-GCM` (32-byte key, 8-byte stream nonce).
    Aes256Gcm,
    /// `ChaCha20-Poly1305` (32-byte key, 8-byte stream nonce).
    ChaCha20Poly1305,
    /// `XChaCha20-Poly1305` (32-byte key, 20-byte stream nonce).
    XChaCha20Poly1305,
}

impl Algorithm {
    /// The sio-go name, e.g. `AES-256-GCM`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes128Gcm => "AES-128-GCM",
            Self::Aes256Gcm => "AES-256-GCM",
            Self::ChaCha20Poly1305 => "ChaCha20-Poly1305",
            Self::XChaCha20Poly1305 => "XChaCha20-Poly1305",
        }
    }

    /// The algorithm with this exact sio-go name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Aes128Gcm,
            Self::Aes256Gcm,
            Self::ChaCha20Poly1305,
            Self::XChaCha20Poly1305,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// The key size in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            _ => 32,
        }
    }

    /// The stream nonce size in bytes (the AEAD nonce minus the 4-byte counter).
    pub const fn nonce_len(self) -> usize {
        match self {
            Self::XChaCha20Poly1305 => 20,
            _ => 8,
        }
    }

    /// What MinIO picks for config blobs on this machine: AES-256-GCM when
    /// the CPU has AES instructions (sio-go `NativeAES`: x86-64 AES-NI +
    /// PCLMULQDQ, arm64 AES + PMULL, s390x, ppc64le), else ChaCha20-Poly1305.
    pub fn platform_default() -> Self {
        if native_aes() {
            Self::Aes256Gcm
        } else {
            Self::ChaCha20Poly1305
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn native_aes() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "aarch64")]
fn native_aes() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
        && std::arch::is_aarch64_feature_detected!("pmull")
}

#[cfg(any(target_arch = "s390x", target_arch = "powerpc64"))]
fn native_aes() -> bool {
    true
}

#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "s390x",
    target_arch = "powerpc64"
)))]
fn native_aes() -> bool {
    false
}

/// A key, an algorithm and a chunk size: encrypts and decrypts sio-go streams.
pub struct Stream {
    algorithm: Algorithm,
    key: Zeroizing<Vec<u8>>,
    buf_size: usize,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("algorithm", &self.algorithm)
            .field("buf_size", &self.buf_size)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// A stream with MinIO's chunk size, [`BUF_SIZE`].
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the key has the wrong length for the algorithm.
    pub fn new(algorithm: Algorithm, key: &[u8]) -> Result<Self> {
        Self::with_buf_size(algorithm, key, BUF_SIZE)
    }

    /// A stream with chunk size `buf_size` (1..=[`MAX_BUF_SIZE`]); encryption
    /// and decryption must use the same size.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a wrong key length, [`Error::Malformed`] for
    /// a chunk size out of range.
    pub fn with_buf_size(algorithm: Algorithm, key: &[u8], buf_size: usize) -> Result<Self> {
        if key.len() != algorithm.key_len() {
            return Err(Error::InvalidKey(
                "wrong key length for the sio-go algorithm",
            ));
        }
        if buf_size == 0 || buf_size > MAX_BUF_SIZE {
            return Err(Error::Malformed {
                what: "sio-go buffer size",
                reason: "must be 1 to 2^24 - 1 bytes",
            });
        }
        Ok(Self {
            algorithm,
            key: Zeroizing::new(key.to_vec()),
            buf_size,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The chunk size.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// The stream nonce size in bytes.
    pub fn nonce_len(&self) -> usize {
        self.algorithm.nonce_len()
    }

    /// The bytes encryption adds to `plaintext_len` bytes: 16 per chunk, at
    /// least one chunk. `None` if the stream would need more than 2^32 − 1
    /// chunks.
    pub fn overhead(&self, plaintext_len: u64) -> Option<u64> {
        let buf = self.buf_size as u64;
        if plaintext_len > buf.checked_mul(u64::from(u32::MAX))? {
            return None;
        }
        let chunks = plaintext_len.div_ceil(buf).max(1);
        Some(chunks * TAG_SIZE as u64)
    }

    fn cipher(&self, nonce: &[u8], associated_data: &[u8]) -> Result<ChunkCipher> {
        ChunkCipher::new(self.algorithm, &self.key, nonce, associated_data)
    }

    /// Encrypts everything written to it into `inner`. Call
    /// [`StreamEncryptWriter::finish`] to seal the last chunk.
    ///
    /// # Errors
    /// [`Error::Malformed`] if `nonce` has the wrong length.
    pub fn encrypt_writer<W: Write>(
        &self,
        inner: W,
        nonce: &[u8],
        associated_data: &[u8],
    ) -> Result<StreamEncryptWriter<W>> {
        Ok(StreamEncryptWriter {
            inner,
            cipher: self.cipher(nonce, associated_data)?,
            buf: Zeroizing::new(vec![0u8; self.buf_size + TAG_SIZE]),
            buf_size: self.buf_size,
            filled: 0,
            failed: false,
        })
    }

    /// Decrypts the stream read from `inner`.
    ///
    /// # Errors
    /// [`Error::Malformed`] if `nonce` has the wrong length.
    pub fn decrypt_reader<R: Read>(
        &self,
        inner: R,
        nonce: &[u8],
        associated_data: &[u8],
    ) -> Result<StreamDecryptReader<R>> {
        Ok(StreamDecryptReader {
            inner,
            cipher: self.cipher(nonce, associated_data)?,
            buf: Zeroizing::new(vec![0u8; self.buf_size + TAG_SIZE]),
            buf_size: self.buf_size,
            plain: 0..0,
            lookahead: None,
            state: ReadState::Active,
        })
    }

    /// Encrypts `plaintext` in memory.
    ///
    /// # Errors
    /// [`Error::Malformed`] for a wrong nonce length or a too long plaintext.
    pub fn encrypt_to_vec(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let overhead = u64::try_from(plaintext.len())
            .ok()
            .and_then(|n| self.overhead(n))
            .and_then(|o| usize::try_from(o).ok())
            .ok_or(exceeded())?;
        let mut cipher = self.cipher(nonce, associated_data)?;
        let mut out = Vec::with_capacity(plaintext.len() + overhead);
        let mut chunks = plaintext.chunks(self.buf_size).peekable();
        if chunks.peek().is_none() {
            let tag = cipher.seal(&mut [], true)?;
            out.extend_from_slice(&tag);
        }
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let start = out.len();
            out.extend_from_slice(chunk);
            let tag = cipher.seal(out.get_mut(start..).ok_or(exceeded())?, last)?;
            out.extend_from_slice(&tag);
        }
        Ok(out)
    }

    /// Decrypts a whole stream held in memory.
    ///
    /// # Errors
    /// [`Error::NotAuthentic`] if it does not decrypt; [`Error::Malformed`]
    /// for a wrong nonce length.
    pub fn decrypt_to_vec(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut cipher = self.cipher(nonce, associated_data)?;
        let chunk_len = self.buf_size + TAG_SIZE;
        let mut out = Vec::with_capacity(ciphertext.len());
        let mut rest = ciphertext;
        loop {
            // A full-size chunk is the last one only when nothing follows it.
            let last = rest.len() <= chunk_len;
            let (chunk, next) = rest.split_at(rest.len().min(chunk_len));
            if chunk.len() < TAG_SIZE {
                return Err(Error::NotAuthentic);
            }
            let start = out.len();
            out.extend_from_slice(chunk);
            let sealed = out.get_mut(start..).ok_or(Error::NotAuthentic)?;
            let n = cipher.open(sealed, last)?;
            out.truncate(start + n);
            if last {
                return Ok(out);
            }
            rest = next;
        }
    }
}

fn exceeded() -> Error {
    Error::Malformed {
        what: "sio-go stream",
        reason: "data limit exceeded",
    }
}

/// Per-stream AEAD state: key, nonce prefix, counter and the chunk AAD.
struct ChunkCipher {
    aead: LessSafeKey,
    /// The 12-byte AEAD nonce without its counter.
    prefix: [u8; 8],
    /// The next chunk number; 0 after 2^32 − 1 chunks (then nothing more).
    seq: u32,
    /// `flag ‖ T`.
    aad: [u8; 1 + TAG_SIZE],
}

impl ChunkCipher {
    fn new(algorithm: Algorithm, key: &[u8], nonce: &[u8], associated_data: &[u8]) -> Result<Self> {
        if nonce.len() != algorithm.nonce_len() {
            return Err(Error::Malformed {
                what: "sio-go nonce",
                reason: "wrong length for the algorithm",
            });
        }
        let invalid = |_| Error::InvalidKey("wrong key length for the sio-go algorithm");
        let mut prefix = [0u8; 8];
        let aead = match algorithm {
            Algorithm::Aes128Gcm | Algorithm::Aes256Gcm | Algorithm::ChaCha20Poly1305 => {
                prefix.copy_from_slice(nonce);
                let alg = match algorithm {
                    Algorithm::Aes128Gcm => &AES_128_GCM,
                    Algorithm::Aes256Gcm => &AES_256_GCM,
                    _ => &CHACHA20_POLY1305,
                };
                UnboundKey::new(alg, key).map_err(invalid)?
            }
            Algorithm::XChaCha20Poly1305 => {
                // XChaCha20-Poly1305 with the 24-byte nonce `nonce ‖ LE32(i)`:
                // subkey = HChaCha20(key, nonce24[..16]), then ChaCha20-Poly1305
                // with nonce 0^4 ‖ nonce24[16..24]. The first 16 bytes do not
                // depend on the counter, so one subkey serves the whole stream.
                let (head, tail) = nonce.split_at(16);
                let key: &[u8; 32] = key
                    .try_into()
                    .map_err(|_| Error::InvalidKey("XChaCha20-Poly1305 keys are 32 bytes"))?;
                let mut subkey = chacha20::hchacha::<chacha20::cipher::consts::U10>(
                    key.into(),
                    chacha20::cipher::generic_array::GenericArray::from_slice(head),
                );
                prefix[4..].copy_from_slice(tail);
                let unbound = UnboundKey::new(&CHACHA20_POLY1305, &subkey);
                subkey.as_mut_slice().zeroize();
                unbound.map_err(invalid)?
            }
        };
        let aead = LessSafeKey::new(aead);
        let mut aad = [0u8; 1 + TAG_SIZE];
        let header = aead
            .seal_in_place_separate_tag(nonce_for(&prefix, 0), Aad::from(associated_data), &mut [])
            .map_err(|_| exceeded())?;
        aad[1..].copy_from_slice(header.as_ref());
        Ok(Self {
            aead,
            prefix,
            seq: 1,
            aad,
        })
    }

    fn next_nonce(&mut self, last: bool) -> Result<Nonce> {
        if self.seq == 0 {
            return Err(exceeded());
        }
        let nonce = nonce_for(&self.prefix, self.seq);
        self.seq = self.seq.wrapping_add(1);
        self.aad[0] = if last { FLAG_FINAL } else { 0 };
        Ok(nonce)
    }

    /// Seals `chunk` in place and returns its tag.
    fn seal(&mut self, chunk: &mut [u8], last: bool) -> Result<[u8; TAG_SIZE]> {
        let nonce = self.next_nonce(last)?;
        let tag = self
            .aead
            .seal_in_place_separate_tag(nonce, Aad::from(&self.aad), chunk)
            .map_err(|_| exceeded())?;
        let mut out = [0u8; TAG_SIZE];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens `sealed` (ciphertext ‖ tag) in place; returns the plaintext length.
    fn open(&mut self, sealed: &mut [u8], last: bool) -> Result<usize> {
        let nonce = self.next_nonce(last).map_err(|_| Error::NotAuthentic)?;
        self.aead
            .open_in_place(nonce, Aad::from(&self.aad), sealed)
            .map(|p| p.len())
            .map_err(|_| Error::NotAuthentic)
    }
}

fn nonce_for(prefix: &[u8; 8], seq: u32) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&seq.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

fn to_io_error(err: Error) -> io::Error {
    match err {
        Error::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// Encrypts everything written to it as one sio-go stream; see
/// [`Stream::encrypt_writer`]. Call [`finish`](Self::finish): it seals the
/// last chunk (an empty stream is one empty chunk, 16 bytes).
pub struct StreamEncryptWriter<W: Write> {
    inner: W,
    cipher: ChunkCipher,
    buf: Zeroizing<Vec<u8>>,
    buf_size: usize,
    filled: usize,
    failed: bool,
}

impl<W: Write> std::fmt::Debug for StreamEncryptWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEncryptWriter")
            .field("buffered", &self.filled)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<W: Write> StreamEncryptWriter<W> {
    fn seal_buffered(&mut self, last: bool) -> Result<()> {
        let n = self.filled;
        let chunk = self.buf.get_mut(..n).ok_or(exceeded())?;
        let tag = self.cipher.seal(chunk, last)?;
        self.buf
            .get_mut(n..n + TAG_SIZE)
            .ok_or(exceeded())?
            .copy_from_slice(&tag);
        self.filled = 0;
        self.inner
            .write_all(self.buf.get(..n + TAG_SIZE).ok_or(exceeded())?)?;
        Ok(())
    }

    /// Seals the last chunk, flushes the inner writer and returns it.
    ///
    /// # Errors
    /// [`Error::Io`] from the inner writer; an error if the writer failed before.
    pub fn finish(mut self) -> Result<W> {
        if self.failed {
            return Err(Error::Io(io::Error::other(
                "sio-go writer failed before finish",
            )));
        }
        self.seal_buffered(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for StreamEncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("sio-go writer failed earlier"));
        }
        let mut rest = data;
        while !rest.is_empty() {
            if self.filled == self.buf_size {
                if let Err(e) = self.seal_buffered(false) {
                    self.failed = true;
                    return Err(to_io_error(e));
                }
            }
            let take = rest.len().min(self.buf_size - self.filled);
            let (now, later) = rest.split_at(take);
            self.buf[self.filled..self.filled + take].copy_from_slice(now);
            self.filled += take;
            rest = later;
        }
        Ok(data.len())
    }

    /// Flushes the inner writer; buffered plaintext stays buffered.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    Active,
    Done,
    Failed,
}

/// Decrypts a sio-go stream read from the caller's reader; see
/// [`Stream::decrypt_reader`]. Each chunk is authenticated before its bytes
/// are returned; failures are `InvalidData` wrapping [`Error::NotAuthentic`],
/// errors of the inner reader pass through, and the reader stays failed.
pub struct StreamDecryptReader<R> {
    inner: R,
    cipher: ChunkCipher,
    buf: Zeroizing<Vec<u8>>,
    buf_size: usize,
    plain: Range<usize>,
    lookahead: Option<u8>,
    state: ReadState,
}

impl<R> std::fmt::Debug for StreamDecryptReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecryptReader")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<R: Read> StreamDecryptReader<R> {
    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn next_chunk(&mut self) -> Result<()> {
        let chunk_len = self.buf_size + TAG_SIZE;
        let mut n = 0;
        if let Some(b) = self.lookahead.take() {
            self.buf[0] = b;
            n = 1;
        }
        let rest = self.buf.get_mut(n..chunk_len).ok_or(Error::NotAuthentic)?;
        n += crate::sse::dare::read_full(&mut self.inner, rest)?;
        let mut last = true;
        if n == chunk_len {
            let mut one = [0u8; 1];
            if crate::sse::dare::read_full(&mut self.inner, &mut one)? == 1 {
                self.lookahead = Some(one[0]);
                last = false;
            }
        }
        if n < TAG_SIZE {
            return Err(Error::NotAuthentic);
        }
        let sealed = self.buf.get_mut(..n).ok_or(Error::NotAuthentic)?;
        let len = self.cipher.open(sealed, last)?;
        self.plain = 0..len;
        if last {
            self.state = ReadState::Done;
        }
        Ok(())
    }
}

impl<R: Read> Read for StreamDecryptReader<R> {
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
                ReadState::Done => return Ok(0),
                ReadState::Failed => return Err(to_io_error(Error::NotAuthentic)),
                ReadState::Active => {}
            }
            if let Err(e) = self.next_chunk() {
                self.state = ReadState::Failed;
                self.plain = 0..0;
                return Err(to_io_error(e));
            }
        }
    }
}

/// The version byte of MinIO's encrypted config blobs.
pub const CONFIG_BLOB_VERSION: u8 = 1;
/// The largest metadata MinIO accepts in a config blob: 1 MiB.
pub const MAX_CONFIG_METADATA_SIZE: usize = 1 << 20;

/// The header of a MinIO encrypted IAM/config blob
/// (`internal/config/crypto.go`):
///
/// ```text
/// blob = 0x01 ‖ LE32(len(metadata)) ‖ metadata ‖ sio-go stream (key = DEK plaintext, associated data empty)
/// metadata = {"keyid":…,"kmskey":b64(DEK ciphertext),"algorithm":…,"nonce":b64(stream nonce)}
/// ```
///
/// The DEK comes from the KMS: `GenerateKey(default key, {".minio.sys": ".minio.sys/<path>"})`
/// when writing, `Decrypt(key_id, kms_key, same context)` when reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigBlobHeader {
    /// The KMS key name.
    pub key_id: String,
    /// The KMS key version, written by newer MinIO releases only (`"version"`).
    pub version: Option<String>,
    /// The DEK ciphertext (opaque to MinIO; decrypted by the KMS).
    pub kms_key: Vec<u8>,
    /// The stream's AEAD.
    pub algorithm: Algorithm,
    /// The stream nonce.
    pub nonce: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct RawConfigMetadata {
    keyid: String,
    #[serde(default)]
    version: Option<String>,
    kmskey: Option<String>,
    algorithm: String,
    nonce: Option<String>,
}

fn malformed_blob(reason: &'static str) -> Error {
    Error::Malformed {
        what: "config blob",
        reason,
    }
}

fn b64_decode(s: Option<&str>) -> Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.unwrap_or_default())
        .map_err(|_| malformed_blob("metadata field is not base64"))
}

impl ConfigBlobHeader {
    /// Splits a blob into its header and the sio-go stream that follows.
    ///
    /// # Errors
    /// [`Error::Malformed`] for an unknown version, metadata over 1 MiB, a
    /// truncated blob, metadata that is not the expected JSON, an unknown
    /// algorithm or a nonce of the wrong length.
    pub fn parse(blob: &[u8]) -> Result<(Self, &[u8])> {
        let (head, rest) = blob
            .split_first_chunk::<5>()
            .ok_or(malformed_blob("shorter than its header"))?;
        if head[0] != CONFIG_BLOB_VERSION {
            return Err(malformed_blob("unknown version"));
        }
        let size = usize::try_from(u32::from_le_bytes([head[1], head[2], head[3], head[4]]))
            .map_err(|_| malformed_blob("metadata too large"))?;
        if size > MAX_CONFIG_METADATA_SIZE {
            return Err(malformed_blob("metadata too large"));
        }
        if rest.len() < size {
            return Err(malformed_blob("shorter than its metadata"));
        }
        let (meta, stream) = rest.split_at(size);
        let raw: RawConfigMetadata = serde_json::from_slice(meta)
            .map_err(|_| malformed_blob("metadata is not valid JSON"))?;
        let algorithm =
            Algorithm::from_name(&raw.algorithm).ok_or(malformed_blob("unknown algorithm"))?;
        let nonce = b64_decode(raw.nonce.as_deref())?;
        if nonce.len() != algorithm.nonce_len() {
            return Err(malformed_blob("nonce has the wrong length"));
        }
        Ok((
            Self {
                key_id: raw.keyid,
                version: raw.version,
                kms_key: b64_decode(raw.kmskey.as_deref())?,
                algorithm,
                nonce,
            },
            stream,
        ))
    }

    /// The header bytes: version, metadata length and the metadata JSON
    /// exactly as Go's `json.Marshal` writes it (field order keyid, version
    /// when present, kmskey, algorithm, nonce; HTML-safe escaping).
    ///
    /// # Errors
    /// [`Error::Malformed`] if the metadata exceeds 1 MiB.
    pub fn encode(&self) -> Result<Vec<u8>> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut meta = Vec::with_capacity(128 + self.key_id.len() + self.kms_key.len() * 2);
        meta.extend_from_slice(b"{\"keyid\":");
        go_json_string(&self.key_id, &mut meta);
        if let Some(version) = &self.version {
            meta.extend_from_slice(b",\"version\":");
            go_json_string(version, &mut meta);
        }
        meta.extend_from_slice(b",\"kmskey\":");
        go_json_string(&b64.encode(&self.kms_key), &mut meta);
        meta.extend_from_slice(b",\"algorithm\":");
        go_json_string(self.algorithm.name(), &mut meta);
        meta.extend_from_slice(b",\"nonce\":");
        go_json_string(&b64.encode(&self.nonce), &mut meta);
        meta.push(b'}');
        if meta.len() > MAX_CONFIG_METADATA_SIZE {
            return Err(malformed_blob("metadata too large"));
        }
        let len = u32::try_from(meta.len()).map_err(|_| malformed_blob("metadata too large"))?;
        let mut out = Vec::with_capacity(5 + meta.len());
        out.push(CONFIG_BLOB_VERSION);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&meta);
        Ok(out)
    }
}

/// Builds a complete config blob: the header, then `plaintext` encrypted
/// with the DEK plaintext `dek` (associated data empty, chunks of 16 KiB).
///
/// # Errors
/// As [`ConfigBlobHeader::encode`] and [`Stream::encrypt_to_vec`];
/// [`Error::InvalidKey`] if `dek` has the wrong length for the algorithm.
pub fn seal_config_blob(
    dek: &[u8],
    header: &ConfigBlobHeader,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut out = header.encode()?;
    let stream = Stream::new(header.algorithm, dek)?;
    out.extend(stream.encrypt_to_vec(&header.nonce, &[], plaintext)?);
    Ok(out)
}

/// Decrypts a complete config blob with the DEK plaintext `dek`, which the
/// caller obtained from the KMS with the header's `key_id` and `kms_key`
/// (see [`ConfigBlobHeader::parse`]).
///
/// # Errors
/// [`Error::Malformed`] for a malformed header, [`Error::InvalidKey`] for a
/// DEK of the wrong length, [`Error::NotAuthentic`] if the stream does not
/// decrypt.
pub fn open_config_blob(dek: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (header, stream) = ConfigBlobHeader::parse(blob)?;
    let plaintext =
        Stream::new(header.algorithm, dek)?.decrypt_to_vec(&header.nonce, &[], stream)?;
    Ok(Zeroizing::new(plaintext))
}

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it
/// (HTML-safe: `<`, `>`, `&`, U+2028 and U+2029 are `\u`-escaped).
fn go_json_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let b = c as u32 as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_roundtrip() {
        for a in [
            Algorithm::Aes128Gcm,
            Algorithm::Aes256Gcm,
            Algorithm::ChaCha20Poly1305,
            Algorithm::XChaCha20Poly1305,
        ] {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(a.to_string(), a.name());
        }
        assert_eq!(Algorithm::from_name("aes-256-gcm"), None);
        let d = Algorithm::platform_default();
        assert!(matches!(
            d,
            Algorithm::Aes256Gcm | Algorithm::ChaCha20Poly1305
        ));
    }

    #[test]
    fn overhead_matches_formula() {
        let s = Stream::with_buf_size(Algorithm::Aes256Gcm, &[0; 32], 16).unwrap();
        assert_eq!(s.overhead(0), Some(16));
        assert_eq!(s.overhead(16), Some(16));
        assert_eq!(s.overhead(17), Some(32));
        assert_eq!(
            s.overhead(16 * u64::from(u32::MAX)),
            Some(16 * u64::from(u32::MAX))
        );
        assert_eq!(s.overhead(16 * u64::from(u32::MAX) + 1), None);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Stream::new(Algorithm::Aes128Gcm, &[0; 32]).is_err());
        assert!(Stream::new(Algorithm::Aes256Gcm, &[0; 16]).is_err());
        assert!(Stream::with_buf_size(Algorithm::Aes256Gcm, &[0; 32], 0).is_err());
        assert!(Stream::with_buf_size(Algorithm::Aes256Gcm, &[0; 32], MAX_BUF_SIZE + 1).is_err());
        let s = Stream::new(Algorithm::XChaCha20Poly1305, &[0; 32]).unwrap();
        assert!(s.encrypt_to_vec(&[0; 8], b"", b"x").is_err());
        assert!(s.encrypt_to_vec(&[0; 20], b"", b"x").is_ok());
    }

    #[test]
    fn writer_reader_and_buffers_agree() {
        for alg in [Algorithm::Aes256Gcm, Algorithm::XChaCha20Poly1305] {
            let s = Stream::with_buf_size(alg, &[4; 32], 100).unwrap();
            let nonce = vec![9u8; alg.nonce_len()];
            for len in [0usize, 1, 99, 100, 101, 200, 1000, 1001] {
                let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let a = s.encrypt_to_vec(&nonce, b"ad", &pt).unwrap();
                let mut w = s.encrypt_writer(Vec::new(), &nonce, b"ad").unwrap();
                for c in pt.chunks(7) {
                    w.write_all(c).unwrap();
                }
                assert_eq!(w.finish().unwrap(), a);
                assert_eq!(a.len() as u64, len as u64 + s.overhead(len as u64).unwrap());
                assert_eq!(s.decrypt_to_vec(&nonce, b"ad", &a).unwrap(), pt);
                let mut got = Vec::new();
                s.decrypt_reader(&a[..], &nonce, b"ad")
                    .unwrap()
                    .read_to_end(&mut got)
                    .unwrap();
                assert_eq!(got, pt);
                assert!(s.decrypt_to_vec(&nonce, b"AD", &a).is_err());
            }
        }
    }

    #[test]
    fn go_json_escaping() {
        let mut out = Vec::new();
        go_json_string("a\"b\\c\n<&>\u{1}\u{2028}é", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\"b\\c\n\u003c\u0026\u003e\u0001\u2028é""#
        );
    }
}
