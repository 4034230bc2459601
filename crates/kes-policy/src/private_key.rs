//! Private keys: parsing (PKCS#8, SEC1, PKCS#1), password encryption (PKCS#8 PBES2 and
//! legacy RFC 1423 PEM encryption) and generation.
//!
//! Every [`PrivateKey`] is held as zeroizing PKCS#8 DER and has been checked by ring, so it
//! can sign (a TLS handshake or a certificate). See `docs/identities.md` for why encrypted
//! keys are written as PKCS#8 with scrypt by default.
//!
//! ```
//! use kes_policy::{KeyAlgorithm, KeyEncryption, PrivateKey, parse_private_key};
//!
//! let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
//! let pem = key.to_encrypted_pem(b"secret", KeyEncryption::Pkcs8Scrypt { log_n: 10 })?;
//! assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
//! let back = parse_private_key(pem.as_bytes(), b"secret")?;
//! assert_eq!(back, key);
//! assert!(parse_private_key(pem.as_bytes(), b"wrong").is_err());
//! # Ok::<(), kes_policy::Error>(())
//! ```

use std::fmt;

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use md5::{Digest, Md5};
use pkcs8::der::asn1::{AnyRef, Null, ObjectIdentifier};
use pkcs8::der::{Decode, Encode};
use pkcs8::pkcs5::{self, pbes2};
use pkcs8::{AlgorithmIdentifierRef, EncryptedPrivateKeyInfo, PrivateKeyInfo};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::pem::{self, Block};
use crate::{Error, Identity};

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The largest scrypt memory (128·r·N bytes) and PBKDF2 iteration count accepted when
/// decrypting, so that a hostile key file cannot exhaust memory or time.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
const MAX_SCRYPT_PARALLELISM: u16 = 16;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// The scrypt cost used by [`KeyEncryption::default`]: N = 2^14 (16 MiB with r = 8), the
/// same as OpenSSL's `pkcs8 -scrypt` default and within OpenSSL's 32 MiB scrypt memory limit.
pub const DEFAULT_SCRYPT_LOG_N: u8 = 14;

/// The public-key algorithm of a [`PrivateKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// Ed25519 (the default; the algorithm of API keys).
    #[default]
    Ed25519,
    /// ECDSA on NIST P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// RSA (PKCS#1 v1.5 signatures with SHA-256). Generating RSA keys needs the crate feature
    /// `rsa`; reading them does not.
    Rsa,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ed25519 => "Ed25519",
            Self::EcdsaP256 => "ECDSA P-256",
            Self::EcdsaP384 => "ECDSA P-384",
            Self::Rsa => "RSA",
        })
    }
}

/// How [`PrivateKey::to_encrypted_pem`] protects a key with a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyEncryption {
    /// PKCS#8 `ENCRYPTED PRIVATE KEY`: PBES2 with scrypt (N = 2^`log_n`, r = 8, p = 1) and
    /// AES-256-CBC. The default, with `log_n` = [`DEFAULT_SCRYPT_LOG_N`].
    Pkcs8Scrypt {
        /// log2 of scrypt's cost parameter N (1..=20).
        log_n: u8,
    },
    /// Legacy RFC 1423 PEM encryption (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: AES-256-CBC`)
    /// with OpenSSL's MD5-based key derivation: what upstream `kes identity new --encrypt`
    /// writes and what an upstream server's `tls.password` can read. Weak against password
    /// guessing; use only for compatibility.
    LegacyPemAes256Cbc,
}

impl Default for KeyEncryption {
    fn default() -> Self {
        Self::Pkcs8Scrypt {
            log_n: DEFAULT_SCRYPT_LOG_N,
        }
    }
}

/// A private key of one of the supported algorithms, held as zeroizing PKCS#8 DER.
///
/// `Debug` shows only the algorithm; equality is constant-time over the PKCS#8 bytes.
#[derive(Clone)]
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.pkcs8.as_slice().ct_eq(other.pkcs8.as_slice()).into()
    }
}

impl Eq for PrivateKey {}

