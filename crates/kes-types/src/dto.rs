//! Request and response bodies of every v1 route (spec §4.4), with field
//! names, omission rules and encodings identical to KES's.
//!
//! Every DTO is `Serialize` (field order and `omitempty` as in the Go
//! structs, bytes as standard padded base64, times as RFC 3339) and
//! `Deserialize` with Go's tolerant rules (see [`crate::json`]). Encode with
//! [`crate::json::to_vec`] and decode with [`crate::json::from_slice`] to get
//! Go's exact bytes and behaviour; serde_json's own functions skip Go's HTML
//! escaping and trailing newline.
//!
//! Fields that carry key material or plaintext are [`SecretBytes`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::api_error::ApiError;
use crate::error::Error;
use crate::json::{field, go_deserialize, is_false, is_zero, ser_bytes, ser_secret};
use crate::secret::SecretBytes;
use crate::time::Timestamp;

// ---------------------------------------------------------------------------
// Key algorithm
// ---------------------------------------------------------------------------

/// The algorithm of a KES secret key, as named on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// `AES256` (AES-256-GCM with an HMAC-SHA256-derived key).
    Aes256,
    /// `ChaCha20` (XChaCha20-Poly1305).
    ChaCha20,
}

impl KeyAlgorithm {
    /// The name KES sends (`AES256`, `ChaCha20`).
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Aes256 => "AES256",
            KeyAlgorithm::ChaCha20 => "ChaCha20",
        }
    }

    /// Parses a name as the Go SDK and the import API do: `AES256` or
    /// `AES256-GCM_SHA256`, `ChaCha20` or `XCHACHA20-POLY1305`; exact case.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "AES256" | "AES256-GCM_SHA256" => Some(KeyAlgorithm::Aes256),
            "ChaCha20" | "XCHACHA20-POLY1305" => Some(KeyAlgorithm::ChaCha20),
            _ => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_name(s).ok_or_else(|| Error::KeyAlgorithm(s.to_owned()))
    }
}

impl Serialize for KeyAlgorithm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyAlgorithm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// `GET /version` → `{"version":…,"commit":…}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VersionResponse {
    /// The release, e.g. `2025-03-12T09-35-18Z`.
    pub version: String,
    /// The source commit.
    pub commit: String,
}
go_deserialize!(VersionResponse {
    version: "version" => field::value,
    commit: "commit" => field::value,
});

/// `GET /v1/status`.
///
/// `keystore_latency` is in **milliseconds** (minimum 1 when the keystore is
/// reachable; the Go SDK reads the number as nanoseconds, a known upstream
/// quirk) and omitted when zero. When the keystore fails, the current server
/// omits the latency and sends `keystore_unreachable: true`; the Go SDK only
/// accepts that together with `keystore_unavailable: true` (which legacy
/// servers sent), so a server that wants `kes status` to work while the
/// keystore is down sets both (spec §4.4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusResponse {
    /// The server version (as `/version`).
    pub version: String,
    /// The operating system, e.g. `linux`.
    pub os: String,
    /// The CPU architecture, e.g. `amd64`.
    pub arch: String,
    /// Uptime in whole seconds (clients also accept a fraction).
    pub uptime: u64,
    /// Logical CPUs.
    pub num_cpu: u64,
    /// CPUs usable by the process.
    pub num_cpu_used: u64,
    /// Heap bytes in use.
    pub mem_heap_used: u64,
    /// Stack bytes in use.
    pub mem_stack_used: u64,
    /// Keystore round-trip in milliseconds; omitted when zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub keystore_latency: u64,
    /// The keystore cannot be reached; omitted when false.
    #[serde(skip_serializing_if = "is_false")]
    pub keystore_unreachable: bool,
    /// The keystore is not available; omitted when false.
    #[serde(skip_serializing_if = "is_false")]
    pub keystore_unavailable: bool,
}
go_deserialize!(StatusResponse {
    version: "version" => field::value,
    os: "os" => field::value,
    arch: "arch" => field::value,
    uptime: "uptime" => decode_uptime,
    num_cpu: "num_cpu" => field::value,
    num_cpu_used: "num_cpu_used" => field::value,
    mem_heap_used: "mem_heap_used" => field::value,
    mem_stack_used: "mem_stack_used" => field::value,
    keystore_latency: "keystore_latency" => field::value,
    keystore_unreachable: "keystore_unreachable" => field::value,
    keystore_unavailable: "keystore_unavailable" => field::value,
});

