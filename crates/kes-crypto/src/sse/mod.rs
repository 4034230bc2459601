//! MinIO's server-side-encryption formats (see `spec/sse.md`).
//!
//! The envelope chain, from the KMS down to the object data:
//!
//! ```text
//! KMS master key ──GenerateKey(name, context)──▶ Dek { plaintext (EK), ciphertext }
//! EK ──HMAC(iv ‖ domain ‖ "DAREv2-HMAC-SHA256" ‖ path.Join(bucket, object))──▶ Kek
//! ObjectKey (random per object) ──DARE 2.0 under the Kek──▶ SealedObjectKey (64 bytes)
//! ObjectKey ──DARE 2.0──▶ object data      (multipart: HMAC(OEK, LE32(part)) per part)
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`context`] | the KMS context (associated data) and its canonical JSON encoding |
//! | [`object_key`] | external keys, DEKs, KEK derivation, object keys, sealing and part keys |
//! | [`static_kms`] | MinIO's single static key (`MINIO_KMS_SECRET_KEY`) and the old master key |
//! | [`metadata`] | the internal object metadata entries: names, detection, parsing, creation |
//! | [`headers`] | S3 SSE request headers: classification and parsing |
//! | [`bucket_config`] | the bucket default-encryption XML (`PUT ?encryption`) |
//!
//! Nothing here does IO or reads a clock; randomness is drawn once per
//! operation, and every operation that needs it also has a deterministic
//! `*_with` variant taking the random bytes as arguments.

pub mod bucket_config;
pub mod context;
pub mod dare;
pub mod etag;
pub mod headers;
pub mod metadata;
pub mod object_key;
pub mod static_kms;
pub mod stream;

pub use context::Context;
pub use object_key::{
    Dek, ExternalKey, Kek, ObjectKey, PartKey, SealAlgorithm, SealedObjectKey, derive_kek,
    go_path_join, multipart_part_nonce,
};
pub use static_kms::StaticKey;

/// The three kinds of server-side encryption. Their names are also the
/// `domain` string mixed into the KEK derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SseType {
    /// SSE-S3: the KMS default key protects the object key.
    SseS3,
    /// SSE-KMS: a client-chosen KMS key and optional client context.
    SseKms,
    /// SSE-C: a client-provided key; the KMS is not involved.
    SseC,
}

impl SseType {
    /// The domain string: `SSE-S3`, `SSE-KMS` or `SSE-C`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SseS3 => "SSE-S3",
            Self::SseKms => "SSE-KMS",
            Self::SseC => "SSE-C",
        }
    }
}

impl std::fmt::Display for SseType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