fn key_pair(pkcs8: &[u8]) -> Result<rcgen::KeyPair, Error> {
    rcgen::KeyPair::try_from(pkcs8)
        .map_err(|_| Error::UnsupportedKey("not an Ed25519, ECDSA P-256/P-384 or RSA key".into()))
}

fn algorithm_of(kp: &rcgen::KeyPair) -> Result<KeyAlgorithm, Error> {
    let alg = kp.algorithm();
    if alg == &rcgen::PKCS_ED25519 {
        Ok(KeyAlgorithm::Ed25519)
    } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Ok(KeyAlgorithm::EcdsaP256)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Ok(KeyAlgorithm::EcdsaP384)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        Ok(KeyAlgorithm::Rsa)
    } else {
        Err(Error::UnsupportedKey(format!("{alg:?}")))
    }
}

fn malformed(what: &str) -> Error {
    Error::InvalidPrivateKey(what.to_owned())
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Generation("system random number generator failed".into()))?;
    Ok(out)
}

impl PrivateKey {
    /// Parses a PKCS#8 (`PRIVATE KEY`) DER key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        PrivateKeyInfo::try_from(der).map_err(|_| malformed("not a PKCS#8 private key"))?;
        let kp = key_pair(der)?;
        Ok(Self {
            algorithm: algorithm_of(&kp)?,
            pkcs8: Zeroizing::new(der.to_vec()),
        })
    }

    /// Parses a SEC1 (`EC PRIVATE KEY`) DER key; the curve must be named in the key and the
    /// public key must be present.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        let ec = sec1::EcPrivateKey::from_der(der)
            .map_err(|_| malformed("not a SEC1 EC private key"))?;
        let curve = ec
            .parameters
            .and_then(|p| p.named_curve())
            .ok_or_else(|| malformed("EC private key does not name its curve"))?;
        let inner = sec1::EcPrivateKey {
            private_key: ec.private_key,
            parameters: None,
            public_key: ec.public_key,
        };
        let inner = Zeroizing::new(inner.to_der().map_err(|_| malformed("EC private key"))?);
        let info = PrivateKeyInfo::new(
            AlgorithmIdentifierRef {
                oid: OID_EC_PUBLIC_KEY,
                parameters: Some(AnyRef::from(&curve)),
            },
            &inner,
        );
        let pkcs8 = Zeroizing::new(info.to_der().map_err(|_| malformed("EC private key"))?);
        Self::from_pkcs8_der(&pkcs8)
    }

    /// Parses a PKCS#1 (`RSA PRIVATE KEY`) DER key.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        let info = PrivateKeyInfo::new(
            AlgorithmIdentifierRef {
                oid: OID_RSA_ENCRYPTION,
                parameters: Some(AnyRef::from(Null)),
            },
            der,
        );
        let pkcs8 = Zeroizing::new(info.to_der().map_err(|_| malformed("RSA private key"))?);
        Self::from_pkcs8_der(&pkcs8)
    }

    /// The Ed25519 key with the given 32-byte seed.
    pub(crate) fn from_ed25519_seed(seed: &[u8; 32]) -> Self {
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut pkcs8 = Zeroizing::new(Vec::with_capacity(48));
        pkcs8.extend_from_slice(&PREFIX);
        pkcs8.extend_from_slice(seed);
        Self {
            algorithm: KeyAlgorithm::Ed25519,
            pkcs8,
        }
    }

    /// Generates a fresh key. RSA keys (2048 bits) need the crate feature `rsa`.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, Error> {
        let pkcs8: Zeroizing<Vec<u8>> = match algorithm {
            KeyAlgorithm::Ed25519 => {
                let seed = Zeroizing::new(random_bytes::<32>()?);
                return Ok(Self::from_ed25519_seed(&seed));
            }
            KeyAlgorithm::EcdsaP256 => generate_rcgen(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            KeyAlgorithm::EcdsaP384 => generate_rcgen(&rcgen::PKCS_ECDSA_P384_SHA384)?,
            KeyAlgorithm::Rsa => generate_rsa()?,
        };
        Self::from_pkcs8_der(&pkcs8)
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The PKCS#8 DER bytes. This exposes the secret.
    pub fn expose_pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key as a rustls-pki-types private key (PKCS#8), for a TLS configuration.
    pub fn to_private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec()))
    }

    /// The DER SubjectPublicKeyInfo of the public key (as it appears in certificates).
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>, Error> {
        Ok(key_pair(&self.pkcs8)?.public_key_der())
    }

    /// The identity of any certificate for this key.
    pub fn identity(&self) -> Result<Identity, Error> {
        Ok(Identity::of_spki_der(&self.public_key_spki_der()?))
    }

    /// The key as an unencrypted PKCS#8 PEM block (`PRIVATE KEY`).
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode("PRIVATE KEY", &[], &self.pkcs8))
    }

    /// The key as a password-encrypted PEM block. An empty password is refused.
    pub fn to_encrypted_pem(
        &self,
        password: &[u8],
        encryption: KeyEncryption,
    ) -> Result<Zeroizing<String>, Error> {
        if password.is_empty() {
            return Err(Error::PasswordRequired);
        }
        match encryption {
            KeyEncryption::Pkcs8Scrypt { log_n } => {
                if !(1..=20).contains(&log_n) {
                    return Err(Error::Generation(format!(
                        "scrypt log_n {log_n} not in 1..=20"
                    )));
                }
                let salt = random_bytes::<16>()?;
                let iv = random_bytes::<16>()?;
                let params = pkcs5::scrypt::Params::new(log_n, 8, 1, 32)
                    .map_err(|_| Error::Generation("invalid scrypt parameters".into()))?;
                let params = pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv)
                    .map_err(|e| Error::Generation(e.to_string()))?;
                let info = PrivateKeyInfo::try_from(self.pkcs8.as_slice())
                    .map_err(|_| malformed("not a PKCS#8 private key"))?;
                let doc = info
                    .encrypt_with_params(params, password)
                    .map_err(|e| Error::Generation(e.to_string()))?;
                Ok(Zeroizing::new(pem::encode(
                    "ENCRYPTED PRIVATE KEY",
                    &[],
                    doc.as_bytes(),
                )))
            }
            KeyEncryption::LegacyPemAes256Cbc => {
                let iv = random_bytes::<16>()?;
                let key = evp_bytes_to_key(password, &iv, 32);
                let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv)
                    .map_err(|_| Error::Generation("AES-256-CBC setup".into()))?
                    .encrypt_padded_vec_mut::<Pkcs7>(&self.pkcs8);
                let dek = format!("AES-256-CBC,{}", hex::encode_upper(iv));
                Ok(Zeroizing::new(pem::encode(
                    "PRIVATE KEY",
                    &[("Proc-Type", "4,ENCRYPTED"), ("DEK-Info", &dek)],
                    &ct,
                )))
            }
        }
    }
}

