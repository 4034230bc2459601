//! Every route of the KES API end to end: the real binary, real certificates, TLS on loopback,
//! over HTTP/1.1 and over HTTP/2, including MinIO's start-up sequence and live log streams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{ClientId, Conn, Http, KesProcess, Setup, connect};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

struct World {
    setup: Setup,
    minio: ClientId,
    server: KesProcess,
}

fn world() -> World {
    let setup = Setup::new();
    let (_, minio) = ClientId::api_key();
    let config = setup.config(
        "",
        &format!(
            r#"log:
  error: debug
  audit: on
policy:
  minio:
    allow:
    - /v1/key/create/minio-*
    - /v1/key/generate/minio-*
    - /v1/key/decrypt/minio-*
    - /v1/key/list/*
    - /v1/status
    - /v1/metrics
    - /v1/log/*
    deny:
    - /v1/key/decrypt/minio-secret*
    identities:
    - {}
"#,
            minio.identity
        ),
    );
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    World {
        setup,
        minio,
        server,
    }
}

async fn conn(w: &World, id: &ClientId, http: Http) -> Conn {
    let c = connect(w.server.addr, w.setup.client(Some(id), http))
        .await
        .unwrap();
    let want: &[u8] = match http {
        Http::H1 => b"http/1.1",
        Http::H2 => b"h2",
    };
    assert_eq!(c.alpn.as_deref(), Some(want));
    c
}

fn message(resp: &common::Resp) -> String {
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "{}",
        resp.text()
    );
    resp.json()["message"].as_str().unwrap().to_owned()
}

/// Reads the stream until a line contains `needle` (or panics after 10 s).
async fn read_until(body: &mut hyper::body::Incoming, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no '{needle}' in the stream; got: {seen}"))
            .expect("stream ended")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
            if let Some(line) = seen.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
        }
    }
}

async fn every_route(http: Http) {
    let w = world();
    let mut admin = conn(&w, &w.setup.admin, http).await;
    let mut minio = conn(&w, &w.minio, http).await;

    // Live log streams first, so they see what follows.
    let mut audit = conn(&w, &w.setup.admin, http).await;
    let audit_resp = audit
        .send_streaming("GET", "/v1/log/audit", "")
        .await
        .unwrap();
    assert_eq!(audit_resp.status(), 200);
    assert_eq!(audit_resp.headers()["content-type"], "application/x-ndjson");
    let mut audit_body = audit_resp.into_body();
    let mut errors = conn(&w, &w.minio, http).await;
    let error_resp = errors
        .send_streaming("GET", "/v1/log/error", "")
        .await
        .unwrap();
    assert_eq!(error_resp.status(), 200);
    let mut error_body = error_resp.into_body();

    // ---- system routes ------------------------------------------------------------------
    let r = admin.call("GET", "/version", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    assert!(r.text().ends_with('\n'));

    let r = admin.call("GET", "/v1/ready", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());

    let r = minio.call("GET", "/v1/status", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let status = r.json();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["os"], "linux");
    assert!(status["keystore_latency"].as_u64().unwrap() >= 1);
    assert!(status["num_cpu"].as_u64().unwrap() >= 1);

    let r = admin.call("GET", "/v1/api", "").await;
    assert_eq!(r.status, 200);
    let routes = r.json();
    let routes = routes.as_array().unwrap();
    assert_eq!(routes.len(), 22, "{routes:?}");
    assert!(routes.contains(
        &json!({"method":"PUT","path":"/v1/key/import/","max_body":1000000,"timeout":15})
    ));

    // ---- MinIO's start-up sequence ------------------------------------------------------
    let ctx = B64.encode(br#"{"bucket":"bucket/object"}"#);
    let r = minio
        .call(
            "POST",
            "/v1/key/generate/minio-default",
            json!({ "context": ctx }).to_string(),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "{\"message\":\"key does not exist\"\n}");
    assert_eq!(message(&r), "key does not exist");
    let r = minio.call("POST", "/v1/key/create/minio-default", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty());
    let r = minio
        .call(
            "POST",
            "/v1/key/generate/minio-default",
            json!({ "context": ctx }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let dek = r.json();
    let plaintext = dek["plaintext"].as_str().unwrap().to_owned();
    assert_eq!(B64.decode(&plaintext).unwrap().len(), 32);
    assert_eq!(
        B64.decode(dek["ciphertext"].as_str().unwrap())
            .unwrap()
            .len(),
        76
    );
    let r = minio
        .call(
            "POST",
            "/v1/key/decrypt/minio-default",
            json!({ "ciphertext": dek["ciphertext"], "context": ctx }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["plaintext"], plaintext);
    // The wrong context is not authentic.
    let r = minio
        .call(
            "POST",
            "/v1/key/decrypt/minio-default",
            json!({ "ciphertext": dek["ciphertext"], "context": B64.encode(b"{}") }).to_string(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        message(&r),
        "decryption failed: ciphertext is not authentic"
    );
    // Creating it again fails.
    let r = minio.call("PUT", "/v1/key/create/minio-default", "").await;
    assert_eq!(
        (r.status, message(&r).as_str()),
        (400, "key already exists")
    );

    // ---- the other key routes ------------------------------------------------------------
    let raw = [7u8; 32];
    let r = admin
        .call(
            "POST",
            "/v1/key/import/imported",
            json!({ "key": B64.encode(raw), "cipher": "AES256" }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin.call("GET", "/v1/key/describe/imported", "").await;
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(d["name"], "imported");
    assert_eq!(d["algorithm"], "AES256");
    assert_eq!(d["created_by"], w.setup.admin.identity.as_str());
    let r = admin
        .call(
            "POST",
            "/v1/key/encrypt/imported",
            json!({ "plaintext": B64.encode(b"hello"), "context": B64.encode(b"ctx") }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ct = r.json()["ciphertext"].clone();
    assert_eq!(B64.decode(ct.as_str().unwrap()).unwrap().len(), 5 + 44);
    let r = admin
        .call(
            "POST",
            "/v1/key/decrypt/imported",
            json!({ "ciphertext": ct, "context": B64.encode(b"ctx") }).to_string(),
        )
        .await;
    assert_eq!(r.json()["plaintext"], B64.encode(b"hello"));
    let mut macs = Vec::new();
    for _ in 0..2 {
        let r = admin
            .call(
                "PUT",
                "/v1/key/hmac/imported",
                json!({ "message": B64.encode(b"root access key") }).to_string(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        macs.push(r.json()["hmac"].as_str().unwrap().to_owned());
    }
    assert_eq!(macs[0], macs[1]);
    assert_eq!(B64.decode(&macs[0]).unwrap().len(), 32);

    let r = minio.call("GET", "/v1/key/list/*", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["names"], json!(["imported", "minio-default"]));
    let r = admin.call("GET", "/v1/key/list/minio", "").await;
    assert_eq!(r.json()["names"], json!(["minio-default"]));
    // KES redirects a prefix route without its slash.
    let r = admin.call("GET", "/v1/key/list", "").await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/v1/key/list/"));

    let r = admin.call("DELETE", "/v1/key/delete/imported", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin.call("GET", "/v1/key/describe/imported", "").await;
    assert_eq!(
        (r.status, message(&r).as_str()),
        (404, "key does not exist")
    );

    // ---- policies and identities -----------------------------------------------------------
    let r = admin.call("GET", "/v1/policy/describe/minio", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "minio");
    assert_eq!(r.json()["created_by"], w.setup.admin.identity.as_str());
    let r = admin.call("GET", "/v1/policy/read/minio", "").await;
    assert_eq!(r.status, 200);
    let p = r.json();
    assert_eq!(p["allow"]["/v1/key/create/minio-*"], json!({}));
    assert_eq!(p["deny"]["/v1/key/decrypt/minio-secret*"], json!({}));
    let r = admin.call("GET", "/v1/policy/list/*", "").await;
    assert_eq!(r.json()["names"], json!(["minio"]));
    let r = admin.call("GET", "/v1/policy/describe/nope", "").await;
    assert_eq!(
        (r.status, message(&r).as_str()),
        (404, "policy does not exist")
    );

    let r = admin
        .call(
            "GET",
            &format!("/v1/identity/describe/{}", w.minio.identity),
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["policy"], "minio");
    let r = admin
        .call(
            "GET",
            &format!("/v1/identity/describe/{}", w.setup.admin.identity),
            "",
        )
        .await;
    assert_eq!(r.json()["admin"], true);
    let r = admin.call("GET", "/v1/identity/list/*", "").await;
    let mut ids = vec![w.setup.admin.identity.clone(), w.minio.identity.clone()];
    ids.sort();
    assert_eq!(r.json()["identities"], json!(ids));
    let r = admin.call("GET", "/v1/identity/self/describe", "").await;
    assert_eq!(r.json()["identity"], w.setup.admin.identity.as_str());
    assert_eq!(r.json()["admin"], true);
    let r = minio.call("GET", "/v1/identity/self/describe", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["identity"], w.minio.identity.as_str());
    assert_eq!(r.json()["policy"], "minio");

    // ---- errors the shell and the core produce ---------------------------------------------
    let r = minio
        .call("DELETE", "/v1/key/delete/minio-default", "")
        .await;
    assert_eq!(
        (r.status, message(&r).as_str()),
        (403, "not authorized: insufficient permissions")
    );
    let r = admin.call("GET", "/v1/key/create/x", "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("accept"), Some("PUT"));
    let r = admin.call("GET", "/v1/nope", "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found\n");
    let r = admin.call("POST", "/v1/key/create/bad%20name", "").await;
    assert_eq!(r.status, 400);

    let r = minio.call("GET", "/v1/metrics", "").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.text();
    assert!(
        text.contains("kes_http_request_success{code=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("kes_http_request_error{code=\"404\"}"),
        "{text}"
    );

    // ---- the log streams saw it all -------------------------------------------------------
    let line = read_until(&mut audit_body, "/v1/key/create/minio-default").await;
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["request"]["identity"], w.minio.identity.as_str());
    assert_eq!(event["request"]["ip"], "127.0.0.1");
    let line = read_until(&mut error_body, "/v1/key/delete/minio-default").await;
    let event: Value = serde_json::from_str(&line).unwrap();
    assert!(
        event["message"].as_str().unwrap().contains("level=DEBUG"),
        "{line}"
    );

    // The audit log also went to stdout in KES's text format.
    assert!(w.server.wait_stdout(
        "req.path=/v1/key/create/minio-default",
        1,
        Duration::from_secs(10)
    ));
    let stdout = w.server.stdout();
    let line = stdout
        .iter()
        .find(|l| l.contains("req.path=/v1/key/create/minio-default"))
        .unwrap();
    assert!(line.starts_with("time="), "{line}");
    assert!(line.contains(" level=INFO "), "{line}");
    assert!(line.contains(" res.code=200 "), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_over_http1() {
    every_route(Http::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_over_http2() {
    every_route(Http::H2).await;
}

/// `--dev`: the printed API key works as a client identity, and the written client files
/// and server certificate work too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_prints_a_working_admin_key() {
    let server = KesProcess::start(&["--dev", "--addr", "127.0.0.1:0"]);
    let key = kes_policy::ApiKey::parse(&server.banner_value("API Key")).unwrap();
    assert_eq!(server.banner_value("Admin"), key.identity().to_string());
    assert_eq!(server.banner_value("KMS"), "In Memory");
    let files: Vec<String> = server
        .stdout()
        .iter()
        .filter_map(|l| {
            let v = l.trim_start_matches("Client").trim();
            v.split_once('=').map(|(_, p)| p.to_owned())
        })
        .filter(|p| p.starts_with('/'))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let (cert, client_key, ca) = (&files[0], &files[1], &files[2]);

    // The certificate derived from the printed key.
    let id = ClientId::from_credentials(&key.client_certificate().unwrap());
    let config = common::client_config(std::path::Path::new(ca), Some(&id), Http::H2, true);
    let mut c = connect(server.addr, config).await.unwrap();
    let r = c.call("POST", "/v1/key/create/my-key", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The files the banner names.
    let id = ClientId::from_pem_files(std::path::Path::new(cert), std::path::Path::new(client_key));
    let config = common::client_config(std::path::Path::new(ca), Some(&id), Http::H1, true);
    let mut c = connect(server.addr, config).await.unwrap();
    let r = c.call("POST", "/v1/key/generate/my-key", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["plaintext"].is_string());
    // Anyone else is not allowed.
    let (_, other) = ClientId::api_key();
    let config = common::client_config(std::path::Path::new(ca), Some(&other), Http::H1, true);
    let mut c = connect(server.addr, config).await.unwrap();
    assert_eq!(c.call("GET", "/v1/key/list/*", "").await.status, 403);
}
