//! API keys (spec §6): `kes:v1:` + base64(`0x00` ‖ Ed25519 seed).
//!
//! ```
//! use kes_policy::{ApiKey, Identity};
//!
//! let key: ApiKey = "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs".parse()?;
//! assert_eq!(
//!     key.identity().as_str(),
//!     "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6"
//! );
//! // A client presents a self-signed certificate for the key; its identity is the same.
//! let tls = key.client_certificate()?;
//! assert_eq!(tls.certificate.identity(), key.identity());
//! # Ok::<(), kes_policy::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use pkcs8::PrivateKeyInfo;
use pkcs8::der::Decode;
use pkcs8::der::asn1::OctetStringRef;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::private_key::{OID_ED25519, random_bytes};
use crate::{CertificateOptions, Error, Identity, PrivateKey, TlsCredentials, certgen};

/// The prefix of the canonical API-key text.
pub const API_KEY_PREFIX: &str = "kes:v1:";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte public key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Go's `base64.StdEncoding`: padded, and lenient about non-zero trailing bits.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// An Ed25519 API key. The seed is zeroized on drop, never printed by `Debug` (which shows
/// the identity), and compared in constant time. The key has no `Display`: the canonical
/// `kes:v1:…` text leaves only through [`ApiKey::expose_secret`], so a key cannot end up in
/// a log line by accident.
#[derive(Clone)]
pub struct ApiKey {
    seed: Zeroizing<[u8; 32]>,
    public_key: [u8; 32],
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("identity", &self.identity().as_str())
            .finish_non_exhaustive()
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.seed.as_slice().ct_eq(other.seed.as_slice()).into()
    }
}

impl Eq for ApiKey {}

impl ApiKey {
    /// Parses an API key (spec §6.1). Like upstream, the `kes:v1:` prefix is optional (a bare
    /// base64 string parses too) and `\r`/`\n` inside the base64 text are ignored.
    ///
    /// Errors: `kes: invalid API key: invalid base64 encoding` / `invalid length` /
    /// `unsupported type` (first byte not `0x00`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let b64: Zeroizing<Vec<u8>> = Zeroizing::new(
            s.strip_prefix(API_KEY_PREFIX)
                .unwrap_or(s)
                .bytes()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect(),
        );
        let raw = Zeroizing::new(
            GO_STD
                .decode(b64.as_slice())
                .map_err(|_| Error::InvalidApiKey("invalid base64 encoding"))?,
        );
        let Some((&kind, seed)) = raw.split_first().filter(|_| raw.len() == 33) else {
            return Err(Error::InvalidApiKey("invalid length"));
        };
        if kind != 0 {
            return Err(Error::InvalidApiKey("unsupported type"));
        }
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| Error::InvalidApiKey("invalid length"))?,
        );
        Self::from_seed(seed)
    }

    fn from_seed(seed: Zeroizing<[u8; 32]>) -> Result<Self, Error> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_slice())
            .map_err(|_| Error::InvalidApiKey("invalid Ed25519 seed"))?;
        let public_key = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| Error::InvalidApiKey("invalid Ed25519 seed"))?;
        Ok(Self { seed, public_key })
    }

    /// Generates a fresh random API key.
    pub fn generate() -> Result<Self, Error> {
        Self::from_seed(Zeroizing::new(random_bytes::<32>()?))
    }

    /// The API key of an Ed25519 PKCS#8 private key (`PRIVATE KEY`, v1 or v2; a v2 public
    /// key must match the seed). `kes identity <key file>` prints this.
    ///
    /// ```
    /// let pem = include_str!("../tests/data/certs/root.key");
    /// let key = kes_policy::parse_private_key(pem.as_bytes(), b"")?;
    /// let api_key = kes_policy::ApiKey::from_ed25519_pkcs8(key.expose_pkcs8_der())?;
    /// assert_eq!(api_key.expose_secret().as_str(), "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc");
    /// # Ok::<(), kes_policy::Error>(())
    /// ```
    pub fn from_ed25519_pkcs8(der: &[u8]) -> Result<Self, Error> {
        let not_ed25519 = || Error::UnsupportedKey("not an Ed25519 PKCS#8 private key".into());
        let info = PrivateKeyInfo::from_der(der).map_err(|_| not_ed25519())?;
        if info.algorithm.oid != OID_ED25519 || info.algorithm.parameters.is_some() {
            return Err(not_ed25519());
        }
        let seed = OctetStringRef::from_der(info.private_key).map_err(|_| not_ed25519())?;
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.as_bytes().try_into().map_err(|_| not_ed25519())?);
        let key = Self::from_seed(seed)?;
        if let Some(public) = info.public_key {
            if public != key.public_key {
                return Err(Error::InvalidPrivateKey(
                    "Ed25519 public key does not match the private key".into(),
                ));
            }
        }
        Ok(key)
    }

    /// The canonical text `kes:v1:` + base64(`0x00` ‖ seed) (spec §6.1). This exposes the
    /// secret.
    pub fn expose_secret(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 33]);
        if let Some((_, rest)) = raw.split_first_mut() {
            rest.copy_from_slice(self.seed.as_slice());
        }
        let mut text = Zeroizing::new(String::with_capacity(API_KEY_PREFIX.len() + 44));
        text.push_str(API_KEY_PREFIX);
        STANDARD.encode_string(raw.as_slice(), &mut text);
        text
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The DER SubjectPublicKeyInfo of the public key.
    pub fn spki_der(&self) -> [u8; 44] {
        let mut spki = [0u8; 44];
        let (prefix, key) = spki.split_at_mut(ED25519_SPKI_PREFIX.len());
        prefix.copy_from_slice(&ED25519_SPKI_PREFIX);
        key.copy_from_slice(&self.public_key);
        spki
    }

    /// The identity of the key (spec §6.2).
    pub fn identity(&self) -> Identity {
        Identity::of_spki_der(&self.spki_der())
    }

    /// The Ed25519 private key.
    pub fn private_key(&self) -> PrivateKey {
        PrivateKey::from_ed25519_seed(&self.seed)
    }

    /// The PKCS#8 v1 DER encoding of the private key. This exposes the secret.
    pub fn private_key_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.private_key().expose_pkcs8_der().to_vec())
    }

    /// A fresh client certificate for this key as described in spec §6.3: self-signed,
    /// CN = identity, random 128-bit serial, valid from now for 90 days, KeyUsage
    /// digitalSignature, ExtKeyUsage clientAuth, CA=false. Not deterministic.
    pub fn client_certificate(&self) -> Result<TlsCredentials, Error> {
        self.certificate(&CertificateOptions::api_key_client())
    }

    /// A self-signed certificate for this key with the given options (the certificate
    /// `kes identity new --key/--cert` writes, spec §6.4).
    pub fn certificate(&self, options: &CertificateOptions) -> Result<TlsCredentials, Error> {
        certgen::self_signed(self.private_key(), options)
    }
}

