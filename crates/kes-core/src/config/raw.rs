//! The YAML document as written, before environment expansion and
//! validation. This is the only place that touches `serde_yaml`.
//!
//! Every scalar is kept as its source text: [`Str`] is read with
//! `deserialize_str`, which hands over the scalar exactly as written (so
//! `1.0`, `0x10` or a 64-digit identity stay text, as Go's yaml.v3 keeps
//! them for string fields). [`Any`] is read with `deserialize_any` for the
//! boolean and duration fields, where YAML's type resolution matters.
//! Unknown keys are ignored, as in KES; type mismatches are errors that
//! name the field and its line.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Parses the document into the raw tree.
pub(crate) fn parse(text: &str) -> Result<RawFile, String> {
    if text.trim().is_empty() {
        return Err("invalid config: the file is empty".to_owned());
    }
    serde_yaml::from_str::<Option<RawFile>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| e.to_string())
}

/// A scalar's text (string fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Str(pub(crate) String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
                Ok(Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str, E> {
                Ok(Str(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// A resolved scalar (boolean and duration fields).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Any {
    /// A string (quoted, or plain text that is no other type).
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// A number, as text for messages.
    Number(String),
}

impl<'de> Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Any;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Any, E> {
                Ok(Any::Str(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Any, E> {
                Ok(Any::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Any, E> {
                Ok(Any::Number(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Any, E> {
                Ok(Any::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Any, E> {
                Ok(Any::Number(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping with string keys, in document order; duplicate keys are errors.
#[derive(Clone, Debug)]
pub(crate) struct Ordered<V>(pub(crate) Vec<(String, Option<V>)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut out: Vec<(String, Option<V>)> = Vec::new();
                while let Some(Str(key)) = map.next_key::<Str>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!(
                            "duplicate entry with key '{key}'"
                        )));
                    }
                    let value = map.next_value::<Option<V>>()?;
                    out.push((key, value));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Vis(std::marker::PhantomData))
    }
}

/// A list whose `null` elements stay `None`.
pub(crate) type List<T> = Vec<Option<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawFile {
    pub(crate) version: Option<Str>,
    pub(crate) address: Option<Str>,
    pub(crate) admin: Option<RawAdmin>,
    /// Legacy (≤ v0.17): the admin identity.
    pub(crate) root: Option<Str>,
    pub(crate) tls: Option<RawTls>,
    /// Legacy top-level TLS proxy block (seen in v0.13 test files).
    pub(crate) proxy: Option<IgnoredAny>,
    pub(crate) cache: Option<RawCache>,
    pub(crate) log: Option<RawLog>,
    pub(crate) api: Option<Ordered<RawApi>>,
    pub(crate) policy: Option<Ordered<RawPolicy>>,
    pub(crate) keys: Option<RawKeys>,
    pub(crate) keystore: Option<RawKeyStores>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawAdmin {
    pub(crate) identity: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawTls {
    pub(crate) key: Option<Str>,
    pub(crate) cert: Option<Str>,
    pub(crate) password: Option<Str>,
    pub(crate) auth: Option<Str>,
    pub(crate) ca: Option<Str>,
    pub(crate) proxy: Option<RawProxy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawProxy {
    pub(crate) identities: Option<List<Str>>,
    pub(crate) header: Option<RawProxyHeader>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawProxyHeader {
    pub(crate) cert: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawCache {
    pub(crate) expiry: Option<RawExpiry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawExpiry {
    pub(crate) any: Option<Any>,
    pub(crate) unused: Option<Any>,
    pub(crate) offline: Option<Any>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawLog {
    pub(crate) error: Option<Str>,
    pub(crate) audit: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawApi {
    pub(crate) skip_auth: Option<Any>,
    pub(crate) timeout: Option<Any>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawPolicy {
    pub(crate) allow: Option<List<Str>>,
    pub(crate) deny: Option<List<Str>>,
    pub(crate) identities: Option<List<Str>>,
    /// Legacy (≤ v0.14): the allow patterns.
    pub(crate) paths: Option<List<Str>>,
}

/// `keys`: a list of `{name}` (current), or a mapping of backends (v0.13).
#[derive(Debug)]
pub(crate) enum RawKeys {
    List(List<RawKey>),
    LegacyBackends(Box<RawKeyStores>),
}

impl<'de> Deserialize<'de> for RawKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of {name: …} entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKeys, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = seq.next_element::<Option<RawKey>>()? {
                    out.push(entry);
                }
                Ok(RawKeys::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawKeys, A::Error> {
                let stores = RawKeyStores::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawKeys::LegacyBackends(Box::new(stores)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawKey {
    pub(crate) name: Option<Str>,
}

/// `keystore`: the known backends, plus the names of unknown ones.
#[derive(Debug, Default)]
pub(crate) struct RawKeyStores {
    pub(crate) fs: Option<RawFs>,
    pub(crate) vault: Option<RawVault>,
    pub(crate) fortanix: Option<RawFortanix>,
    pub(crate) aws: Option<RawAws>,
    pub(crate) gemalto: Option<RawGemalto>,
    pub(crate) gcp: Option<RawGcp>,
    pub(crate) azure: Option<RawAzure>,
    pub(crate) entrust: Option<RawEntrust>,
    /// `kes` (KES-to-KES, 2023): parsed by upstream but never used.
    pub(crate) kes: bool,
    /// `generic` (KES plugin, ≤ v0.17): removed upstream.
    pub(crate) generic: Option<RawGeneric>,
    /// Other keys: not a keystore KES knows.
    pub(crate) unknown: Vec<String>,
}

impl<'de> Deserialize<'de> for RawKeyStores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKeyStores;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of keystores")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKeyStores, A::Error> {
                let mut out = RawKeyStores::default();
                let mut seen: Vec<String> = Vec::new();
                while let Some(Str(key)) = map.next_key::<Str>()? {
                    if seen.contains(&key) {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    match key.as_str() {
                        "fs" => out.fs = map.next_value()?,
                        "vault" => out.vault = map.next_value()?,
                        "fortanix" => out.fortanix = map.next_value()?,
                        "aws" => out.aws = map.next_value()?,
                        "gemalto" => out.gemalto = map.next_value()?,
                        "gcp" => out.gcp = map.next_value()?,
                        "azure" => out.azure = map.next_value()?,
                        "entrust" => out.entrust = map.next_value()?,
                        "kes" => out.kes = map.next_value::<Option<IgnoredAny>>()?.is_some(),
                        "generic" => out.generic = map.next_value()?,
                        _ => {
                            if map.next_value::<Option<IgnoredAny>>()?.is_some() {
                                out.unknown.push(key.clone());
                            }
                        }
                    }
                    seen.push(key);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawGeneric {
    pub(crate) endpoint: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawFs {
    pub(crate) path: Option<Str>,
    pub(crate) seal: Option<RawSeal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawSeal {
    pub(crate) key_file: Option<Str>,
    pub(crate) key: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawVault {
    pub(crate) endpoint: Option<Str>,
    pub(crate) engine: Option<Str>,
    pub(crate) version: Option<Str>,
    pub(crate) namespace: Option<Str>,
    pub(crate) prefix: Option<Str>,
    pub(crate) transit: Option<RawVaultTransit>,
    pub(crate) approle: Option<RawVaultAppRole>,
    pub(crate) kubernetes: Option<RawVaultKubernetes>,
    pub(crate) tls: Option<RawVaultTls>,
    pub(crate) status: Option<RawVaultStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawVaultTransit {
    pub(crate) engine: Option<Str>,
    pub(crate) key: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawVaultAppRole {
    pub(crate) engine: Option<Str>,
    pub(crate) namespace: Option<Str>,
    pub(crate) id: Option<Str>,
    pub(crate) secret: Option<Str>,
    /// Legacy (≤ v0.18): re-authentication delay; ignored.
    pub(crate) retry: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawVaultKubernetes {
    pub(crate) engine: Option<Str>,
    pub(crate) namespace: Option<Str>,
    pub(crate) role: Option<Str>,
    pub(crate) jwt: Option<Str>,
    /// Legacy (≤ v0.18): re-authentication delay; ignored.
    pub(crate) retry: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawVaultTls {
    pub(crate) key: Option<Str>,
    pub(crate) cert: Option<Str>,
    pub(crate) ca: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawVaultStatus {
    pub(crate) ping: Option<Any>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawCa {
    pub(crate) ca: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawFortanix {
    pub(crate) sdkms: Option<RawSdkms>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawSdkms {
    pub(crate) endpoint: Option<Str>,
    pub(crate) group_id: Option<Str>,
    pub(crate) credentials: Option<RawSdkmsCredentials>,
    pub(crate) tls: Option<RawCa>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawSdkmsCredentials {
    pub(crate) key: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawAws {
    pub(crate) secretsmanager: Option<RawSecretsManager>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawSecretsManager {
    pub(crate) endpoint: Option<Str>,
    pub(crate) region: Option<Str>,
    pub(crate) kmskey: Option<Str>,
    pub(crate) credentials: Option<RawAwsCredentials>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawAwsCredentials {
    pub(crate) accesskey: Option<Str>,
    pub(crate) secretkey: Option<Str>,
    pub(crate) token: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawGemalto {
    pub(crate) keysecure: Option<RawKeySecure>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawKeySecure {
    pub(crate) endpoint: Option<Str>,
    pub(crate) credentials: Option<RawKeySecureCredentials>,
    pub(crate) tls: Option<RawCa>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawKeySecureCredentials {
    pub(crate) token: Option<Str>,
    pub(crate) domain: Option<Str>,
    /// Legacy: re-authentication delay; ignored by current KES.
    pub(crate) retry: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawGcp {
    pub(crate) secretmanager: Option<RawSecretManager>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawSecretManager {
    pub(crate) project_id: Option<Str>,
    pub(crate) endpoint: Option<Str>,
    pub(crate) scopes: Option<List<Str>>,
    pub(crate) credentials: Option<RawGcpCredentials>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawGcpCredentials {
    pub(crate) client_email: Option<Str>,
    pub(crate) client_id: Option<Str>,
    pub(crate) private_key_id: Option<Str>,
    pub(crate) private_key: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawAzure {
    pub(crate) keyvault: Option<RawKeyVault>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawKeyVault {
    pub(crate) endpoint: Option<Str>,
    pub(crate) credentials: Option<RawAzureCredentials>,
    pub(crate) managed_identity: Option<RawAzureManagedIdentity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawAzureCredentials {
    pub(crate) tenant_id: Option<Str>,
    pub(crate) client_id: Option<Str>,
    pub(crate) client_secret: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawAzureManagedIdentity {
    pub(crate) client_id: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawEntrust {
    pub(crate) keycontrol: Option<RawKeyControl>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawKeyControl {
    pub(crate) endpoint: Option<Str>,
    pub(crate) vault_id: Option<Str>,
    pub(crate) box_id: Option<Str>,
    pub(crate) credentials: Option<RawKeyControlCredentials>,
    pub(crate) tls: Option<RawCa>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a mapping")]
pub(crate) struct RawKeyControlCredentials {
    pub(crate) username: Option<Str>,
    pub(crate) password: Option<Str>,
}