/// Uptime: the SDK decodes a float number of seconds (whole seconds here,
/// fractions truncated).
fn decode_uptime<'de, A: MapAccess<'de>>(slot: &mut u64, map: &mut A) -> Result<(), A::Error> {
    struct Seconds(Option<u64>);
    impl<'de> Deserialize<'de> for Seconds {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Seconds;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a non-negative number of seconds")
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                    Ok(Seconds(Some(v)))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                    u64::try_from(v)
                        .map(|v| Seconds(Some(v)))
                        .map_err(E::custom)
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
                    if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
                        Ok(Seconds(Some(v as u64)))
                    } else {
                        Err(E::custom(format!("invalid uptime {v}")))
                    }
                }
                fn visit_unit<E: de::Error>(self) -> Result<Seconds, E> {
                    Ok(Seconds(None))
                }
            }
            d.deserialize_any(V)
        }
    }
    if let Seconds(Some(v)) = map.next_value()? {
        *slot = v;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// `PUT|POST /v1/key/import/<name>` body: `{"key":B64(32 bytes),"cipher":"AES256"}`.
///
/// Legacy clients sent `{"bytes":…}` (until 2022-06) and
/// `{"bytes":…,"algorithm":…}` (until 2023-09); those fields are read too
/// (never written), see [`ImportKeyRequest::validate`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportKeyRequest {
    /// The key material.
    #[serde(serialize_with = "ser_secret")]
    pub key: SecretBytes,
    /// The algorithm name (see [`KeyAlgorithm::from_name`]).
    pub cipher: String,
    /// Legacy name of `key`.
    #[serde(skip)]
    pub legacy_bytes: SecretBytes,
    /// Legacy name of `cipher`.
    #[serde(skip)]
    pub legacy_algorithm: String,
}
go_deserialize!(ImportKeyRequest {
    key: "key" => field::secret,
    cipher: "cipher" => field::value,
    legacy_bytes: "bytes" => field::secret,
    legacy_algorithm: "algorithm" => field::value,
});

impl ImportKeyRequest {
    /// The size of a KES secret key.
    pub const KEY_SIZE: usize = 32;

    /// Checks the request as the import handler does and returns the key's
    /// algorithm and material: first the cipher name (406
    /// `algorithm '<c>' is not supported`, or `… not supported by FIPS 140-2`
    /// for ChaCha20 when `fips`), then the key length (406
    /// `invalid key size for '<c>'`).
    ///
    /// Legacy bodies: when `key` is empty and `bytes` is not, `bytes` is the
    /// key; an empty `cipher` then falls back to `algorithm`, and to `AES256`
    /// when both are empty (the keys such clients imported were AES keys).
    /// A current body with an empty cipher is rejected as upstream does.
    pub fn validate(&self, fips: bool) -> Result<(KeyAlgorithm, &SecretBytes), ApiError> {
        let legacy = self.key.is_empty() && !self.legacy_bytes.is_empty();
        let (material, cipher) = if legacy {
            let cipher = match (self.cipher.as_str(), self.legacy_algorithm.as_str()) {
                ("", "") => KeyAlgorithm::Aes256.as_str(),
                ("", algorithm) => algorithm,
                (cipher, _) => cipher,
            };
            (&self.legacy_bytes, cipher)
        } else {
            (&self.key, self.cipher.as_str())
        };
        let algorithm = match KeyAlgorithm::from_name(cipher) {
            Some(KeyAlgorithm::ChaCha20) if fips => {
                return Err(ApiError::algorithm_not_fips(cipher));
            }
            Some(algorithm) => algorithm,
            None => return Err(ApiError::unsupported_algorithm(cipher)),
        };
        if material.len() != Self::KEY_SIZE {
            return Err(ApiError::invalid_key_size(cipher));
        }
        Ok((algorithm, material))
    }
}

