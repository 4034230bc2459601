#![doc = include_str!("../README.md")]

#[cfg(feature = "azure")]
pub mod azure;
#[cfg(feature = "entrust")]
pub mod entrust;
mod error;
#[cfg(feature = "fortanix")]
pub mod fortanix;
#[cfg(feature = "gcp")]
pub mod gcp;
#[cfg(feature = "gemalto")]
pub mod gemalto;
#[cfg(any(
    feature = "gemalto",
    feature = "fortanix",
    feature = "entrust",
    feature = "gcp",
    feature = "azure"
))]
mod rest;
pub mod transport;

pub use error::{Error, Result};
