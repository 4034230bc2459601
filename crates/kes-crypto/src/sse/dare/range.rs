//! Range reads: which encrypted bytes to fetch for a plaintext range of a
//! single-part or multipart object, and a reader that decrypts just those
//! (MinIO's `ObjectInfo.GetDecryptedRange` and `DecryptBlocksReader`).

use std::io::{self, Read};
use std::ops::Range;

use zeroize::Zeroizing;

use super::package::Opener;
use super::{
    DecryptOptions, HEADER_SIZE, KEY_SIZE, MAX_PACKAGE_SIZE, MAX_PACKAGE_U64, MAX_PAYLOAD_U64,
    decrypted_size, read_full, to_io_error,
};
use crate::{Error, Result};

fn bad_range(reason: &'static str) -> Error {
    Error::Malformed {
        what: "byte range",
        reason,
    }
}

/// The part of one DARE stream (one object part) that a range read fetches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartSpan {
    part: usize,
    sequence_number: u32,
    encrypted_offset: u64,
    encrypted_length: u64,
    reaches_end: bool,
}

impl PartSpan {
    /// Index of the part in the list given to [`RangePlan::new`].
    pub fn part(&self) -> usize {
        self.part
    }

    /// Sequence number of the first package read from this part.
    pub fn sequence_number(&self) -> u32 {
        self.sequence_number
    }

    /// Offset of the first byte read, within this part's encrypted stream.
    pub fn encrypted_offset(&self) -> u64 {
        self.encrypted_offset
    }

    /// Number of encrypted bytes read from this part.
    pub fn encrypted_length(&self) -> u64 {
        self.encrypted_length
    }

    /// Whether the read runs to the end of this part's stream (so its final
    /// package is read and checked).
    pub fn reaches_end(&self) -> bool {
        self.reaches_end
    }
}

/// What to read for a plaintext range of a DARE-encrypted object.
///
/// A single-part object is one part. A multipart object is one DARE stream
/// per part, each with its own key and sequence numbers from 0. The plan
/// says which encrypted byte range to fetch (`encrypted_offset`,
/// `encrypted_length`, over the concatenated parts), the sequence number of
/// its first package, how many plaintext bytes to skip, and in which part it
/// starts — the values MinIO's `GetDecryptedRange` returns.
///
/// ```
/// use kes_crypto::sse::dare::RangePlan;
///
/// // Two parts of 5 MiB + 1 byte of plaintext each.
/// let part = kes_crypto::sse::dare::encrypted_size(5 * 1024 * 1024 + 1)?;
/// let plan = RangePlan::new(&[part, part], 5 * 1024 * 1024 - 10, 20)?;
/// assert_eq!(plan.part_start(), 0);
/// assert_eq!(plan.part_end(), 1);
/// assert_eq!(plan.sequence_number(), 79);
/// assert_eq!(plan.skip_length(), 65526);
/// # Ok::<(), kes_crypto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangePlan {
    offset: u64,
    length: u64,
    encrypted_offset: u64,
    encrypted_length: u64,
    skip_length: u64,
    sequence_number: u32,
    part_start: usize,
    spans: Vec<PartSpan>,
}

