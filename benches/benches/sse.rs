//! kes-crypto SSE benches: the per-object key work of MinIO's envelope
//! chain next to its floor, in one run (`cargo bench -p kes-benches --bench sse`).
//!
//! * `sse/kek_derive`: HMAC-SHA256 over iv ‖ domain ‖ alg ‖ path.Join(bucket, object).
//! * `sse/seal_dare/*`, `sse/unseal_dare/*`: KEK derivation plus one DARE 2.0
//!   package over the 32-byte object key (MinIO's `DAREv2-HMAC-SHA256`),
//!   deterministic nonce, per cipher suite.
//! * `sse/seal_v2`, `sse/unseal_v2`: the kes-rs v2 form (KEK + AES-256-GCM-SIV key wrap).
//! * `sse/generate_sealed`: a new object's key setup (OEK + IV + nonce from one
//!   OS call, seal).
//! * `sse/static_kms/*`: MinIO static-key DEK generate and decrypt.
//! * `floor/hmac_aes_gcm_seal_32` and `_open_32`: one HMAC-SHA256 with a
//!   fresh key (RustCrypto `hmac`, as kes-crypto derives) plus one AES-256-GCM
//!   seal/open of 32 bytes with ring, no randomness — what a KEK derive + seal
//!   costs at least.
//!
//! Results: `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::digest::FixedOutput as _;
use hmac::{Hmac, KeyInit, Mac};
use kes_crypto::sse::dare::CipherSuite;
use kes_crypto::sse::{
    Context, ExternalKey, ObjectKey, SealAlgorithm, SseType, StaticKey, derive_kek,
};
use ring::aead;
use sha2::Sha256;

const BUCKET: &str = "my-bucket";
const OBJECT: &str = "photos/2024/cat.jpg";
const CONTEXT: &[u8] = br#"{"my-bucket":"my-bucket/photos/2024/cat.jpg"}"#;

fn sse(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse");
    let ek = ExternalKey::from_bytes([1; 32]);
    let oek = ObjectKey::from_bytes([2; 32]);
    let iv = [3u8; 32];
    let nonce = [4u8; 12];
    g.bench_function("kek_derive", |b| {
        b.iter(|| {
            derive_kek(
                black_box(&ek),
                black_box(&iv),
                SseType::SseS3,
                BUCKET,
                OBJECT,
            )
        })
    });
    for (name, suite) in [
        ("aes256gcm", CipherSuite::Aes256Gcm),
        ("chacha20poly1305", CipherSuite::ChaCha20Poly1305),
    ] {
        g.bench_function(format!("seal_dare/{name}"), |b| {
            b.iter(|| {
                oek.seal_with(
                    black_box(&ek),
                    &iv,
                    SseType::SseS3,
                    BUCKET,
                    OBJECT,
                    suite,
                    nonce,
                )
                .unwrap()
            })
        });
        let sealed = oek
            .seal_with(&ek, &iv, SseType::SseS3, BUCKET, OBJECT, suite, nonce)
            .unwrap();
        g.bench_function(format!("unseal_dare/{name}"), |b| {
            b.iter(|| {
                ObjectKey::unseal(black_box(&sealed), &ek, SseType::SseS3, BUCKET, OBJECT).unwrap()
            })
        });
    }
    g.bench_function("seal_v2", |b| {
        b.iter(|| {
            oek.seal_v2_with(black_box(&ek), &iv, SseType::SseS3, BUCKET, OBJECT, nonce)
                .unwrap()
        })
    });
    let sealed = oek
        .seal_v2_with(&ek, &iv, SseType::SseS3, BUCKET, OBJECT, nonce)
        .unwrap();
    g.bench_function("unseal_v2", |b| {
        b.iter(|| {
            ObjectKey::unseal(black_box(&sealed), &ek, SseType::SseS3, BUCKET, OBJECT).unwrap()
        })
    });
    g.bench_function("generate_sealed", |b| {
        b.iter(|| {
            ObjectKey::generate_sealed(
                black_box(&ek),
                SealAlgorithm::DareV2HmacSha256,
                SseType::SseS3,
                BUCKET,
                OBJECT,
            )
            .unwrap()
        })
    });
    g.bench_function("part_key", |b| b.iter(|| oek.derive_part_key(black_box(7))));

    let kms = StaticKey::new("my-minio-key", [5; 32]);
    let ctx = Context::for_object(BUCKET, OBJECT);
    g.bench_function("static_kms/generate_key", |b| {
        b.iter(|| kms.generate_key("", black_box(&ctx)).unwrap())
    });
    let dek = kms.generate_key("", &ctx).unwrap();
    g.bench_function("static_kms/decrypt", |b| {
        b.iter(|| {
            kms.decrypt("my-minio-key", black_box(dek.ciphertext()), &ctx)
                .unwrap()
        })
    });
    g.bench_function("context_encode", |b| b.iter(|| black_box(&ctx).to_json()));
    g.finish();
}

/// The floor's AES-256-GCM key: HMAC-SHA256(key, msg) with a fresh key.
fn floor_key(key: &[u8; 32], msg: &[u8]) -> aead::LessSafeKey {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    let sub = mac.finalize_fixed();
    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &sub).unwrap())
}

/// HMAC-SHA256(key, msg) then AES-256-GCM over 32 bytes (floor a).
fn floor_seal(key: &[u8; 32], msg: &[u8], nonce: [u8; 12], buf: &mut [u8; 32]) -> aead::Tag {
    floor_key(key, msg)
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(CONTEXT),
            buf,
        )
        .unwrap()
}

fn floors(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    let key = [3u8; 32];
    // The same HMAC input length as the KEK derivation.
    let msg = [4u8; 32 + 6 + 18 + 29];
    let nonce = [5u8; 12];
    g.bench_function("hmac_aes_gcm_seal_32", |b| {
        b.iter(|| {
            let mut buf = [6u8; 32];
            floor_seal(black_box(&key), black_box(&msg), nonce, &mut buf)
        })
    });
    let mut sealed = [6u8; 32];
    let tag = floor_seal(&key, &msg, nonce, &mut sealed);
    g.bench_function("hmac_aes_gcm_open_32", |b| {
        b.iter(|| {
            let aead_key = floor_key(black_box(&key), &msg);
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
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = sse, floors
}
criterion_main!(benches);
