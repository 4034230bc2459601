//! KES key formats and MinIO's server-side-encryption envelope chain.
//!
//! (crate docs: written by the kes-crypto KES-format work)

pub mod error;
pub mod sse;

pub use error::{Error, Result};
