//! MinIO's internal SSE object metadata (`spec/sse.md` §6.5–§6.6).
//!
//! Entry names use Go's canonical header case and are matched exactly.
//! Parsing follows MinIO's order, so the first failure reported is the one
//! MinIO reports, with MinIO's message.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{Error, Result};

use super::SseType;
use super::context::Context;
use super::object_key::{IV_LEN, SealAlgorithm, SealedObjectKey};

/// Flag (empty value) marking an encrypted multipart object.
pub const META_MULTIPART: &str = "X-Minio-Internal-Encrypted-Multipart";
/// Base64 of the 32-byte IV.
pub const META_IV: &str = "X-Minio-Internal-Server-Side-Encryption-Iv";
/// The seal algorithm name.
pub const META_ALGORITHM: &str = "X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm";
/// Base64 of the SSE-C sealed object key.
pub const META_SEALED_KEY_SSEC: &str = "X-Minio-Internal-Server-Side-Encryption-Sealed-Key";
/// Base64 of the SSE-S3 sealed object key.
pub const META_SEALED_KEY_S3: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key";
/// Base64 of the SSE-KMS sealed object key.
pub const META_SEALED_KEY_KMS: &str = "X-Minio-Internal-Server-Side-Encryption-Kms-Sealed-Key";
/// The KMS key name (SSE-S3 and SSE-KMS both use this entry).
pub const META_KEY_ID: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id";
/// Base64 of the DEK ciphertext (SSE-S3 and SSE-KMS both use this entry).
pub const META_DATA_ENCRYPTION_KEY: &str =
    "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key";
/// Base64 of the canonical JSON of the SSE-KMS client context.
pub const META_CONTEXT: &str = "X-Minio-Internal-Server-Side-Encryption-Context";
/// Replication helper entry for SSE-C objects.
pub const META_SSEC_CRC: &str = "X-Minio-Replication-Ssec-Crc";
/// MinIO's ARN prefix on KMS key ids.
pub const ARN_PREFIX: &str = "arn:aws:kms:";

/// Read (and remove) access to a metadata map; implemented for the std maps.
pub trait MetadataMap {
    /// The value under exactly `key`.
    fn get_entry(&self, key: &str) -> Option<&str>;
    /// Removes the entry under exactly `key`.
    fn remove_entry(&mut self, key: &str);
}

impl<S: BuildHasher> MetadataMap for HashMap<String, String, S> {
    fn get_entry(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
    fn remove_entry(&mut self, key: &str) {
        self.remove(key);
    }
}

impl MetadataMap for BTreeMap<String, String> {
    fn get_entry(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
    fn remove_entry(&mut self, key: &str) {
        self.remove(key);
    }
}

/// Why object metadata was rejected. [`fmt::Display`] gives MinIO's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataErrorKind {
    /// No IV entry.
    MissingIv,
    /// No seal-algorithm entry.
    MissingSealAlgorithm,
    /// No sealed-key entry for the type (SSE-KMS reports it as SSE-S3, as MinIO does).
    MissingSealedKey(SseType),
    /// A DEK entry without a key-id entry.
    MissingKeyId(SseType),
    /// A key-id entry without a DEK entry.
    MissingDataKey(SseType),
    /// The IV is not base64 of 32 bytes.
    InvalidIv,
    /// The seal algorithm is not one this type accepts.
    InvalidSealAlgorithm,
    /// The sealed key is not base64 of the right length.
    InvalidSealedKey(SseType),
    /// The DEK ciphertext is not base64.
    InvalidDataKey(SseType),
    /// The stored SSE-KMS context is not base64 of a JSON object of strings.
    InvalidContext,
    /// `create_*` was given arguments MinIO would refuse to write.
    InvalidArguments(&'static str),
}

impl fmt::Display for MetadataErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingIv => {
                f.write_str("The object metadata is missing the internal encryption IV")
            }
            Self::MissingSealAlgorithm => {
                f.write_str("The object metadata is missing the internal seal algorithm")
            }
            Self::MissingSealedKey(t) => {
                let t = if *t == SseType::SseKms {
                    SseType::SseS3
                } else {
                    *t
                };
                write!(
                    f,
                    "The object metadata is missing the internal sealed key for {t}"
                )
            }
            Self::MissingKeyId(t) => write!(
                f,
                "The object metadata is missing the internal KMS key-ID for {t}"
            ),
            Self::MissingDataKey(t) => {
                write!(
                    f,
                    "The object metadata is missing the internal sealed KMS data key for {t}"
                )
            }
            Self::InvalidIv => f.write_str("The internal encryption IV is malformed"),
            Self::InvalidSealAlgorithm => {
                f.write_str("The internal seal algorithm is invalid and not supported")
            }
            Self::InvalidSealedKey(t) => write!(f, "The internal sealed key for {t} is invalid"),
            Self::InvalidDataKey(t) => {
                write!(f, "The internal sealed KMS data key for {t} is invalid")
            }
            Self::InvalidContext => f.write_str("The internal KMS context is invalid"),
            Self::InvalidArguments(why) => f.write_str(why),
        }
    }
}

