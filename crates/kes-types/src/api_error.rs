//! The KES error contract: every error a KES server sends, as
//! (HTTP status, exact message), in one place.
//!
//! Clients compare errors by **status and message**, literally: MinIO creates
//! its default key only after `404 key does not exist`, and the Go SDK maps
//! responses to its sentinel errors by struct equality. [`ApiError`]'s
//! equality is exactly that comparison.
//!
//! * [`Sentinel`] lists the sentinel errors of the Go SDK (spec §4.2,
//!   `errors.json`), [`LEGACY_ALIASES`] the two legacy messages clients still
//!   map to them.
//! * The `ApiError` constructors below the sentinels are the other messages
//!   the current server sends (spec §1.4, §2.1, §4.4), so handlers never
//!   spell a message themselves.
//! * [`ApiError::to_body`] writes the error body as KES does,
//!   [`ApiError::from_response`] reads one as the Go SDK does.

use std::borrow::Cow;
use std::fmt;

use crate::error::Error;
use crate::json::{self, field, go_deserialize};

/// An error response of a KES server: HTTP status and message.
///
/// Two errors are equal when status and message are equal, which is how KES
/// clients compare them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApiError {
    /// The HTTP status code (400–599).
    pub status: u16,
    /// The error message, sent as `{"message":…}`.
    pub message: Cow<'static, str>,
}

/// The sentinel errors of the KES Go SDK (`kes.Err…`), which clients match by
/// status and message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sentinel {
    /// 403 `not authorized: insufficient permissions` (`ErrNotAllowed`).
    NotAllowed,
    /// 503 `change committed but not replicated` (`ErrPartialWrite`; unused by current servers).
    PartialWrite,
    /// 404 `key does not exist` (`ErrKeyNotFound`).
    KeyNotFound,
    /// 400 `key already exists` (`ErrKeyExists`).
    KeyExists,
    /// 404 `secret does not exist` (`ErrSecretNotFound`; unused by current servers).
    SecretNotFound,
    /// 404 `secret version does not exist` (`ErrSecretVersionNotFound`; unused by current servers).
    SecretVersionNotFound,
    /// 404 `secret already exists` (`ErrSecretExists`; the SDK's status is 404; unused by current servers).
    SecretExists,
    /// 400 `policy already exists` (`ErrPolicyExists`; unused by current servers).
    PolicyExists,
    /// 404 `policy does not exist` (`ErrPolicyNotFound`).
    PolicyNotFound,
    /// 400 `identity already exists` (`ErrIdentityExists`; unused by current servers).
    IdentityExists,
    /// 404 `identity does not exist` (`ErrIdentityNotFound`).
    IdentityNotFound,
    /// 400 `decryption failed: ciphertext is not authentic` (`ErrDecrypt`).
    Decrypt,
    /// 400 `enclave already exists` (`ErrEnclaveExists`; unused by current servers).
    EnclaveExists,
    /// 404 `enclave does not exist` (`ErrEnclaveNotFound`; unused by current servers).
    EnclaveNotFound,
}

impl Sentinel {
    /// Every sentinel, in the order of the Go SDK's `error.go`.
    pub const ALL: [Sentinel; 14] = [
        Sentinel::NotAllowed,
        Sentinel::PartialWrite,
        Sentinel::KeyNotFound,
        Sentinel::KeyExists,
        Sentinel::SecretNotFound,
        Sentinel::SecretVersionNotFound,
        Sentinel::SecretExists,
        Sentinel::PolicyExists,
        Sentinel::PolicyNotFound,
        Sentinel::IdentityExists,
        Sentinel::IdentityNotFound,
        Sentinel::Decrypt,
        Sentinel::EnclaveExists,
        Sentinel::EnclaveNotFound,
    ];

    /// The table: (Go name, status, exact message).
    const fn row(self) -> (&'static str, u16, &'static str) {
        match self {
            Sentinel::NotAllowed => (
                "ErrNotAllowed",
                403,
                "not authorized: insufficient permissions",
            ),
            Sentinel::PartialWrite => (
                "ErrPartialWrite",
                503,
                "change committed but not replicated",
            ),
            Sentinel::KeyNotFound => ("ErrKeyNotFound", 404, "key does not exist"),
            Sentinel::KeyExists => ("ErrKeyExists", 400, "key already exists"),
            Sentinel::SecretNotFound => ("ErrSecretNotFound", 404, "secret does not exist"),
            Sentinel::SecretVersionNotFound => (
                "ErrSecretVersionNotFound",
                404,
                "secret version does not exist",
            ),
            Sentinel::SecretExists => ("ErrSecretExists", 404, "secret already exists"),
            Sentinel::PolicyExists => ("ErrPolicyExists", 400, "policy already exists"),
            Sentinel::PolicyNotFound => ("ErrPolicyNotFound", 404, "policy does not exist"),
            Sentinel::IdentityExists => ("ErrIdentityExists", 400, "identity already exists"),
            Sentinel::IdentityNotFound => ("ErrIdentityNotFound", 404, "identity does not exist"),
            Sentinel::Decrypt => (
                "ErrDecrypt",
                400,
                "decryption failed: ciphertext is not authentic",
            ),
            Sentinel::EnclaveExists => ("ErrEnclaveExists", 400, "enclave already exists"),
            Sentinel::EnclaveNotFound => ("ErrEnclaveNotFound", 404, "enclave does not exist"),
        }
    }

