//! S3 SSE request headers (`spec/sse.md` §6.2, §6.3, §12.1).
//!
//! Classification and parsing follow MinIO's `internal/crypto` package:
//! SSE-S3 is checked first, then SSE-KMS, then SSE-C. Header names are
//! matched case-insensitively, as HTTP requires.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};

use crate::error::{Error, Result};

use super::SseType;
use super::context::Context;
use super::metadata::ARN_PREFIX;
use super::object_key::ExternalKey;

/// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS).
pub const SSE: &str = "X-Amz-Server-Side-Encryption";
/// The SSE-KMS key id (`arn:aws:kms:` prefix optional).
pub const SSE_KMS_KEY_ID: &str = "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id";
/// Base64 of the SSE-KMS JSON context.
pub const SSE_CONTEXT: &str = "X-Amz-Server-Side-Encryption-Context";
/// SSE-C algorithm (`AES256`).
pub const SSE_C_ALGORITHM: &str = "X-Amz-Server-Side-Encryption-Customer-Algorithm";
/// SSE-C key (base64 of 32 bytes).
pub const SSE_C_KEY: &str = "X-Amz-Server-Side-Encryption-Customer-Key";
/// SSE-C key MD5 (base64).
pub const SSE_C_KEY_MD5: &str = "X-Amz-Server-Side-Encryption-Customer-Key-Md5";
/// SSE-C copy-source algorithm.
pub const SSE_COPY_C_ALGORITHM: &str =
    "X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm";
/// SSE-C copy-source key.
pub const SSE_COPY_C_KEY: &str = "X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key";
/// SSE-C copy-source key MD5.
pub const SSE_COPY_C_KEY_MD5: &str = "X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key-Md5";
/// The SSE-S3 header value.
pub const AES256: &str = "AES256";
/// The SSE-KMS header value.
pub const AWS_KMS: &str = "aws:kms";

/// Headers never stored or echoed: the SSE-C keys and two legacy
/// client-side-encryption metadata headers (MinIO's `RemoveSensitiveHeaders`).
pub const SENSITIVE_HEADERS: [&str; 4] = [
    SSE_C_KEY,
    SSE_COPY_C_KEY,
    "X-Amz-Meta-X-Amz-Unencrypted-Content-Md5",
    "X-Amz-Meta-X-Amz-Unencrypted-Content-Length",
];

/// Case-insensitive header lookup; implemented for the std string maps and
/// for slices of name/value pairs. Adapt other header types (e.g.
/// `http::HeaderMap`) with a small wrapper.
pub trait HeaderLookup {
    /// The first value of the header `name` (ASCII case-insensitive).
    fn header(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> HeaderLookup for HashMap<String, String, S> {
    fn header(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(v) => Some(v.as_str()),
            None => self
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
        }
    }
}

impl HeaderLookup for BTreeMap<String, String> {
    fn header(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(v) => Some(v.as_str()),
            None => self
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Why an SSE request was rejected. [`fmt::Display`] gives MinIO's message;
/// [`RequestErrorKind::minio_name`] the Go error variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestErrorKind {
    /// SSE-S3 without exactly `AES256`, or SSE-KMS without exactly `aws:kms`.
    InvalidEncryptionMethod,
    /// SSE-C algorithm other than `AES256`.
    InvalidCustomerAlgorithm,
    /// SSE-C key header missing or empty.
    MissingCustomerKey,
    /// SSE-C key-MD5 header missing or empty.
    MissingCustomerKeyMd5,
    /// SSE-C key not base64 of 32 bytes.
    InvalidCustomerKey,
    /// SSE-C key MD5 not base64 of the key's MD5.
    CustomerKeyMd5Mismatch,
    /// SSE-C combined with SSE-S3 or SSE-KMS headers.
    IncompatibleEncryptionMethod,
    /// SSE-KMS key id with a leading or trailing space.
    InvalidEncryptionKeyId,
    /// SSE-KMS context header not base64 of a JSON object of strings.
    InvalidContext,
}

impl RequestErrorKind {
    /// The name of MinIO's Go error variable.
    pub const fn minio_name(self) -> &'static str {
        match self {
            Self::InvalidEncryptionMethod => "ErrInvalidEncryptionMethod",
            Self::InvalidCustomerAlgorithm => "ErrInvalidCustomerAlgorithm",
            Self::MissingCustomerKey => "ErrMissingCustomerKey",
            Self::MissingCustomerKeyMd5 => "ErrMissingCustomerKeyMD5",
            Self::InvalidCustomerKey => "ErrInvalidCustomerKey",
            Self::CustomerKeyMd5Mismatch => "ErrCustomerKeyMD5Mismatch",
            Self::IncompatibleEncryptionMethod => "ErrIncompatibleEncryptionMethod",
            Self::InvalidEncryptionKeyId => "ErrInvalidEncryptionKeyID",
            Self::InvalidContext => "ErrInvalidEncryptionContext",
        }
    }

