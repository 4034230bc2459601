//! kes-client against the real `kes-server` on loopback: every v1 API, TLS verification,
//! both credential kinds, policies, log streams, metrics, and several endpoints with one
//! server killed mid-run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Fixture, Server};
use kes_client::{ApiKey, Client, Error, KeyAlgorithm, Sentinel};

fn client(fixture: &Fixture, endpoints: &[&str], key: &ApiKey) -> Client {
    Client::builder()
        .endpoints(endpoints.iter().copied())
        .api_key(key.clone())
        .ca_file(&fixture.pki.ca_cert)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_against_a_real_server() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));
    let admin = client(&fx, &[&server.endpoint], &fx.admin);

    // Server APIs.
    let version = admin.version().await.unwrap();
    assert!(!version.version.is_empty());
    admin.ready().await.unwrap();
    let status = admin.status().await.unwrap();
    assert!(status.num_cpu >= 1, "{status:?}");
    assert!(!status.keystore_unreachable);
    let apis = admin.apis().await.unwrap();
    assert!(apis.iter().any(|a| a.path == "/v1/key/create/"), "{apis:?}");

    // Audit stream: subscribe first, then cause an event.
    let mut audit = admin.audit_log().await.unwrap();

    // Keys.
    admin.create_key("my-key").await.unwrap();
    let err = admin.create_key("my-key").await.unwrap_err();
    assert!(err.is(Sentinel::KeyExists), "{err:?}");
    assert_eq!(err.to_string(), "key already exists");
    let info = admin.describe_key("my-key").await.unwrap();
    assert_eq!(info.name, "my-key");
    assert!(info.algorithm.is_some());
    assert_eq!(info.created_by, fx.admin.identity().as_str());
    let err = admin.describe_key("missing").await.unwrap_err();
    assert_eq!(err, Sentinel::KeyNotFound);

    let dek = admin.generate_key("my-key", b"ctx").await.unwrap();
    assert_eq!(dek.plaintext.len(), 32);
    let plain = admin
        .decrypt("my-key", &dek.ciphertext, b"ctx")
        .await
        .unwrap();
    assert_eq!(plain, dek.plaintext);
    let err = admin
        .decrypt("my-key", &dek.ciphertext, b"other")
        .await
        .unwrap_err();
    assert!(err.is(Sentinel::Decrypt), "{err:?}");
    let ct = admin.encrypt("my-key", b"hello", b"").await.unwrap();
    assert_eq!(ct.len(), 5 + 44);
    assert_eq!(
        admin
            .decrypt("my-key", &ct, b"")
            .await
            .unwrap()
            .expose_secret(),
        b"hello"
    );
    let mac1 = admin.hmac("my-key", b"message").await.unwrap();
    let mac2 = admin.hmac("my-key", b"message").await.unwrap();
    assert_eq!(mac1.len(), 32);
    assert_eq!(mac1, mac2);

    admin
        .import_key("imported", &[7u8; 32], KeyAlgorithm::Aes256)
        .await
        .unwrap();
    let err = admin
        .import_key("short", &[7u8; 16], KeyAlgorithm::Aes256)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(406), "{err:?}");

    for i in 0..5 {
        admin.create_key(&format!("list-{i}")).await.unwrap();
    }
    let page = admin.list_keys("list-*").await.unwrap();
    assert_eq!(page.names.len(), 5, "{page:?}");
    let all = admin.keys("*").collect().await.unwrap();
    assert_eq!(all.len(), 7, "{all:?}");
    let empty_prefix = admin.keys("").collect().await.unwrap();
    assert_eq!(empty_prefix, all);
    assert_eq!(admin.keys("list-*").collect().await.unwrap().len(), 5);

    admin.delete_key("list-0").await.unwrap();
    assert_eq!(
        admin.delete_key("list-0").await.unwrap_err(),
        Sentinel::KeyNotFound
    );

    // Policies and identities.
    assert_eq!(admin.policies("*").collect().await.unwrap(), ["app"]);
    let policy = admin.get_policy("app").await.unwrap();
    assert!(policy.allow.contains_key("/v1/key/generate/app-*"));
    assert!(policy.deny.contains_key("/v1/key/decrypt/app-secret*"));
    let described = admin.describe_policy("app").await.unwrap();
    assert_eq!(described.name, "app");
    assert_eq!(
        admin.describe_policy("nope").await.unwrap_err(),
        Sentinel::PolicyNotFound
    );
    let app_id = fx.app.identity();
    let id = admin.describe_identity(app_id.as_str()).await.unwrap();
    assert_eq!(id.policy, "app");
    let me = admin.describe_self().await.unwrap();
    assert!(me.admin);
    assert_eq!(me.identity, fx.admin.identity().as_str());
    let ids = admin.identities("*").collect().await.unwrap();
    assert!(ids.contains(&app_id.as_str().to_owned()), "{ids:?}");

    // Metrics reflect the traffic.
    let metrics = admin.metrics().await.unwrap();
    assert!(metrics.request_ok > 5, "{metrics:?}");
    assert!(metrics.request_err > 0, "{metrics:?}");
    assert!(!metrics.latency_histogram.is_empty());

    // The audit stream delivered events of the calls above.
    let event = tokio::time::timeout(Duration::from_secs(10), audit.next())
        .await
        .expect("an audit event within 10 s")
        .expect("stream open")
        .unwrap();
    assert!(event.request.path.starts_with("/v1/"), "{event:?}");
    assert_eq!(event.request.identity, fx.admin.identity().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_restrict_an_application() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));
    let admin = client(&fx, &[&server.endpoint], &fx.admin);
    admin.create_key("app-key").await.unwrap();
    admin.create_key("app-secret").await.unwrap();

    let app = client(&fx, &[&server.endpoint], &fx.app);
    let dek = app.generate_key("app-key", b"").await.unwrap();
    assert_eq!(
        app.decrypt("app-key", &dek.ciphertext, b"").await.unwrap(),
        dek.plaintext
    );
    for err in [
        app.create_key("app-new").await.unwrap_err(),
        app.delete_key("app-key").await.unwrap_err(),
        app.generate_key("other", b"").await.unwrap_err(),
    ] {
        assert_eq!(err, Sentinel::NotAllowed);
        assert_eq!(err.to_string(), "not authorized: insufficient permissions");
    }
    // Deny wins over allow.
    let dek = app.generate_key("app-secret", b"").await.unwrap();
    assert_eq!(
        app.decrypt("app-secret", &dek.ciphertext, b"")
            .await
            .unwrap_err(),
        Sentinel::NotAllowed
    );

    // An unknown identity (the CA's client certificate, from files) may do nothing.
    let stranger = Client::builder()
        .endpoint(&server.endpoint)
        .client_certificate_files(&fx.pki.client_cert, &fx.pki.client_key, b"")
        .ca_file(&fx.pki.ca_cert)
        .build()
        .unwrap();
    assert_eq!(
        stranger.list_keys("*").await.unwrap_err(),
        Sentinel::NotAllowed
    );
    // /version needs no authorisation.
    stranger.version().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_certificates_are_verified() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));

    // The test CA is not a system root: the handshake fails, without retries.
    let untrusted = Client::builder()
        .endpoint(&server.endpoint)
        .api_key(fx.admin.clone())
        .build()
        .unwrap();
    let start = Instant::now();
    let err = untrusted.version().await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(
        err.to_string().starts_with("kes: connection error: "),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));

    // Only the explicitly insecure option skips verification.
    let insecure = Client::builder()
        .endpoint(&server.endpoint)
        .api_key(fx.admin.clone())
        .danger_accept_invalid_certificates(true)
        .build()
        .unwrap();
    insecure.ready().await.unwrap();

    // A CA file without system roots is enough.
    let ca_only = Client::builder()
        .endpoint(format!("https://localhost:{}/", server.addr.port()))
        .api_key(fx.admin.clone())
        .system_roots(false)
        .ca_file(&fx.pki.ca_cert)
        .build()
        .unwrap();
    ca_only.ready().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_fast_with_a_clear_error() {
    let port = common::free_port();
    let client = Client::builder()
        .endpoint(format!("127.0.0.1:{port}"))
        .api_key(ApiKey::generate().unwrap())
        .danger_accept_invalid_certificates(true)
        .build()
        .unwrap();
    let start = Instant::now();
    let err = client.status().await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(text.starts_with("kes: connection error: "), "{text}");
    assert!(text.contains(&port.to_string()), "{text}");
}