impl RangePlan {
    /// Plans reading `length` plaintext bytes from `offset` of an object
    /// whose parts have the given encrypted sizes (a single-part object:
    /// one size).
    ///
    /// # Errors
    /// [`Error::Malformed`] if a part size is not a valid DARE stream size
    /// (MinIO: "object tampered"), or the range is empty or does not lie
    /// within the object (`what` = "byte range").
    pub fn new(part_encrypted_sizes: &[u64], offset: u64, length: u64) -> Result<Self> {
        let sizes = plaintext_sizes(part_encrypted_sizes)?;
        let total = sizes
            .iter()
            .try_fold(0u64, |acc, &s| acc.checked_add(s))
            .ok_or(bad_range("object too large"))?;
        if length == 0 {
            return Err(bad_range("empty range"));
        }
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= total)
            .ok_or(bad_range("range is not within the object"))?;
        Self::plan(part_encrypted_sizes, &sizes, offset, end - 1)
    }

    /// Plans reading the whole object. For an empty object the plan reads
    /// nothing.
    ///
    /// # Errors
    /// [`Error::Malformed`] if a part size is not a valid DARE stream size.
    pub fn whole(part_encrypted_sizes: &[u64]) -> Result<Self> {
        let sizes = plaintext_sizes(part_encrypted_sizes)?;
        let total = sizes
            .iter()
            .try_fold(0u64, |acc, &s| acc.checked_add(s))
            .ok_or(bad_range("object too large"))?;
        if total == 0 {
            return Ok(Self {
                offset: 0,
                length: 0,
                encrypted_offset: 0,
                encrypted_length: 0,
                skip_length: 0,
                sequence_number: 0,
                part_start: 0,
                spans: Vec::new(),
            });
        }
        Self::plan(part_encrypted_sizes, &sizes, 0, total - 1)
    }

    fn plan(enc: &[u64], sizes: &[u64], offset: u64, last: u64) -> Result<Self> {
        // Encrypted start of each part (`enc` sums; bounded by the sizes check).
        let mut enc_starts = Vec::with_capacity(enc.len());
        let mut plain_starts = Vec::with_capacity(enc.len());
        let (mut e, mut p) = (0u64, 0u64);
        for (&es, &ps) in enc.iter().zip(sizes) {
            enc_starts.push(e);
            plain_starts.push(p);
            e = e.checked_add(es).ok_or(bad_range("object too large"))?;
            p += ps;
        }
        let find = |pos: u64| {
            sizes
                .iter()
                .zip(&plain_starts)
                .position(|(&s, &start)| pos >= start && pos < start + s)
                .ok_or(bad_range("range is not within the object"))
        };
        let part_start = find(offset)?;
        let part_end = find(last)?;

        let in_start = offset - plain_starts[part_start];
        let start_pkg = in_start / MAX_PAYLOAD_U64;
        let skip_length = in_start % MAX_PAYLOAD_U64;
        let sequence_number =
            u32::try_from(start_pkg).map_err(|_| bad_range("range is not within the object"))?;
        let encrypted_offset = enc_starts[part_start] + start_pkg * MAX_PACKAGE_U64;

        let in_end = last - plain_starts[part_end];
        let end_pkg = in_end / MAX_PAYLOAD_U64;
        let end_in_part = ((end_pkg + 1) * MAX_PACKAGE_U64).min(enc[part_end]);
        let encrypted_end = enc_starts[part_end] + end_in_part;

        let spans = (part_start..=part_end)
            .map(|i| {
                let (seq, from) = if i == part_start {
                    (sequence_number, start_pkg * MAX_PACKAGE_U64)
                } else {
                    (0, 0)
                };
                let to = if i == part_end { end_in_part } else { enc[i] };
                PartSpan {
                    part: i,
                    sequence_number: seq,
                    encrypted_offset: from,
                    encrypted_length: to - from,
                    reaches_end: to == enc[i],
                }
            })
            .collect();
        Ok(Self {
            offset,
            length: last - offset + 1,
            encrypted_offset,
            encrypted_length: encrypted_end - encrypted_offset,
            skip_length,
            sequence_number,
            part_start,
            spans,
        })
    }

    /// First plaintext byte of the range.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of plaintext bytes in the range.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Offset of the first encrypted byte to read, over the concatenated parts.
    pub fn encrypted_offset(&self) -> u64 {
        self.encrypted_offset
    }

    /// Number of encrypted bytes to read from [`encrypted_offset`](Self::encrypted_offset).
    pub fn encrypted_length(&self) -> u64 {
        self.encrypted_length
    }

    /// Plaintext bytes to discard from the first package read.
    pub fn skip_length(&self) -> u64 {
        self.skip_length
    }

    /// Sequence number of the first package read (in part [`part_start`](Self::part_start)).
    pub fn sequence_number(&self) -> u32 {
        self.sequence_number
    }

    /// Index of the part the range starts in.
    pub fn part_start(&self) -> usize {
        self.part_start
    }

    /// Index of the part the range ends in.
    pub fn part_end(&self) -> usize {
        self.spans.last().map_or(self.part_start, PartSpan::part)
    }

    /// What is read from each part, in order.
    pub fn spans(&self) -> &[PartSpan] {
        &self.spans
    }

    /// Decrypts the range. `ciphertext` must yield exactly the encrypted
    /// bytes `encrypted_offset .. encrypted_offset + encrypted_length` of the
    /// object; `part_key(i)` returns the DARE key of part `i` (the object key
    /// for a single-part object, the part key for a multipart one). It is
    /// called once per part, when decryption reaches that part.
    pub fn decrypt<R, F>(&self, ciphertext: R, part_key: F) -> DareRangeReader<R, F>
    where
        R: Read,
        F: FnMut(usize) -> Result<Zeroizing<[u8; KEY_SIZE]>>,
    {
        DareRangeReader {
            inner: ciphertext,
            part_key,
            spans: self.spans.clone(),
            next_span: 0,
            current: None,
            buf: Zeroizing::new(vec![0u8; MAX_PACKAGE_SIZE]),
            plain: 0..0,
            skip: self.skip_length,
            remaining: self.length,
            failed: false,
        }
    }
}

