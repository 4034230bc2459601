#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! * [`Client`], [`ClientBuilder`]: configuration and every v1 API.
//! * [`Error`]: server answers ([`Error::Api`], comparable with [`Sentinel`]) and local
//!   failures.
//! * [`ListIter`], [`ListPage`]: listings that follow `continue_at`.
//! * [`LogStream`]: the audit and error log streams.
//! * [`Metrics`]: `/v1/metrics` parsed.
//! * [`endpoint`]: endpoint normalization and Go-compatible URL building.

mod client;
pub mod endpoint;
mod error;
mod list;
mod log;
mod metrics;
mod tls;
mod transport;

pub use client::{Client, ClientBuilder, Dek};
pub use error::{Error, Result};
pub use list::{ListIter, ListPage};
pub use log::LogStream;
pub use metrics::Metrics;

pub use kes_policy::{ApiKey, Certificate, Identity, PrivateKey};
pub use kes_types::dto::{
    AuditLogEvent, AuditLogRequest, AuditLogResponse, DescribeIdentityResponse as IdentityInfo,
    DescribeKeyResponse as KeyInfo, DescribePolicyResponse as PolicyInfo, ErrorLogEvent,
    KeyAlgorithm, ReadPolicyResponse as Policy, SelfDescribeIdentityResponse as SelfIdentity,
    StatusResponse as Status, VersionResponse as Version,
};
pub use kes_types::{ApiDescription, ApiError, SecretBytes, Sentinel, Timestamp};

/// The wire types this client speaks (re-exported `kes-types`).
pub use kes_types;
