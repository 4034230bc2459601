//! Wire types of the KES (Key Encryption Service) API: request and response
//! bodies, the default route table and the error contract, with JSON that is
//! byte-for-byte what MinIO KES and its Go SDK write and read.
//!
//! This crate is data only: serde, no cryptography, no IO. Both the server
//! core and the client SDK build on it, so both sides agree on every byte.
//!
//! * [`ApiError`] and [`Sentinel`]: every error a KES server sends, as
//!   (status, exact message), with the body encoding and the client-side
//!   parsing rules.
//! * [`dto`]: the bodies of every v1 route.
//! * [`route`]: the default routes (method, body limit, timeout, auth mode)
//!   and the `GET /v1/api` response.
//! * [`json`]: Go-compatible encoding ([`json::to_vec`]) and tolerant decoding
//!   ([`json::from_slice`]: case-insensitive keys, unknown keys ignored,
//!   padded standard base64 only).
//!
//! ```
//! use kes_types::{ApiError, Sentinel, dto::DecryptKeyRequest, json};
//!
//! // Field names match case-insensitively and unknown fields are ignored, as in Go.
//! let req: DecryptKeyRequest =
//!     json::from_slice(br#"{"Ciphertext":"AAEC","extra":1}"#).unwrap();
//! assert_eq!(req.ciphertext, [0, 1, 2]);
//!
//! // Unpadded base64 is rejected, as in Go.
//! assert!(json::from_slice::<DecryptKeyRequest>(br#"{"ciphertext":"AAE"}"#).is_err());
//!
//! // Errors compare by status and message, and encode as KES encodes them.
//! let err = ApiError::key_not_found();
//! assert!(err.is(Sentinel::KeyNotFound));
//! assert_eq!(err.to_body(), b"{\"message\":\"key does not exist\"\n}");
//! ```

pub mod api_error;
pub mod dto;
pub mod error;
pub mod json;
pub mod route;
pub mod secret;
pub mod time;

pub use api_error::{ApiError, ErrorResponse, LEGACY_ALIASES, Sentinel};
pub use error::Error;
pub use route::{Api, ApiDescription, AuthMode, DEFAULT_ROUTES, Method, Route, RouteMetrics};
pub use secret::SecretBytes;
pub use time::Timestamp;