fn err(kind: MetadataErrorKind) -> Error {
    Error::SseMetadata(kind)
}

/// Which seal algorithms a parser accepts besides MinIO's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealPolicy {
    /// Exactly MinIO: `DAREv2-HMAC-SHA256` (plus `DARE-SHA256` for SSE-C).
    #[default]
    Minio,
    /// MinIO's algorithms and the kes-rs v2 key-wrap form.
    WithKeywrapV2,
}

impl SealPolicy {
    fn accepts(self, alg: SealAlgorithm, sse: SseType) -> bool {
        match alg {
            SealAlgorithm::DareV2HmacSha256 => true,
            SealAlgorithm::DareSha256 => sse == SseType::SseC,
            SealAlgorithm::KeywrapV2 => self == Self::WithKeywrapV2,
        }
    }
}

/// The SSE type recorded in the metadata, checked in MinIO's order:
/// SSE-KMS, then SSE-S3, then SSE-C (by presence of the sealed-key entry).
pub fn encryption_type<M: MetadataMap + ?Sized>(md: &M) -> Option<SseType> {
    if md.get_entry(META_SEALED_KEY_KMS).is_some() {
        Some(SseType::SseKms)
    } else if md.get_entry(META_SEALED_KEY_S3).is_some() {
        Some(SseType::SseS3)
    } else if md.get_entry(META_SEALED_KEY_SSEC).is_some() {
        Some(SseType::SseC)
    } else {
        None
    }
}

/// Whether the metadata marks the object as encrypted at all (MinIO's
/// `crypto.IsEncrypted`): any sealed key, or the multipart flag, IV, seal
/// algorithm, key id, DEK or context entry.
pub fn is_encrypted<M: MetadataMap + ?Sized>(md: &M) -> bool {
    encryption_type(md).is_some()
        || [
            META_MULTIPART,
            META_IV,
            META_ALGORITHM,
            META_KEY_ID,
            META_DATA_ENCRYPTION_KEY,
            META_CONTEXT,
        ]
        .iter()
        .any(|k| md.get_entry(k).is_some())
}

/// Whether the multipart flag is present (its value is ignored).
pub fn is_multipart<M: MetadataMap + ?Sized>(md: &M) -> bool {
    md.get_entry(META_MULTIPART).is_some()
}

/// Parsed SSE-S3 metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseS3Metadata {
    /// KMS key name; empty in the legacy K/V form.
    pub key_id: String,
    /// DEK ciphertext; empty in the legacy K/V form.
    pub dek_ciphertext: Vec<u8>,
    /// The sealed object key.
    pub sealed_key: SealedObjectKey,
}

impl SseS3Metadata {
    /// The KMS context to decrypt the DEK with: `{bucket: path.Join(bucket, object)}`.
    pub fn kms_context(&self, bucket: &str, object: &str) -> Context {
        Context::for_object(bucket, object)
    }
}

/// Parsed SSE-KMS metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseKmsMetadata {
    /// KMS key name.
    pub key_id: String,
    /// DEK ciphertext.
    pub dek_ciphertext: Vec<u8>,
    /// The sealed object key.
    pub sealed_key: SealedObjectKey,
    /// The client context as stored (empty when none was stored).
    pub context: Context,
}

impl SseKmsMetadata {
    /// The KMS context to decrypt the DEK with: the stored client context
    /// plus `bucket → path.Join(bucket, object)` unless the bucket key is set.
    pub fn kms_context(&self, bucket: &str, object: &str) -> Context {
        self.context.with_object_entry(bucket, object)
    }
}

fn decode_iv(b64: &str) -> Result<[u8; IV_LEN]> {
    B64.decode(b64)
        .ok()
        .and_then(|v| <[u8; IV_LEN]>::try_from(v.as_slice()).ok())
        .ok_or(err(MetadataErrorKind::InvalidIv))
}

