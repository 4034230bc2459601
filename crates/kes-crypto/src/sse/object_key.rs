//! Object keys and how MinIO protects them (`spec/sse.md` §3–§5, §10).
//!
//! - [`ExternalKey`] (EK): the 32-byte DEK plaintext from the KMS (SSE-S3,
//!   SSE-KMS) or the SSE-C client key.
//! - [`ObjectKey`] (OEK): random per object, `HMAC(EK, "object-encryption-key
//!   generation" ‖ random32)`.
//! - [`Kek`]: `HMAC(EK, iv ‖ domain ‖ "DAREv2-HMAC-SHA256" ‖ path.Join(bucket,
//!   object))`, never stored.
//! - [`SealedObjectKey`]: the OEK sealed under the KEK as one final DARE 2.0
//!   package (64 bytes), plus the IV and the seal algorithm name.
//! - [`PartKey`]: `HMAC(OEK, LE32(part_number))` for multipart uploads.
//!
//! Besides MinIO's algorithms this module offers a kes-rs "v2" sealed form
//! ([`SealAlgorithm::KeywrapV2`]) built on the crate's AES-256-GCM-SIV
//! key-wrap; see `docs/formats.md`. MinIO cannot read it.

use std::fmt;

use ring::digest;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::{keywrap, mac, rng};

use super::SseType;
use super::dare::{self, CipherSuite, DecryptOptions};

/// Defines a zeroizing 32-byte secret with redacted `Debug`, constant-time
/// equality and an explicit accessor.
macro_rules! secret32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Zeroizing<[u8; 32]>);

        impl $name {
            /// Wraps 32 key bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(Zeroizing::new(bytes))
            }

            /// Copies a 32-byte slice; any other length is an error.
            pub fn try_from_slice(bytes: &[u8]) -> Result<Self> {
                let mut key = Zeroizing::new([0u8; 32]);
                if bytes.len() != key.len() {
                    return Err(Error::InvalidKey(concat!(stringify!($name), " must be 32 bytes")));
                }
                key.copy_from_slice(bytes);
                Ok(Self(key))
            }

            /// The key bytes. Handle with care: do not log or persist them.
            pub fn expose_secret(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&*other.0).into()
            }
        }

        impl Eq for $name {}
    };
}

secret32! {
    /// The external key (EK) an object key is derived from and sealed under:
    /// the plaintext DEK for SSE-S3 and SSE-KMS, the client key for SSE-C.
    ExternalKey
}

secret32! {
    /// A key-encryption key (sealing key), derived per object and never stored.
    Kek
}

secret32! {
    /// The object encryption key (OEK): the DARE key of the object data.
    ObjectKey
}

secret32! {
    /// A multipart part key, `HMAC(OEK, LE32(part_number))`.
    PartKey
}

/// The label MinIO hashes with the random bytes to make an object key.
const OBJECT_KEY_GENERATION: &[u8] = b"object-encryption-key generation";

const LEGACY_SEAL: Error = Error::InvalidKey("DARE-SHA256 is an unseal-only legacy algorithm");

/// Label of the kes-rs v2 KEK derivation (see `docs/formats.md`).
const KEYWRAP_V2_KEK_LABEL: &[u8] = b"kes-rs/sealed-object-key/v2";

/// How a sealed object key was sealed; stored in the
/// `...-Seal-Algorithm` metadata entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SealAlgorithm {
    /// `DAREv2-HMAC-SHA256`: what MinIO writes. KEK from HMAC over
    /// iv ‖ domain ‖ name ‖ path; one final DARE 2.0 package.
    DareV2HmacSha256,
    /// `DARE-SHA256`: legacy, SSE-C only, unseal only. Key =
    /// SHA-256(EK ‖ IV); DARE 1.0 or 2.0.
    DareSha256,
    /// kes-rs v2: AES-256-GCM-SIV key-wrap under a domain-separated KEK.
    /// Not readable by MinIO; see `docs/formats.md`.
    KeywrapV2,
}