    /// The Go SDK's variable name, e.g. `ErrKeyNotFound`.
    pub const fn go_name(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status code.
    pub const fn status(self) -> u16 {
        self.row().1
    }

    /// The exact message.
    pub const fn message(self) -> &'static str {
        self.row().2
    }

    /// The sentinel as an [`ApiError`].
    pub const fn error(self) -> ApiError {
        ApiError::from_static(self.status(), self.message())
    }

    /// The sentinel with exactly this status and message, if any.
    pub fn find(status: u16, message: &str) -> Option<Sentinel> {
        Self::ALL
            .into_iter()
            .find(|s| s.status() == status && s.message() == message)
    }
}

/// Legacy (status, message) pairs that clients map to a sentinel.
pub const LEGACY_ALIASES: [(u16, &str, Sentinel); 2] = [
    (400, "key does already exist", Sentinel::KeyExists),
    (403, "prohibited by policy", Sentinel::NotAllowed),
];

/// Clients read at most this many bytes of an error body (Go SDK: 1 MiB).
pub const MAX_ERROR_BODY: usize = 1 << 20;

impl ApiError {
    /// An error with a static message.
    pub const fn from_static(status: u16, message: &'static str) -> Self {
        Self {
            status,
            message: Cow::Borrowed(message),
        }
    }

    /// An error with any message.
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The sentinel this error is equal to, if any.
    pub fn sentinel(&self) -> Option<Sentinel> {
        Sentinel::find(self.status, &self.message)
    }

    /// Whether this error equals the sentinel (status and message).
    pub fn is(&self, sentinel: Sentinel) -> bool {
        self.status == sentinel.status() && self.message == sentinel.message()
    }

    /// Maps the legacy aliases (`400 key does already exist`,
    /// `403 prohibited by policy`) to their sentinels, as the Go SDK does.
    pub fn normalize_legacy(self) -> Self {
        for (status, message, sentinel) in LEGACY_ALIASES {
            if self.status == status && self.message == message {
                return sentinel.error();
            }
        }
        self
    }