fn plaintext_sizes(part_encrypted_sizes: &[u64]) -> Result<Vec<u64>> {
    part_encrypted_sizes
        .iter()
        .map(|&s| decrypted_size(s))
        .collect()
}

struct Current {
    opener: Opener,
    span: PartSpan,
    remaining: u64,
}

/// Decrypts a planned range: see [`RangePlan::decrypt`]. Yields exactly the
/// plan's `length` plaintext bytes; errors as [`DareDecryptReader`](super::DareDecryptReader)
/// does (opaque `InvalidData` for data that does not decrypt, inner-reader
/// errors unchanged, failed for good after an error).
pub struct DareRangeReader<R, F> {
    inner: R,
    part_key: F,
    spans: Vec<PartSpan>,
    next_span: usize,
    current: Option<Current>,
    buf: Zeroizing<Vec<u8>>,
    plain: Range<usize>,
    skip: u64,
    remaining: u64,
    failed: bool,
}

impl<R, F> std::fmt::Debug for DareRangeReader<R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DareRangeReader")
            .field("remaining", &self.remaining)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<R, F> DareRangeReader<R, F>
where
    R: Read,
    F: FnMut(usize) -> Result<Zeroizing<[u8; KEY_SIZE]>>,
{
    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Decrypts packages until one leaves plaintext after skipping.
    fn next_package(&mut self) -> Result<()> {
        loop {
            let current = match &mut self.current {
                Some(c) => c,
                None => {
                    let span = self
                        .spans
                        .get(self.next_span)
                        .cloned()
                        .ok_or(Error::NotAuthentic)?;
                    self.next_span += 1;
                    let key = (self.part_key)(span.part)?;
                    let options = DecryptOptions::new().sequence_number(span.sequence_number);
                    self.current.insert(Current {
                        opener: Opener::new(&key, options),
                        remaining: span.encrypted_length,
                        span,
                    })
                }
            };
            if current.remaining == 0 {
                if current.span.reaches_end {
                    current.opener.finish()?;
                }
                self.current = None;
                continue;
            }
            let mut limited = (&mut self.inner).take(current.remaining);
            let header = self.buf.get_mut(..HEADER_SIZE).ok_or(Error::NotAuthentic)?;
            if read_full(&mut limited, header)? < HEADER_SIZE {
                return Err(Error::NotAuthentic);
            }
            let body = current.opener.body_len(header)?;
            let total = HEADER_SIZE + body;
            let rest = self
                .buf
                .get_mut(HEADER_SIZE..total)
                .ok_or(Error::NotAuthentic)?;
            if read_full(&mut limited, rest)? < body {
                return Err(Error::NotAuthentic);
            }
            current.remaining = limited.limit();
            let package = self.buf.get_mut(..total).ok_or(Error::NotAuthentic)?;
            let len = current.opener.open_in_place(package)?.len();
            if current.remaining > 0 && current.opener.is_finalized() {
                // A final package before the end of the part's span.
                return Err(Error::NotAuthentic);
            }
            let skip = usize::try_from(self.skip).unwrap_or(usize::MAX).min(len);
            self.skip -= skip as u64;
            self.plain = HEADER_SIZE + skip..HEADER_SIZE + len;
            if !self.plain.is_empty() {
                return Ok(());
            }
        }
    }
}