/// `GET /v1/key/describe/<name>` →
/// `{"name":…,"algorithm":"AES256","created_at":…,"created_by":…}`.
///
/// Keys without metadata have the zero `created_at` and no `created_by`.
/// Decoding fails for an unknown algorithm name, as in the Go SDK.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DescribeKeyResponse {
    /// The key name.
    pub name: String,
    /// The key's algorithm; omitted when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<KeyAlgorithm>,
    /// Creation time (always present; zero for legacy keys).
    pub created_at: Timestamp,
    /// Creator identity; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}
go_deserialize!(DescribeKeyResponse {
    name: "name" => field::value,
    algorithm: "algorithm" => field::optional,
    created_at: "created_at" => field::value,
    created_by: "created_by" => field::value,
});

/// `GET /v1/key/list/<pattern>` → `{"names":[…],"continue_at":"…"}`.
///
/// `names` is always an array (upstream may send `null`); `continue_at` is
/// omitted when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListKeysResponse {
    /// Sorted key names.
    pub names: Vec<String>,
    /// The name to continue at; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub continue_at: String,
}
go_deserialize!(ListKeysResponse {
    names: "names" => field::strings,
    continue_at: "continue_at" => field::value,
});

/// `PUT|POST /v1/key/generate/<name>` body (optional):
/// `{"context":B64(associated data)}`.
///
/// `context` and `version` are omitted when empty, as the Go SDK sends them;
/// `version` is accepted and ignored by servers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GenerateKeyRequest {
    /// Associated data bound to the ciphertext.
    #[serde(serialize_with = "ser_bytes", skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<u8>,
    /// Ignored key version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}
go_deserialize!(GenerateKeyRequest {
    context: "context" => field::bytes,
    version: "version" => field::value,
});

/// `PUT|POST /v1/key/generate/<name>` → `{"plaintext":B64,"ciphertext":B64}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GenerateKeyResponse {
    /// The data encryption key.
    #[serde(serialize_with = "ser_secret")]
    pub plaintext: SecretBytes,
    /// The data key encrypted with the named key.
    #[serde(serialize_with = "ser_bytes")]
    pub ciphertext: Vec<u8>,
}
go_deserialize!(GenerateKeyResponse {
    plaintext: "plaintext" => field::secret,
    ciphertext: "ciphertext" => field::bytes,
});

/// `PUT|POST /v1/key/encrypt/<name>` body: `{"plaintext":B64,"context":B64?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EncryptKeyRequest {
    /// The plaintext.
    #[serde(serialize_with = "ser_secret")]
    pub plaintext: SecretBytes,
    /// Associated data; omitted when empty.
    #[serde(serialize_with = "ser_bytes", skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<u8>,
    /// Ignored key version; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}
go_deserialize!(EncryptKeyRequest {
    plaintext: "plaintext" => field::secret,
    context: "context" => field::bytes,
    version: "version" => field::value,
});

/// `PUT|POST /v1/key/encrypt/<name>` → `{"ciphertext":B64}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EncryptKeyResponse {
    /// The ciphertext.
    #[serde(serialize_with = "ser_bytes")]
    pub ciphertext: Vec<u8>,
}
go_deserialize!(EncryptKeyResponse {
    ciphertext: "ciphertext" => field::bytes,
});

/// `PUT|POST /v1/key/decrypt/<name>` body:
/// `{"ciphertext":B64,"context":B64?,"version":""?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DecryptKeyRequest {
    /// The ciphertext.
    #[serde(serialize_with = "ser_bytes")]
    pub ciphertext: Vec<u8>,
    /// Associated data; omitted when empty.
    #[serde(serialize_with = "ser_bytes", skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<u8>,
    /// Ignored key version; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}
go_deserialize!(DecryptKeyRequest {
    ciphertext: "ciphertext" => field::bytes,
    context: "context" => field::bytes,
    version: "version" => field::value,
});

