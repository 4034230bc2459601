//! `migrate --from SRC.yml --to DST.yml [--force|--merge] [PATTERN]`: copies stored key
//! values byte for byte from the keystore of one server configuration to that of another.
//!
//! Values are copied as the stores return them (a sealed filesystem store unseals on read and
//! seals on write), so every KES-format value arrives unchanged. Keys are copied in parallel.
//! A key that exists at the destination fails the migration by default, is skipped with
//! `--merge` (so an interrupted run, re-run with `--merge`, finishes without duplicates or
//! losses) or is deleted and re-created with `--force`.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use kes_core::config::KeyStoreConfig;
use kes_keystore::KeyStore;
use kes_policy::Pattern;

use crate::cli::MigrateArgs;
use crate::conn::Env;
use crate::output::Out;

/// Keys copied at the same time.
const PARALLEL: usize = 16;

/// What to do with a key that exists at the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Existing {
    Fail,
    Skip,
    Replace,
}

/// `migrate`.
pub(crate) async fn migrate(args: MigrateArgs, env: Env<'_>) -> Result<()> {
    let out = Out::new(&args.out);
    let src = open(&args.from, env).await?;
    let dst = open(&args.to, env).await?;
    let pattern = args.pattern.unwrap_or_else(|| "*".into());
    let existing = match (args.force, args.merge) {
        (true, _) => Existing::Replace,
        (_, true) => Existing::Skip,
        _ => Existing::Fail,
    };
    let progress = std::io::stdout().is_terminal() && !out.json;
    if !out.json {
        out.write("Starting key migration:\n\n")?;
    }
    let names: Vec<String> = src
        .list_all("")
        .await
        .map_err(|e| anyhow!("failed to list keys: {e}"))?
        .into_iter()
        .filter(|name| Pattern::legacy(pattern.as_str()).matches(name))
        .collect();

    let migrated = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let ticker = progress.then(|| {
        let migrated = migrated.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = migrated.load(Ordering::Relaxed);
                let _ = print_progress(n);
            }
        })
    });

    let queue = Arc::new(std::sync::Mutex::new(names.into_iter()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL {
        let (src, dst, queue) = (src.clone(), dst.clone(), queue.clone());
        let (migrated, skipped) = (migrated.clone(), skipped.clone());
        tasks.spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some(name) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                match copy(&*src, &*dst, &name, existing).await {
                    Ok(true) => migrated.fetch_add(1, Ordering::Relaxed),
                    Ok(false) => skipped.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        // Stop the other workers from taking more keys.
                        queue
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .by_ref()
                            .for_each(drop);
                        return Err(e.context(format!("failed to migrate key \"{name}\"")));
                    }
                };
            }
        });
    }
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(anyhow!("migration task failed: {e}"));
            }
        }
    }
    if let Some(t) = ticker {
        t.abort();
    }
    let n = migrated.load(Ordering::Relaxed);
    let s = skipped.load(Ordering::Relaxed);
    if let Some(e) = failure {
        if progress {
            out.write("\n")?;
        }
        return Err(e.context(format!("{n} keys migrated before the failure")));
    }
    if out.json {
        return out.json_line(&serde_json::json!({ "migrated": n, "skipped": s }));
    }
    let mut text = String::new();
    if progress {
        text.push('\r');
    }
    if n == 0 {
        text.push_str("Migration succeeded! No keys migrated.\n");
    } else {
        text.push_str(&format!("Migrated {n:6} keys successfully!\n"));
    }
    if s > 0 {
        text.push_str(&format!(
            "Skipped  {s:6} keys that exist at the destination.\n"
        ));
    }
    out.write(&text)
}

fn print_progress(n: u64) -> Result<()> {
    use std::io::Write as _;
    let word = if n <= 1 { "key " } else { "keys" };
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "\rMigrated {n:6} {word} ...")?;
    stdout.flush()?;
    Ok(())
}

/// Copies one key. `Ok(false)`: it exists at the destination and was skipped.
async fn copy(
    src: &dyn KeyStore,
    dst: &dyn KeyStore,
    name: &str,
    existing: Existing,
) -> Result<bool> {
    let value = src.get(name).await.map_err(|e| anyhow!("{e}"))?;
    match dst.create(name, &value).await {
        Ok(()) => Ok(true),
        Err(kes_keystore::Error::Exists) => match existing {
            Existing::Fail => {
                bail!("key already exists (use --merge to skip or --force to overwrite)")
            }
            Existing::Skip => Ok(false),
            Existing::Replace => {
                dst.delete(name).await.map_err(|e| anyhow!("{e}"))?;
                dst.create(name, &value).await.map_err(|e| anyhow!("{e}"))?;
                Ok(true)
            }
        },
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// Opens the keystore of a server configuration file (through kes-backends, as kes-server
/// does).
async fn open(path: &Path, env: Env<'_>) -> Result<Arc<dyn KeyStore>> {
    let yaml = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read '{}'", path.display()))?;
    let loaded = kes_core::config::load(&yaml, env)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("invalid config '{}'", path.display()))?;
    let mut keystore = loaded.config.keystore;
    if let KeyStoreConfig::Vault(vault) = &mut keystore {
        // A one-shot copy needs no background health checks.
        vault.status_ping = Duration::ZERO;
    }
    kes_backends::open(&keystore, env)
        .await
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("failed to open the keystore of '{}'", path.display()))
}
