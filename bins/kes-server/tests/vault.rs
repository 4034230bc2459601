//! Three kes-server processes on one real RustyVault (a Vault-API server, KV v1, AppRole):
//! a key created through one server is used through the others, and killing one server in
//! the middle of a load does not disturb the other two. Also runs the Vault example config.

#![cfg(feature = "vault")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Conn, Http, KesProcess, Setup, connect};
use kes_testpeers::RustyVault;
use serde_json::json;

fn vault_yaml(setup: &Setup, vault: &RustyVault, role: &str) -> String {
    let creds = vault.approle(role, 0).unwrap();
    let base = setup.yaml("", "");
    let fs = format!("  fs:\n    path: {}\n", setup.path("keys").display());
    base.replace(
        &fs,
        &format!(
            "  vault:\n    endpoint: {}\n    engine: {}\n    version: v1\n    prefix: cluster\n    approle:\n      id: {}\n      secret: {}\n",
            vault.endpoint(),
            RustyVault::KV_MOUNT,
            creds.role_id,
            creds.secret_id
        ),
    )
}

struct Load {
    ok: AtomicUsize,
    failed: AtomicUsize,
}

/// generate + decrypt in a loop on one keep-alive connection until `stop`.
async fn load(mut conn: Conn, stop: Arc<AtomicBool>, stats: Arc<Load>) {
    while !stop.load(Ordering::Relaxed) {
        let ok = async {
            let dek = conn
                .send("POST", "/v1/key/generate/shared", "")
                .await
                .ok()?;
            if dek.status != 200 {
                return None;
            }
            let dek = dek.json();
            let pt = conn
                .send(
                    "POST",
                    "/v1/key/decrypt/shared",
                    json!({ "ciphertext": dek["ciphertext"] }).to_string(),
                )
                .await
                .ok()?;
            (pt.status == 200 && pt.json()["plaintext"] == dek["plaintext"]).then_some(())
        }
        .await;
        match ok {
            Some(()) => stats.ok.fetch_add(1, Ordering::Relaxed),
            None => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                // A dead connection stays dead; don't spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                0
            }
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_share_one_vault() {
    let vault = RustyVault::start().unwrap();
    let setup = Setup::new();
    let mut servers = Vec::new();
    for i in 0..3 {
        let path = setup.path(&format!("vault-{i}.yml"));
        std::fs::write(&path, vault_yaml(&setup, &vault, &format!("kes-{i}"))).unwrap();
        servers.push(KesProcess::start(&["--config", path.to_str().unwrap()]));
    }
    assert_eq!(
        servers[0].banner_value("KMS"),
        format!("Hashicorp Vault: {}", vault.endpoint())
    );
    let admin = |s: &KesProcess| connect(s.addr, setup.client(Some(&setup.admin), Http::H2));

    // Created through the first, used through the others.
    let mut c0 = admin(&servers[0]).await.unwrap();
    let mut c1 = admin(&servers[1]).await.unwrap();
    let mut c2 = admin(&servers[2]).await.unwrap();
    assert_eq!(
        c1.call("POST", "/v1/key/generate/shared", "").await.status,
        404
    );
    assert_eq!(
        c0.call("POST", "/v1/key/create/shared", "").await.status,
        200
    );
    assert_eq!(
        c2.call("POST", "/v1/key/create/shared", "").await.status,
        400
    );
    let dek = c1.call("POST", "/v1/key/generate/shared", "").await.json();
    let r = c2
        .call(
            "POST",
            "/v1/key/decrypt/shared",
            json!({ "ciphertext": dek["ciphertext"] }).to_string(),
        )
        .await;
    assert_eq!(r.json()["plaintext"], dek["plaintext"]);
    let r = c2.call("GET", "/v1/key/list/*", "").await;
    assert_eq!(r.json()["names"], json!(["shared"]));
    let d = c1.call("GET", "/v1/key/describe/shared", "").await.json();
    assert_eq!(d["created_by"], setup.admin.identity.as_str());

    // Load on all three; kill the first in the middle.
    let stop = Arc::new(AtomicBool::new(false));
    let stats: Vec<Arc<Load>> = (0..3)
        .map(|_| {
            Arc::new(Load {
                ok: AtomicUsize::new(0),
                failed: AtomicUsize::new(0),
            })
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        for http in [Http::H1, Http::H2] {
            let conn = connect(server.addr, setup.client(Some(&setup.admin), http))
                .await
                .unwrap();
            tasks.push(tokio::spawn(load(conn, stop.clone(), stats[i].clone())));
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill: Vec<usize> = stats.iter().map(|s| s.ok.load(Ordering::Relaxed)).collect();
    servers[0].signal("KILL");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    for i in 1..3 {
        let ok = stats[i].ok.load(Ordering::Relaxed);
        assert_eq!(
            stats[i].failed.load(Ordering::Relaxed),
            0,
            "server {i} saw failures"
        );
        assert!(
            ok > before_kill[i],
            "server {i} stopped serving after the kill"
        );
    }
    assert!(before_kill[0] > 0);
    assert!(
        stats[0].failed.load(Ordering::Relaxed) > 0,
        "the killed server kept answering"
    );

    // The survivors still agree on the key.
    let dek = c1.call("POST", "/v1/key/generate/shared", "").await.json();
    let r = c2
        .call(
            "POST",
            "/v1/key/decrypt/shared",
            json!({ "ciphertext": dek["ciphertext"] }).to_string(),
        )
        .await;
    assert_eq!(r.json()["plaintext"], dek["plaintext"]);
}

/// `examples/configs/vault-kv1.yml`, pointed at RustyVault, starts and serves keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_example_config_runs() {
    let vault = RustyVault::start().unwrap();
    let creds = vault.approle("kes-example", 0).unwrap();
    let setup = Setup::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/configs/vault-kv1.yml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("0.0.0.0:7373", "127.0.0.1:0")
        .replace("/etc/kes/server.key", setup.server_key.to_str().unwrap())
        .replace("/etc/kes/server.crt", setup.server_cert.to_str().unwrap())
        .replace("https://127.0.0.1:8200", &vault.endpoint())
        .replace(
            "engine: kv\n",
            &format!("engine: {}\n", RustyVault::KV_MOUNT),
        );
    let config = setup.path("vault-kv1.yml");
    std::fs::write(&config, text).unwrap();
    let server = KesProcess::start_with_env(
        &["--config", config.to_str().unwrap()],
        &[
            ("KES_ADMIN_IDENTITY", setup.admin.identity.as_str()),
            ("VAULT_APPROLE_ID", creds.role_id.as_str()),
            ("VAULT_APPROLE_SECRET", creds.secret_id.as_str()),
        ],
    );
    let mut c = connect(server.addr, setup.client(Some(&setup.admin), Http::H1))
        .await
        .unwrap();
    assert_eq!(
        c.call("POST", "/v1/key/create/minio-key", "").await.status,
        200
    );
    assert_eq!(
        c.call("POST", "/v1/key/generate/minio-key", "")
            .await
            .status,
        200
    );
    assert_eq!(c.call("GET", "/v1/ready", "").await.status, 200);
    let (status, body) = vault
        .request(
            "GET",
            &format!("/v1/{}/kes/minio-key", RustyVault::KV_MOUNT),
            Some(vault.root_token()),
            None,
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
}