    /// MinIO's message.
    pub const fn message(self) -> &'static str {
        match self {
            Self::InvalidEncryptionMethod => "The encryption method is not supported",
            Self::InvalidCustomerAlgorithm => "The SSE-C algorithm is not supported",
            Self::MissingCustomerKey => "The SSE-C request is missing the customer key",
            Self::MissingCustomerKeyMd5 => "The SSE-C request is missing the customer key MD5",
            Self::InvalidCustomerKey => "The SSE-C client key is invalid",
            Self::CustomerKeyMd5Mismatch => {
                "The provided SSE-C key MD5 does not match the computed MD5 of the SSE-C key"
            }
            Self::IncompatibleEncryptionMethod => {
                "Server side encryption specified with both SSE-C and SSE-S3 headers"
            }
            Self::InvalidEncryptionKeyId => "KMS KeyID contains unsupported characters",
            Self::InvalidContext => {
                "The SSE-KMS encryption context is not valid base64-encoded JSON"
            }
        }
    }
}

impl fmt::Display for RequestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

fn err(kind: RequestErrorKind) -> Error {
    Error::SseRequest(kind)
}

/// SSE-S3 is requested when the SSE header is present and its value is not
/// equal-fold `aws:kms` (even `""` counts; parsing then rejects it).
pub fn sse_s3_requested<H: HeaderLookup + ?Sized>(h: &H) -> bool {
    h.header(SSE)
        .is_some_and(|v| !v.eq_ignore_ascii_case(AWS_KMS))
}

/// SSE-KMS is requested when the key-id or context header is present, or
/// the SSE header is present with an upper-cased value other than `AES256`.
pub fn sse_kms_requested<H: HeaderLookup + ?Sized>(h: &H) -> bool {
    h.header(SSE_KMS_KEY_ID).is_some()
        || h.header(SSE_CONTEXT).is_some()
        || h.header(SSE).is_some_and(|v| v.to_uppercase() != AES256)
}

/// SSE-C is requested when any of the three SSE-C headers is present.
pub fn sse_c_requested<H: HeaderLookup + ?Sized>(h: &H) -> bool {
    [SSE_C_ALGORITHM, SSE_C_KEY, SSE_C_KEY_MD5]
        .iter()
        .any(|n| h.header(n).is_some())
}

/// SSE-C for a copy source is requested when any of its three headers is present.
pub fn sse_c_copy_requested<H: HeaderLookup + ?Sized>(h: &H) -> bool {
    [SSE_COPY_C_ALGORITHM, SSE_COPY_C_KEY, SSE_COPY_C_KEY_MD5]
        .iter()
        .any(|n| h.header(n).is_some())
}

/// The requested SSE type, checked in MinIO's order (SSE-S3, SSE-KMS, SSE-C).
pub fn requested<H: HeaderLookup + ?Sized>(h: &H) -> Option<SseType> {
    if sse_s3_requested(h) {
        Some(SseType::SseS3)
    } else if sse_kms_requested(h) {
        Some(SseType::SseKms)
    } else if sse_c_requested(h) {
        Some(SseType::SseC)
    } else {
        None
    }
}

/// Checks an SSE-S3 request: the SSE header must be exactly `AES256`.
pub fn parse_sse_s3<H: HeaderLookup + ?Sized>(h: &H) -> Result<()> {
    if h.header(SSE) == Some(AES256) {
        Ok(())
    } else {
        Err(err(RequestErrorKind::InvalidEncryptionMethod))
    }
}

/// A parsed SSE-KMS request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseKmsRequest {
    /// The key id with any `arn:aws:kms:` prefix removed; empty means the
    /// KMS default key.
    pub key_id: String,
    /// The client context exactly as sent (possibly empty).
    pub context: Context,
}

/// Parses an SSE-KMS request: the SSE header must be exactly `aws:kms`; a
/// context header, when present, must be base64 of a JSON object of
/// strings; a key id may not start or end with a space.
pub fn parse_sse_kms<H: HeaderLookup + ?Sized>(h: &H) -> Result<SseKmsRequest> {
    if h.header(SSE) != Some(AWS_KMS) {
        return Err(err(RequestErrorKind::InvalidEncryptionMethod));
    }
    let context = match h.header(SSE_CONTEXT) {
        Some(b64) => {
            Context::from_base64(b64).map_err(|_| err(RequestErrorKind::InvalidContext))?
        }
        None => Context::new(),
    };
    let key_id = h.header(SSE_KMS_KEY_ID).unwrap_or_default();
    if key_id.starts_with(' ') || key_id.ends_with(' ') {
        return Err(err(RequestErrorKind::InvalidEncryptionKeyId));
    }
    Ok(SseKmsRequest {
        key_id: key_id.strip_prefix(ARN_PREFIX).unwrap_or(key_id).to_owned(),
        context,
    })
}