fn generate_rcgen(alg: &'static rcgen::SignatureAlgorithm) -> Result<Zeroizing<Vec<u8>>, Error> {
    let kp = rcgen::KeyPair::generate_for(alg).map_err(|e| Error::Generation(e.to_string()))?;
    Ok(Zeroizing::new(kp.serialize_der()))
}

#[cfg(feature = "rsa")]
fn generate_rsa() -> Result<Zeroizing<Vec<u8>>, Error> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
        .map_err(|e| Error::Generation(e.to_string()))?;
    let doc = key
        .to_pkcs8_der()
        .map_err(|e| Error::Generation(e.to_string()))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

#[cfg(not(feature = "rsa"))]
fn generate_rsa() -> Result<Zeroizing<Vec<u8>>, Error> {
    Err(Error::UnsupportedKey(
        "RSA key generation needs the `rsa` feature of kes-policy".into(),
    ))
}

/// OpenSSL's `EVP_BytesToKey` with MD5, one iteration, salt = first 8 bytes of the IV —
/// the key derivation of RFC 1423 encrypted PEM.
fn evp_bytes_to_key(password: &[u8], iv: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let salt = iv.get(..8).unwrap_or(iv);
    let mut key = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Option<Zeroizing<[u8; 16]>> = None;
    while key.len() < len {
        let mut h = Md5::new();
        if let Some(p) = &prev {
            h.update(p.as_slice());
        }
        h.update(password);
        h.update(salt);
        let digest = Zeroizing::new(<[u8; 16]>::from(h.finalize()));
        key.extend_from_slice(digest.as_slice());
        prev = Some(digest);
    }
    key.truncate(len);
    key
}

