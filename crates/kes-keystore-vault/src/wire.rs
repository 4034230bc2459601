//! The JSON shapes of the Vault API calls we make, parsed leniently.
//!
//! Only the fields we need are read; everything else (`request_id`, `lease_id`, `metadata`,
//! …) may be missing, as it is in RustyVault's answers. Strings that may hold key material
//! or tokens are read into zeroizing storage. Error bodies come as `{"errors":["…"]}` (Vault)
//! or `{"error":"…"}` (RustyVault); both are understood.

use std::collections::HashMap;
use std::fmt;

use secrecy::SecretString;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The longest error text taken over from a response body.
const MAX_ERROR_TEXT: usize = 512;

/// A JSON value that is kept only if it is a string, in zeroizing storage.
#[derive(Default)]
pub(crate) struct SecretField(pub(crate) Option<Zeroizing<String>>);

impl<'de> Deserialize<'de> for SecretField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretField, E> {
                Ok(SecretField(Some(Zeroizing::new(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SecretField, E> {
                Ok(SecretField(Some(Zeroizing::new(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretField, E> {
                Ok(SecretField(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretField, E> {
                Ok(SecretField(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretField, E> {
                Ok(SecretField(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretField, E> {
                Ok(SecretField(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<SecretField, E> {
                Ok(SecretField(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<SecretField, E> {
                Ok(SecretField(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<SecretField, D::Error> {
                SecretField::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretField, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(SecretField(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretField, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(SecretField(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A K/V entry: field name → value.
pub(crate) type Fields = HashMap<String, SecretField>;

/// `GET /v1/<kv1>/<location>`.
#[derive(Deserialize)]
pub(crate) struct Kv1Read {
    #[serde(default)]
    pub(crate) data: Option<Fields>,
}

/// `GET /v1/<kv2>/data/<location>`.
#[derive(Deserialize)]
pub(crate) struct Kv2Read {
    #[serde(default)]
    pub(crate) data: Option<Kv2Data>,
}

/// The `data` of a KV v2 read: the entry's fields (null for a deleted version).
#[derive(Deserialize)]
pub(crate) struct Kv2Data {
    #[serde(default)]
    pub(crate) data: Option<Fields>,
}

/// `LIST /v1/<path>`.
#[derive(Deserialize)]
pub(crate) struct ListReply {
    #[serde(default)]
    pub(crate) data: Option<ListData>,
}

/// The `data` of a list answer.
#[derive(Deserialize)]
pub(crate) struct ListData {
    #[serde(default)]
    pub(crate) keys: Option<Vec<String>>,
}

/// A login or token renewal answer.
#[derive(Deserialize)]
pub(crate) struct AuthReply {
    #[serde(default)]
    pub(crate) auth: Option<AuthData>,
}

/// The `auth` block: the token and its lease.
#[derive(Deserialize)]
pub(crate) struct AuthData {
    #[serde(default)]
    pub(crate) client_token: SecretField,
    #[serde(default)]
    pub(crate) lease_duration: u64,
    #[serde(default)]
    pub(crate) renewable: bool,
}

impl AuthData {
    /// The token, if the answer carried a non-empty one.
    pub(crate) fn token(&self) -> Option<SecretString> {
        self.client_token
            .0
            .as_ref()
            .filter(|t| !t.is_empty())
            .map(|t| SecretString::from(t.as_str().to_owned()))
    }
}

/// `POST /v1/<transit>/encrypt/<key>` and `…/decrypt/<key>`.
#[derive(Deserialize)]
pub(crate) struct TransitReply {
    #[serde(default)]
    pub(crate) data: Option<TransitData>,
}

/// The `data` of a transit answer.
#[derive(Deserialize)]
pub(crate) struct TransitData {
    #[serde(default)]
    pub(crate) ciphertext: Option<String>,
    #[serde(default)]
    pub(crate) plaintext: SecretField,
}

/// `GET /v1/sys/health` and `GET /v1/sys/seal-status`.
#[derive(Deserialize)]
pub(crate) struct Health {
    #[serde(default)]
    pub(crate) initialized: Option<bool>,
    #[serde(default)]
    pub(crate) sealed: Option<bool>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Option<Vec<String>>,
    #[serde(default)]
    error: Option<String>,
}

/// The error text of a non-2xx answer.
pub(crate) fn error_message(status: u16, body: &[u8]) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            errors: Some(errors),
            ..
        }) if !errors.is_empty() => errors.join("; "),
        Ok(ErrorBody {
            error: Some(error), ..
        }) if !error.is_empty() => error,
        Ok(_) => String::new(),
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let mut text: String = text.chars().take(MAX_ERROR_TEXT).collect();
    if text.is_empty() {
        text = reason.to_owned();
    }
    format!("{status} {}", text.trim())
}

/// Serializes `value` into zeroizing storage (a best effort: the buffer is sized up front so
/// it does not reallocate and leave copies behind).
pub(crate) fn json_body(value: &impl Serialize, size_hint: usize) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(2 * size_hint + 256));
    // Serializing maps of strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, value);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn both_error_formats() {
        assert_eq!(
            error_message(400, br#"{"errors":["invalid secret id","x"]}"#),
            "400 invalid secret id; x"
        );
        assert_eq!(
            error_message(503, br#"{"error":"RustyVault is sealed."}"#),
            "503 RustyVault is sealed."
        );
        assert_eq!(error_message(404, b""), "404 Not Found");
        assert_eq!(error_message(404, br#"{"errors":[]}"#), "404 Not Found");
        assert_eq!(error_message(502, b"bad gateway\n"), "502 bad gateway");
        let long = "x".repeat(5000);
        assert!(error_message(500, long.as_bytes()).len() < 600);
    }

    #[test]
    fn lenient_reads() {
        // RustyVault: no request_id, lease fields present.
        let r: Kv1Read = serde_json::from_str(
            r#"{"renewable":false,"lease_id":"","lease_duration":3600,"auth":null,"data":{"k1":"v1","n":5,"o":{"a":[1]}}}"#,
        )
        .unwrap();
        let data = r.data.unwrap();
        assert_eq!(data["k1"].0.as_deref().map(String::as_str), Some("v1"));
        assert!(data["n"].0.is_none() && data["o"].0.is_none());

        let r: Kv2Read =
            serde_json::from_str(r#"{"data":{"data":null,"metadata":{"version":1}}}"#).unwrap();
        assert!(r.data.unwrap().data.is_none());

        let r: ListReply = serde_json::from_str(r#"{"data":{"keys":["a","b/"]}}"#).unwrap();
        assert_eq!(r.data.unwrap().keys.unwrap(), ["a", "b/"]);

        let r: AuthReply = serde_json::from_str(
            r#"{"auth":{"client_token":"t-1","policies":["default"],"lease_duration":5,"renewable":true},"data":{}}"#,
        )
        .unwrap();
        let auth = r.auth.unwrap();
        assert_eq!(auth.token().unwrap().expose_secret(), "t-1");
        assert_eq!((auth.lease_duration, auth.renewable), (5, true));
        let r: AuthReply = serde_json::from_str(r#"{"auth":null}"#).unwrap();
        assert!(r.auth.is_none());

        let h: Health = serde_json::from_str(r#"{"sealed":true,"t":1,"n":1}"#).unwrap();
        assert_eq!((h.initialized, h.sealed), (None, Some(true)));
    }

    #[test]
    fn bodies() {
        let body = json_body(&std::collections::BTreeMap::from([("k", "v\"")]), 4);
        assert_eq!(body.as_slice(), br#"{"k":"v\""}"#);
    }
}
