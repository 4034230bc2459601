//! Test support: a tiny loopback HTTP server, and one fake per vendor API, each written from
//! the vendor's public API reference and named as a fake.
#![allow(dead_code, unreachable_pub)]

#[cfg(feature = "azure")]
pub mod fake_azure;
pub mod fake_ciphertrust;
pub mod fake_entrust;
pub mod fake_fortanix;
#[cfg(feature = "gcp")]
pub mod fake_gcp;

pub use kes_testpeers::fake_http::{FakeRequest, FakeResponse, serve};

/// A JSON answer.
pub fn json(status: u16, value: serde_json::Value) -> FakeResponse {
    FakeResponse::new(status, value.to_string()).header("Content-Type", "application/json")
}

/// The environment variable `name`, if set and not empty (for runs against a real service).
pub fn real(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
