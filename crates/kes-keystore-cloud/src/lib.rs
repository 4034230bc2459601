#![doc = include_str!("../README.md")]

mod error;
pub mod transport;

pub use error::{Error, Result};