/// `PUT|POST /v1/key/decrypt/<name>` → `{"plaintext":B64}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DecryptKeyResponse {
    /// The plaintext.
    #[serde(serialize_with = "ser_secret")]
    pub plaintext: SecretBytes,
}
go_deserialize!(DecryptKeyResponse {
    plaintext: "plaintext" => field::secret,
});

/// `PUT|POST /v1/key/hmac/<name>` body: `{"message":B64}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HmacRequest {
    /// The message.
    #[serde(serialize_with = "ser_bytes")]
    pub message: Vec<u8>,
    /// Ignored key version; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}
go_deserialize!(HmacRequest {
    message: "message" => field::bytes,
    version: "version" => field::value,
});

/// `PUT|POST /v1/key/hmac/<name>` → `{"hmac":B64(32 bytes)}`.
///
/// Secret: MinIO derives its root credentials from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HmacResponse {
    /// HMAC-SHA256 of the message.
    #[serde(serialize_with = "ser_secret")]
    pub hmac: SecretBytes,
}
go_deserialize!(HmacResponse {
    hmac: "hmac" => field::secret,
});

// ---------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------

/// The value of a policy rule: an empty object `{}` in KES's JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rule;

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Rule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Rule, E> {
                Ok(Rule)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Rule)
            }
        }
        d.deserialize_any(V)
    }
}

/// Policy patterns as KES sends them: pattern → `{}`, sorted.
pub type Rules = BTreeMap<String, Rule>;

/// Builds [`Rules`] from patterns.
pub fn rules<I, S>(patterns: I) -> Rules
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    patterns.into_iter().map(|p| (p.into(), Rule)).collect()
}

/// `GET /v1/policy/describe/<name>` → `{"name":…,"created_at":…,"created_by":…}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DescribePolicyResponse {
    /// The policy name.
    pub name: String,
    /// The server's start time.
    pub created_at: Timestamp,
    /// The admin identity.
    pub created_by: String,
}
go_deserialize!(DescribePolicyResponse {
    name: "name" => field::value,
    created_at: "created_at" => field::value,
    created_by: "created_by" => field::value,
});

/// `GET /v1/policy/read/<name>` →
/// `{"name":…,"allow":{"pattern":{}},"deny":{…},"created_at":…,"created_by":…}`
/// (`allow`/`deny` omitted when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadPolicyResponse {
    /// The policy name.
    pub name: String,
    /// Allow patterns.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub allow: Rules,
    /// Deny patterns.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub deny: Rules,
    /// The server's start time.
    pub created_at: Timestamp,
    /// The admin identity.
    pub created_by: String,
}
go_deserialize!(ReadPolicyResponse {
    name: "name" => field::value,
    allow: "allow" => field::map,
    deny: "deny" => field::map,
    created_at: "created_at" => field::value,
    created_by: "created_by" => field::value,
});

/// `GET /v1/policy/list/<pattern>` → `{"names":[…],"continue_at":""}`
/// (both fields always present).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListPoliciesResponse {
    /// Sorted policy names.
    pub names: Vec<String>,
    /// Always empty for the current server, but always sent.
    pub continue_at: String,
}
go_deserialize!(ListPoliciesResponse {
    names: "names" => field::strings,
    continue_at: "continue_at" => field::value,
});

// ---------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------

/// `GET /v1/identity/describe/<identity>`: admin →
/// `{"admin":true,"created_at":…}`; assigned →
/// `{"policy":…,"created_at":…,"created_by":…}`.
///
/// `ttl` (a Go duration string), `expires_at` and `children` are read by the
/// Go SDK but never sent by KES; they are omitted when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DescribeIdentityResponse {
    /// Whether the identity is the admin; omitted when false.
    #[serde(skip_serializing_if = "is_false")]
    pub admin: bool,
    /// The assigned policy; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy: String,
    /// The server's start time.
    pub created_at: Timestamp,
    /// The admin identity; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Time to live (Go duration syntax); omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ttl: String,
    /// Expiry; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Child identities; omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
}
go_deserialize!(DescribeIdentityResponse {
    admin: "admin" => field::value,
    policy: "policy" => field::value,
    created_at: "created_at" => field::value,
    created_by: "created_by" => field::value,
    ttl: "ttl" => field::value,
    expires_at: "expires_at" => field::optional,
    children: "children" => field::strings,
});