impl<R, F> Read for DareRangeReader<R, F>
where
    R: Read,
    F: FnMut(usize) -> Result<Zeroizing<[u8; KEY_SIZE]>>,
{
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(to_io_error(Error::NotAuthentic));
        }
        if out.is_empty() || self.remaining == 0 {
            return Ok(0);
        }
        if self.plain.is_empty() {
            let refill = self.next_package();
            if let Err(e) = refill {
                self.failed = true;
                self.plain = 0..0;
                return Err(to_io_error(e));
            }
        }
        let available = self.buf.get(self.plain.clone()).unwrap_or_default();
        let want = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        let n = available.len().min(out.len()).min(want);
        out[..n].copy_from_slice(&available[..n]);
        self.plain.start += n;
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CipherSuite, encrypt_to_vec_with_nonce, encrypted_size};
    use super::*;

    #[test]
    fn plan_rejects_bad_ranges() {
        let one = encrypted_size(100).unwrap();
        assert!(RangePlan::new(&[one], 0, 0).is_err());
        assert!(RangePlan::new(&[one], 100, 1).is_err());
        assert!(RangePlan::new(&[one], 50, 51).is_err());
        assert!(RangePlan::new(&[one], u64::MAX, 2).is_err());
        assert!(RangePlan::new(&[MAX_PACKAGE_U64 + 5], 0, 1).is_err());
        assert!(RangePlan::new(&[], 0, 1).is_err());
        assert!(RangePlan::new(&[one], 0, 100).is_ok());
    }

    #[test]
    fn whole_plan_of_empty_object_reads_nothing() {
        let plan = RangePlan::whole(&[0, 0]).unwrap();
        assert_eq!(plan.length(), 0);
        let mut out = Vec::new();
        plan.decrypt(&[][..], |_| Ok(Zeroizing::new([0u8; 32])))
            .read_to_end(&mut out)
            .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn range_over_two_parts_with_distinct_keys() {
        let keys = [[1u8; 32], [2u8; 32]];
        let parts: Vec<Vec<u8>> = (0..2u8)
            .map(|i| (0..100_000u32).map(|j| (j as u8) ^ i).collect())
            .collect();
        let enc: Vec<Vec<u8>> = parts
            .iter()
            .zip(&keys)
            .map(|(p, k)| encrypt_to_vec_with_nonce(k, CipherSuite::Aes256Gcm, [0; 12], p).unwrap())
            .collect();
        let object: Vec<u8> = enc.concat();
        let plain: Vec<u8> = parts.concat();
        let sizes: Vec<u64> = enc.iter().map(|e| e.len() as u64).collect();
        for (off, len) in [
            (0u64, 200_000u64),
            (99_990, 20),
            (65_536, 70_000),
            (150_000, 1),
        ] {
            let plan = RangePlan::new(&sizes, off, len).unwrap();
            let start = plan.encrypted_offset() as usize;
            let end = start + plan.encrypted_length() as usize;
            let mut out = Vec::new();
            plan.decrypt(&object[start..end], |i| Ok(Zeroizing::new(keys[i])))
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, &plain[off as usize..(off + len) as usize]);
        }
        // A wrong key for the second part fails.
        let plan = RangePlan::new(&sizes, 99_990, 20).unwrap();
        let start = plan.encrypted_offset() as usize;
        let end = start + plan.encrypted_length() as usize;
        let mut out = Vec::new();
        assert!(
            plan.decrypt(&object[start..end], |_| Ok(Zeroizing::new(keys[0])))
                .read_to_end(&mut out)
                .is_err()
        );
    }
}
