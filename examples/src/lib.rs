//! Runnable examples for the kes-rs crates: `cargo run --example <name>`.
