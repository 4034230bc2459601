//! DARE benches: 1 MiB through the streaming DARE 2.0 encryptor and
//! decryptor, next to floor (b) measured in the same run
//! (`cargo bench -p kes-benches --bench dare`).
//!
//! * `dare/encrypt_1MiB/*`, `dare/decrypt_1MiB/*`: `DareEncryptWriter` into
//!   a reused buffer and `DareDecryptReader` into a reused buffer, per
//!   cipher suite. This is the server's path (headers, 64 KiB packaging,
//!   copies, final-package handling included).
//! * `dare/encrypt_reader_1MiB/*`: `DareEncryptReader` read into 1 MiB
//!   buffers, the way `sse-demo put` pumps it into its write-behind buffers.
//! * `dare/encrypt_to_vec_1MiB/*`: the whole-buffer helper (allocates the
//!   output every time), for reference.
//! * `floor/aead_seal_64KiB_x16/*` (floor b): raw ring AEAD seal of the same
//!   1 MiB in sixteen 64 KiB chunks, in place, prepared key, no headers.
//!
//! Target: DARE throughput >= 0.8 x floor b. Results: `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kes_crypto::sse::dare::{
    self, CipherSuite, DareDecryptReader, DareEncryptReader, DareEncryptWriter,
};
use ring::aead;

const MIB: usize = 1 << 20;
const CHUNK: usize = 64 * 1024;
const KEY: [u8; 32] = [0x5a; 32];
const NONCE: [u8; 12] = [0xa5; 12];

fn suites() -> [(&'static str, CipherSuite, &'static aead::Algorithm); 2] {
    [
        ("aes256gcm", CipherSuite::Aes256Gcm, &aead::AES_256_GCM),
        (
            "chacha20poly1305",
            CipherSuite::ChaCha20Poly1305,
            &aead::CHACHA20_POLY1305,
        ),
    ]
}

fn benches(c: &mut Criterion) {
    let plaintext: Vec<u8> = (0..MIB).map(|i| (i * 31 + 7) as u8).collect();
    let mut g = c.benchmark_group("dare");
    g.throughput(Throughput::Bytes(MIB as u64));
    for (name, suite, _) in suites() {
        let mut out = Vec::with_capacity(dare::encrypted_size(MIB as u64).unwrap() as usize);
        g.bench_function(format!("encrypt_1MiB/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let mut w = DareEncryptWriter::with_nonce(&mut out, &KEY, suite, NONCE).unwrap();
                w.write_all(black_box(&plaintext)).unwrap();
                w.finish().unwrap();
            })
        });

        let mut pumped = vec![0u8; MIB];
        g.bench_function(format!("encrypt_reader_1MiB/{name}"), |b| {
            b.iter(|| {
                let mut r =
                    DareEncryptReader::with_nonce(black_box(&plaintext[..]), &KEY, suite, NONCE)
                        .unwrap();
                let mut filled = 0;
                loop {
                    if filled == pumped.len() {
                        black_box(&pumped);
                        filled = 0;
                    }
                    let n = r.read(&mut pumped[filled..]).unwrap();
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                black_box(&pumped[..filled]);
            })
        });

        let ciphertext = dare::encrypt_to_vec_with_nonce(&KEY, suite, NONCE, &plaintext).unwrap();
        let mut sink = vec![0u8; MIB];
        g.bench_function(format!("decrypt_1MiB/{name}"), |b| {
            b.iter(|| {
                let mut r = DareDecryptReader::new(black_box(&ciphertext[..]), &KEY);
                r.read_exact(&mut sink).unwrap();
                assert_eq!(r.read(&mut [0u8; 1]).unwrap(), 0);
            })
        });

        g.bench_function(format!("encrypt_to_vec_1MiB/{name}"), |b| {
            b.iter(|| dare::encrypt_to_vec_with_nonce(&KEY, suite, NONCE, black_box(&plaintext)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Bytes(MIB as u64));
    for (name, _, alg) in suites() {
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(alg, &KEY).unwrap());
        let mut buf = plaintext.clone();
        g.bench_function(format!("aead_seal_64KiB_x16/{name}"), |b| {
            b.iter(|| {
                for (i, chunk) in buf.chunks_mut(CHUNK).enumerate() {
                    let mut n = NONCE;
                    n[11] ^= i as u8;
                    let tag = key
                        .seal_in_place_separate_tag(
                            aead::Nonce::assume_unique_for_key(n),
                            aead::Aad::from(&[0u8; 4]),
                            chunk,
                        )
                        .unwrap();
                    let _ = black_box(tag);
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = dare_benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(dare_benches);