/// The RFC 1423 ciphers (Go's `x509` PEM ciphers).
#[derive(Clone, Copy)]
enum LegacyCipher {
    Des,
    Des3,
    Aes128,
    Aes192,
    Aes256,
}

impl LegacyCipher {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "DES-CBC" => Self::Des,
            "DES-EDE3-CBC" => Self::Des3,
            "AES-128-CBC" => Self::Aes128,
            "AES-192-CBC" => Self::Aes192,
            "AES-256-CBC" => Self::Aes256,
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            Self::Des => 8,
            Self::Des3 | Self::Aes192 => 24,
            Self::Aes128 => 16,
            Self::Aes256 => 32,
        }
    }

    fn block_len(self) -> usize {
        match self {
            Self::Des | Self::Des3 => 8,
            _ => 16,
        }
    }

    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        fn run<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Zeroizing<Vec<u8>>>
        where
            cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
            C: cbc::cipher::BlockDecryptMut + cbc::cipher::BlockCipher,
        {
            cbc::Decryptor::<C>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded_vec_mut::<Pkcs7>(data)
                .ok()
                .map(Zeroizing::new)
        }
        match self {
            Self::Des => run::<des::Des>(key, iv, data),
            Self::Des3 => run::<des::TdesEde3>(key, iv, data),
            Self::Aes128 => run::<aes::Aes128>(key, iv, data),
            Self::Aes192 => run::<aes::Aes192>(key, iv, data),
            Self::Aes256 => run::<aes::Aes256>(key, iv, data),
        }
    }
}

/// Parses the DER of a plaintext key block by its label.
fn from_labelled_der(label: &str, der: &[u8]) -> Result<PrivateKey, Error> {
    match label {
        "PRIVATE KEY" => PrivateKey::from_pkcs8_der(der),
        "EC PRIVATE KEY" => PrivateKey::from_sec1_der(der),
        "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(der),
        other => Err(Error::UnsupportedKey(format!("PEM block '{other}'"))),
    }
}

/// Decodes a private-key PEM block (see [`crate::parse_private_key`]).
pub(crate) fn from_pem_block(block: &Block, password: &[u8]) -> Result<PrivateKey, Error> {
    if block.label == "ENCRYPTED PRIVATE KEY" {
        return decrypt_pkcs8(&block.data, password);
    }
    let encrypted = block
        .header("Proc-Type")
        .is_some_and(|v| v.split(',').nth(1).map(str::trim) == Some("ENCRYPTED"));
    if !encrypted {
        return from_labelled_der(&block.label, &block.data);
    }
    if password.is_empty() {
        return Err(Error::PasswordRequired);
    }
    let dek = block
        .header("DEK-Info")
        .ok_or_else(|| malformed("encrypted PEM block without DEK-Info"))?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| malformed("malformed DEK-Info"))?;
    let cipher = LegacyCipher::parse(cipher.trim())
        .ok_or_else(|| Error::UnsupportedKey(format!("PEM cipher '{}'", cipher.trim())))?;
    let iv = hex::decode(iv_hex.trim()).map_err(|_| malformed("malformed DEK-Info IV"))?;
    if iv.len() != cipher.block_len() || block.data.len() % cipher.block_len() != 0 {
        return Err(malformed("encrypted PEM block has a bad IV or length"));
    }
    let key = evp_bytes_to_key(password, &iv, cipher.key_len());
    let der = cipher
        .decrypt(&key, &iv, &block.data)
        .ok_or(Error::IncorrectPassword)?;
    // A wrong password that happens to produce valid padding yields garbage DER.
    from_labelled_der(&block.label, &der).map_err(|_| Error::IncorrectPassword)
}

