//! Property tests for DARE: round trips around package borders with random
//! chunking, tampering (flipped bytes, truncation, reordering, splicing) and
//! range reads against slicing the plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};

use kes_crypto::sse::dare::{
    self, CipherSuite, DareDecryptReader, DareEncryptReader, DareEncryptWriter, MAX_PACKAGE_SIZE,
    MAX_PAYLOAD_SIZE, RangePlan,
};
use proptest::prelude::*;
use zeroize::Zeroizing;

/// Deterministic pseudo-random bytes (xorshift), so large plaintexts cost
/// nothing to generate and shrink by seed.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn suite() -> impl Strategy<Value = CipherSuite> {
    prop_oneof![
        Just(CipherSuite::Aes256Gcm),
        Just(CipherSuite::ChaCha20Poly1305)
    ]
}

/// Sizes clustered around package borders: k·65536 + {-2..=2}, plus small ones.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..64,
        (0usize..4, -2isize..=2).prop_map(|(k, d)| (k * MAX_PAYLOAD_SIZE).saturating_add_signed(d)),
        0usize..(3 * MAX_PAYLOAD_SIZE),
    ]
}

/// A reader that returns at most `chunk` bytes per call.
struct Dribble<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(self.chunk).min(out.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn read_all(mut r: impl Read, chunk: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_with_random_chunking(
        len in size(),
        seed in any::<u64>(),
        suite in suite(),
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 12]>(),
        write_chunk in 1usize..100_000,
        read_chunk in 1usize..100_000,
    ) {
        let pt = bytes(seed, len);
        let expected = dare::encrypt_to_vec_with_nonce(&key, suite, nonce, &pt).unwrap();
        prop_assert_eq!(expected.len() as u64, dare::encrypted_size(len as u64).unwrap());
        prop_assert_eq!(dare::decrypted_size(expected.len() as u64).unwrap(), len as u64);

        let mut w = DareEncryptWriter::with_nonce(Vec::new(), &key, suite, nonce).unwrap();
        for chunk in pt.chunks(write_chunk) {
            w.write_all(chunk).unwrap();
        }
        prop_assert_eq!(&w.finish().unwrap(), &expected);

        let src = Dribble { data: &pt, chunk: write_chunk };
        let enc = read_all(DareEncryptReader::with_nonce(src, &key, suite, nonce).unwrap(), read_chunk).unwrap();
        prop_assert_eq!(&enc, &expected);

        let src = Dribble { data: &expected, chunk: write_chunk };
        let got = read_all(DareDecryptReader::new(src, &key), read_chunk).unwrap();
        prop_assert_eq!(&got, &pt);
        prop_assert_eq!(dare::decrypt_to_vec(&key, &expected).unwrap(), pt);
    }

    #[test]
    fn any_flipped_byte_fails(
        len in 1usize..(3 * MAX_PAYLOAD_SIZE),
        seed in any::<u64>(),
        suite in suite(),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let key = [7u8; 32];
        let pt = bytes(seed, len);
        let mut ct = dare::encrypt_to_vec_with_nonce(&key, suite, [3; 12], &pt).unwrap();
        let i = pos.index(ct.len());
        ct[i] ^= 1 << bit;
        prop_assert!(dare::decrypt_to_vec(&key, &ct).is_err());
        let mut out = Vec::new();
        prop_assert!(DareDecryptReader::new(&ct[..], &key).read_to_end(&mut out).is_err());
    }

    #[test]
    fn truncation_fails(
        len in 1usize..(4 * MAX_PAYLOAD_SIZE),
        seed in any::<u64>(),
        suite in suite(),
        cut in any::<prop::sample::Index>(),
    ) {
        let key = [8u8; 32];
        let pt = bytes(seed, len);
        let ct = dare::encrypt_to_vec_with_nonce(&key, suite, [4; 12], &pt).unwrap();
        // Any proper prefix fails, including one that ends at a package border.
        let keep = cut.index(ct.len());
        prop_assert!(dare::decrypt_to_vec(&key, &ct[..keep]).is_err() || keep == 0);
        let packages = ct.len().div_ceil(MAX_PACKAGE_SIZE);
        if packages > 1 {
            let without_final = &ct[..(packages - 1) * MAX_PACKAGE_SIZE];
            prop_assert!(dare::decrypt_to_vec(&key, without_final).is_err());
        }
    }

    #[test]
    fn reordering_and_splicing_fail(
        seed in any::<u64>(),
        suite in suite(),
        extra in 1usize..MAX_PAYLOAD_SIZE,
    ) {
        let key = [9u8; 32];
        let pt = bytes(seed, 2 * MAX_PAYLOAD_SIZE + extra);
        let ct = dare::encrypt_to_vec_with_nonce(&key, suite, [5; 12], &pt).unwrap();
        let p: Vec<&[u8]> = ct.chunks(MAX_PACKAGE_SIZE).collect();
        prop_assert_eq!(p.len(), 3);
        // Swap the two full packages.
        let swapped = [p[1], p[0], p[2]].concat();
        prop_assert!(dare::decrypt_to_vec(&key, &swapped).is_err());
        // Repeat a package.
        let repeated = [p[0], p[0], p[1], p[2]].concat();
        prop_assert!(dare::decrypt_to_vec(&key, &repeated).is_err());
        // Drop a middle package.
        let dropped = [p[0], p[2]].concat();
        prop_assert!(dare::decrypt_to_vec(&key, &dropped).is_err());
        // Append a second stream after the final package.
        let appended = [ct.as_slice(), ct.as_slice()].concat();
        prop_assert!(dare::decrypt_to_vec(&key, &appended).is_err());
        // Splice in a package of another stream under the same key.
        let other = dare::encrypt_to_vec_with_nonce(&key, suite, [6; 12], &pt).unwrap();
        let spliced = [p[0], &other[MAX_PACKAGE_SIZE..2 * MAX_PACKAGE_SIZE], p[2]].concat();
        prop_assert!(dare::decrypt_to_vec(&key, &spliced).is_err());
    }

    #[test]
    fn range_equals_slice(
        parts in prop::collection::vec(0usize..(3 * MAX_PAYLOAD_SIZE), 1..4),
        seed in any::<u64>(),
        start in any::<prop::sample::Index>(),
        span in any::<prop::sample::Index>(),
        read_chunk in 1usize..70_000,
    ) {
        let total: usize = parts.iter().sum();
        prop_assume!(total > 0);
        let keys: Vec<[u8; 32]> = (0..parts.len()).map(|i| [i as u8 ^ 0x5a; 32]).collect();
        let mut plain = Vec::new();
        let mut object = Vec::new();
        let mut sizes = Vec::new();
        for (i, &n) in parts.iter().enumerate() {
            let p = bytes(seed.wrapping_add(i as u64), n);
            let suite = if i % 2 == 0 { CipherSuite::Aes256Gcm } else { CipherSuite::ChaCha20Poly1305 };
            let e = dare::encrypt_to_vec_with_nonce(&keys[i], suite, [i as u8; 12], &p).unwrap();
            sizes.push(e.len() as u64);
            object.extend(e);
            plain.extend(p);
        }
        let off = start.index(total);
        let len = 1 + span.index(total - off);
        let plan = RangePlan::new(&sizes, off as u64, len as u64).unwrap();
        let s = plan.encrypted_offset() as usize;
        let e = s + plan.encrypted_length() as usize;
        prop_assert!(e <= object.len());
        let reader = plan.decrypt(&object[s..e], |i| Ok(Zeroizing::new(keys[i])));
        let got = read_all(reader, read_chunk).unwrap();
        prop_assert_eq!(&got[..], &plain[off..off + len]);

        // The whole-object plan decrypts everything.
        let whole = RangePlan::whole(&sizes).unwrap();
        let got = read_all(whole.decrypt(&object[..], |i| Ok(Zeroizing::new(keys[i]))), read_chunk).unwrap();
        prop_assert_eq!(got, plain);
    }
}

#[test]
fn every_single_byte_flip_of_a_small_stream_fails() {
    let key = [1u8; 32];
    for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
        for len in [1usize, 32, 100] {
            let ct = dare::encrypt_to_vec_with_nonce(&key, suite, [2; 12], &bytes(9, len)).unwrap();
            for i in 0..ct.len() {
                for bit in 0..8 {
                    let mut bad = ct.clone();
                    bad[i] ^= 1 << bit;
                    assert!(
                        dare::decrypt_to_vec(&key, &bad).is_err(),
                        "flip {i}/{bit} of {len} bytes"
                    );
                }
            }
        }
    }
}

#[test]
fn sealed_object_key_every_flip_fails() {
    let kek = [0x33u8; 32];
    let oek = [0x44u8; 32];
    for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
        let sealed = dare::seal_package(&kek, suite, [0x55; 12], &oek).unwrap();
        assert_eq!(sealed.len(), 64);
        assert_eq!(&dare::open_package(&kek, &sealed).unwrap()[..], &oek);
        for i in 0..64 {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                assert!(dare::open_package(&kek, &bad).is_err(), "flip {i}/{bit}");
            }
        }
        assert!(dare::open_package(&kek, &sealed[..63]).is_err());
    }
}