/// Steps shared by the SSE-S3 and SSE-KMS parsers.
fn parse_kms_backed<M: MetadataMap + ?Sized>(
    md: &M,
    sse: SseType,
    sealed_entry: &str,
    policy: SealPolicy,
) -> Result<(String, Vec<u8>, SealedObjectKey)> {
    let b64_iv = md
        .get_entry(META_IV)
        .ok_or(err(MetadataErrorKind::MissingIv))?;
    let algorithm = md
        .get_entry(META_ALGORITHM)
        .ok_or(err(MetadataErrorKind::MissingSealAlgorithm))?;
    let b64_sealed = md
        .get_entry(sealed_entry)
        .ok_or(err(MetadataErrorKind::MissingSealedKey(sse)))?;
    let key_id = md.get_entry(META_KEY_ID);
    let b64_dek = md.get_entry(META_DATA_ENCRYPTION_KEY);
    match (key_id, b64_dek) {
        (None, Some(_)) => return Err(err(MetadataErrorKind::MissingKeyId(sse))),
        (Some(_), None) => return Err(err(MetadataErrorKind::MissingDataKey(sse))),
        _ => {}
    }
    let iv = decode_iv(b64_iv)?;
    let alg = SealAlgorithm::from_name(algorithm)
        .filter(|a| policy.accepts(*a, sse))
        .ok_or(err(MetadataErrorKind::InvalidSealAlgorithm))?;
    let sealed = B64
        .decode(b64_sealed)
        .ok()
        .and_then(|k| SealedObjectKey::new(alg, iv, k).ok())
        .ok_or(err(MetadataErrorKind::InvalidSealedKey(sse)))?;
    let dek = match b64_dek {
        Some(b64) => B64
            .decode(b64)
            .map_err(|_| err(MetadataErrorKind::InvalidDataKey(sse)))?,
        None => Vec::new(),
    };
    Ok((key_id.unwrap_or_default().to_owned(), dek, sealed))
}

/// Parses SSE-S3 metadata with MinIO's rules and error order.
pub fn parse_sse_s3<M: MetadataMap + ?Sized>(md: &M, policy: SealPolicy) -> Result<SseS3Metadata> {
    let (key_id, dek_ciphertext, sealed_key) =
        parse_kms_backed(md, SseType::SseS3, META_SEALED_KEY_S3, policy)?;
    Ok(SseS3Metadata {
        key_id,
        dek_ciphertext,
        sealed_key,
    })
}

/// Parses SSE-KMS metadata with MinIO's rules and error order; the stored
/// context, if any, must be base64 of a JSON object of strings.
pub fn parse_sse_kms<M: MetadataMap + ?Sized>(
    md: &M,
    policy: SealPolicy,
) -> Result<SseKmsMetadata> {
    let (key_id, dek_ciphertext, sealed_key) =
        parse_kms_backed(md, SseType::SseKms, META_SEALED_KEY_KMS, policy)?;
    let context = match md.get_entry(META_CONTEXT) {
        Some(b64) => {
            Context::from_base64(b64).map_err(|_| err(MetadataErrorKind::InvalidContext))?
        }
        None => Context::new(),
    };
    Ok(SseKmsMetadata {
        key_id,
        dek_ciphertext,
        sealed_key,
        context,
    })
}

/// Parses SSE-C metadata; besides MinIO's `DAREv2-HMAC-SHA256` it accepts
/// the legacy `DARE-SHA256`.
pub fn parse_sse_c<M: MetadataMap + ?Sized>(md: &M, policy: SealPolicy) -> Result<SealedObjectKey> {
    let sse = SseType::SseC;
    let b64_iv = md
        .get_entry(META_IV)
        .ok_or(err(MetadataErrorKind::MissingIv))?;
    let algorithm = md
        .get_entry(META_ALGORITHM)
        .ok_or(err(MetadataErrorKind::MissingSealAlgorithm))?;
    let b64_sealed = md
        .get_entry(META_SEALED_KEY_SSEC)
        .ok_or(err(MetadataErrorKind::MissingSealedKey(sse)))?;
    let iv = decode_iv(b64_iv)?;
    let alg = SealAlgorithm::from_name(algorithm)
        .filter(|a| policy.accepts(*a, sse))
        .ok_or(err(MetadataErrorKind::InvalidSealAlgorithm))?;
    B64.decode(b64_sealed)
        .ok()
        .and_then(|k| SealedObjectKey::new(alg, iv, k).ok())
        .ok_or(err(MetadataErrorKind::InvalidSealedKey(sse)))
}

fn base_entries(sealed: &SealedObjectKey, sealed_entry: &str) -> Result<BTreeMap<String, String>> {
    if sealed.algorithm() == SealAlgorithm::DareSha256 {
        return Err(err(MetadataErrorKind::InvalidArguments(
            "new objects cannot be sealed with the legacy DARE-SHA256 algorithm",
        )));
    }
    let mut md = BTreeMap::new();
    md.insert(
        META_ALGORITHM.to_owned(),
        sealed.algorithm().as_str().to_owned(),
    );
    md.insert(META_IV.to_owned(), B64.encode(sealed.iv()));
    md.insert(sealed_entry.to_owned(), B64.encode(sealed.sealed_bytes()));
    Ok(md)
}