/// Three servers over one keystore; one is killed while four tasks generate and decrypt.
/// Not a single operation may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_servers_killed_mid_run_no_failed_operations() {
    let fx = Fixture::new();
    let keys = fx.keys_dir("shared");
    let mut servers: Vec<Server> = (0..3).map(|_| Server::start(&fx, &keys)).collect();
    let endpoints: Vec<String> = servers.iter().map(|s| s.endpoint.clone()).collect();
    let client = Client::builder()
        .endpoints(endpoints.iter().cloned())
        .api_key(fx.admin.clone())
        .ca_file(&fx.pki.ca_cert)
        .build()
        .unwrap();
    client.create_key("lb-key").await.unwrap();

    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (client, done, failed) = (client.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(6);
            let mut i = 0u64;
            while Instant::now() < deadline {
                let context = format!("task-{t}-{i}");
                let result: Result<(), Error> = async {
                    let dek = client.generate_key("lb-key", context.as_bytes()).await?;
                    let plain = client
                        .decrypt("lb-key", &dek.ciphertext, context.as_bytes())
                        .await?;
                    assert_eq!(plain, dek.plaintext);
                    client.describe_key("lb-key").await?;
                    Ok(())
                }
                .await;
                match result {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        failed.lock().unwrap().push(e.to_string());
                        0
                    }
                };
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kill = done.load(Ordering::Relaxed);
    // Kill the endpoint the client prefers (the first localhost one) mid-run.
    servers[0].kill();
    for task in tasks {
        task.await.unwrap();
    }
    let total = done.load(Ordering::Relaxed);
    let failed = failed.lock().unwrap();
    assert!(failed.is_empty(), "failed operations: {failed:?}");
    assert!(
        before_kill > 0 && total > before_kill,
        "{before_kill} / {total}"
    );
    servers.truncate(1);
}