fn decrypt_pkcs8(der: &[u8], password: &[u8]) -> Result<PrivateKey, Error> {
    let info = EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|_| malformed("not a PKCS#8 encrypted private key"))?;
    let pbes2 = info
        .encryption_algorithm
        .pbes2()
        .ok_or_else(|| Error::UnsupportedKey("PKCS#8 encryption other than PBES2".into()))?;
    check_kdf_limits(&pbes2.kdf)?;
    if password.is_empty() {
        return Err(Error::PasswordRequired);
    }
    let plain = info.decrypt(password).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::UnsupportedAlgorithm { .. } | pkcs5::Error::NoPbes1CryptSupport,
        ) => Error::UnsupportedKey(e.to_string()),
        _ => Error::IncorrectPassword,
    })?;
    PrivateKey::from_pkcs8_der(plain.as_bytes()).map_err(|_| Error::IncorrectPassword)
}

fn check_kdf_limits(kdf: &pbes2::Kdf<'_>) -> Result<(), Error> {
    if let Some(p) = kdf.pbkdf2() {
        if p.iteration_count > MAX_PBKDF2_ITERATIONS {
            return Err(Error::UnsupportedKey(format!(
                "PBKDF2 iteration count {} exceeds {MAX_PBKDF2_ITERATIONS}",
                p.iteration_count
            )));
        }
    }
    if let Some(s) = kdf.scrypt() {
        let memory = 128u64
            .checked_mul(u64::from(s.block_size))
            .and_then(|m| m.checked_mul(s.cost_parameter));
        if memory.is_none_or(|m| m > MAX_SCRYPT_MEMORY)
            || s.parallelization > MAX_SCRYPT_PARALLELISM
        {
            return Err(Error::UnsupportedKey(
                "scrypt parameters exceed the accepted cost".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evp_bytes_to_key_known_answer() {
        // `openssl enc -aes-256-cbc -k password -S 0001020304050607 -P -md md5` prints the
        // first 32 derived bytes as key and the next 16 as IV.
        let salt = [0u8, 1, 2, 3, 4, 5, 6, 7];
        let derived = evp_bytes_to_key(b"password", &salt, 48);
        assert_eq!(
            hex::encode_upper(derived.as_slice()),
            "B03096345E805D3AA4392D2E72791DFB13E12D3F61094A3FC347ACE86B99ADA6\
             ACDE38B46073EEF81840283E44A4B22A"
        );
    }

    #[test]
    fn legacy_round_trip_all_generated_algorithms() {
        for alg in [
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            let pem = key
                .to_encrypted_pem(b"pw", KeyEncryption::LegacyPemAes256Cbc)
                .unwrap();
            assert!(pem.contains("Proc-Type: 4,ENCRYPTED"));
            let back = crate::parse_private_key(pem.as_bytes(), b"pw").unwrap();
            assert_eq!(back, key);
            assert!(matches!(
                crate::parse_private_key(pem.as_bytes(), b""),
                Err(Error::PasswordRequired)
            ));
            assert!(matches!(
                crate::parse_private_key(pem.as_bytes(), b"wrong"),
                Err(Error::IncorrectPassword)
            ));
        }
    }

    #[test]
    fn empty_password_refused_for_writing() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        assert!(key.to_encrypted_pem(b"", KeyEncryption::default()).is_err());
        assert!(
            key.to_encrypted_pem(b"x", KeyEncryption::Pkcs8Scrypt { log_n: 0 })
                .is_err()
        );
    }

    #[test]
    fn debug_is_redacted() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "PrivateKey { algorithm: Ed25519, .. }");
    }

    #[test]
    fn sec1_without_curve_is_rejected() {
        // SEC1 key with a 1-byte private key and no parameters.
        let der = [0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x01];
        assert!(PrivateKey::from_sec1_der(&der).is_err());
        assert!(PrivateKey::from_pkcs1_der(&der).is_err());
        assert!(PrivateKey::from_pkcs8_der(&der).is_err());
    }

    #[cfg(not(feature = "rsa"))]
    #[test]
    fn rsa_generation_needs_feature() {
        assert!(matches!(
            PrivateKey::generate(KeyAlgorithm::Rsa),
            Err(Error::UnsupportedKey(_))
        ));
    }
}