/// `GET /v1/identity/self/describe`, in the legacy, SDK-compatible form
/// (spec §4.4 recommendation): admin →
/// `{"identity":…,"admin":true,"created_at":…}`; others →
/// `{"identity":…,"created_at":…,"created_by":…,"policy":"name","allow":{…},"deny":{…}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SelfDescribeIdentityResponse {
    /// The caller's identity.
    pub identity: String,
    /// Whether the caller is the admin; omitted when false.
    #[serde(skip_serializing_if = "is_false")]
    pub admin: bool,
    /// The server's start time.
    pub created_at: Timestamp,
    /// The admin identity; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// The assigned policy name; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy: String,
    /// The policy's allow patterns; omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub allow: Rules,
    /// The policy's deny patterns; omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub deny: Rules,
    /// Time to live (Go duration syntax); omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ttl: String,
    /// Expiry; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Child identities; omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
}
go_deserialize!(SelfDescribeIdentityResponse {
    identity: "identity" => field::value,
    admin: "admin" => field::value,
    created_at: "created_at" => field::value,
    created_by: "created_by" => field::value,
    policy: "policy" => field::value,
    allow: "allow" => field::map,
    deny: "deny" => field::map,
    ttl: "ttl" => field::value,
    expires_at: "expires_at" => field::optional,
    children: "children" => field::strings,
});

/// `GET /v1/identity/list/<pattern>` → `{"identities":[…],"continue_at":""}`
/// (both fields always present).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListIdentitiesResponse {
    /// Sorted identities.
    pub identities: Vec<String>,
    /// Always empty for the current server, but always sent.
    pub continue_at: String,
}
go_deserialize!(ListIdentitiesResponse {
    identities: "identities" => field::strings,
    continue_at: "continue_at" => field::value,
});

// ---------------------------------------------------------------------------
// Legacy NDJSON listings (servers before 2023-10; clients still read them)
// ---------------------------------------------------------------------------

/// One line of a legacy `application/x-ndjson` key or policy listing:
/// `{"name":…}`, or a final `{"error":…}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LegacyListEntry {
    /// The listed name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// An error that ended the listing.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}
go_deserialize!(LegacyListEntry {
    name: "name" => field::value,
    error: "error" => field::value,
});

/// One line of a legacy `application/x-ndjson` identity listing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LegacyIdentityEntry {
    /// The identity.
    pub identity: String,
    /// Whether it is the admin.
    pub admin: bool,
    /// The assigned policy.
    pub policy: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Creator.
    pub created_by: String,
    /// An error that ended the listing.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}
go_deserialize!(LegacyIdentityEntry {
    identity: "identity" => field::value,
    admin: "admin" => field::value,
    policy: "policy" => field::value,
    created_at: "created_at" => field::value,
    created_by: "created_by" => field::value,
    error: "error" => field::value,
});

// ---------------------------------------------------------------------------
// Log streams
// ---------------------------------------------------------------------------

/// One line of `GET /v1/log/audit` (NDJSON):
/// `{"time":…,"request":{"ip":…,"path":…,"identity":…},"response":{"code":200,"time":<ns>}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditLogEvent {
    /// When the response was sent.
    pub time: Timestamp,
    /// The request.
    pub request: AuditLogRequest,
    /// The response.
    pub response: AuditLogResponse,
}
go_deserialize!(AuditLogEvent {
    time: "time" => field::value,
    request: "request" => field::value,
    response: "response" => field::value,
});

/// The request part of an [`AuditLogEvent`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditLogRequest {
    /// Client IP; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Legacy enclave name; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub enclave: String,
    /// The request path.
    pub path: String,
    /// Client identity; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identity: String,
}
go_deserialize!(AuditLogRequest {
    ip: "ip" => field::value,
    enclave: "enclave" => field::value,
    path: "path" => field::value,
    identity: "identity" => field::value,
});