fn parse_customer_key<H: HeaderLookup + ?Sized>(h: &H, names: [&str; 3]) -> Result<ExternalKey> {
    let [alg, key, md5] = names;
    if h.header(alg) != Some(AES256) {
        return Err(err(RequestErrorKind::InvalidCustomerAlgorithm));
    }
    let key_b64 = h.header(key).filter(|v| !v.is_empty());
    let key_b64 = key_b64.ok_or(err(RequestErrorKind::MissingCustomerKey))?;
    let md5_b64 = h.header(md5).filter(|v| !v.is_empty());
    let md5_b64 = md5_b64.ok_or(err(RequestErrorKind::MissingCustomerKeyMd5))?;
    let raw = zeroize::Zeroizing::new(
        B64.decode(key_b64)
            .map_err(|_| err(RequestErrorKind::InvalidCustomerKey))?,
    );
    let key =
        ExternalKey::try_from_slice(&raw).map_err(|_| err(RequestErrorKind::InvalidCustomerKey))?;
    let want = B64
        .decode(md5_b64)
        .map_err(|_| err(RequestErrorKind::CustomerKeyMd5Mismatch))?;
    let got = Md5::digest(key.expose_secret());
    if want.as_slice() != got.as_slice() {
        return Err(err(RequestErrorKind::CustomerKeyMd5Mismatch));
    }
    Ok(key)
}

/// Parses the SSE-C headers into the client key, checking algorithm, key
/// length and MD5 in MinIO's order.
pub fn parse_sse_c<H: HeaderLookup + ?Sized>(h: &H) -> Result<ExternalKey> {
    parse_customer_key(h, [SSE_C_ALGORITHM, SSE_C_KEY, SSE_C_KEY_MD5])
}

/// Parses the copy-source SSE-C headers into the source object's client key.
pub fn parse_sse_c_copy<H: HeaderLookup + ?Sized>(h: &H) -> Result<ExternalKey> {
    parse_customer_key(
        h,
        [SSE_COPY_C_ALGORITHM, SSE_COPY_C_KEY, SSE_COPY_C_KEY_MD5],
    )
}

/// Whether a header must never be stored or echoed (case-insensitive).
pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
}

/// MinIO's `RemoveSensitiveHeaders`/`RemoveSensitiveEntries` for a string map.
pub fn remove_sensitive_headers(headers: &mut BTreeMap<String, String>) {
    headers.retain(|k, _| !is_sensitive_header(k));
}

/// The `arn:aws:kms:`-prefixed key id MinIO returns in the SSE-KMS key-id
/// response header (the prefix is added only if missing).
pub fn kms_key_id_response_value(key_id: &str) -> String {
    if key_id.starts_with(ARN_PREFIX) {
        key_id.to_owned()
    } else {
        format!("{ARN_PREFIX}{key_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        let h: BTreeMap<String, String> = [(
            "x-amz-server-side-encryption".to_owned(),
            "AES256".to_owned(),
        )]
        .into();
        assert_eq!(requested(&h), Some(SseType::SseS3));
        assert!(parse_sse_s3(&h).is_ok());
        let pairs = [("X-AMZ-SERVER-SIDE-ENCRYPTION", "aws:kms")];
        assert_eq!(requested(&pairs[..]), Some(SseType::SseKms));
    }

    #[test]
    fn kms_key_id_spaces_and_arn() {
        let h = [(SSE, AWS_KMS), (SSE_KMS_KEY_ID, "arn:aws:kms:my-key")];
        assert_eq!(parse_sse_kms(&h[..]).unwrap().key_id, "my-key");
        let h = [(SSE, AWS_KMS), (SSE_KMS_KEY_ID, "my-key ")];
        assert!(matches!(
            parse_sse_kms(&h[..]),
            Err(Error::SseRequest(RequestErrorKind::InvalidEncryptionKeyId))
        ));
        let h = [(SSE, AWS_KMS), (SSE_CONTEXT, "")];
        assert!(parse_sse_kms(&h[..]).is_err());
        assert_eq!(kms_key_id_response_value("k"), "arn:aws:kms:k");
        assert_eq!(kms_key_id_response_value("arn:aws:kms:k"), "arn:aws:kms:k");
    }
}