impl SealAlgorithm {
    /// The name stored in object metadata.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DareV2HmacSha256 => "DAREv2-HMAC-SHA256",
            Self::DareSha256 => "DARE-SHA256",
            Self::KeywrapV2 => "KES-RS-v2-AES-256-GCM-SIV",
        }
    }

    /// Parses a stored algorithm name (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::DareV2HmacSha256, Self::DareSha256, Self::KeywrapV2]
            .into_iter()
            .find(|a| a.as_str() == name)
    }

    /// Length of the sealed key bytes this algorithm produces for a
    /// 32-byte object key.
    pub fn sealed_len(self) -> usize {
        match self {
            Self::DareV2HmacSha256 | Self::DareSha256 => SEALED_DARE_LEN,
            Self::KeywrapV2 => SEALED_KEYWRAP_V2_LEN,
        }
    }
}

impl fmt::Display for SealAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Length of a DARE-sealed object key: 16-byte header, 32 bytes, 16-byte tag.
pub const SEALED_DARE_LEN: usize = 64;

/// Length of a kes-rs v2 sealed object key: the key-wrap v1 binary form of
/// 32 bytes (version byte, 8-byte key id, 12-byte nonce, 32 bytes, 16-byte tag).
pub const SEALED_KEYWRAP_V2_LEN: usize = 32 + keywrap::OVERHEAD;

/// Associated data of the kes-rs v2 key-wrap (the KEK already binds the
/// domain, IV and path).
const KEYWRAP_V2_AAD: &[u8] = b"kes-rs/sealed-object-key/v2";

/// Length of the per-object IV stored next to a sealed key.
pub const IV_LEN: usize = 32;

/// A sealed object key with its IV and algorithm, as stored in metadata.
/// Nothing in it is secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SealedObjectKey {
    algorithm: SealAlgorithm,
    iv: [u8; IV_LEN],
    key: Vec<u8>,
}

impl SealedObjectKey {
    /// Assembles a sealed key; the sealed bytes must have the length the
    /// algorithm produces (64 bytes for the DARE algorithms).
    pub fn new(algorithm: SealAlgorithm, iv: [u8; IV_LEN], key: Vec<u8>) -> Result<Self> {
        if key.len() != algorithm.sealed_len() {
            return Err(Error::Malformed {
                what: "sealed object key",
                reason: "wrong length for its seal algorithm",
            });
        }
        Ok(Self { algorithm, iv, key })
    }

    /// The seal algorithm.
    pub fn algorithm(&self) -> SealAlgorithm {
        self.algorithm
    }

    /// The 32-byte IV mixed into the KEK.
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// The sealed key bytes.
    pub fn sealed_bytes(&self) -> &[u8] {
        &self.key
    }
}

/// Go's `path.Join(bucket, object)`: empty elements are skipped, the result
/// is `path.Clean`ed (runs of `/` collapse, `.` segments go, `x/..` pairs
/// resolve, a trailing `/` is dropped). `("", "")` gives `""`.
pub fn go_path_join(bucket: &str, object: &str) -> String {
    let joined = match (bucket.is_empty(), object.is_empty()) {
        (true, true) => return String::new(),
        (false, true) => bucket.to_owned(),
        (true, false) => object.to_owned(),
        (false, false) => format!("{bucket}/{object}"),
    };
    if is_clean(&joined) {
        joined
    } else {
        go_path_clean(&joined)
    }
}

