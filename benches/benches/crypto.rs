//! kes-crypto benches: the KES key operations next to the floors they are
//! judged against, all in one run (`cargo bench -p kes-benches --bench crypto`).
//!
//! * `kes/*`: what the server does per request (generate, decrypt, HMAC).
//! * `floor/hmac_aes_gcm_seal_32` and `_open_32` (floor a): one
//!   HMAC-SHA256 sub-key derivation with a key prepared beforehand (RustCrypto
//!   `hmac`, as a `SecretKey` holds it) plus one AES-256-GCM seal/open of 32
//!   bytes with ring, fixed iv and nonce, no randomness, no allocation.
//! * `floor/aes_gcm_seal_64KiB` (floor b): raw AES-256-GCM over 64 KiB with
//!   a prepared key.
//! * `floor/rng_fill_60`: one 60-byte fill from the OS CSPRNG
//!   (`getrandom::fill`, as `kes_crypto::rng` draws), the randomness a data
//!   key needs.
//!
//! Targets: generate <= 1.3 x (floor a seal + rng fill),
//! decrypt <= 1.15 x floor a open. On a shared machine criterion's medians
//! of a bench and its floor are taken at different moments; the `paired`
//! step at the end alternates batches of each operation and its floors and
//! prints the ratios of their fastest batches. Results: `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::digest::FixedOutput as _;
use hmac::{Hmac, KeyInit, Mac};
use kes_crypto::{KeyAlgorithm, KeyVersion, WrapKey};
use ring::aead;
use sha2::Sha256;

/// An HMAC-SHA256 key prepared once, outside the timed loops.
type Prf = Hmac<Sha256>;

/// The associated data MinIO sends for an SSE-S3 object key.
const CONTEXT: &[u8] = br#"{"my-bucket":"my-bucket/my-object"}"#;

fn key_version(algorithm: KeyAlgorithm) -> KeyVersion {
    let created_at = time::OffsetDateTime::UNIX_EPOCH;
    KeyVersion::generate(algorithm, created_at, "bench").unwrap()
}

fn kes(c: &mut Criterion) {
    let mut g = c.benchmark_group("kes");
    for (name, alg) in [
        ("aes256", KeyAlgorithm::Aes256),
        ("chacha20", KeyAlgorithm::ChaCha20),
    ] {
        let version = key_version(alg);
        g.bench_function(format!("generate_dek/{name}"), |b| {
            b.iter(|| version.generate_dek(black_box(CONTEXT)).unwrap())
        });
        let dek = version.generate_dek(CONTEXT).unwrap();
        g.bench_function(format!("decrypt_dek/{name}"), |b| {
            b.iter(|| {
                version
                    .decrypt(black_box(dek.ciphertext()), black_box(CONTEXT))
                    .unwrap()
            })
        });
    }
    let version = key_version(KeyAlgorithm::Aes256);
    g.bench_function("hmac", |b| {
        b.iter(|| version.hmac(black_box(b"root access key")).unwrap())
    });
    let stored = version.encode().unwrap();
    g.bench_function("parse_key_version", |b| {
        b.iter(|| KeyVersion::parse(black_box(stored.as_bytes())).unwrap())
    });
    let wrap = WrapKey::new([7; 32]);
    let wrapped = wrap.seal(&[1; 32], b"name").unwrap();
    g.bench_function("keywrap_open_32", |b| {
        b.iter(|| wrap.open(black_box(&wrapped), b"name").unwrap())
    });
    g.finish();
}

/// Floor a's AES-256-GCM key: HMAC-SHA256(key, iv) with the prepared key.
fn floor_key(prf: &Prf, iv: &[u8; 16]) -> aead::LessSafeKey {
    let mut mac = prf.clone();
    mac.update(iv);
    let sub = mac.finalize_fixed();
    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &sub).unwrap())
}

/// Floor a, seal: HMAC-SHA256(key, iv) then AES-256-GCM over 32 bytes.
fn floor_seal(prf: &Prf, iv: &[u8; 16], nonce: [u8; 12], buf: &mut [u8; 32]) -> aead::Tag {
    floor_key(prf, iv)
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(CONTEXT),
            buf,
        )
        .unwrap()
}