impl FromStr for ApiKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl From<&ApiKey> for Identity {
    fn from(key: &ApiKey) -> Self {
        key.identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_generated() {
        let key = ApiKey::generate().unwrap();
        let text = key.expose_secret();
        assert!(text.starts_with(API_KEY_PREFIX));
        assert_eq!(text.len(), 7 + 44);
        assert_eq!(ApiKey::parse(&text).unwrap(), key);
        assert_ne!(ApiKey::generate().unwrap(), key);
    }

    #[test]
    fn errors() {
        let msg = |s: &str| ApiKey::parse(s).unwrap_err().to_string();
        assert_eq!(msg("kes:v1:AAAA"), "kes: invalid API key: invalid length");
        assert_eq!(
            msg("kes:v1:!!!!"),
            "kes: invalid API key: invalid base64 encoding"
        );
        assert_eq!(msg(""), "kes: invalid API key: invalid length");
        assert_eq!(
            msg("kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW"),
            "kes: invalid API key: unsupported type"
        );
    }

    #[test]
    fn bare_base64_and_newlines_parse() {
        let canonical = "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs";
        let bare = ApiKey::parse("AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs").unwrap();
        assert_eq!(bare.expose_secret().as_str(), canonical);
        let wrapped =
            ApiKey::parse("kes:v1:AGaV6VXHasF0FnaB60Wd\r\nCOeTZ8eTIDikL4zlN16c8NAs").unwrap();
        assert_eq!(wrapped.expose_secret().as_str(), canonical);
    }

    #[test]
    fn debug_hides_seed() {
        let key = ApiKey::parse("kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs").unwrap();
        let dbg = format!("{key:?}");
        assert!(dbg.contains("ea9826089311fe44"));
        assert!(!dbg.contains("AGaV6"));
    }

    #[test]
    fn pkcs8_round_trip() {
        let key = ApiKey::generate().unwrap();
        let back = ApiKey::from_ed25519_pkcs8(&key.private_key_pkcs8_der()).unwrap();
        assert_eq!(back, key);
        let ec = PrivateKey::generate(crate::KeyAlgorithm::EcdsaP256).unwrap();
        assert!(ApiKey::from_ed25519_pkcs8(ec.expose_pkcs8_der()).is_err());
    }
}
