//! The MinIO SSE-S3 envelope chain with a static KMS key, end to end:
//!
//! ```text
//! MINIO_KMS_SECRET_KEY ──generate(context)──▶ DEK (plaintext EK + 76-byte ciphertext)
//! EK ──HMAC(iv ‖ "SSE-S3" ‖ "DAREv2-HMAC-SHA256" ‖ bucket/object)──▶ KEK
//! OEK (random per object) ──DARE 2.0 under the KEK──▶ sealed object key (64 bytes)
//! OEK ──DARE 2.0──▶ object data
//! ```
//!
//! What MinIO stores with the object: the DEK ciphertext, the IV and the
//! sealed object key. To read the object it asks the KMS to decrypt the DEK,
//! re-derives the KEK, unseals the OEK and decrypts the data.
//!
//! Run with `cargo run -p kes-examples --example envelope_chain`. The static
//! key comes from `MINIO_KMS_SECRET_KEY` (`<name>:<base64 of 32 bytes>`) when
//! it is set, otherwise from MinIO's documentation example. No key material
//! is printed unless `--show-secrets` is given.

#![allow(clippy::print_stdout)]

use std::io::{Read, Write};

use kes_crypto::sse::dare::{self, CipherSuite, DareDecryptReader, DareEncryptWriter};
use kes_crypto::sse::static_kms::StaticKey;
use kes_crypto::sse::{Context, ObjectKey, SealAlgorithm, SealedObjectKey, SseType, derive_kek};

/// MinIO's documentation example key (`docs/kms/IAM.md`).
const DEMO_KEY: &str = "my-minio-key:OSMM+vkKUTCvQs9YL/CVMIMt43HFhkUpqJxTmGl6rYw=";

fn main() -> Result<(), kes_crypto::Error> {
    let show_secrets = std::env::args().skip(1).any(|a| a == "--show-secrets");
    let secret = |bytes: &[u8]| {
        if show_secrets {
            hex::encode(bytes)
        } else {
            format!("<{} bytes, pass --show-secrets to print>", bytes.len())
        }
    };

    // The single-key KMS of a MinIO deployment (`MINIO_KMS_SECRET_KEY`).
    let setting = std::env::var("MINIO_KMS_SECRET_KEY").unwrap_or_else(|_| DEMO_KEY.to_owned());
    let kms = StaticKey::parse(&setting)?;
    println!("static KMS key: {}", kms.name());
    let (bucket, object) = ("my-bucket", "photos/2024/cat.jpg");
    let data = b"the object's bytes, any length".repeat(4096);

    // 1. Upload: a data key from the KMS, bound to the bucket/object context.
    let context = Context::for_object(bucket, object);
    println!(
        "KMS context (associated data): {}",
        context.to_json_string()
    );
    let dek = kms.generate_key(kms.name(), &context)?;
    println!(
        "DEK: {} bytes of ciphertext stored in the object metadata: {}",
        dek.ciphertext().len(),
        hex::encode(dek.ciphertext())
    );

    println!(
        "DEK plaintext (the external key EK): {}",
        secret(dek.plaintext().expose_secret())
    );

    // 2. A fresh object key, sealed under the KEK derived from the DEK.
    let (object_key, sealed) = ObjectKey::generate_sealed(
        dek.plaintext(),
        SealAlgorithm::DareV2HmacSha256,
        SseType::SseS3,
        bucket,
        object,
    )?;
    let kek = derive_kek(dek.plaintext(), sealed.iv(), SseType::SseS3, bucket, object);
    println!(
        "KEK = HMAC(EK, iv ‖ \"SSE-S3\" ‖ \"DAREv2-HMAC-SHA256\" ‖ \"{}\"): {}",
        kes_crypto::sse::go_path_join(bucket, object),
        secret(kek.expose_secret())
    );
    println!("object key (OEK): {}", secret(object_key.expose_secret()));
    println!(
        "sealed object key ({}): iv {} + {} bytes {}",
        sealed.algorithm(),
        hex::encode(sealed.iv()),
        sealed.sealed_bytes().len(),
        hex::encode(sealed.sealed_bytes())
    );

    // 3. The object data, as a DARE 2.0 stream under the object key.
    let mut writer = DareEncryptWriter::new(
        Vec::new(),
        object_key.expose_secret(),
        CipherSuite::Aes256Gcm,
    )?;
    writer.write_all(&data)?;
    let encrypted = writer.finish()?;
    println!(
        "object: {} plaintext bytes -> {} DARE bytes (expected {})",
        data.len(),
        encrypted.len(),
        dare::encrypted_size(data.len() as u64)?
    );
    drop(object_key);

    // What is stored: the DEK ciphertext, the sealed key and its IV, the data.
    let stored_dek = dek.ciphertext().to_vec();
    let stored_sealed = SealedObjectKey::new(
        sealed.algorithm(),
        *sealed.iv(),
        sealed.sealed_bytes().to_vec(),
    )?;
    drop(dek);

    // 4. Download: the KMS decrypts the DEK, the KEK unseals the object key,
    // the object key decrypts the data.
    let external_key = kms.decrypt(kms.name(), &stored_dek, &context)?;
    let object_key = ObjectKey::unseal(
        &stored_sealed,
        &external_key,
        SseType::SseS3,
        bucket,
        object,
    )?;
    let mut plaintext = Vec::new();
    DareDecryptReader::new(encrypted.as_slice(), object_key.expose_secret())
        .read_to_end(&mut plaintext)?;
    assert_eq!(plaintext, data);
    println!("decrypted {} bytes: ok", plaintext.len());

    // The chain is bound to the object path: another name cannot unseal it.
    let moved = ObjectKey::unseal(
        &stored_sealed,
        &external_key,
        SseType::SseS3,
        bucket,
        "photos/2024/dog.jpg",
    );
    println!(
        "unseal under another object name: {}",
        match moved {
            Ok(_) => "accepted (unexpected)".to_owned(),
            Err(e) => format!("rejected ({e})"),
        }
    );
    Ok(())
}