    /// The error body exactly as the current KES server writes it:
    /// `{"message":<JSON string>\n}` (Go's encoder ends the string value with
    /// a newline *inside* the object). Send it with
    /// `Content-Type: application/json` and its `Content-Length`.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.message.len() + 16);
        body.extend_from_slice(b"{\"message\":");
        match json::to_vec(self.message.as_ref()) {
            Ok(encoded) => body.extend_from_slice(&encoded),
            // Encoding a `str` cannot fail; keep the body valid regardless.
            Err(_) => body.extend_from_slice(b"\"\"\n"),
        }
        body.push(b'}');
        body
    }

    /// Reads an error response as the Go SDK's `parseErrorResponse` does:
    /// at most [`MAX_ERROR_BODY`] bytes are read; if the content type starts
    /// with `application/json` the body is decoded as
    /// [`ErrorResponse`] (`error` wins over `message` when non-empty),
    /// otherwise the raw body is the message; the legacy aliases are mapped
    /// to their sentinels.
    ///
    /// Fails only when a JSON error body is not valid JSON (the SDK returns
    /// the decoding error then).
    pub fn from_response(
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ApiError, Error> {
        let body = body.get(..MAX_ERROR_BODY).unwrap_or(body);
        let is_json = content_type.is_some_and(|ct| ct.trim().starts_with("application/json"));
        let message = if is_json {
            let response: ErrorResponse = json::from_slice(body)?;
            if response.error.is_empty() {
                response.message
            } else {
                response.error
            }
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        Ok(ApiError::new(status, message).normalize_legacy())
    }
}

/// Constructors for every sentinel.
impl ApiError {
    /// 403 `not authorized: insufficient permissions`.
    pub const fn not_allowed() -> Self {
        Sentinel::NotAllowed.error()
    }
    /// 503 `change committed but not replicated`.
    pub const fn partial_write() -> Self {
        Sentinel::PartialWrite.error()
    }
    /// 404 `key does not exist`.
    pub const fn key_not_found() -> Self {
        Sentinel::KeyNotFound.error()
    }
    /// 400 `key already exists`.
    pub const fn key_exists() -> Self {
        Sentinel::KeyExists.error()
    }
    /// 404 `secret does not exist`.
    pub const fn secret_not_found() -> Self {
        Sentinel::SecretNotFound.error()
    }
    /// 404 `secret version does not exist`.
    pub const fn secret_version_not_found() -> Self {
        Sentinel::SecretVersionNotFound.error()
    }
    /// 404 `secret already exists`.
    pub const fn secret_exists() -> Self {
        Sentinel::SecretExists.error()
    }
    /// 400 `policy already exists`.
    pub const fn policy_exists() -> Self {
        Sentinel::PolicyExists.error()
    }
    /// 404 `policy does not exist`.
    pub const fn policy_not_found() -> Self {
        Sentinel::PolicyNotFound.error()
    }
    /// 400 `identity already exists`.
    pub const fn identity_exists() -> Self {
        Sentinel::IdentityExists.error()
    }
    /// 404 `identity does not exist`.
    pub const fn identity_not_found() -> Self {
        Sentinel::IdentityNotFound.error()
    }
    /// 400 `decryption failed: ciphertext is not authentic`.
    pub const fn decrypt() -> Self {
        Sentinel::Decrypt.error()
    }
    /// 400 `enclave already exists`.
    pub const fn enclave_exists() -> Self {
        Sentinel::EnclaveExists.error()
    }
    /// 404 `enclave does not exist`.
    pub const fn enclave_not_found() -> Self {
        Sentinel::EnclaveNotFound.error()
    }
}

/// The other messages of the current KES server (not SDK sentinels, but
/// clients and operators see them verbatim).
impl ApiError {
    /// 405 `received method '<got>' expected '<want>'` (send with header
    /// `Accept: <want>`).
    pub fn method_not_allowed(got: &str, want: &str) -> Self {
        Self::new(405, format!("received method '{got}' expected '{want}'"))
    }
    /// 400 `insecure connection: TLS is required`.
    pub const fn tls_required() -> Self {
        Self::from_static(400, "insecure connection: TLS is required")
    }
    /// 400 `tls: client certificate is required`.
    pub const fn client_certificate_required() -> Self {
        Self::from_static(400, "tls: client certificate is required")
    }
    /// 400 `tls: received more than one client certificate`.
    pub const fn too_many_client_certificates() -> Self {
        Self::from_static(400, "tls: received more than one client certificate")
    }
    /// 400 `invalid request body`.
    pub const fn invalid_request_body() -> Self {
        Self::from_static(400, "invalid request body")
    }
    /// 400 `invalid import key request body`.
    pub const fn invalid_import_body() -> Self {
        Self::from_static(400, "invalid import key request body")
    }
    /// 400 `key name '<name>' is empty, too long or contains invalid characters`.
    pub fn invalid_key_name(name: &str) -> Self {
        Self::new(
            400,
            format!("key name '{name}' is empty, too long or contains invalid characters"),
        )
    }
    /// 400 `policy name '<name>' is empty, too long or contains invalid characters`.
    pub fn invalid_policy_name(name: &str) -> Self {
        Self::new(
            400,
            format!("policy name '{name}' is empty, too long or contains invalid characters"),
        )
    }
    /// 400 `identity '<id>' is empty, too long or contains invalid characters`.
    pub fn invalid_identity(identity: &str) -> Self {
        Self::new(
            400,
            format!("identity '{identity}' is empty, too long or contains invalid characters"),
        )
    }
    /// 400 `listing pattern '<pattern>' is empty, too long or is invalid`
    /// (key, policy and identity listing).
    pub fn invalid_pattern(pattern: &str) -> Self {
        Self::new(
            400,
            format!("listing pattern '{pattern}' is empty, too long or is invalid"),
        )
    }
    /// 406 `algorithm '<cipher>' is not supported` (key import).
    pub fn unsupported_algorithm(cipher: &str) -> Self {
        Self::new(406, format!("algorithm '{cipher}' is not supported"))
    }
    /// 406 `algorithm '<cipher>' not supported by FIPS 140-2` (key import in FIPS mode).
    pub fn algorithm_not_fips(cipher: &str) -> Self {
        Self::new(
            406,
            format!("algorithm '{cipher}' not supported by FIPS 140-2"),
        )
    }
    /// 406 `invalid key size for '<cipher>'` (key import).
    pub fn invalid_key_size(cipher: &str) -> Self {
        Self::new(406, format!("invalid key size for '{cipher}'"))
    }
    /// 409 `key does not support HMAC` (keys stored before 2024 have no HMAC key).
    pub const fn hmac_not_supported() -> Self {
        Self::from_static(409, "key does not support HMAC")
    }
    /// 500 `failed to read server version`.
    pub const fn version_unavailable() -> Self {
        Self::from_static(500, "failed to read server version")
    }
    /// 500 `failed to generate encryption key` (create, generate).
    pub const fn generate_key_failed() -> Self {
        Self::from_static(500, "failed to generate encryption key")
    }
    /// 500 `failed to create key` (import: key or HMAC key construction failed).
    pub const fn create_key_internal() -> Self {
        Self::from_static(500, "failed to create key")
    }
    /// 500 `failed to encrypt plaintext`.
    pub const fn encrypt_failed() -> Self {
        Self::from_static(500, "failed to encrypt plaintext")
    }
    /// 500 `failed to decrypt ciphertext` (crypto errors other than authentication).
    pub const fn decrypt_failed() -> Self {
        Self::from_static(500, "failed to decrypt ciphertext")
    }
    /// 502 `failed to create key` (keystore error on create/import).
    pub const fn store_create_failed() -> Self {
        Self::from_static(502, "failed to create key")
    }
    /// 502 `failed to read key` (keystore error, or a stored value that does not parse).
    pub const fn store_read_failed() -> Self {
        Self::from_static(502, "failed to read key")
    }
    /// 502 `failed to list keys`.
    pub const fn store_list_failed() -> Self {
        Self::from_static(502, "failed to list keys")
    }
    /// 502 `failed to delete key`.
    pub const fn store_delete_failed() -> Self {
        Self::from_static(502, "failed to delete key")
    }
    /// 504 `key store is not reachable` (`/v1/ready`).
    pub const fn store_unreachable() -> Self {
        Self::from_static(504, "key store is not reachable")
    }
    /// 502 `key store is unavailable` (`/v1/ready`).
    pub const fn store_unavailable() -> Self {
        Self::from_static(502, "key store is unavailable")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<Sentinel> for ApiError {
    fn from(s: Sentinel) -> Self {
        s.error()
    }
}

/// An error body as clients decode it: `{"message":…}` or `{"error":…}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The message (current and legacy servers).
    pub message: String,
    /// The message as some servers and proxies send it; wins when non-empty.
    pub error: String,
}
go_deserialize!(ErrorResponse {
    message: "message" => field::value,
    error: "error" => field::value,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_newline_inside_object() {
        assert_eq!(
            ApiError::key_not_found().to_body(),
            b"{\"message\":\"key does not exist\"\n}"
        );
        assert_eq!(
            ApiError::invalid_key_name("a<b").to_body(),
            b"{\"message\":\"key name 'a\\u003cb' is empty, too long or contains invalid characters\"\n}"
        );
    }

    #[test]
    fn reads_error_responses_like_the_sdk() {
        let e = ApiError::from_response(
            404,
            Some("application/json"),
            b"{\"message\":\"key does not exist\"\n}",
        )
        .unwrap();
        assert!(e.is(Sentinel::KeyNotFound));
        let e = ApiError::from_response(
            400,
            Some(" application/json; charset=utf-8"),
            br#"{"message":"a","error":"b"}"#,
        )
        .unwrap();
        assert_eq!(e, ApiError::new(400, "b"));
        let e = ApiError::from_response(
            404,
            Some("text/plain; charset=utf-8"),
            b"404 page not found\n",
        )
        .unwrap();
        assert_eq!(e, ApiError::new(404, "404 page not found\n"));
        let e = ApiError::from_response(403, None, b"").unwrap();
        assert_eq!(e, ApiError::new(403, ""));
        assert!(ApiError::from_response(500, Some("application/json"), b"not json").is_err());
        let e = ApiError::from_response(
            400,
            Some("application/json"),
            br#"{"message":"key does already exist"}"#,
        )
        .unwrap();
        assert_eq!(e, ApiError::key_exists());
        let big = vec![b'x'; MAX_ERROR_BODY + 10];
        let e = ApiError::from_response(500, Some("text/plain"), &big).unwrap();
        assert_eq!(e.message().len(), MAX_ERROR_BODY);
    }

    #[test]
    fn other_messages() {
        assert_eq!(
            ApiError::method_not_allowed("HEAD", "GET"),
            ApiError::new(405, "received method 'HEAD' expected 'GET'")
        );
        assert_eq!(
            ApiError::invalid_pattern("a-").message(),
            "listing pattern 'a-' is empty, too long or is invalid"
        );
        assert_eq!(ApiError::hmac_not_supported().status(), 409);
        assert_eq!(
            ApiError::store_unreachable().to_string(),
            "key store is not reachable"
        );
        assert_eq!(ApiError::decrypt().sentinel(), Some(Sentinel::Decrypt));
        assert_eq!(ApiError::invalid_request_body().sentinel(), None);
    }
}
