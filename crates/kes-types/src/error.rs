//! The crate's error type: failures to decode or encode wire data.
//!
//! These are *local* errors (a body that is not valid JSON, a byte field that
//! is not standard base64, a time that is not RFC 3339). The errors a KES
//! server sends to its clients are [`ApiError`](crate::ApiError)s.

/// A failure to decode or encode KES wire data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a JSON document of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// A byte field is not standard, padded base64 (RFC 4648 §4).
    #[error("illegal base64 data: {0}")]
    Base64(String),

    /// A time is not an RFC 3339 timestamp as Go writes and reads them.
    #[error("invalid RFC 3339 time '{0}'")]
    Time(String),

    /// A time lies outside the years 0 to 9999, which Go cannot encode.
    #[error("time year outside of range [0,9999]")]
    TimeRange,

    /// A key algorithm name is none of the names KES knows.
    #[error("kes: invalid key algorithm '{0}'")]
    KeyAlgorithm(String),
}