fn floors(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    let prf = Prf::new_from_slice(&[3u8; 32]).unwrap();
    let iv = [4u8; 16];
    let nonce = [5u8; 12];
    g.bench_function("hmac_aes_gcm_seal_32", |b| {
        b.iter(|| {
            let mut buf = [6u8; 32];
            floor_seal(black_box(&prf), black_box(&iv), nonce, &mut buf)
        })
    });
    let mut sealed = [6u8; 32];
    let tag = floor_seal(&prf, &iv, nonce, &mut sealed);
    g.bench_function("hmac_aes_gcm_open_32", |b| {
        b.iter(|| {
            let aead_key = floor_key(black_box(&prf), &iv);
            let mut buf = sealed;
            aead_key
                .open_in_place_separate_tag(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::from(CONTEXT),
                    tag,
                    &mut buf,
                    0..,
                )
                .unwrap();
            buf
        })
    });
    g.bench_function("rng_fill_60", |b| {
        b.iter(|| {
            let mut buf = [0u8; 60];
            getrandom::fill(&mut buf).unwrap();
            buf
        })
    });
    let aead_key =
        aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &[3u8; 32]).unwrap());
    let mut data = vec![0u8; 64 * 1024];
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("aes_gcm_seal_64KiB", |b| {
        b.iter(|| {
            aead_key
                .seal_in_place_separate_tag(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::empty(),
                    &mut data,
                )
                .unwrap()
        })
    });
    g.finish();
}

/// Criterion measures each bench at a different moment, so on a shared
/// machine its medians drift between a bench and its floor. This paired
/// measurement alternates batches of the operation and of its floor and
/// keeps each one's fastest batch, so both see the same load.
#[allow(clippy::print_stdout)]
fn paired(_: &mut Criterion) {
    const BATCH: u32 = 200;
    const ROUNDS: u32 = 300;
    fn fastest(rounds: u32, mut ops: Vec<Box<dyn FnMut() + '_>>) -> Vec<f64> {
        let mut best = vec![f64::INFINITY; ops.len()];
        for _ in 0..rounds {
            for (op, best) in ops.iter_mut().zip(best.iter_mut()) {
                let start = std::time::Instant::now();
                for _ in 0..BATCH {
                    op();
                }
                let per_op = start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH);
                *best = best.min(per_op);
            }
        }
        best
    }

    let version = key_version(KeyAlgorithm::Aes256);
    let dek = version.generate_dek(CONTEXT).unwrap();
    let prf = Prf::new_from_slice(&[3u8; 32]).unwrap();
    let (iv, nonce) = ([4u8; 16], [5u8; 12]);
    let mut sealed = [6u8; 32];
    let tag = floor_seal(&prf, &iv, nonce, &mut sealed);
    let best = fastest(
        ROUNDS,
        vec![
            Box::new(|| {
                black_box(version.generate_dek(black_box(CONTEXT)).unwrap());
            }),
            Box::new(|| {
                let mut buf = [6u8; 32];
                let _ = black_box(floor_seal(black_box(&prf), &iv, nonce, &mut buf));
                black_box(buf);
            }),
            Box::new(|| {
                let mut buf = [0u8; 60];
                getrandom::fill(&mut buf).unwrap();
                black_box(buf);
            }),
            Box::new(|| {
                black_box(
                    version
                        .decrypt(black_box(dek.ciphertext()), CONTEXT)
                        .unwrap(),
                );
            }),
            Box::new(|| {
                let aead_key = floor_key(black_box(&prf), &iv);
                let mut buf = sealed;
                aead_key
                    .open_in_place_separate_tag(
                        aead::Nonce::assume_unique_for_key(nonce),
                        aead::Aad::from(CONTEXT),
                        tag,
                        &mut buf,
                        0..,
                    )
                    .unwrap();
                black_box(buf);
            }),
        ],
    );
    let [generate, seal, fill, decrypt, open] = best[..] else {
        return;
    };
    println!(
        "paired (fastest of {ROUNDS} batches of {BATCH}): generate_dek {generate:.0} ns, \
         floor a seal {seal:.0} ns + rng fill {fill:.0} ns -> ratio {:.2} (target <= 1.3); \
         decrypt_dek {decrypt:.0} ns, floor a open {open:.0} ns -> ratio {:.2} (target <= 1.15)",
        generate / (seal + fill),
        decrypt / open,
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = kes, floors, paired
}
criterion_main!(benches);
