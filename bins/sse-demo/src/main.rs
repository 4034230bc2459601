//! `sse-demo`: MinIO-style server-side encryption end to end.
//!
//! It writes and reads objects the way MinIO does with SSE-S3 and SSE-KMS — DEK from a KMS,
//! per-object KEK, sealed object key, DARE 2.0 data, MinIO's internal metadata — on a local
//! store, with keys from a KES server (`kes-client`), MinIO's static key or the old master
//! key. `explain` and `walkthrough` narrate the chain; `config` speaks MinIO's IAM/config
//! encryption. See `docs/sse.md`.
//!
//! `main` is glue: parse the command line, run it, map errors to exit codes (0; 1 with
//! `sse-demo: error: …` on stderr; 2 for usage errors, printed by clap).

mod app;
mod cli;
mod config_blob;
mod explain;
mod kms;
mod object;
mod pipe;
mod progress;
mod setup;
mod store;
mod walkthrough;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match app::run(cli, &setup::process_env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            app::err_line(&format!("sse-demo: error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
