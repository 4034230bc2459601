//! Criterion benches for the workspace; see `benches/*.rs` and `docs/benchmarks.md`.