fn kms_entries(
    md: &mut BTreeMap<String, String>,
    key_id: &str,
    dek_ciphertext: &[u8],
) -> Result<()> {
    match (key_id.is_empty(), dek_ciphertext.is_empty()) {
        (true, false) => Err(err(MetadataErrorKind::InvalidArguments(
            "The key ID must not be empty if a KMS data key is present",
        ))),
        (false, true) => Err(err(MetadataErrorKind::InvalidArguments(
            "The KMS data key must not be empty if a key ID is present",
        ))),
        (true, true) => Ok(()),
        (false, false) => {
            md.insert(META_KEY_ID.to_owned(), key_id.to_owned());
            md.insert(
                META_DATA_ENCRYPTION_KEY.to_owned(),
                B64.encode(dek_ciphertext),
            );
            Ok(())
        }
    }
}

/// The SSE-S3 entries MinIO writes. `key_id` and `dek_ciphertext` are both
/// set (KMS) or both empty (legacy K/V form, nothing written for them).
pub fn create_sse_s3(
    key_id: &str,
    dek_ciphertext: &[u8],
    sealed: &SealedObjectKey,
) -> Result<BTreeMap<String, String>> {
    let mut md = base_entries(sealed, META_SEALED_KEY_S3)?;
    kms_entries(&mut md, key_id, dek_ciphertext)?;
    Ok(md)
}

/// The SSE-KMS entries MinIO writes; the client context is stored (as
/// base64 of its canonical JSON) only when it is non-empty.
pub fn create_sse_kms(
    key_id: &str,
    dek_ciphertext: &[u8],
    sealed: &SealedObjectKey,
    context: &Context,
) -> Result<BTreeMap<String, String>> {
    let mut md = base_entries(sealed, META_SEALED_KEY_KMS)?;
    kms_entries(&mut md, key_id, dek_ciphertext)?;
    if !context.is_empty() {
        md.insert(META_CONTEXT.to_owned(), context.to_base64());
    }
    Ok(md)
}

/// The SSE-C entries MinIO writes.
pub fn create_sse_c(sealed: &SealedObjectKey) -> Result<BTreeMap<String, String>> {
    base_entries(sealed, META_SEALED_KEY_SSEC)
}

/// The multipart flag entry (`X-Minio-Internal-Encrypted-Multipart: ""`).
pub fn multipart_entry() -> (String, String) {
    (META_MULTIPART.to_owned(), String::new())
}

/// The entries [`remove_internal_entries`] removes. The context entry is
/// deliberately not among them (as in MinIO).
pub const INTERNAL_ENTRIES: [&str; 9] = [
    META_MULTIPART,
    META_ALGORITHM,
    META_IV,
    META_SEALED_KEY_SSEC,
    META_SEALED_KEY_S3,
    META_SEALED_KEY_KMS,
    META_KEY_ID,
    META_DATA_ENCRYPTION_KEY,
    META_SSEC_CRC,
];

/// MinIO's `RemoveInternalEntries`: drops the internal SSE entries before
/// metadata is shown to a client.
pub fn remove_internal_entries<M: MetadataMap + ?Sized>(md: &mut M) {
    for key in INTERNAL_ENTRIES {
        md.remove_entry(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> SealedObjectKey {
        SealedObjectKey::new(SealAlgorithm::DareV2HmacSha256, [1; 32], vec![2; 64]).unwrap()
    }

    #[test]
    fn kms_roundtrip() {
        let ctx: Context = [("project", "demo")].into_iter().collect();
        let md = create_sse_kms("k", &[3; 76], &sealed(), &ctx).unwrap();
        assert_eq!(encryption_type(&md), Some(SseType::SseKms));
        let parsed = parse_sse_kms(&md, SealPolicy::Minio).unwrap();
        assert_eq!(parsed.context, ctx);
        assert_eq!(parsed.sealed_key, sealed());
        assert_eq!(
            parsed.kms_context("b", "o").to_json(),
            br#"{"b":"b/o","project":"demo"}"#
        );
    }

    #[test]
    fn mismatched_kms_arguments_fail() {
        assert!(create_sse_s3("", &[1], &sealed()).is_err());
        assert!(create_sse_s3("k", &[], &sealed()).is_err());
        let legacy = SealedObjectKey::new(SealAlgorithm::DareSha256, [0; 32], vec![0; 64]).unwrap();
        assert!(create_sse_c(&legacy).is_err());
    }

    #[test]
    fn legacy_algorithm_only_for_ssec() {
        let mut md = create_sse_s3("k", &[1], &sealed()).unwrap();
        md.insert(META_ALGORITHM.into(), "DARE-SHA256".into());
        assert!(matches!(
            parse_sse_s3(&md, SealPolicy::WithKeywrapV2),
            Err(Error::SseMetadata(MetadataErrorKind::InvalidSealAlgorithm))
        ));
    }
}