/// Whether `path.Clean` would return `path` unchanged (the common case for
/// object names, checked without rebuilding the path).
fn is_clean(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    !body.is_empty()
        && body
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Go's `path.Clean` (lexical; `""` gives `"."`).
pub fn go_path_clean(path: &str) -> String {
    let p = path.as_bytes();
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.first() == Some(&b'/');
    let n = p.len();
    let at = |i: usize| p.get(i).copied();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0usize, 0usize);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        let c = at(r);
        let next = at(r + 1);
        if c == Some(b'/') || (c == Some(b'.') && (next.is_none() || next == Some(b'/'))) {
            // Empty element or `.`: skip.
            r += 1;
        } else if c == Some(b'.') && next == Some(b'.') && (r + 2 == n || at(r + 2) == Some(b'/')) {
            r += 2;
            if out.len() > dotdot {
                out.pop();
                while out.len() > dotdot && out.last() != Some(&b'/') {
                    out.pop();
                }
                // Drop the separator before the removed element, as Go's
                // `out.w--` loop stops *on* the '/' and then overwrites it.
                if out.len() > dotdot && out.last() == Some(&b'/') {
                    out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while let Some(b) = at(r) {
                if b == b'/' {
                    break;
                }
                out.push(b);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return ".".to_owned();
    }
    // Only ASCII '/' and '.' bytes are ever removed, and UTF-8 continuation
    // bytes are never ASCII, so `out` stays valid UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

/// Derives MinIO's KEK:
/// `HMAC-SHA256(EK, iv ‖ domain ‖ "DAREv2-HMAC-SHA256" ‖ path.Join(bucket, object))`
/// with no separators or length prefixes.
pub fn derive_kek(
    ek: &ExternalKey,
    iv: &[u8; IV_LEN],
    domain: SseType,
    bucket: &str,
    object: &str,
) -> Kek {
    let path = go_path_join(bucket, object);
    Kek(mac::sign(
        ek.expose_secret(),
        &[
            iv,
            domain.as_str().as_bytes(),
            SealAlgorithm::DareV2HmacSha256.as_str().as_bytes(),
            path.as_bytes(),
        ],
    ))
}

/// Derives the KEK of the kes-rs v2 sealed form:
/// `HMAC-SHA256(EK, "kes-rs/sealed-object-key/v2" ‖ 0x00 ‖ iv ‖ domain ‖ 0x00 ‖ path.Join(bucket, object))`.
/// The fixed-length IV and the NUL separators make the message unambiguous.
pub fn derive_kek_v2(
    ek: &ExternalKey,
    iv: &[u8; IV_LEN],
    domain: SseType,
    bucket: &str,
    object: &str,
) -> Kek {
    let path = go_path_join(bucket, object);
    Kek(mac::sign(
        ek.expose_secret(),
        &[
            KEYWRAP_V2_KEK_LABEL,
            &[0],
            iv,
            domain.as_str().as_bytes(),
            &[0],
            path.as_bytes(),
        ],
    ))
}

/// The unseal key of the legacy `DARE-SHA256` algorithm: `SHA-256(EK ‖ IV)`.
pub fn derive_legacy_unseal_key(ek: &ExternalKey, iv: &[u8; IV_LEN]) -> Kek {
    // sha2's state is wiped on drop (ring's digest context is not).
    let mut out = Zeroizing::new([0u8; 32]);
    let digest: &mut [u8; 32] = &mut out;
    Sha256::new()
        .chain_update(ek.expose_secret())
        .chain_update(iv)
        .finalize_into(digest.into());
    Kek(out)
}

impl ObjectKey {
    /// A new object key from 32 random bytes (one OS call), derived from the
    /// external key as MinIO does.
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn generate(ek: &ExternalKey) -> Result<Self> {
        let mut random = Zeroizing::new([0u8; 32]);
        rng::fill(random.as_mut_slice())?;
        Ok(Self::generate_with(ek, &random))
    }

    /// Generates an object key, a fresh IV and seals the key, drawing all 76
    /// random bytes (32 key, 32 IV, 12 nonce) with one OS call. `algorithm`
    /// is [`SealAlgorithm::DareV2HmacSha256`] (what MinIO reads) or
    /// [`SealAlgorithm::KeywrapV2`].
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails;
    /// [`Error::InvalidKey`] for [`SealAlgorithm::DareSha256`], which only unseals.
    pub fn generate_sealed(
        ek: &ExternalKey,
        algorithm: SealAlgorithm,
        domain: SseType,
        bucket: &str,
        object: &str,
    ) -> Result<(Self, SealedObjectKey)> {
        let mut random = Zeroizing::new([0u8; 32]);
        let mut iv = [0u8; IV_LEN];
        let mut nonce = [0u8; dare::NONCE_SIZE];
        rng::fill_parts(&mut [random.as_mut_slice(), &mut iv, &mut nonce])?;
        let key = Self::generate_with(ek, &random);
        let sealed = match algorithm {
            SealAlgorithm::DareV2HmacSha256 => key.seal_with(
                ek,
                &iv,
                domain,
                bucket,
                object,
                CipherSuite::platform_default(),
                nonce,
            )?,
            SealAlgorithm::KeywrapV2 => key.seal_v2_with(ek, &iv, domain, bucket, object, nonce)?,
            SealAlgorithm::DareSha256 => return Err(LEGACY_SEAL),
        };
        Ok((key, sealed))
    }

    /// Seals this key as MinIO does (`DAREv2-HMAC-SHA256`): one final
    /// DARE 2.0 package under the [`derive_kek`] KEK, with a random nonce
    /// and the platform's DARE cipher suite. MinIO's key rotation re-seals
    /// with a fresh IV (SSE-S3, SSE-KMS) or the old one (SSE-C).
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn seal(
        &self,
        ek: &ExternalKey,
        iv: &[u8; IV_LEN],
        domain: SseType,
        bucket: &str,
        object: &str,
    ) -> Result<SealedObjectKey> {
        let nonce = dare::random_nonce()?;
        self.seal_with(
            ek,
            iv,
            domain,
            bucket,
            object,
            CipherSuite::platform_default(),
            nonce,
        )
    }

    /// [`ObjectKey::seal`] with a caller-chosen cipher suite and DARE nonce
    /// (deterministic; the final flag is set in the stored header).
    ///
    /// # Errors
    /// Only if the DARE layer rejects its input, which a 32-byte key never is.
    // The deterministic variant takes every input of the operation explicitly.
    #[allow(clippy::too_many_arguments)]
    pub fn seal_with(
        &self,
        ek: &ExternalKey,
        iv: &[u8; IV_LEN],
        domain: SseType,
        bucket: &str,
        object: &str,
        suite: CipherSuite,
        nonce: [u8; dare::NONCE_SIZE],
    ) -> Result<SealedObjectKey> {
        let kek = derive_kek(ek, iv, domain, bucket, object);
        let sealed = dare::seal_package(kek.expose_secret(), suite, nonce, self.expose_secret())?;
        SealedObjectKey::new(SealAlgorithm::DareV2HmacSha256, *iv, sealed)
    }

    /// Seals this key in the kes-rs v2 form: the key-wrap (AES-256-GCM-SIV)
    /// of the key under the [`derive_kek_v2`] KEK, with a random nonce.
    ///
    /// # Errors
    /// [`Error::Rng`] when the OS randomness source fails.
    pub fn seal_v2(
        &self,
        ek: &ExternalKey,
        iv: &[u8; IV_LEN],
        domain: SseType,
        bucket: &str,
        object: &str,
    ) -> Result<SealedObjectKey> {
        let nonce = rng::array::<{ keywrap::NONCE_LEN }>()?;
        self.seal_v2_with(ek, iv, domain, bucket, object, nonce)
    }

    /// [`ObjectKey::seal_v2`] with a caller-chosen nonce (deterministic).
    ///
    /// # Errors
    /// Only if the key-wrap rejects its input, which a 32-byte key never is.
    pub fn seal_v2_with(
        &self,
        ek: &ExternalKey,
        iv: &[u8; IV_LEN],
        domain: SseType,
        bucket: &str,
        object: &str,
        nonce: [u8; keywrap::NONCE_LEN],
    ) -> Result<SealedObjectKey> {
        let kek = derive_kek_v2(ek, iv, domain, bucket, object);
        let wrap = keywrap::WrapKey::new(*kek.expose_secret());
        let sealed = wrap.seal_with_nonce(&nonce, self.expose_secret(), KEYWRAP_V2_AAD)?;
        SealedObjectKey::new(SealAlgorithm::KeywrapV2, *iv, sealed)
    }

    /// Unseals a sealed object key with the external key, domain and
    /// object path it was sealed for, by its algorithm:
    ///
    /// - `DAREv2-HMAC-SHA256`: the [`derive_kek`] KEK; DARE 2.0 only;
    /// - `DARE-SHA256` (legacy SSE-C): key `SHA-256(EK ‖ IV)`, no domain or
    ///   path; DARE 1.0 or 2.0;
    /// - kes-rs v2: the [`derive_kek_v2`] KEK and the key-wrap.
    ///
    /// The plaintext must be exactly 32 bytes.
    ///
    /// # Errors
    /// [`Error::NotAuthentic`] for every failure (MinIO's
    /// `ErrSecretKeyMismatch`): wrong key, domain, bucket, object or IV, or
    /// a tampered sealed key.
    pub fn unseal(
        sealed: &SealedObjectKey,
        ek: &ExternalKey,
        domain: SseType,
        bucket: &str,
        object: &str,
    ) -> Result<Self> {
        let plaintext = match sealed.algorithm {
            SealAlgorithm::DareV2HmacSha256 => {
                let kek = derive_kek(ek, &sealed.iv, domain, bucket, object);
                dare::open_package_with(
                    kek.expose_secret(),
                    &sealed.key,
                    &DecryptOptions::v2_only(),
                )
            }
            SealAlgorithm::DareSha256 => {
                let key = derive_legacy_unseal_key(ek, &sealed.iv);
                dare::open_package_with(key.expose_secret(), &sealed.key, &DecryptOptions::new())
            }
            SealAlgorithm::KeywrapV2 => {
                let kek = derive_kek_v2(ek, &sealed.iv, domain, bucket, object);
                keywrap::WrapKey::new(*kek.expose_secret()).open(&sealed.key, KEYWRAP_V2_AAD)
            }
        }
        .map_err(|_| Error::NotAuthentic)?;
        Self::try_from_slice(&plaintext).map_err(|_| Error::NotAuthentic)
    }

    /// MinIO's object-key generation from caller-supplied randomness:
    /// `HMAC-SHA256(EK, "object-encryption-key generation" ‖ random)`.
    pub fn generate_with(ek: &ExternalKey, random: &[u8; 32]) -> Self {
        Self(mac::sign(
            ek.expose_secret(),
            &[OBJECT_KEY_GENERATION, random],
        ))
    }

    /// The key of multipart part `part_number` (1-based as in the S3
    /// request; MinIO does not check the range): `HMAC-SHA256(OEK, LE32(part))`.
    pub fn derive_part_key(&self, part_number: u32) -> PartKey {
        PartKey(mac::sign(
            self.expose_secret(),
            &[&part_number.to_le_bytes()],
        ))
    }
}

/// The deterministic DARE nonce MinIO uses for multipart part
/// `part_number` of upload `upload_id`: the first 12 bytes of
/// `SHA-256(upload_id ‖ decimal(part_number))` (Go's `fmt.Append` puts no
/// separator between them). The DARE writer then sets the final flag in the
/// stored header as usual.
pub fn multipart_part_nonce(upload_id: &str, part_number: u32) -> [u8; dare::NONCE_SIZE] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(upload_id.as_bytes());
    ctx.update(part_number.to_string().as_bytes());
    let d = ctx.finish();
    let mut nonce = [0u8; dare::NONCE_SIZE];
    for (dst, src) in nonce.iter_mut().zip(d.as_ref()) {
        *dst = *src;
    }
    nonce
}

/// A data encryption key from a KMS: the plaintext (used as the
/// [`ExternalKey`]) and the ciphertext that is stored in object metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct Dek {
    key_id: String,
    plaintext: ExternalKey,
    ciphertext: Vec<u8>,
}

impl Dek {
    /// Assembles a DEK from the name of the KMS key that sealed it, its
    /// plaintext and its ciphertext.
    pub fn new(key_id: impl Into<String>, plaintext: ExternalKey, ciphertext: Vec<u8>) -> Self {
        Self {
            key_id: key_id.into(),
            plaintext,
            ciphertext,
        }
    }

    /// The name of the KMS key that sealed this DEK.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The plaintext, as the external key of the envelope chain.
    pub fn plaintext(&self) -> &ExternalKey {
        &self.plaintext
    }

    /// The ciphertext to store (opaque, any length).
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Splits into key id, plaintext and ciphertext.
    pub fn into_parts(self) -> (String, ExternalKey, Vec<u8>) {
        (self.key_id, self.plaintext, self.ciphertext)
    }

    /// MinIO's `DEK.MarshalText`: the key id and ciphertext as JSON, with
    /// the plaintext dropped.
    pub fn to_text(&self) -> String {
        SealedDek {
            key_id: self.key_id.clone(),
            version: 0,
            ciphertext: Some(self.ciphertext.clone()),
        }
        .to_text()
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dek")
            .field("key_id", &self.key_id)
            .field("plaintext", &self.plaintext)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// A DEK without its plaintext: what MinIO's `DEK.MarshalText` writes,
/// `{"keyid":…,["version":n,]"ciphertext":b64|null}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedDek {
    /// The name of the KMS key that sealed the DEK.
    pub key_id: String,
    /// The key version (omitted from the text when 0).
    pub version: u32,
    /// The ciphertext; `None` encodes as JSON `null`.
    pub ciphertext: Option<Vec<u8>>,
}

impl SealedDek {
    /// The JSON text form (Go `encoding/json`, HTML-escaped strings).
    pub fn to_text(&self) -> String {
        use base64::Engine as _;
        let mut out = Vec::with_capacity(32 + self.key_id.len());
        out.extend_from_slice(b"{\"keyid\":\"");
        super::context::escape_json_string(self.key_id.as_bytes(), &mut out);
        out.push(b'"');
        if self.version != 0 {
            out.extend_from_slice(format!(",\"version\":{}", self.version).as_bytes());
        }
        out.extend_from_slice(b",\"ciphertext\":");
        match &self.ciphertext {
            None => out.extend_from_slice(b"null"),
            Some(ct) => {
                out.push(b'"');
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(ct)
                        .as_bytes(),
                );
                out.push(b'"');
            }
        }
        out.push(b'}');
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Parses the JSON text form (MinIO's `DEK.UnmarshalText`).
    pub fn from_text(text: &[u8]) -> Result<Self> {
        use base64::Engine as _;
        #[derive(serde::Deserialize)]
        struct Json {
            #[serde(default)]
            keyid: String,
            #[serde(default)]
            version: u32,
            #[serde(default)]
            ciphertext: Option<String>,
        }
        let bad = |reason| Error::Malformed {
            what: "DEK text",
            reason,
        };
        let json: Json = serde_json::from_slice(text).map_err(|_| bad("not a DEK JSON object"))?;
        let ciphertext = match json.ciphertext {
            None => None,
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| bad("ciphertext is not base64"))?,
            ),
        };
        Ok(Self {
            key_id: json.keyid,
            version: json.version,
            ciphertext,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_clean_go_cases() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("a/b/../../c", "c"),
            ("abc/def/../../..", ".."),
            ("../../a/b", "../../a/b"),
            ("a//b/./c/", "a/b/c"),
            ("/abc/../../../x", "/x"),
            ("abc/./../def", "def"),
        ] {
            assert_eq!(go_path_clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let k = ObjectKey::from_bytes([7; 32]);
        assert_eq!(format!("{k:?}"), "ObjectKey(<redacted>)");
        let dek = Dek::new("k", ExternalKey::from_bytes([9; 32]), vec![1, 2, 3]);
        let s = format!("{dek:?}");
        assert!(!s.contains("9, 9"), "{s}");
    }

    #[test]
    fn constant_time_eq() {
        assert_eq!(Kek::from_bytes([1; 32]), Kek::from_bytes([1; 32]));
        assert_ne!(Kek::from_bytes([1; 32]), Kek::from_bytes([2; 32]));
        assert!(Kek::try_from_slice(&[0; 31]).is_err());
    }
}
