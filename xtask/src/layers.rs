//! The layer rules of `ARCHITECTURE.md`, checked with `cargo tree`.
//!
//! Each rule names a workspace crate and a package it must never reach
//! through normal (non-dev, non-build) dependencies. A rule whose crate does
//! not exist yet is skipped, so the table can name crates before they land.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// `(crate, forbidden dependency, why)`.
const RULES: &[(&str, &str, &str)] = &[
    (
        "kes-crypto",
        "kes-policy",
        "kes-crypto has no internal dependencies",
    ),
    (
        "kes-crypto",
        "kes-keystore",
        "kes-crypto has no internal dependencies",
    ),
    ("kes-crypto", "tokio", "kes-crypto does no IO"),
    (
        "kes-policy",
        "kes-keystore",
        "policy does not know about storage",
    ),
    ("kes-policy", "tokio", "policy does no IO"),
    (
        "kes-keystore",
        "tokio",
        "the core links kes-keystore, so it stays runtime-free",
    ),
    (
        "kes-keystore",
        "hyper",
        "the core links kes-keystore, so it stays runtime-free",
    ),
    (
        "kes-keystore",
        "reqwest",
        "backends with HTTP clients live in their own crates",
    ),
    ("kes-types", "kes-crypto", "wire types are serde only"),
    ("kes-types", "tokio", "wire types are serde only"),
    ("kes-core", "tokio", "the server core is runtime-free"),
    ("kes-core", "hyper", "the server core is runtime-free"),
    ("kes-core", "rustls", "the server core is runtime-free"),
    (
        "kes-core",
        "vaultrs",
        "the server core never links a keystore backend",
    ),
    (
        "kes-core",
        "reqwest",
        "the server core never links a keystore backend",
    ),
    (
        "kes-core",
        "kes-keystore-vault",
        "the server core never links a keystore backend",
    ),
    (
        "kes-core",
        "kes-backends",
        "the server core never links a keystore backend",
    ),
    ("kes-core", "kes-client", "the server core is not a client"),
    (
        "kes-client",
        "kes-core",
        "the SDK never links a server crate",
    ),
    (
        "kes-client",
        "kes-server",
        "the SDK never links a server crate",
    ),
    (
        "kes-client",
        "kes-keystore",
        "the SDK never links a server crate",
    ),
];

/// Runs every rule; fails with the list of violations.
pub(crate) fn check(root: &Path) -> Result<()> {
    eprintln!("==> check-layers");
    let members = workspace_members(root)?;
    let mut violations = Vec::new();
    for (krate, forbidden, why) in RULES {
        if !members.iter().any(|m| m == krate) {
            continue;
        }
        let out = Command::new("cargo")
            .current_dir(root)
            .args([
                "tree", "--quiet", "-p", krate, "-e", "normal", "-i", forbidden,
            ])
            .output()
            .with_context(|| format!("cargo tree -p {krate}"))?;
        // `cargo tree -i X` fails with "package ID specification `X` did not
        // match any packages" when X is not in the graph at all: that is a pass.
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && !stdout.trim().is_empty() {
            violations.push(format!("{krate} -> {forbidden}: {why}\n{stdout}"));
        }
    }
    if violations.is_empty() {
        eprintln!("    {} rules hold", RULES.len());
        Ok(())
    } else {
        bail!("forbidden dependency edges:\n{}", violations.join("\n"))
    }
}

fn workspace_members(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for dir in ["crates", "bins"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().join("Cargo.toml").is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    Ok(names)
}
