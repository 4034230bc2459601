//! `cargo xtask`: every piece of project automation, written in Rust.
//!
//! * `cargo xtask ci` runs what CI runs: format check, clippy with `-D warnings`
//!   on all targets, the test suite, rustdoc with `-D warnings`, and
//!   `check-layers`.
//! * `cargo xtask check-layers` fails when a dependency edge that
//!   `ARCHITECTURE.md` forbids appears.
//! * `cargo xtask bench` runs the criterion benches.
//! * `cargo xtask fuzz [--smoke]` runs the cargo-fuzz targets under `fuzz/`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod layers;
mod loadtest;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        usage();
        bail!("no command given");
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "ci" => ci(),
        "check-layers" => layers::check(&root()),
        "bench" => bench(rest),
        "fuzz" => fuzz(rest),
        "loadtest" => loadtest::loadtest(rest),
        "-h" | "--help" | "help" => {
            usage();
            Ok(())
        }
        other => {
            usage();
            bail!("unknown command `{other}`")
        }
    }
}

fn usage() {
    eprintln!(
        "usage: cargo xtask <command>\n\n\
         commands:\n  \
         ci              fmt check, clippy -D warnings, tests, rustdoc -D warnings, check-layers\n  \
         check-layers    fail on a forbidden dependency edge between workspace crates\n  \
         bench [ARGS]    run the criterion benches (ARGS go to criterion)\n  \
         fuzz [--smoke]  run every fuzz target (smoke: a few seconds each; needs cargo-fuzz)"
    );
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(what: &str, mut cmd: Command) -> Result<()> {
    eprintln!("==> {what}");
    let status = cmd
        .status()
        .with_context(|| format!("failed to start: {what}"))?;
    if !status.success() {
        bail!("{what}: failed ({status})");
    }
    Ok(())
}

fn ci() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run("cargo fmt --check", fmt)?;
    // The fuzz targets live in their own workspace, which `cargo fmt --all` does not see.
    // rustfmt checks them directly (the root `rustfmt.toml` applies), without resolving that
    // workspace's dependencies.
    let mut targets: Vec<PathBuf> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    targets.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    targets.sort();
    let mut fmt_fuzz = Command::new("rustfmt");
    fmt_fuzz.current_dir(root()).arg("--check").args(&targets);
    run("rustfmt --check fuzz/fuzz_targets", fmt_fuzz)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy -D warnings", clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace", "--all-features"]);
    run("cargo test", test)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run("cargo doc -D warnings", doc)?;

    layers::check(&root())?;
    eprintln!("==> ci: all checks passed");
    Ok(())
}

fn bench(rest: &[String]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["bench", "--workspace"]);
    if !rest.is_empty() {
        cmd.arg("--").args(rest);
    }
    run("cargo bench", cmd)
}

/// Committed directories (relative to the workspace root) whose files seed a fuzz target.
fn fuzz_seeds(target: &str) -> &'static [&'static str] {
    match target {
        "config" => &["examples/configs", "crates/kes-core/tests/data/config"],
        "pem" => &[
            "crates/kes-policy/tests/data/certs",
            "crates/kes-policy/tests/data/pem",
            "crates/kes-policy/tests/data/generated",
            "bins/kes-server/tests/data",
        ],
        _ => &[],
    }
}

fn fuzz(rest: &[String]) -> Result<()> {
    let smoke = rest.iter().any(|a| a == "--smoke");
    let fuzz_dir = root().join("fuzz");
    let list = Command::new("cargo")
        .args(["fuzz", "list"])
        .current_dir(&fuzz_dir)
        .output()
        .context("`cargo fuzz` is not installed: cargo install cargo-fuzz --locked")?;
    if !list.status.success() {
        bail!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&list.stderr)
        );
    }
    let seconds = if smoke { "10" } else { "300" };
    // Fall back to the stable toolchain with RUSTC_BOOTSTRAP when no nightly exists.
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    for target in String::from_utf8_lossy(&list.stdout).lines() {
        let target = target.trim();
        if target.is_empty() {
            continue;
        }
        // The working corpus (gitignored) first, where libFuzzer writes, then the committed
        // files that make good seeds for this target.
        let mut corpora = vec![fuzz_dir.join("corpus").join(target)];
        corpora.extend(
            fuzz_seeds(target)
                .iter()
                .map(|dir| root().join(dir))
                .filter(|dir| dir.is_dir()),
        );
        std::fs::create_dir_all(&corpora[0])?;
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&fuzz_dir);
        if nightly {
            cmd.arg("+nightly");
        } else {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.args(["fuzz", "run", target])
            .args(&corpora)
            .args(["--", &format!("-max_total_time={seconds}")]);
        run(&format!("fuzz {target} ({seconds}s)"), cmd)?;
    }
    Ok(())
}
