//! `kes-cli migrate` to and from AWS Secrets Manager: 1000 keys filesystem → AWS (a real
//! AWS-API server: moto with signature checking, `$KES_PEERS_DIR/venv/bin/moto_server` from
//! `.ci/peers-moto.sh`) → filesystem, byte-identical at the end; the secrets hold exactly the
//! stored values; a second run with `--merge` skips every key.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kes_keystore::{FsKeyStore, KeyStore};
use kes_testpeers::{Moto, Pki};
use serde_json::json;

const KEYS: usize = 1000;

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
    let yaml = format!(
        "version: v1\naddress: 127.0.0.1:7373\nadmin:\n  identity: disabled\ntls:\n  key: {}\n  cert: {}\nkeystore:\n{keystore}\n",
        pki.server_key.display(),
        pki.server_cert.display()
    );
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A KES-format stored value per key: legacy JSON for even keys, the current base64
/// protobuf form for odd ones (both are ASCII, as KES writes them).
fn value(i: usize) -> Vec<u8> {
    let mut state = (i as u64 + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let hex: String = (0..32)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("{:02x}", (state >> 24) as u8)
        })
        .collect();
    if i % 2 == 0 {
        format!(
            "{{\"bytes\":\"{hex}\",\"algorithm\":\"AES256-GCM_SHA256\",\"created_by\":\"aws-{i}\"}}"
        )
    } else {
        format!("CiQKIA{hex}EAE=")
    }
    .into_bytes()
}

fn name(i: usize) -> String {
    format!("aws-key-{i:04}")
}

async fn read_all(store: &dyn KeyStore) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for n in store.list_all("").await.unwrap() {
        out.insert(n.clone(), store.get(&n).await.unwrap().to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_to_aws_and_back_of_1000_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path()).unwrap();
    let moto = Moto::start_with_auth().unwrap();

    let src_dir = dir.path().join("src");
    let src = FsKeyStore::open(&src_dir).unwrap();
    for i in 0..KEYS {
        src.create(&name(i), &value(i)).await.unwrap();
    }
    let original = read_all(&src).await;
    assert_eq!(original.len(), KEYS);

    let fs_src = config(
        dir.path(),
        &pki,
        "fs-src.yml",
        &format!("  fs:\n    path: {}", src_dir.display()),
    );
    let aws = config(
        dir.path(),
        &pki,
        "aws.yml",
        &format!(
            "  aws:\n    secretsmanager:\n      endpoint: {}\n      region: us-east-1\n      credentials:\n        accesskey: {}\n        secretkey: {}",
            moto.url(),
            moto.access_key(),
            moto.secret_key()
        ),
    );
    let (fs_s, aws_s) = (fs_src.to_str().unwrap(), aws.to_str().unwrap());

    // 1. fs -> AWS
    let r = migrate(&["--from", fs_s, "--to", aws_s]);
    assert_eq!(r.code, 0, "{r:?}\nmoto log:\n{}", moto.log());
    assert_eq!(
        r.stdout,
        format!("Starting key migration:\n\nMigrated {KEYS:6} keys successfully!\n")
    );
    // Each secret is named after its key and holds the stored value unchanged.
    for i in [0, 1, 499, KEYS - 1] {
        let (status, secret) = moto
            .json(
                "secretsmanager",
                "secretsmanager.GetSecretValue",
                &json!({"SecretId": name(i)}),
            )
            .unwrap();
        assert_eq!(status, 200, "{secret}");
        assert_eq!(
            secret["SecretString"].as_str().unwrap().as_bytes(),
            value(i).as_slice()
        );
    }

    // 2. Again with --merge: every key exists and is skipped.
    let r = migrate(&["--from", fs_s, "--to", aws_s, "--merge", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary, json!({"migrated": 0, "skipped": KEYS}));

    // 3. AWS -> a new fs directory: byte-identical.
    let back_dir = dir.path().join("back");
    let back = config(
        dir.path(),
        &pki,
        "back.yml",
        &format!("  fs:\n    path: {}", back_dir.display()),
    );
    let r = migrate(&["--from", aws_s, "--to", back.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary, json!({"migrated": KEYS, "skipped": 0}));
    let back_store = FsKeyStore::open(&back_dir).unwrap();
    assert_eq!(read_all(&back_store).await, original);
    for i in [0, 1, KEYS - 1] {
        assert_eq!(std::fs::read(back_dir.join(name(i))).unwrap(), value(i));
    }

    // Wrong credentials: a clear error, nothing migrated.
    let bad = config(
        dir.path(),
        &pki,
        "bad.yml",
        &format!(
            "  aws:\n    secretsmanager:\n      endpoint: {}\n      region: us-east-1\n      credentials:\n        accesskey: {}\n        secretkey: wrong",
            moto.url(),
            moto.access_key()
        ),
    );
    let r = migrate(&[
        "--from",
        bad.to_str().unwrap(),
        "--to",
        back.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("SignatureDoesNotMatch"), "{r:?}");
    assert!(r.stderr.contains("bad.yml"), "{r:?}");
}
