//! `kes-cli`: the command line client of kes-rs, with the client commands, flags, environment
//! variables, output and exit codes of MinIO's `kes` (see `docs/cli.md`).
//!
//! Exit codes: 0 success; 1 any error (printed as `Error: <message>` on stderr), including
//! unknown flags and wrong argument counts; 2 when the usage is printed because of `-h/--help`
//! or a missing command.

mod cli;
mod conn;
mod identity;
mod keys;
mod migrate;
mod monitor;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory as _, Parser as _};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if cli.version {
        return print_version();
    }
    let Some(command) = cli.command else {
        let _ = write!(std::io::stderr(), "{}", Cli::command().render_help());
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("failed to start the async runtime: {e}")),
    };
    let env = |name: &str| std::env::var(name).ok();
    match runtime.block_on(run(command, &env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn run(command: Command, env: conn::Env<'_>) -> anyhow::Result<()> {
    match command {
        Command::Ls(args) => keys::ls(args, env).await,
        Command::Key(cmd) => keys::key(cmd, env).await,
        Command::Policy(cmd) => keys::policy(cmd, env).await,
        Command::Identity(args) => identity::identity(args, env).await,
        Command::Log(args) => monitor::log(args, env).await,
        Command::Status(args) => monitor::status(args, env).await,
        Command::Metric(args) => monitor::metric(args, env).await,
        Command::Migrate(args) => migrate::migrate(args, env).await,
        Command::Completion(args) => {
            let mut buf = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "kes-cli", &mut buf);
            std::io::stdout().write_all(&buf)?;
            Ok(())
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            std::io::stdout().write_all(&buf)?;
            Ok(())
        }
    }
}

/// Prints `Error: <message>` and returns exit code 1. A closed stdout (`| head`) is not an
/// error worth reporting.
fn fail(e: &anyhow::Error) -> ExitCode {
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(std::io::stderr(), "Error: {e:#}");
    ExitCode::from(1)
}

/// Maps clap's outcomes to `kes`'s: usage text and exit 2 for help and missing commands,
/// `Error: …` and exit 1 for everything else.
fn usage_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | ErrorKind::MissingSubcommand => {
            let _ = write!(std::io::stderr(), "{}", e.render());
            ExitCode::from(2)
        }
        ErrorKind::DisplayVersion => print_version(),
        ErrorKind::InvalidSubcommand => {
            let name = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            let _ = writeln!(
                std::io::stderr(),
                "Error: \"{name}\" is not a kes-cli command. See 'kes-cli --help'"
            );
            ExitCode::from(1)
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            let _ = writeln!(std::io::stderr(), "Error: {message}. See 'kes-cli --help'");
            ExitCode::from(1)
        }
    }
}

fn print_version() -> ExitCode {
    let text = format!(
        "{:<10} {}\n{:<10} rust {}/{}\n{:<10} {}\n{:<10} {}\n",
        "Version",
        env!("CARGO_PKG_VERSION"),
        "Runtime",
        std::env::consts::OS,
        std::env::consts::ARCH,
        "License",
        env!("CARGO_PKG_LICENSE"),
        "Copyright",
        env!("CARGO_PKG_AUTHORS"),
    );
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}
