//! The `kes-server` binary: parses the command line, sets up logging and the Tokio runtime,
//! runs [`kes_server::run`] and maps the outcome to an exit code (0, or 1 with
//! `Error: <reason>` on stderr; 2 for usage errors).

use std::process::ExitCode;

use anyhow::Context as _;
use kes_server::cli::{self, Command};
use kes_server::sink::{write_stderr, write_stdout};

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            write_stderr(&format!("Error: {e}"));
            return ExitCode::from(2);
        }
    };
    let options = match command {
        Command::Help => {
            write_stdout(cli::USAGE.trim_end());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            write_stdout(&format!("kes-server {}", kes_server::banner::version()));
            return ExitCode::SUCCESS;
        }
        Command::Run(options) => options,
    };
    init_logging();
    match serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            write_stderr(&format!("Error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn serve(options: cli::Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kes-server")
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(kes_server::run(options))?;
    Ok(())
}

/// The server's own diagnostics (not the audit/error logs) go to stderr through `tracing`;
/// `KES_SERVER_LOG` = `error`, `warn`, `info` (default), `debug` or `trace`.
fn init_logging() {
    let level = std::env::var("KES_SERVER_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .init();
}
