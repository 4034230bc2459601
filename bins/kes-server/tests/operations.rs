//! Operations over real sockets with the real binary: SIGHUP reload (keep-alive connections
//! stay up, a broken file keeps the old configuration), the slow-client header timeout, body
//! limits, graceful shutdown, start-up errors, and the example configurations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{ClientId, Http, KesProcess, Setup, connect, read_response, read_to_close};
use kes_policy::{CertificateOptions, KeyAlgorithm, KeyEncryption, PrivateKey};
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

fn policy(identity: &str, allow: &[&str]) -> String {
    let mut s = String::from("policy:\n  app:\n    allow:\n");
    for a in allow {
        s.push_str(&format!("    - {a}\n"));
    }
    s.push_str(&format!("    identities:\n    - {identity}\n"));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_policies_tls_and_keystore_without_dropping_connections() {
    let setup = Setup::new();
    let (_, app) = ClientId::api_key();
    let config = setup.config("", &policy(&app.identity, &["/v1/key/list/*"]));
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);

    let mut h1 = connect(server.addr, setup.client(Some(&app), Http::H1))
        .await
        .unwrap();
    let mut h2 = connect(server.addr, setup.client(Some(&app), Http::H2))
        .await
        .unwrap();
    let mut audit = connect(server.addr, setup.client(Some(&setup.admin), Http::H1))
        .await
        .unwrap();
    let stream = audit
        .send_streaming("GET", "/v1/log/audit", "")
        .await
        .unwrap();
    let mut audit_body = stream.into_body();
    assert_eq!(
        h1.call("POST", "/v1/key/create/app-1", "").await.status,
        403
    );
    assert_eq!(
        h2.call("POST", "/v1/key/create/app-2", "").await.status,
        403
    );

    // New policy, new server certificate, new key directory.
    let old_cert = std::fs::read(&setup.server_cert).unwrap();
    let options = CertificateOptions {
        ip_addresses: vec!["127.0.0.1".parse().unwrap()],
        dns_names: vec!["localhost".into()],
        ..CertificateOptions::default()
    };
    let new = kes_policy::self_signed(
        PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap(),
        &options,
    )
    .unwrap();
    std::fs::write(&setup.server_cert, new.certificate.to_pem()).unwrap();
    std::fs::write(&setup.server_key, new.private_key.to_pem().as_bytes()).unwrap();
    let yaml = setup
        .yaml(
            "",
            &policy(&app.identity, &["/v1/key/list/*", "/v1/key/create/app-*"]),
        )
        .replace("/keys\n", "/keys-2\n");
    std::fs::write(&config, yaml).unwrap();
    assert!(server.reload(), "{:#?}", server.stderr());
    assert!(server.wait_stderr(
        "SIGHUP signal received. Reloading configuration...",
        1,
        Duration::from_secs(1)
    ));

    // The same connections, the new policy.
    assert_eq!(
        h1.call("POST", "/v1/key/create/app-1", "").await.status,
        200
    );
    assert_eq!(
        h2.call("POST", "/v1/key/create/app-2", "").await.status,
        200
    );
    let r = h1.call("GET", "/v1/key/list/*", "").await;
    assert_eq!(r.json()["names"], json!(["app-1", "app-2"]));
    assert!(setup.path("keys-2").join("app-1").exists());
    // The log stream opened before the reload still delivers.
    let mut seen = String::new();
    while !seen.contains("/v1/key/create/app-2") {
        use http_body_util::BodyExt as _;
        let frame = tokio::time::timeout(Duration::from_secs(10), audit_body.frame())
            .await
            .expect("audit event after reload")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
    }
    // New connections get the new certificate: a client that trusts only the old one fails.
    let old_ca = setup.path("old.crt");
    std::fs::write(&old_ca, old_cert).unwrap();
    let stale = common::client_config(&old_ca, Some(&app), Http::H1, false);
    assert!(
        common::once(server.addr, stale, "GET", "/version", "")
            .await
            .is_err()
    );
    let fresh = setup.client(Some(&app), Http::H1);
    assert_eq!(
        common::once(server.addr, fresh, "GET", "/version", "")
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_on_reload_keeps_the_running_one() {
    let setup = Setup::new();
    let (_, app) = ClientId::api_key();
    let config = setup.config("", &policy(&app.identity, &["/v1/key/create/app-*"]));
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    let mut c = connect(server.addr, setup.client(Some(&app), Http::H1))
        .await
        .unwrap();
    assert_eq!(c.call("POST", "/v1/key/create/app-1", "").await.status, 200);

    let good = std::fs::read_to_string(&config).unwrap();
    for (i, (broken, reason)) in [
        ("address: [unclosed\n".to_owned(), "kesconf"),
        (good.replace("identity: ", "identity: \n  x: "), "kesconf"),
        (
            good.replace(
                setup.server_cert.to_str().unwrap(),
                "/nonexistent/server.crt",
            ),
            "/nonexistent/server.crt",
        ),
        (
            format!(
                "{good}  other:\n    allow: []\n    identities:\n    - {}\n",
                app.identity
            ),
            "already has a policy",
        ),
        (
            with_keystore(
                &setup,
                &good,
                &format!(
                    "  fs:\n    path: {}\n    seal:\n      key_file: /nonexistent/seal.key\n",
                    setup.path("keys").display()
                ),
            ),
            "failed to open keystore: failed to read the seal key file '/nonexistent/seal.key'",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&config, &broken).unwrap();
        assert!(
            !server.reload(),
            "reload of a broken config succeeded:\n{broken}"
        );
        let line = server
            .stderr()
            .into_iter()
            .rev()
            .find(|l| l.starts_with("Failed to reload server config: "))
            .unwrap();
        assert!(line.contains(reason), "'{reason}' not in: {line}");
        // Still the old configuration, on the same connection.
        let r = c
            .call("POST", &format!("/v1/key/create/app-broken-{i}"), "")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(c.call("GET", "/v1/key/list/*", "").await.status, 403);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_at_five_seconds_but_idle_keep_alive_is_not() {
    let setup = Setup::new();
    let config = setup.config("", "");
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    let tls = setup.client(Some(&setup.admin), Http::H1);

    // A client that sends its header one byte every 200 ms.
    let slow = async {
        let mut s = common::raw_tls(server.addr, tls.clone()).await;
        let start = Instant::now();
        let header = b"GET /version HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for b in header {
            if s.write_all(&[*b]).await.is_err() || s.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let rest = read_to_close(&mut s).await;
        (start.elapsed(), rest)
    };
    // A fresh connection that sends nothing.
    let silent = async {
        let mut s = common::raw_tls(server.addr, tls.clone()).await;
        let start = Instant::now();
        let rest = read_to_close(&mut s).await;
        (start.elapsed(), rest)
    };
    // A keep-alive connection idle for 6.5 s between two requests.
    let idle = async {
        let mut c = connect(server.addr, tls.clone()).await.unwrap();
        assert_eq!(c.call("GET", "/version", "").await.status, 200);
        tokio::time::sleep(Duration::from_millis(6500)).await;
        c.send("GET", "/version", "").await.map(|r| r.status)
    };
    let ((slow_time, slow_rest), (silent_time, silent_rest), idle) =
        tokio::join!(slow, silent, idle);
    assert!(
        slow_time >= Duration::from_millis(4800) && slow_time < Duration::from_secs(7),
        "slow client cut after {slow_time:?}"
    );
    assert!(slow_rest.is_empty(), "no response for a timed-out header");
    assert!(
        silent_time >= Duration::from_millis(4800) && silent_time < Duration::from_secs(7),
        "silent client cut after {silent_time:?}"
    );
    assert!(silent_rest.is_empty());
    assert_eq!(idle.unwrap(), 200, "idle keep-alive connection was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_400_without_being_read() {
    let setup = Setup::new();
    let config = setup.config("", "");
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    let tls = setup.client(Some(&setup.admin), Http::H1);

    // Announce 2 MB, send 1.1 MB, then wait: the answer must come without the rest.
    for (path, message) in [
        ("/v1/key/import/big", "invalid import key request body"),
        ("/v1/key/encrypt/big", "invalid request body"),
    ] {
        let mut s = common::raw_tls(server.addr, tls.clone()).await;
        let head =
            format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&vec![b'x'; 1_100_000]).await.unwrap();
        s.flush().await.unwrap();
        let (status, body) = tokio::time::timeout(Duration::from_secs(10), read_response(&mut s))
            .await
            .expect("the server waited for the rest of the body");
        assert_eq!(status, 400, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["message"], message);
    }

    // A complete 2 MB body over HTTP/2 and HTTP/1.1 with a real client.
    for http in [Http::H2, Http::H1] {
        let mut c = connect(server.addr, setup.client(Some(&setup.admin), http))
            .await
            .unwrap();
        let body = json!({ "plaintext": B64.encode(vec![0u8; 1_500_000]) }).to_string();
        assert!(body.len() > 2_000_000);
        match c.send("POST", "/v1/key/encrypt/big", body).await {
            Ok(r) => {
                assert_eq!(r.status, 400, "{http:?}");
                assert_eq!(r.json()["message"], "invalid request body");
            }
            // HTTP/1.1: the server may close while the client is still writing.
            Err(e) => assert_eq!(http, Http::H1, "{e}"),
        }
    }
    // Just under the limit is fine.
    let mut c = connect(server.addr, setup.client(Some(&setup.admin), Http::H2))
        .await
        .unwrap();
    assert_eq!(c.call("POST", "/v1/key/create/big", "").await.status, 200);
    let body = json!({ "plaintext": B64.encode(vec![0u8; 700_000]) }).to_string();
    assert!(body.len() < 1_000_000);
    assert_eq!(
        c.call("POST", "/v1/key/encrypt/big", body).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let setup = Setup::new();
    let config = setup.config("", "");
    let mut server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    let tls = setup.client(Some(&setup.admin), Http::H1);

    // Idle connections and a log stream must not hold the shutdown up.
    let mut idle_h1 = connect(server.addr, tls.clone()).await.unwrap();
    assert_eq!(idle_h1.call("GET", "/version", "").await.status, 200);
    let mut idle_h2 = connect(server.addr, setup.client(Some(&setup.admin), Http::H2))
        .await
        .unwrap();
    assert_eq!(idle_h2.call("GET", "/version", "").await.status, 200);
    let mut logs = connect(server.addr, tls.clone()).await.unwrap();
    let stream = logs
        .send_streaming("GET", "/v1/log/error", "")
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    // A request in flight: its header and half of its body have arrived.
    let body = json!({ "key": B64.encode([9u8; 32]), "cipher": "AES256" }).to_string();
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    let mut s = common::raw_tls(server.addr, tls.clone()).await;
    let head = format!(
        "POST /v1/key/import/in-flight HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(first).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.signal("TERM");
    assert!(server.wait_stdout("=> Stopping server... Goodbye.", 1, Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // No new connections ...
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "the listener is still open"
    );
    // ... but the request in flight completes.
    s.write_all(second).await.unwrap();
    s.flush().await.unwrap();
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        read_to_close(&mut s).await.is_empty(),
        "connection closed after the response"
    );

    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("server did not exit");
    assert!(status.success(), "{status:?}");
    assert!(setup.path("keys").join("in-flight").exists());
}

#[test]
fn startup_errors_are_clear() {
    let setup = Setup::new();

    // A server certificate without SANs.
    let bare = kes_policy::self_signed(
        PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
        &CertificateOptions::default(),
    )
    .unwrap();
    std::fs::write(setup.path("nosan.crt"), bare.certificate.to_pem()).unwrap();
    std::fs::write(
        setup.path("nosan.key"),
        bare.private_key.to_pem().as_bytes(),
    )
    .unwrap();
    let yaml = setup
        .yaml("", "")
        .replace(
            setup.server_cert.to_str().unwrap(),
            setup.path("nosan.crt").to_str().unwrap(),
        )
        .replace(
            setup.server_key.to_str().unwrap(),
            setup.path("nosan.key").to_str().unwrap(),
        );
    let (status, stderr) = run_config(&setup, &yaml);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains(
            "Error: invalid TLS certificate: certificate does not contain any DNS or IP address as SAN"
        ),
        "{stderr}"
    );

    // A keystore this build lacks names the section and the feature (with every feature
    // on, kes-backends' unit tests cover the message).
    #[cfg(not(feature = "gcp"))]
    {
        let yaml = with_keystore(
            &setup,
            &setup.yaml("", ""),
            "  gcp:\n    secretmanager:\n      project_id: p\n",
        );
        let (status, stderr) = run_config(&setup, &yaml);
        assert_eq!(status.code(), Some(1));
        assert!(
            stderr.contains(
                "keystore 'keystore.gcp.secretmanager' is not available in this build of \
                 kes-server: rebuild it with the cargo feature 'gcp'"
            ),
            "{stderr}"
        );
    }

    // Config errors are KES's.
    let (_, stderr) = run_config(&setup, "admin:\n  identity: \"\"\n");
    assert!(stderr.contains("no admin identity"), "{stderr}");
    let (status, stderr) = common::start_failure(&["--config", "/nonexistent/config.yml"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("failed to read config file '/nonexistent/config.yml'"),
        "{stderr}"
    );

    // Usage errors exit with 2.
    let (status, stderr) = common::start_failure(&["--dev", "--config", "x.yml"]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("cannot be used together"), "{stderr}");
    let (status, _) = common::start_failure(&[]);
    assert_eq!(status.code(), Some(2));
}

/// `yaml` (from [`Setup::yaml`]) with another keystore section.
fn with_keystore(setup: &Setup, yaml: &str, keystore: &str) -> String {
    let fs = format!("  fs:\n    path: {}\n", setup.path("keys").display());
    assert!(yaml.contains(&fs));
    yaml.replace(&fs, keystore)
}

fn run_config(setup: &Setup, yaml: &str) -> (std::process::ExitStatus, String) {
    let path = setup.path("bad.yml");
    std::fs::write(&path, yaml).unwrap();
    common::start_failure(&["--config", path.to_str().unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_server_keys_need_tls_password() {
    let setup = Setup::new();
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let options = CertificateOptions {
        dns_names: vec!["localhost".into()],
        ..CertificateOptions::default()
    };
    let tls = kes_policy::self_signed(key.clone(), &options).unwrap();
    std::fs::write(&setup.server_cert, tls.certificate.to_pem()).unwrap();
    for (name, encryption) in [
        ("pkcs8", KeyEncryption::Pkcs8Scrypt { log_n: 10 }),
        ("rfc1423", KeyEncryption::LegacyPemAes256Cbc),
    ] {
        let pem = key.to_encrypted_pem(b"s3cret", encryption).unwrap();
        std::fs::write(&setup.server_key, pem.as_bytes()).unwrap();
        let (status, stderr) = run_config(&setup, &setup.yaml("  password: wrong\n", ""));
        assert_eq!(status.code(), Some(1), "{name}");
        assert!(stderr.contains("private key"), "{name}: {stderr}");

        let config = setup.path("pw.yml");
        std::fs::write(
            &config,
            setup.yaml("  password: ${KES_TEST_TLS_PASSWORD}\n", ""),
        )
        .unwrap();
        let server = KesProcess::start_with_env(
            &["--config", config.to_str().unwrap()],
            &[("KES_TEST_TLS_PASSWORD", "s3cret")],
        );
        let r = common::once(
            server.addr,
            setup.client(Some(&setup.admin), Http::H2),
            "GET",
            "/version",
            "",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{name}");
    }
}

// ---- the example configurations ---------------------------------------------------------------

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs")
}

/// Loads an example with `env` for its `${VAR}` references.
fn load_example(name: &str, env: &[(&str, &str)]) -> kes_core::config::Config {
    let text = std::fs::read_to_string(examples_dir().join(name)).unwrap();
    let lookup = |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    };
    let loaded = kes_core::config::load(&text, &lookup).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
    loaded.config
}

/// An example rewritten to run here: TLS files and directories of the setup, loopback.
fn localize(setup: &Setup, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(examples_dir().join(name)).unwrap();
    let text = text
        .replace("0.0.0.0:7373", "127.0.0.1:0")
        .replace("/etc/kes/server.key", setup.server_key.to_str().unwrap())
        .replace("/etc/kes/server.crt", setup.server_cert.to_str().unwrap())
        .replace("/var/lib/kes", setup.dir.path().to_str().unwrap())
        .replace(
            "/etc/kes/seal.key",
            setup.path("seal.key").to_str().unwrap(),
        );
    let path = setup.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_configs_load_and_run() {
    use kes_core::config::KeyStoreConfig;
    let admin = "a".repeat(64);
    let minio = "b".repeat(64);
    let env = [
        ("KES_ADMIN_IDENTITY", admin.as_str()),
        ("MINIO_IDENTITY", minio.as_str()),
        ("VAULT_APPROLE_ID", "role"),
        ("VAULT_APPROLE_SECRET", "secret"),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
    ];
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "aws.yml",
            "fs-sealed.yml",
            "fs.yml",
            "minio.yml",
            "vault-kv1.yml",
            "vault-kv2.yml"
        ]
    );
    for name in &names {
        let config = load_example(name, &env);
        assert_eq!(config.admin, admin, "{name}");
        match (name.as_str(), &config.keystore) {
            ("fs.yml" | "minio.yml", KeyStoreConfig::Fs(fs)) => assert!(fs.seal.is_none()),
            ("fs-sealed.yml", KeyStoreConfig::Fs(fs)) => assert!(fs.seal.is_some()),
            ("vault-kv1.yml", KeyStoreConfig::Vault(v)) => {
                assert_eq!(v.version, kes_core::config::VaultKvVersion::V1);
            }
            ("vault-kv2.yml", KeyStoreConfig::Vault(v)) => {
                assert_eq!(v.version, kes_core::config::VaultKvVersion::V2);
            }
            ("aws.yml", KeyStoreConfig::Aws(a)) => {
                assert_eq!(a.endpoint, "secretsmanager.us-east-2.amazonaws.com");
                assert_eq!(a.region, "us-east-2");
                assert_eq!(a.kms_key, "alias/kes");
                assert_eq!(a.access_key, "AKIAIOSFODNN7EXAMPLE");
                assert_eq!(
                    a.secret_key.expose_secret(),
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
                );
                assert!(a.session_token.is_empty());
            }
            (n, k) => panic!("{n}: unexpected keystore {k:?}"),
        }
    }
    let minio_policy = &load_example("minio.yml", &env).policies[0];
    assert_eq!(minio_policy.name, "minio");
    assert_eq!(minio_policy.identities, std::slice::from_ref(&minio));

    // The filesystem examples start and serve MinIO's sequence; the sealed one seals.
    for name in ["fs.yml", "fs-sealed.yml", "minio.yml"] {
        let setup = Setup::new();
        std::fs::write(setup.path("seal.key"), format!("{}\n", "42".repeat(32))).unwrap();
        let (_, minio) = ClientId::api_key();
        let config = localize(&setup, name);
        let server = KesProcess::start_with_env(
            &["--config", config.to_str().unwrap()],
            &[
                ("KES_ADMIN_IDENTITY", setup.admin.identity.as_str()),
                ("MINIO_IDENTITY", minio.identity.as_str()),
            ],
        );
        let who = if name == "minio.yml" {
            &minio
        } else {
            &setup.admin
        };
        let mut c = connect(server.addr, setup.client(Some(who), Http::H2))
            .await
            .unwrap();
        assert_eq!(
            c.call("POST", "/v1/key/generate/minio-key", "")
                .await
                .status,
            404,
            "{name}"
        );
        assert_eq!(
            c.call("POST", "/v1/key/create/minio-key", "").await.status,
            200,
            "{name}"
        );
        let dek = c
            .call("POST", "/v1/key/generate/minio-key", "")
            .await
            .json();
        let r = c
            .call(
                "POST",
                "/v1/key/decrypt/minio-key",
                json!({ "ciphertext": dek["ciphertext"] }).to_string(),
            )
            .await;
        assert_eq!(r.json()["plaintext"], dek["plaintext"], "{name}");
        for route in ["/v1/status", "/v1/metrics", "/v1/key/list/*"] {
            assert_eq!(c.call("GET", route, "").await.status, 200, "{name} {route}");
        }
        if name == "minio.yml" {
            assert_eq!(
                c.call("DELETE", "/v1/key/delete/minio-key", "")
                    .await
                    .status,
                403
            );
            let log = c.send_streaming("GET", "/v1/log/audit", "").await.unwrap();
            assert_eq!(log.status(), 200);
        }
        assert!(setup.path("keys").join("minio-key").exists(), "{name}");
        assert_eq!(
            setup.path("keys").join(".kes-seal").exists(),
            name == "fs-sealed.yml",
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_deadlines_abort_without_a_response() {
    let setup = Setup::new();
    let config = setup.config("", "api:\n  /v1/key/encrypt/:\n    timeout: 300ms\n");
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    let tls = setup.client(Some(&setup.admin), Http::H1);
    let mut c = connect(server.addr, setup.client(Some(&setup.admin), Http::H1))
        .await
        .unwrap();
    assert_eq!(c.call("POST", "/v1/key/create/k", "").await.status, 200);
    let r = c.call("GET", "/v1/api", "").await;
    let routes = r.json();
    let encrypt = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/v1/key/encrypt/")
        .unwrap();
    assert_eq!(encrypt["timeout"], 0, "whole seconds: 300 ms rounds down");

    let body = json!({ "plaintext": B64.encode(b"hi") }).to_string();
    for (path, slow) in [("/v1/key/encrypt/k", true), ("/v1/key/decrypt/k", false)] {
        let mut s = common::raw_tls(server.addr, tls.clone()).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        // The body arrives after 1 s: past the encrypt route's 300 ms deadline, well within
        // decrypt's 15 s.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = s.write_all(body.as_bytes()).await;
        let _ = s.flush().await;
        if slow {
            let rest = read_to_close(&mut s).await;
            assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        } else {
            let (status, text) = read_response(&mut s).await;
            assert_eq!(status, 400, "{text}"); // not a valid ciphertext, but answered
        }
    }
}

/// HTTP/2: a client that stops reading a response has its stream reset at the route's deadline
/// (Go's per-stream write deadline), and the connection's other streams carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_stream_of_a_client_that_stops_reading_is_reset_at_the_deadline() {
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let setup = Setup::new();
    let config = setup.config("", "api:\n  /v1/key/list/:\n    timeout: 1s\n");
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(setup.client(Some(&setup.admin), Http::H2))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    // A 256-byte stream window: the server can send only that much until the client reads.
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(256)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = |path: &str| {
        hyper::Request::get(format!("https://localhost:{}{path}", server.addr.port()))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };

    // 300 keys with long names make a listing of ~13 KB: several of the server's frames.
    let mut admin = connect(server.addr, setup.client(Some(&setup.admin), Http::H1))
        .await
        .unwrap();
    for i in 0..300 {
        let path = format!("/v1/key/create/stalled-stream-key-with-a-long-name-{i:04}");
        assert_eq!(admin.call("POST", &path, "").await.status, 200);
    }

    // Read at once, the whole response arrives, and it is larger than the window.
    sender.ready().await.unwrap();
    let resp = sender.send_request(get("/v1/key/list/*")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let full = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(full.len() > 8 * 1024, "listing only {} bytes", full.len());

    // Not read for longer than the 1 s deadline: the stream is reset.
    sender.ready().await.unwrap();
    let resp = sender.send_request(get("/v1/key/list/*")).await.unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let late = resp.into_body().collect().await;
    assert!(
        late.is_err(),
        "the stalled stream completed after its deadline"
    );

    // The connection itself stays up for other streams.
    sender.ready().await.unwrap();
    let resp = sender.send_request(get("/v1/status")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await.unwrap();
}
