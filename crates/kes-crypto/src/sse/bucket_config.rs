//! Bucket default encryption: the `PUT ?encryption` XML (`spec/sse.md` §12.3).
//!
//! ```xml
//! <ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
//!   <Rule><ApplyServerSideEncryptionByDefault>
//!     <SSEAlgorithm>AES256|aws:kms</SSEAlgorithm>[<KMSMasterKeyID>…</KMSMasterKeyID>]
//!   </ApplyServerSideEncryptionByDefault></Rule>
//! </ServerSideEncryptionConfiguration>
//! ```
//!
//! Validation is MinIO's: exactly one rule, `AES256` without a key id,
//! `aws:kms` with a key id that neither starts nor ends with a space.
//! [`BucketSseConfig::to_xml`] writes what Go's `xml.Marshal` writes.

use std::fmt;

use serde::Deserialize;

use crate::error::{Error, Result};

use super::headers::{self, HeaderLookup};
use super::metadata::ARN_PREFIX;

/// The S3 XML namespace MinIO fills in when a configuration has none.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The default algorithm of a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SseAlgorithm {
    /// `AES256`: SSE-S3.
    Aes256,
    /// `aws:kms`: SSE-KMS with the configured key.
    AwsKms,
}

impl SseAlgorithm {
    /// The XML / header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => headers::AES256,
            Self::AwsKms => headers::AWS_KMS,
        }
    }
}

/// Why a configuration was rejected. [`fmt::Display`] gives MinIO's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// Not well-formed XML, or not a `ServerSideEncryptionConfiguration`.
    MalformedXml,
    /// Zero or several `Rule` elements.
    RuleCount,
    /// An `SSEAlgorithm` other than `AES256` or `aws:kms` (or none).
    UnknownAlgorithm,
    /// `AES256` with a key id.
    KeyIdWithAes256,
    /// `aws:kms` without a key id.
    MissingKeyId,
    /// A key id with a leading or trailing space.
    InvalidKeyId,
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MalformedXml => "The XML you provided was not well-formed or did not validate against our published schema",
            Self::RuleCount => "only one server-side encryption rule is allowed at a time",
            Self::UnknownAlgorithm => "Unknown SSE algorithm",
            Self::KeyIdWithAes256 => "MasterKeyID is allowed with aws:kms only",
            Self::MissingKeyId => "MasterKeyID is missing with aws:kms",
            Self::InvalidKeyId => "MasterKeyID contains unsupported characters",
        })
    }
}

fn err(kind: ConfigErrorKind) -> Error {
    Error::BucketSseConfig(kind)
}

#[derive(Deserialize)]
struct XmlConfig {
    #[serde(rename = "@xmlns", default)]
    xmlns: Option<String>,
    #[serde(rename = "Rule", default)]
    rules: Vec<XmlRule>,
}

#[derive(Deserialize)]
struct XmlRule {
    #[serde(rename = "ApplyServerSideEncryptionByDefault", default)]
    action: XmlAction,
}

#[derive(Deserialize, Default)]
struct XmlAction {
    #[serde(rename = "SSEAlgorithm", default)]
    algorithm: Option<String>,
    #[serde(rename = "KMSMasterKeyID", default)]
    master_key_id: Option<String>,
}

/// A validated bucket default-encryption configuration (one rule).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BucketSseConfig {
    xmlns: Option<String>,
    algorithm: SseAlgorithm,
    master_key_id: String,
}

impl BucketSseConfig {
    /// SSE-S3 by default.
    pub fn aes256() -> Self {
        Self {
            xmlns: Some(S3_XMLNS.to_owned()),
            algorithm: SseAlgorithm::Aes256,
            master_key_id: String::new(),
        }
    }

    /// SSE-KMS with `key_id` by default (stored as given; the ARN prefix is
    /// optional). The key id must be non-empty and not start or end with a space.
    pub fn aws_kms(key_id: &str) -> Result<Self> {
        validate(SseAlgorithm::AwsKms, key_id)?;
        Ok(Self {
            xmlns: Some(S3_XMLNS.to_owned()),
            algorithm: SseAlgorithm::AwsKms,
            master_key_id: key_id.to_owned(),
        })
    }

    /// Parses and validates the XML. The namespace is kept as found (`None`
    /// when absent); [`BucketSseConfig::with_default_namespace`] fills it in
    /// as MinIO does before storing.
    pub fn parse(xml: &str) -> Result<Self> {
        check_root(xml)?;
        let raw: XmlConfig =
            quick_xml::de::from_str(xml).map_err(|_| err(ConfigErrorKind::MalformedXml))?;
        let [rule] =
            <[XmlRule; 1]>::try_from(raw.rules).map_err(|_| err(ConfigErrorKind::RuleCount))?;
        let algorithm = match rule.action.algorithm.as_deref() {
            Some(headers::AES256) => SseAlgorithm::Aes256,
            Some(headers::AWS_KMS) => SseAlgorithm::AwsKms,
            _ => return Err(err(ConfigErrorKind::UnknownAlgorithm)),
        };
        let master_key_id = rule.action.master_key_id.unwrap_or_default();
        validate(algorithm, &master_key_id)?;
        Ok(Self {
            xmlns: raw.xmlns,
            algorithm,
            master_key_id,
        })
    }

