//! `kes-cli migrate`: 5000 keys filesystem → sealed filesystem → Vault (RustyVault) →
//! filesystem, byte-identical at the end; an interrupted migration finished with `--merge`
//! without duplicates or losses; existing keys fail the default mode; `--force` replaces.

#![cfg(feature = "vault")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use kes_keystore::{FsKeyStore, KeyStore};
use kes_testpeers::{Pki, RustyVault};

const KEYS: usize = 5000;

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn migrate(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kes-cli"))
        .arg("migrate")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .expect("run kes-cli");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A server config whose keystore section is `keystore` (indented YAML lines).
fn config(dir: &Path, pki: &Pki, name: &str, keystore: &str) -> PathBuf {
    let mut yaml = String::new();
    writeln!(yaml, "version: v1").unwrap();
    writeln!(yaml, "address: 127.0.0.1:7373").unwrap();
    writeln!(yaml, "admin:\n  identity: disabled").unwrap();
    writeln!(
        yaml,
        "tls:\n  key: {}\n  cert: {}",
        pki.server_key.display(),
        pki.server_cert.display()
    )
    .unwrap();
    writeln!(yaml, "keystore:\n{keystore}").unwrap();
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A deterministic, KES-looking stored value per key (JSON with a random-looking key).
fn value(i: usize) -> Vec<u8> {
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let bytes: Vec<u8> = (0..32)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    format!(
        "{{\"bytes\":\"{}\",\"algorithm\":\"AES256-GCM_SHA256\",\"created_at\":\"2024-01-12T10:39:20.886816Z\",\"created_by\":\"migrate-test-{i}\"}}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
    .into_bytes()
}

fn name(i: usize) -> String {
    format!("key-{i:04}")
}

async fn read_all(store: &dyn KeyStore) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for n in store.list_all("").await.unwrap() {
        let v = store.get(&n).await.unwrap();
        out.insert(n, v.to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_sealed_vault_fs_round_trip_of_5000_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path()).unwrap();

    // The source: 5000 keys in a plain fs keystore.
    let src_dir = dir.path().join("src");
    let src = Arc::new(FsKeyStore::open(&src_dir).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let src = src.clone();
        tasks.spawn(async move {
            for i in (t..KEYS).step_by(8) {
                src.create(&name(i), &value(i)).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let original = read_all(&*src).await;
    assert_eq!(original.len(), KEYS);

    let seal_key = dir.path().join("seal.key");
    std::fs::write(&seal_key, "4f".repeat(32)).unwrap();
    let fs_src = config(
        dir.path(),
        &pki,
        "fs-src.yml",
        &format!("  fs:\n    path: {}", src_dir.display()),
    );
    let sealed_dir = dir.path().join("sealed");
    let sealed = config(
        dir.path(),
        &pki,
        "sealed.yml",
        &format!(
            "  fs:\n    path: {}\n    seal:\n      key_file: {}",
            sealed_dir.display(),
            seal_key.display()
        ),
    );

    // 1. fs -> sealed fs
    let r = migrate(&[
        "--from",
        fs_src.to_str().unwrap(),
        "--to",
        sealed.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!("Starting key migration:\n\nMigrated {KEYS:6} keys successfully!\n")
    );
    // The values on disk are sealed: no plaintext value is readable from the files.
    let on_disk = std::fs::read(sealed_dir.join(name(0))).unwrap();
    assert_ne!(on_disk, value(0));
    let key = kes_keystore::read_seal_key_file(&seal_key).unwrap();
    let sealed_store = FsKeyStore::open_sealed(&sealed_dir, &key).unwrap();
    assert_eq!(read_all(&sealed_store).await, original);

    // 2. sealed fs -> Vault, interrupted after the first 1000 keys, finished with --merge.
    let vault = tokio::task::spawn_blocking(RustyVault::start)
        .await
        .unwrap()
        .expect("RustyVault (see kes-testpeers) must be available");
    let role = vault.approle("kes-migrate", 0).unwrap();
    let vault_yml = config(
        dir.path(),
        &pki,
        "vault.yml",
        &format!(
            "  vault:\n    endpoint: {}\n    engine: {}\n    prefix: migrate\n    approle:\n      id: {}\n      secret: {}",
            vault.endpoint(),
            RustyVault::KV_MOUNT,
            role.role_id,
            role.secret_id
        ),
    );
    let (sealed_s, vault_s) = (sealed.to_str().unwrap(), vault_yml.to_str().unwrap());
    let r = migrate(&["--from", sealed_s, "--to", vault_s, "key-0*"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("Migrated   1000 keys successfully!"),
        "{r:?}"
    );
    // Re-run without --merge: the existing keys fail it.
    let r = migrate(&["--from", sealed_s, "--to", vault_s]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("key already exists"), "{r:?}");
    // With --merge it finishes: every key exactly once.
    let r = migrate(&["--from", sealed_s, "--to", vault_s, "--merge"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("successfully!"), "{r:?}");
    let r = migrate(&["--from", sealed_s, "--to", vault_s, "--merge", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["migrated"], 0);
    assert_eq!(summary["skipped"], KEYS);

    // 3. Vault -> fs
    let back_dir = dir.path().join("back");
    let back = config(
        dir.path(),
        &pki,
        "back.yml",
        &format!("  fs:\n    path: {}", back_dir.display()),
    );
    let r = migrate(&["--from", vault_s, "--to", back.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("Migrated {KEYS:6} keys successfully!")),
        "{r:?}"
    );
    let round_trip = read_all(&FsKeyStore::open(&back_dir).unwrap()).await;
    assert_eq!(round_trip.len(), KEYS);
    assert!(round_trip == original, "values differ after the round trip");

    // --force replaces a changed destination value; a pattern that matches nothing.
    let back_store = FsKeyStore::open(&back_dir).unwrap();
    back_store.delete(&name(7)).await.unwrap();
    back_store.create(&name(7), b"changed").await.unwrap();
    let r = migrate(&[
        "--from",
        fs_src.to_str().unwrap(),
        "--to",
        back.to_str().unwrap(),
        "--force",
        "key-0007",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(back_store.get(&name(7)).await.unwrap().to_vec(), value(7));
    let r = migrate(&[
        "--from",
        fs_src.to_str().unwrap(),
        "--to",
        back.to_str().unwrap(),
        "nothing*",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .ends_with("Migration succeeded! No keys migrated.\n"),
        "{r:?}"
    );
    let r = migrate(&["--from", "missing.yml", "--to", back.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("Error: failed to read 'missing.yml'"),
        "{r:?}"
    );
    drop(vault);
}