/// The response part of an [`AuditLogEvent`].
///
/// `time` is the response time in **nanoseconds** (truncated to whole
/// microseconds by legacy servers; the Go SDK reads nanoseconds, current
/// upstream wrongly writes milliseconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditLogResponse {
    /// HTTP status code.
    pub code: u16,
    /// Response time in nanoseconds.
    pub time: i64,
}
go_deserialize!(AuditLogResponse {
    code: "code" => field::value,
    time: "time" => field::value,
});

/// One line of `GET /v1/log/error` (NDJSON): `{"message":…}` (one text log
/// record without its trailing newline).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErrorLogEvent {
    /// The log record.
    pub message: String,
}
go_deserialize!(ErrorLogEvent {
    message: "message" => field::value,
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{from_slice, to_vec};

    fn enc<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn key_algorithm_names() {
        assert_eq!(
            "AES256".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Aes256
        );
        assert_eq!(
            "AES256-GCM_SHA256".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Aes256
        );
        assert_eq!(
            "ChaCha20".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::ChaCha20
        );
        assert_eq!(
            "XCHACHA20-POLY1305".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::ChaCha20
        );
        for bad in ["", "aes256", "AES256-GCM-SHA256", "%!2"] {
            assert!(bad.parse::<KeyAlgorithm>().is_err(), "{bad}");
        }
    }

    #[test]
    fn status_uptime_float() {
        let s: StatusResponse = from_slice(br#"{"uptime":12.9,"num_cpu":8}"#).unwrap();
        assert_eq!((s.uptime, s.num_cpu), (12, 8));
        assert!(from_slice::<StatusResponse>(br#"{"uptime":-1}"#).is_err());
        assert!(from_slice::<StatusResponse>(br#"{"num_cpu":-1}"#).is_err());
    }

    #[test]
    fn omitted_fields() {
        assert_eq!(enc(&GenerateKeyRequest::default()), "{}\n");
        assert_eq!(enc(&ListKeysResponse::default()), "{\"names\":[]}\n");
        assert_eq!(
            enc(&ListPoliciesResponse::default()),
            "{\"names\":[],\"continue_at\":\"\"}\n"
        );
        assert_eq!(
            enc(&DescribeKeyResponse {
                name: "k".into(),
                ..Default::default()
            }),
            "{\"name\":\"k\",\"created_at\":\"0001-01-01T00:00:00Z\"}\n"
        );
    }

    #[test]
    fn legacy_import_bodies() {
        let key = crate::json::encode_base64(&[7u8; 32]);
        let r: ImportKeyRequest =
            from_slice(format!("{{\"bytes\":\"{key}\"}}").as_bytes()).unwrap();
        assert_eq!(r.validate(false).unwrap().0, KeyAlgorithm::Aes256);
        let r: ImportKeyRequest = from_slice(
            format!("{{\"bytes\":\"{key}\",\"algorithm\":\"XCHACHA20-POLY1305\"}}").as_bytes(),
        )
        .unwrap();
        assert_eq!(r.validate(false).unwrap().0, KeyAlgorithm::ChaCha20);
        assert_eq!(
            r.validate(true).unwrap_err().message(),
            "algorithm 'XCHACHA20-POLY1305' not supported by FIPS 140-2"
        );
        let r: ImportKeyRequest = from_slice(format!("{{\"key\":\"{key}\"}}").as_bytes()).unwrap();
        assert_eq!(
            r.validate(false).unwrap_err(),
            ApiError::unsupported_algorithm("")
        );
        // Cipher is checked before the size.
        let r: ImportKeyRequest = from_slice(br#"{"key":"QQ==","cipher":"DES"}"#).unwrap();
        assert_eq!(
            r.validate(false).unwrap_err(),
            ApiError::unsupported_algorithm("DES")
        );
        // Legacy fields are never written.
        let r = ImportKeyRequest {
            legacy_bytes: SecretBytes::from_slice(b"x"),
            ..Default::default()
        };
        assert_eq!(enc(&r), "{\"key\":\"\",\"cipher\":\"\"}\n");
    }
}