    /// Sets the S3 namespace if the configuration has none.
    pub fn with_default_namespace(mut self) -> Self {
        if self.xmlns.as_deref().is_none_or(str::is_empty) {
            self.xmlns = Some(S3_XMLNS.to_owned());
        }
        self
    }

    /// The default algorithm.
    pub fn algorithm(&self) -> SseAlgorithm {
        self.algorithm
    }

    /// The key id with any `arn:aws:kms:` prefix removed (empty for `AES256`).
    pub fn key_id(&self) -> &str {
        self.master_key_id
            .strip_prefix(ARN_PREFIX)
            .unwrap_or(&self.master_key_id)
    }

    /// The `KMSMasterKeyID` as configured.
    pub fn master_key_id(&self) -> &str {
        &self.master_key_id
    }

    /// The namespace attribute, if any.
    pub fn xmlns(&self) -> Option<&str> {
        self.xmlns.as_deref()
    }

    /// The XML as Go's `xml.Marshal` writes it (no declaration, no whitespace).
    pub fn to_xml(&self) -> String {
        let mut s = String::from("<ServerSideEncryptionConfiguration");
        if let Some(ns) = self.xmlns.as_deref().filter(|ns| !ns.is_empty()) {
            s.push_str(" xmlns=\"");
            go_escape_xml(ns, &mut s);
            s.push('"');
        }
        s.push_str("><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>");
        s.push_str(self.algorithm.as_str());
        s.push_str("</SSEAlgorithm>");
        if !self.master_key_id.is_empty() {
            s.push_str("<KMSMasterKeyID>");
            go_escape_xml(&self.master_key_id, &mut s);
            s.push_str("</KMSMasterKeyID>");
        }
        s.push_str(
            "</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
        );
        s
    }
}

fn validate(algorithm: SseAlgorithm, master_key_id: &str) -> Result<()> {
    match algorithm {
        SseAlgorithm::Aes256 if !master_key_id.is_empty() => {
            Err(err(ConfigErrorKind::KeyIdWithAes256))
        }
        SseAlgorithm::AwsKms if master_key_id.is_empty() => Err(err(ConfigErrorKind::MissingKeyId)),
        SseAlgorithm::AwsKms if master_key_id.starts_with(' ') || master_key_id.ends_with(' ') => {
            Err(err(ConfigErrorKind::InvalidKeyId))
        }
        _ => Ok(()),
    }
}

/// The root element must be `ServerSideEncryptionConfiguration` (any prefix).
fn check_root(xml: &str) -> Result<()> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                return if e.local_name().as_ref() == b"ServerSideEncryptionConfiguration" {
                    Ok(())
                } else {
                    Err(err(ConfigErrorKind::MalformedXml))
                };
            }
            Ok(Event::Eof) | Err(_) => return Err(err(ConfigErrorKind::MalformedXml)),
            Ok(_) => {}
        }
    }
}

/// Go's `xml.EscapeText`.
fn go_escape_xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// The SSE headers MinIO adds to a PUT, POST-policy or multipart-create
/// request from the bucket default (`BucketSSEConfig.Apply`): nothing when
/// the request already asks for any SSE; with no configuration,
/// `auto_encryption` (`MINIO_KMS_AUTO_ENCRYPTION=on`) asks for SSE-KMS with
/// the default key.
pub fn apply_defaults<H: HeaderLookup + ?Sized>(
    config: Option<&BucketSseConfig>,
    auto_encryption: bool,
    request: &H,
) -> Vec<(&'static str, String)> {
    if headers::requested(request).is_some() {
        return Vec::new();
    }
    match config {
        None if auto_encryption => vec![(headers::SSE, headers::AWS_KMS.to_owned())],
        None => Vec::new(),
        Some(c) => match c.algorithm {
            SseAlgorithm::Aes256 => vec![(headers::SSE, headers::AES256.to_owned())],
            SseAlgorithm::AwsKms => vec![
                (headers::SSE, headers::AWS_KMS.to_owned()),
                (headers::SSE_KMS_KEY_ID, c.key_id().to_owned()),
            ],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_escape() {
        let c = BucketSseConfig::aws_kms("arn:aws:kms:a&b").unwrap();
        let xml = c.to_xml();
        assert!(
            xml.contains("<KMSMasterKeyID>arn:aws:kms:a&amp;b</KMSMasterKeyID>"),
            "{xml}"
        );
        let back = BucketSseConfig::parse(&xml).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.key_id(), "a&b");
    }

    #[test]
    fn rejects_wrong_root_and_garbage() {
        assert!(BucketSseConfig::parse("<Other><Rule/></Other>").is_err());
        assert!(BucketSseConfig::parse("not xml").is_err());
        assert!(BucketSseConfig::parse("").is_err());
    }

    #[test]
    fn apply_respects_request() {
        let c = BucketSseConfig::aws_kms("arn:aws:kms:k").unwrap();
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            apply_defaults(Some(&c), false, &none[..]),
            vec![
                (headers::SSE, "aws:kms".to_owned()),
                (headers::SSE_KMS_KEY_ID, "k".to_owned())
            ]
        );
        let req = [(headers::SSE, "AES256")];
        assert!(apply_defaults(Some(&c), true, &req[..]).is_empty());
        assert_eq!(
            apply_defaults(None, true, &none[..]),
            vec![(headers::SSE, "aws:kms".to_owned())]
        );
        assert!(apply_defaults(None, false, &none[..]).is_empty());
    }
}
