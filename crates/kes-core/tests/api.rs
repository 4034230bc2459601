//! Table-driven tests of every v1 route × success and each error, driven through
//! `Server::handle` with a fixed clock and an in-memory keystore (no sockets).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use kes_core::{Peer, Request, RequestContext};
use kes_types::dto::AuditLogEvent;
use kes_types::{ApiError, Sentinel};

// ---- system routes ------------------------------------------------------------------------

#[tokio::test]
async fn version_is_public_and_exact() {
    let h = Harness::new();
    for peer in [None, Some(ADMIN), Some(OTHER)] {
        let r = h.send(peer, Request::new("GET", "/version")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            text(&r),
            "{\"version\":\"2025-03-12T09-35-18Z\",\"commit\":\"0123456789abcdef\"}\n"
        );
    }
}

#[tokio::test]
async fn ready_reports_keystore_state() {
    let h = Harness::new();
    let r = h.admin("GET", "/v1/ready", "").await;
    assert_eq!((r.status, r.body_bytes().len()), (200, 0));
    assert!(matches!(r.body, kes_core::Body::Empty));

    h.store.set_broken(true);
    assert_error(
        &h.admin("GET", "/v1/ready", "").await,
        502,
        "key store is unavailable",
    );
    h.store.set_broken(false);

    h.store.set_down(true);
    assert_error(
        &h.admin("GET", "/v1/ready", "").await,
        504,
        "key store is not reachable",
    );
    // Once the 10 s probe saw the outage, the cache answers "offline" without asking.
    h.tick(Duration::from_secs(11)).await;
    h.store.set_down(false);
    assert_error(
        &h.admin("GET", "/v1/ready", "").await,
        504,
        "key store is not reachable",
    );
    h.tick(Duration::from_secs(11)).await;
    assert_eq!(h.admin("GET", "/v1/ready", "").await.status, 200);

    // Readiness failures are WARN events.
    assert!(
        h.sink
            .error
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.level == kes_core::Level::WARN)
    );
    // Non-admins need a policy.
    assert_error(
        &h.call(APP, "GET", "/v1/ready", "").await,
        403,
        "not authorized: insufficient permissions",
    );
}

#[tokio::test]
async fn status_body_units_and_keystore_flags() {
    let h = Harness::new();
    h.clock.advance(Duration::from_millis(61_600));
    let r = h.call(APP, "GET", "/v1/status", "").await;
    assert_eq!(r.status, 200);
    let v = json(&r);
    assert_eq!(v["version"], "2025-03-12T09-35-18Z");
    assert_eq!(v["uptime"], 62, "whole seconds, rounded");
    assert_eq!(v["keystore_latency"], 1, "milliseconds, at least 1");
    assert!(v["num_cpu"].as_u64().unwrap() >= 1);
    assert!(v["os"].is_string() && v["arch"].is_string());
    assert!(v.get("keystore_unreachable").is_none());
    assert!(v.get("keystore_unavailable").is_none());
    // The Go SDK decodes it.
    let s: kes_types::dto::StatusResponse = kes_types::json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(s.uptime, 62);

    h.store.set_down(true);
    let v = json(&h.call(APP, "GET", "/v1/status", "").await);
    assert!(v.get("keystore_latency").is_none());
    assert_eq!(v["keystore_unreachable"], true);
    assert_eq!(v["keystore_unavailable"], true);
    h.store.set_down(false);
    h.store.set_broken(true);
    let v = json(&h.call(APP, "GET", "/v1/status", "").await);
    assert!(v.get("keystore_unreachable").is_none());
    assert_eq!(v["keystore_unavailable"], true);
}

#[tokio::test]
async fn metrics_exposition() {
    let h = Harness::new();
    h.admin("PUT", "/v1/key/create/k", "").await;
    h.admin("PUT", "/v1/key/create/k", "").await;
    let r = h.admin("GET", "/v1/metrics", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
    );
    let t = text(&r);
    assert!(
        t.contains("kes_http_request_success{code=\"200\"} 1"),
        "{t}"
    );
    assert!(t.contains("kes_http_request_error{code=\"400\"} 1"), "{t}");
    assert!(t.contains("kes_http_response_time_count 2"), "{t}");
    assert!(t.contains("kes_http_request_active 0"), "{t}");
    // Unmetered routes (metrics itself, version) are not counted.
    h.send(None, Request::new("GET", "/version")).await;
    let t = text(&h.admin("GET", "/v1/metrics", "").await);
    assert!(t.contains("kes_http_response_time_count 2"), "{t}");
}

#[tokio::test]
async fn api_list_matches_vectors_and_overrides() {
    let h = Harness::with(|o| {
        o.api = vec![
            kes_core::ApiOverride::new("/v1/key/generate/", Some(Duration::from_secs(42)), false),
            kes_core::ApiOverride::new("/v1/status", None, true),
            kes_core::ApiOverride::new("/v1/not/a/route", Some(Duration::from_secs(1)), false),
        ];
    });
    let r = h.admin("GET", "/v1/api", "").await;
    assert_eq!(r.status, 200);
    let got: Vec<serde_json::Value> = serde_json::from_slice(r.body_bytes()).unwrap();
    let want = vector("api_routes.json");
    let want = want["routes"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for w in want {
        let g = got.iter().find(|g| g["path"] == w["path"]).unwrap();
        assert_eq!(g["method"], w["method"]);
        assert_eq!(g["max_body"], w["max_body"]);
        let timeout = if w["path"] == "/v1/key/generate/" {
            42
        } else {
            w["timeout"].as_u64().unwrap()
        };
        assert_eq!(g["timeout"], timeout, "{}", w["path"]);
        assert_eq!(g.as_object().unwrap().len(), 4);
    }
    // Route info for the shell reflects auth modes and overrides.
    for w in want {
        let path = w["path"].as_str().unwrap();
        let raw = if path.ends_with('/') {
            format!("{path}x")
        } else {
            path.to_owned()
        };
        let info = h.server.route("GET", &raw);
        assert_eq!(info.path, Some(path));
        assert_eq!(info.method, w["method"].as_str().unwrap());
        assert_eq!(info.max_body, w["max_body"].as_u64().unwrap());
        let auth = if path == "/v1/status" {
            "identify"
        } else {
            w["auth"].as_str().unwrap()
        };
        assert_eq!(info.auth.as_str(), auth, "{path}");
    }
    assert_eq!(h.server.route("GET", "/v1/log/audit").timeout, None);
    assert_eq!(h.server.route("GET", "/nope").path, None);
    assert!(h.server.needs_optional_client_certs());
    assert!(!Harness::new().server.needs_optional_client_certs());
}

// ---- keys ---------------------------------------------------------------------------------

#[tokio::test]
async fn key_create_describe_delete() {
    let h = Harness::new();
    let r = h.call(APP, "POST", "/v1/key/create/app-1", "").await;
    assert_eq!((r.status, r.body_bytes().len()), (200, 0));
    assert!(r.header("content-type").is_none());
    assert_error(
        &h.call(APP, "PUT", "/v1/key/create/app-1", "").await,
        400,
        "key already exists",
    );

    let r = h.call(APP, "GET", "/v1/key/describe/app-1", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        text(&r),
        format!(
            "{{\"name\":\"app-1\",\"algorithm\":\"AES256\",\"created_at\":\"2023-11-14T22:13:20Z\",\"created_by\":\"{APP}\"}}\n"
        )
    );
    assert_error(
        &h.call(APP, "GET", "/v1/key/describe/nope", "").await,
        404,
        "key does not exist",
    );

    assert_error(
        &h.call(APP, "DELETE", "/v1/key/delete/app-1", "").await,
        403,
        "not authorized: insufficient permissions",
    );
    let r = h.admin("DELETE", "/v1/key/delete/app-1", "").await;
    assert_eq!((r.status, r.body_bytes().len()), (200, 0));
    assert_error(
        &h.admin("DELETE", "/v1/key/delete/app-1", "").await,
        404,
        "key does not exist",
    );
    assert_error(
        &h.admin("GET", "/v1/key/describe/app-1", "").await,
        404,
        "key does not exist",
    );

    let audit = h.sink.audit.lock().unwrap();
    assert!(
        audit.iter().any(
            |e| e.message == "secret key 'app-1' created" && e.identity.as_deref() == Some(APP)
        )
    );
    assert!(
        audit
            .iter()
            .any(|e| e.message == "secret key 'app-1' deleted" && e.status == 200)
    );
}

#[tokio::test]
async fn key_name_errors_after_authorisation() {
    let h = Harness::new();
    for (path, name) in [
        ("/v1/key/create/a%2Fb", "a/b"),
        ("/v1/key/create/-a", "-a"),
        ("/v1/key/create/_", "_"),
        ("/v1/key/create/", ""),
        ("/v1/key/create/my.key", "my.key"),
        ("/v1/key/create/%C3%A4", "ä"),
    ] {
        let msg = format!("key name '{name}' is empty, too long or contains invalid characters");
        assert_error(&h.admin("PUT", path, "").await, 400, &msg);
    }
    let long = "a".repeat(81);
    assert_error(
        &h.admin("PUT", &format!("/v1/key/create/{long}"), "").await,
        400,
        &format!("key name '{long}' is empty, too long or contains invalid characters"),
    );
    assert_eq!(
        h.admin("PUT", &format!("/v1/key/create/{}", "a".repeat(80)), "")
            .await
            .status,
        200
    );
    // An unauthorised caller gets 403 even for an invalid name (auth runs first).
    assert_error(
        &h.call(OTHER, "PUT", "/v1/key/create/a%2Fb", "").await,
        403,
        "not authorized: insufficient permissions",
    );
    // The policy sees the decoded path: `/v1/key/create/app-*` allows `app-x/y` → then 400.
    assert_error(
        &h.call(APP, "PUT", "/v1/key/create/app-x%2Fy", "").await,
        400,
        "key name 'app-x/y' is empty, too long or contains invalid characters",
    );
    for name in [
        "describe", "delete", "generate", "encrypt", "decrypt", "hmac",
    ] {
        let method = match name {
            "describe" => "GET",
            "delete" => "DELETE",
            _ => "PUT",
        };
        assert_error(
            &h.admin(method, &format!("/v1/key/{name}/bad.name"), "{}")
                .await,
            400,
            "key name 'bad.name' is empty, too long or contains invalid characters",
        );
    }
}

#[tokio::test]
async fn import_key_vectors() {
    let h = Harness::new();
    let v = vector("import_key.json");
    for (i, case) in v["vectors"].as_array().unwrap().iter().enumerate() {
        let len = case["key_len"].as_u64().unwrap() as usize;
        let cipher = case["cipher"].as_str().unwrap();
        let body = format!(
            "{{\"key\":\"{}\",\"cipher\":\"{cipher}\"}}",
            b64(&vec![7u8; len])
        );
        let r = h
            .admin("PUT", &format!("/v1/key/import/imp-{i}"), &body)
            .await;
        if case["should_fail"].as_bool().unwrap() {
            assert_error(
                &r,
                case["expected_status"].as_u64().unwrap() as u16,
                case["expected_message"].as_str().unwrap(),
            );
        } else {
            assert_eq!(r.status, 200, "{}", text(&r));
            let d = json(
                &h.admin("GET", &format!("/v1/key/describe/imp-{i}"), "")
                    .await,
            );
            assert_eq!(d["algorithm"], cipher);
        }
    }
    // The imported key really is the key we sent: encrypt with it locally, decrypt remotely.
    let key = kes_crypto::SecretKey::new(kes_crypto::KeyAlgorithm::ChaCha20, [7u8; 32]);
    let ct = key.encrypt(b"hello", b"ctx").unwrap();
    let r = h
        .admin(
            "PUT",
            "/v1/key/decrypt/imp-1",
            &format!(
                "{{\"ciphertext\":\"{}\",\"context\":\"{}\"}}",
                b64(&ct),
                b64(b"ctx")
            ),
        )
        .await;
    assert_eq!(unb64(json(&r)["plaintext"].as_str().unwrap()), b"hello");

    for (body, status, msg) in [
        ("", 400, "invalid import key request body"),
        ("{", 400, "invalid import key request body"),
        (
            "{\"key\":\"AAE\",\"cipher\":\"AES256\"}",
            400,
            "invalid import key request body",
        ),
        ("{\"key\":5}", 400, "invalid import key request body"),
        (
            "{\"key\":\"AAAA\",\"cipher\":\"\"}",
            406,
            "algorithm '' is not supported",
        ),
        (
            "{\"key\":\"AAAA\",\"cipher\":\"aes256\"}",
            406,
            "algorithm 'aes256' is not supported",
        ),
        (
            "{\"key\":\"AAAA\",\"cipher\":\"AES256\"}",
            406,
            "invalid key size for 'AES256'",
        ),
    ] {
        assert_error(&h.admin("PUT", "/v1/key/import/x", body).await, status, msg);
    }
    // Legacy bodies (≤ 2023-09): `bytes` (+ optional `algorithm`).
    let legacy = format!(
        "{{\"bytes\":\"{}\",\"algorithm\":\"XCHACHA20-POLY1305\"}}",
        b64(&[1u8; 32])
    );
    assert_eq!(
        h.admin("POST", "/v1/key/import/legacy-1", &legacy)
            .await
            .status,
        200
    );
    assert_eq!(
        json(&h.admin("GET", "/v1/key/describe/legacy-1", "").await)["algorithm"],
        "ChaCha20"
    );
    let legacy = format!("{{\"bytes\":\"{}\"}}", b64(&[1u8; 32]));
    assert_eq!(
        h.admin("POST", "/v1/key/import/legacy-2", &legacy)
            .await
            .status,
        200
    );
    // Existing name.
    let body = format!("{{\"key\":\"{}\",\"cipher\":\"AES256\"}}", b64(&[2u8; 32]));
    assert_error(
        &h.admin("PUT", "/v1/key/import/legacy-2", &body).await,
        400,
        "key already exists",
    );
    let audit = h.sink.audit.lock().unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.message == "secret key 'legacy-2' created")
    );
}

#[tokio::test]
async fn generate_encrypt_decrypt_hmac() {
    let h = Harness::new();
    h.admin("PUT", "/v1/key/create/app-k", "").await;

    // Generate with and without a body; 32-byte DEK, 76-byte ciphertext.
    for body in [
        "",
        "{}",
        "{\"context\":\"e30=\"}",
        "{\"Context\":\"e30=\",\"version\":\"\"}",
    ] {
        let r = h.call(APP, "POST", "/v1/key/generate/app-k", body).await;
        assert_eq!(r.status, 200, "{body}: {}", text(&r));
        let v = json(&r);
        assert_eq!(v.as_object().unwrap().len(), 2);
        let pt = unb64(v["plaintext"].as_str().unwrap());
        let ct = unb64(v["ciphertext"].as_str().unwrap());
        assert_eq!((pt.len(), ct.len()), (32, 76));
        let context = if body.contains("e30=") { "e30=" } else { "" };
        let dec = h
            .call(
                APP,
                "POST",
                "/v1/key/decrypt/app-k",
                &format!(
                    "{{\"ciphertext\":\"{}\",\"context\":\"{context}\"}}",
                    b64(&ct)
                ),
            )
            .await;
        assert_eq!(dec.status, 200, "{}", text(&dec));
        assert_eq!(text(&dec), format!("{{\"plaintext\":\"{}\"}}\n", b64(&pt)));
        // Wrong context → decrypt sentinel.
        let bad = h
            .call(
                APP,
                "POST",
                "/v1/key/decrypt/app-k",
                &format!("{{\"ciphertext\":\"{}\",\"context\":\"eA==\"}}", b64(&ct)),
            )
            .await;
        assert_error(&bad, 400, "decryption failed: ciphertext is not authentic");
    }

    // Encrypt: ciphertext = plaintext + 44 bytes.
    let r = h
        .admin(
            "PUT",
            "/v1/key/encrypt/app-k",
            "{\"plaintext\":\"aGVsbG8=\",\"context\":\"Yw==\"}",
        )
        .await;
    let ct = unb64(json(&r)["ciphertext"].as_str().unwrap());
    assert_eq!(ct.len(), 5 + 44);
    let r = h
        .admin(
            "PUT",
            "/v1/key/decrypt/app-k",
            &format!("{{\"ciphertext\":\"{}\",\"context\":\"Yw==\"}}", b64(&ct)),
        )
        .await;
    assert_eq!(json(&r)["plaintext"], "aGVsbG8=");
    for (field, route) in [
        ("plaintext", "encrypt"),
        ("ciphertext", "decrypt"),
        ("message", "hmac"),
    ] {
        for body in [
            String::new(),
            "[1]".to_owned(),
            "\"x\"".to_owned(),
            format!("{{\"{field}\":\"aGVsbG8\"}}"),
            format!("{{\"{field}\":\"a-_=\"}}"),
            format!("{{\"{field}\":1}}"),
            format!("{{\"{field}\":\"AAAA\",\"context\":\"AA\"}}"),
        ] {
            if route == "hmac" && body.contains("context") {
                continue; // HMAC requests have no context field: it is ignored
            }
            assert_error(
                &h.admin("PUT", &format!("/v1/key/{route}/app-k"), &body)
                    .await,
                400,
                "invalid request body",
            );
        }
    }
    for body in ["{", "{\"context\":1}", "{\"context\":\"e30\"}"] {
        assert_error(
            &h.admin("PUT", "/v1/key/generate/app-k", body).await,
            400,
            "invalid request body",
        );
    }
    // Garbage ciphertexts.
    for ct in [
        &b""[..],
        &[0u8; 28][..],
        &[0u8; 100][..],
        b"{\"aead\":\"x\"}",
        &[0x95, 1, 2][..],
    ] {
        let r = h
            .admin(
                "PUT",
                "/v1/key/decrypt/app-k",
                &format!("{{\"ciphertext\":\"{}\"}}", b64(ct)),
            )
            .await;
        assert_error(&r, 400, "decryption failed: ciphertext is not authentic");
    }

    // HMAC with the stored HMAC key: deterministic and 32 bytes.
    let r1 = json(
        &h.admin("PUT", "/v1/key/hmac/app-k", "{\"message\":\"aGk=\"}")
            .await,
    );
    let r2 = json(
        &h.admin("POST", "/v1/key/hmac/app-k", "{\"message\":\"aGk=\"}")
            .await,
    );
    assert_eq!(r1, r2);
    assert_eq!(unb64(r1["hmac"].as_str().unwrap()).len(), 32);
    let value = kes_keystore::KeyStore::get(&*h.store, "app-k")
        .await
        .unwrap();
    let version = kes_crypto::KeyVersion::parse(&value).unwrap();
    assert_eq!(
        unb64(r1["hmac"].as_str().unwrap()),
        version.hmac(b"hi").unwrap()
    );

    // Missing keys.
    for (m, p, b) in [
        ("PUT", "/v1/key/generate/nope", ""),
        ("PUT", "/v1/key/encrypt/nope", "{\"plaintext\":\"\"}"),
        ("PUT", "/v1/key/decrypt/nope", "{\"ciphertext\":\"\"}"),
        ("PUT", "/v1/key/hmac/nope", "{\"message\":\"\"}"),
    ] {
        assert_error(&h.admin(m, p, b).await, 404, "key does not exist");
    }
}

#[tokio::test]
async fn legacy_json_keys() {
    let h = Harness::new();
    // A key written by KES ≤ 2023-10: JSON, no HMAC key, no metadata.
    let value = format!("{{\"bytes\":\"{}\"}}", b64(&[9u8; 32]));
    kes_keystore::KeyStore::create(&*h.store, "old", value.as_bytes())
        .await
        .unwrap();
    let r = h.admin("GET", "/v1/key/describe/old", "").await;
    assert_eq!(
        text(&r),
        "{\"name\":\"old\",\"algorithm\":\"AES256\",\"created_at\":\"0001-01-01T00:00:00Z\"}\n"
    );
    assert_error(
        &h.admin("PUT", "/v1/key/hmac/old", "{\"message\":\"\"}")
            .await,
        409,
        "key does not support HMAC",
    );
    assert_eq!(h.admin("PUT", "/v1/key/generate/old", "").await.status, 200);
    // A value that is not a key at all is a store error.
    kes_keystore::KeyStore::create(&*h.store, "junk", b"not a key")
        .await
        .unwrap();
    assert_error(
        &h.admin("GET", "/v1/key/describe/junk", "").await,
        502,
        "failed to read key",
    );
    assert!(
        h.sink
            .error
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.level == kes_core::Level::ERROR && e.path == "/v1/key/describe/junk")
    );
}

#[tokio::test]
async fn key_list_patterns_and_3000_keys() {
    let h = Harness::new();
    for i in 0..3000 {
        let name = format!("key-{i:04}");
        let value = kes_crypto::KeyVersion::generate(
            kes_crypto::KeyAlgorithm::Aes256,
            time::OffsetDateTime::UNIX_EPOCH,
            "x",
        )
        .unwrap()
        .encode()
        .unwrap();
        kes_keystore::KeyStore::create(&*h.store, &name, value.as_bytes())
            .await
            .unwrap();
    }
    for extra in ["other", "my-key", "my-key2"] {
        h.admin("PUT", &format!("/v1/key/create/{extra}"), "").await;
    }
    for (pattern, count) in [
        ("", 3003),
        ("*", 3003),
        ("key-*", 3000),
        ("key", 3000),
        ("key-2*", 1000),
        ("my-key*", 2),
        ("my-key2", 1),
        ("zzz*", 0),
    ] {
        let r = h.admin("GET", &format!("/v1/key/list/{pattern}"), "").await;
        assert_eq!(r.status, 200, "{pattern}");
        let v = json(&r);
        let names: Vec<&str> = v["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(names.len(), count, "{pattern}");
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(v.get("continue_at").is_none(), "everything in one page");
    }
    // An SDK-style iteration (continue_at fed back as a prefix) sees every key once.
    let v = json(&h.admin("GET", "/v1/key/list/%2A", "").await);
    assert_eq!(v["names"].as_array().unwrap().len(), 3003);
    assert_eq!(
        text(&h.admin("GET", "/v1/key/list/zzz", "").await),
        "{\"names\":[]}\n"
    );
    for bad in ["*a", "a*b", "-a*", "a-", "_", "a.b", "**"] {
        assert_error(
            &h.admin("GET", &format!("/v1/key/list/{bad}"), "").await,
            400,
            &format!("listing pattern '{bad}' is empty, too long or is invalid"),
        );
    }
    h.store.set_broken(true);
    assert_error(
        &h.admin("GET", "/v1/key/list/*", "").await,
        502,
        "failed to list keys",
    );
}

#[tokio::test]
async fn keystore_list_vectors_through_the_api() {
    let v = vector("keystore_list.json");
    for case in v["vectors"].as_array().unwrap() {
        let h = Harness::new();
        for name in case["names"].as_array().unwrap() {
            h.admin(
                "PUT",
                &format!("/v1/key/create/{}", name.as_str().unwrap()),
                "",
            )
            .await;
        }
        let prefix = case["prefix"].as_str().unwrap();
        let r = json(&h.admin("GET", &format!("/v1/key/list/{prefix}*"), "").await);
        let mut want: Vec<String> = case["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .filter(|n| n.starts_with(prefix))
            .collect();
        want.sort();
        // The API returns every match in one response (the keystore pages internally), so
        // the upstream `n`-limited page is the head of it.
        let got: Vec<String> = r["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, want);
        let page: Vec<String> = case["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got[..page.len()], page[..]);
    }
}

#[tokio::test]
async fn store_failures_map_to_502() {
    let h = Harness::new();
    h.admin("PUT", "/v1/key/create/k", "").await;
    h.store.set_broken(true);
    assert_error(
        &h.admin("PUT", "/v1/key/create/k2", "").await,
        502,
        "failed to create key",
    );
    assert_error(
        &h.admin("DELETE", "/v1/key/delete/k", "").await,
        502,
        "failed to delete key",
    );
    assert_error(
        &h.admin("GET", "/v1/key/describe/uncached", "").await,
        502,
        "failed to read key",
    );
    let body = format!("{{\"key\":\"{}\",\"cipher\":\"AES256\"}}", b64(&[1; 32]));
    assert_error(
        &h.admin("PUT", "/v1/key/import/k3", &body).await,
        502,
        "failed to create key",
    );
    let errors = h.sink.error.lock().unwrap();
    assert!(
        errors
            .iter()
            .filter(|e| e.message.contains("disk on fire"))
            .count()
            >= 4
    );
    assert!(errors.iter().all(|e| !e.message.contains(&b64(&[1; 32]))));
}

// ---- policies and identities ----------------------------------------------------------------

#[tokio::test]
async fn policy_routes() {
    let h = Harness::new();
    let r = h.admin("GET", "/v1/policy/describe/app", "").await;
    assert_eq!(
        text(&r),
        format!(
            "{{\"name\":\"app\",\"created_at\":\"2023-11-14T22:13:20Z\",\"created_by\":\"{ADMIN}\"}}\n"
        )
    );
    let r = h.admin("GET", "/v1/policy/read/app", "").await;
    let v = json(&r);
    assert_eq!(v["name"], "app");
    assert_eq!(v["allow"]["/v1/key/create/app-*"], serde_json::json!({}));
    assert_eq!(v["deny"]["/v1/key/describe/secret*"], serde_json::json!({}));
    assert_eq!(v["created_by"], ADMIN);
    let keys: Vec<&String> = v["allow"].as_object().unwrap().keys().collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    let r = h.admin("GET", "/v1/policy/read/legacy", "").await;
    assert!(json(&r).get("deny").is_none(), "empty deny omitted");

    assert_eq!(
        text(&h.admin("GET", "/v1/policy/list/*", "").await),
        "{\"names\":[\"app\",\"legacy\"],\"continue_at\":\"\"}\n"
    );
    assert_eq!(
        text(&h.admin("GET", "/v1/policy/list/", "").await),
        "{\"names\":[\"app\",\"legacy\"],\"continue_at\":\"\"}\n"
    );
    assert_eq!(
        text(&h.admin("GET", "/v1/policy/list/le*", "").await),
        "{\"names\":[\"legacy\"],\"continue_at\":\"\"}\n"
    );
    assert_eq!(
        text(&h.admin("GET", "/v1/policy/list/x", "").await),
        "{\"names\":[],\"continue_at\":\"\"}\n"
    );

    for route in ["describe", "read"] {
        assert_error(
            &h.admin("GET", &format!("/v1/policy/{route}/nope"), "")
                .await,
            404,
            "policy does not exist",
        );
        assert_error(
            &h.admin("GET", &format!("/v1/policy/{route}/a.b"), "").await,
            400,
            "policy name 'a.b' is empty, too long or contains invalid characters",
        );
    }
    assert_error(
        &h.admin("GET", "/v1/policy/list/a*b", "").await,
        400,
        "listing pattern 'a*b' is empty, too long or is invalid",
    );
    assert_error(
        &h.call(APP, "GET", "/v1/policy/list/*", "").await,
        403,
        "not authorized: insufficient permissions",
    );
}

#[tokio::test]
async fn identity_routes() {
    let h = Harness::new();
    let r = h
        .admin("GET", &format!("/v1/identity/describe/{ADMIN}"), "")
        .await;
    assert_eq!(
        text(&r),
        "{\"admin\":true,\"created_at\":\"2023-11-14T22:13:20Z\"}\n"
    );
    let r = h
        .admin("GET", &format!("/v1/identity/describe/{APP}"), "")
        .await;
    assert_eq!(
        text(&r),
        format!(
            "{{\"policy\":\"app\",\"created_at\":\"2023-11-14T22:13:20Z\",\"created_by\":\"{ADMIN}\"}}\n"
        )
    );
    assert_error(
        &h.admin("GET", &format!("/v1/identity/describe/{OTHER}"), "")
            .await,
        404,
        "identity does not exist",
    );
    assert_error(
        &h.admin("GET", "/v1/identity/describe/x.y", "").await,
        400,
        "identity 'x.y' is empty, too long or contains invalid characters",
    );

    let v = json(&h.admin("GET", "/v1/identity/list/*", "").await);
    let mut want = vec![ADMIN, APP, LEGACY_APP];
    want.sort();
    assert_eq!(v["identities"], serde_json::json!(want));
    assert_eq!(v["continue_at"], "");
    let v = json(&h.admin("GET", "/v1/identity/list/0a*", "").await);
    assert_eq!(v["identities"], serde_json::json!([APP]));

    // Self-describe: admin, policy holder (SDK-compatible legacy body), unknown, no cert.
    let r = h.admin("GET", "/v1/identity/self/describe", "").await;
    assert_eq!(
        text(&r),
        format!(
            "{{\"identity\":\"{ADMIN}\",\"admin\":true,\"created_at\":\"2023-11-14T22:13:20Z\"}}\n"
        )
    );
    let r = h.call(APP, "GET", "/v1/identity/self/describe", "").await;
    assert_eq!(r.status, 200);
    let v = json(&r);
    assert_eq!(v["identity"], APP);
    assert_eq!(v["policy"], "app");
    assert_eq!(v["created_by"], ADMIN);
    assert!(v.get("admin").is_none());
    assert_eq!(v["allow"]["/v1/status"], serde_json::json!({}));
    let sd: kes_types::dto::SelfDescribeIdentityResponse =
        kes_types::json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(sd.policy, "app");
    assert_error(
        &h.call(OTHER, "GET", "/v1/identity/self/describe", "").await,
        404,
        "identity does not exist",
    );
    assert_error(
        &h.send(None, Request::new("GET", "/v1/identity/self/describe"))
            .await,
        404,
        "identity does not exist",
    );
}

#[tokio::test]
async fn disabled_admin() {
    let h = Harness::with(|o| o.admin = "disabled".into());
    assert_eq!(h.server.admin(), None);
    // Nobody is admin: a hex identity equal to nothing configured is refused.
    assert_error(
        &h.call(ADMIN, "GET", "/v1/status", "").await,
        403,
        "not authorized: insufficient permissions",
    );
    // The configured value is still listed and described (as upstream does).
    let v = json(&h.call(APP, "GET", "/v1/key/list/*", "").await);
    assert_eq!(v["names"], serde_json::json!([]));
    let h2 = Harness::with(|o| {
        o.admin = "disabled".into();
        o.policies[0].allow.push("/v1/identity/*".into());
    });
    let v = json(&h2.call(APP, "GET", "/v1/identity/list/*", "").await);
    assert!(
        v["identities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "disabled")
    );
    assert_eq!(
        json(
            &h2.call(APP, "GET", "/v1/identity/describe/disabled", "")
                .await
        )["admin"],
        true
    );
}

#[tokio::test]
async fn authorisation_matrix() {
    let h = Harness::with(|o| o.error_level = kes_core::Level::DEBUG);
    for name in ["app-1", "app-internal-1", "secret-1", "legacy-key", "x"] {
        h.admin("PUT", &format!("/v1/key/create/{name}"), "").await;
    }
    // (identity, method, path, allowed)
    let table: &[(&str, &str, &str, bool)] = &[
        (ADMIN, "DELETE", "/v1/key/delete/x", true),
        (APP, "PUT", "/v1/key/create/app-2", true),
        (APP, "PUT", "/v1/key/create/app-internal-2", false), // deny wins
        (APP, "PUT", "/v1/key/create/x2", false),
        (APP, "PUT", "/v1/key/generate/app-1", true),
        (APP, "PUT", "/v1/key/encrypt/app-1", false),
        (APP, "GET", "/v1/key/describe/app-1", true),
        (APP, "GET", "/v1/key/describe/secret-1", false),
        (APP, "GET", "/v1/key/list/app", true),
        (APP, "GET", "/v1/status", true),
        (APP, "GET", "/v1/metrics", false),
        (OTHER, "GET", "/v1/status", false), // no policy
        // Legacy glob matcher: `*` does not cross `/` and may sit in the middle.
        (LEGACY_APP, "GET", "/v1/key/describe/legacy-key", true),
        (LEGACY_APP, "PUT", "/v1/key/generate/legacy-key", true),
        (LEGACY_APP, "GET", "/v1/key/describe/x", false),
        (LEGACY_APP, "GET", "/v1/key/list/abc", true),
    ];
    for &(id, method, path, allowed) in table {
        let r = h.call(id, method, path, "").await;
        if allowed {
            assert_ne!(r.status, 403, "{id} {method} {path}: {}", text(&r));
        } else {
            assert_error(&r, 403, "not authorized: insufficient permissions");
        }
    }
    let errors = h.sink.error.lock().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.message == "access denied: identity not found")
    );
    assert!(
        errors
            .iter()
            .any(|e| e.message == "access denied: rejected by policy 'app'")
    );
}

#[tokio::test]
async fn tls_peer_errors() {
    let h = Harness::new();
    for (peer, status, msg) in [
        (Peer::Insecure, 400, "insecure connection: TLS is required"),
        (
            Peer::NoCertificate,
            400,
            "tls: client certificate is required",
        ),
        (
            Peer::TooManyCertificates,
            400,
            "tls: received more than one client certificate",
        ),
        (Peer::InvalidCertificate, 400, "invalid client certificate"),
    ] {
        let ctx = RequestContext::new(peer.clone(), None, h.now());
        assert_error(
            &h.server
                .handle(ctx, Request::new("GET", "/v1/status"))
                .await,
            status,
            msg,
        );
        // `/version` needs no identity at all.
        let ctx = RequestContext::new(peer, None, h.now());
        assert_eq!(
            h.server
                .handle(ctx, Request::new("GET", "/version"))
                .await
                .status,
            200
        );
    }
    // Leaf selection over real certificates.
    let pem = std::fs::read_to_string(format!(
        "{}/tests/data/proxy_test_client_cert.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let cert = kes_policy::Certificate::from_pem(&pem).unwrap();
    let peer = Peer::from_certificates(&[cert.as_der()]);
    assert_eq!(peer, Peer::Certificate(cert.identity()));
    assert_eq!(
        Peer::from_certificates(&[cert.as_der(), cert.as_der()]),
        Peer::TooManyCertificates
    );
    assert_eq!(Peer::from_certificates::<&[u8]>(&[]), Peer::NoCertificate);
    assert_eq!(
        Peer::from_certificates(&[b"junk".as_slice()]),
        Peer::InvalidCertificate
    );
}

#[tokio::test]
async fn skip_auth_routes() {
    let h = Harness::with(|o| {
        o.api = vec![
            kes_core::ApiOverride::new("/v1/status", None, true),
            kes_core::ApiOverride::new("/v1/ready", None, true),
        ];
    });
    assert!(h.server.needs_optional_client_certs());
    assert_eq!(
        h.send(None, Request::new("GET", "/v1/status")).await.status,
        200
    );
    assert_eq!(h.call(OTHER, "GET", "/v1/ready", "").await.status, 200);
    // Other routes still verify.
    assert_error(
        &h.send(None, Request::new("GET", "/v1/metrics")).await,
        400,
        "tls: client certificate is required",
    );
    // skip_auth is refused where it would open key operations (spec §2.2 rec).
    let store = std::sync::Arc::new(FlakyStore::default());
    let mut opts = options(store);
    opts.api = vec![kes_core::ApiOverride::new("/v1/key/decrypt/", None, true)];
    let env = kes_core::ServerEnv::new(std::sync::Arc::new(ManualClock::new(start())));
    let err = kes_core::Server::new(opts, env, start()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kes: invalid api config: skip_auth is not allowed for '/v1/key/decrypt/'"
    );
}

// ---- protocol -------------------------------------------------------------------------------

#[tokio::test]
async fn methods() {
    let h = Harness::new();
    for (method, path, want) in [
        ("GET", "/v1/key/create/k", "PUT"),
        ("HEAD", "/v1/status", "GET"),
        ("POST", "/v1/status", "GET"),
        ("PUT", "/v1/key/delete/k", "DELETE"),
        ("DELETE", "/v1/key/describe/k", "GET"),
        ("get", "/version", "GET"),
        ("PATCH", "/v1/key/hmac/k", "PUT"),
    ] {
        let r = h.admin(method, path, "").await;
        assert_error(
            &r,
            405,
            &format!("received method '{method}' expected '{want}'"),
        );
        assert_eq!(r.header("accept"), Some(want));
    }
    // 405 comes before authentication.
    assert_eq!(
        h.send(None, Request::new("POST", "/v1/status"))
            .await
            .status,
        405
    );
    assert_eq!(h.admin("POST", "/v1/key/create/k", "").await.status, 200);
    assert_eq!(h.admin("PUT", "/v1/key/create/k2", "").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_redirects_and_cleaning() {
    let h = Harness::new();
    for path in [
        "/",
        "/v1",
        "/v1/key",
        "/v2/status",
        "/v1/status/",
        "/v1%2Fstatus",
        "/v1/key/bulk/decrypt/k",
        "/v1/secret/create/x",
        "/v1/identity/self",
    ] {
        let r = h.admin("GET", path, "").await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(text(&r), "404 page not found\n");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let r = h
        .send(
            None,
            Request {
                query: Some("enclave=x".into()),
                ..Request::new("GET", "/v1/key/list")
            },
        )
        .await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/v1/key/list/?enclave=x"));
    assert_eq!(
        text(&r),
        "<a href=\"/v1/key/list/?enclave=x\">Moved Permanently</a>.\n\n"
    );
    let r = h.admin("PUT", "/v1/key/create", "").await;
    assert_eq!(
        (r.status, r.header("location"), r.body_bytes().len()),
        (301, Some("/v1/key/create/"), 0)
    );
    let r = h.admin("GET", "/v1//status", "").await;
    assert_eq!((r.status, r.header("location")), (301, Some("/v1/status")));
    let r = h.admin("GET", "/v1/key/describe/../list/", "").await;
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("/v1/key/list/"))
    );
    // Bad escapes never reach the router.
    let r = h.admin("GET", "/v1/key/describe/%zz", "").await;
    assert_eq!((r.status, text(&r).as_str()), (400, "400 Bad Request\n"));
    // The query is ignored for routing.
    let r = h
        .send(
            Some(ADMIN),
            Request {
                query: Some("enclave=e".into()),
                ..Request::new("GET", "/v1/policy/list/*")
            },
        )
        .await;
    assert_eq!(r.status, 200);
    // Percent-encoded resources are decoded: `%2A` is `*`.
    assert_eq!(h.admin("GET", "/v1/policy/list/%2A", "").await.status, 200);
}

#[tokio::test]
async fn body_limits() {
    let h = Harness::new();
    h.admin("PUT", "/v1/key/create/k", "").await;
    let big = format!("{{\"plaintext\":\"{}\"}}", b64(&vec![0u8; 750_000]));
    assert!(big.len() > 1_000_000);
    assert_error(
        &h.admin("PUT", "/v1/key/encrypt/k", &big).await,
        400,
        "invalid request body",
    );
    let big_import = format!(
        "{{\"key\":\"{}\",\"cipher\":\"AES256\",\"pad\":\"{}\"}}",
        b64(&[0; 32]),
        "x".repeat(1_000_000)
    );
    assert_error(
        &h.admin("PUT", "/v1/key/import/big", &big_import).await,
        400,
        "invalid import key request body",
    );
    let ok = format!("{{\"plaintext\":\"{}\"}}", b64(&vec![0u8; 700_000]));
    assert!(ok.len() < 1_000_000);
    assert_eq!(h.admin("PUT", "/v1/key/encrypt/k", &ok).await.status, 200);
    // max_body 0 routes ignore bodies (KES never reads them).
    assert_eq!(
        h.admin("PUT", "/v1/key/create/k2", "ignored").await.status,
        200
    );
}

#[tokio::test]
async fn sentinels_match_errors_json() {
    let h = Harness::new();
    h.admin("PUT", "/v1/key/create/k", "").await;
    let produced = [
        h.call(OTHER, "GET", "/v1/key/describe/k", "").await,
        h.admin("GET", "/v1/key/describe/none", "").await,
        h.admin("PUT", "/v1/key/create/k", "").await,
        h.admin(
            "PUT",
            "/v1/key/decrypt/k",
            &format!("{{\"ciphertext\":\"{}\"}}", b64(&[1; 80])),
        )
        .await,
        h.admin("GET", "/v1/policy/describe/none", "").await,
        h.admin("GET", &format!("/v1/identity/describe/{OTHER}"), "")
            .await,
    ];
    let v = vector("errors.json");
    let mut seen = 0;
    for r in &produced {
        let err =
            ApiError::from_response(r.status, r.header("content-type"), r.body_bytes()).unwrap();
        let s = err.sentinel().expect("a sentinel");
        let row = v["sentinels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["name"] == s.go_name())
            .unwrap();
        assert_eq!(row["status"], r.status);
        assert_eq!(row["message"], err.message());
        seen += 1;
    }
    assert_eq!(seen, 6);
    assert!(
        ApiError::from_response(
            produced[1].status,
            produced[1].header("content-type"),
            produced[1].body_bytes()
        )
        .unwrap()
        .is(Sentinel::KeyNotFound)
    );
}

#[tokio::test]
async fn audit_event_per_request() {
    let h = Harness::new();
    h.clock.advance(Duration::ZERO);
    h.admin("PUT", "/v1/key/create/k", "").await;
    h.call(OTHER, "GET", "/v1/status", "").await;
    h.send(None, Request::new("GET", "/nope")).await;
    let audit = h.sink.audit.lock().unwrap();
    assert_eq!(audit.len(), 3);
    assert_eq!(audit[0].message, "secret key 'k' created");
    assert_eq!(audit[0].identity.as_deref(), Some(ADMIN));
    assert_eq!(audit[0].ip, Some("10.0.0.7".parse().unwrap()));
    assert_eq!(audit[0].method, "PUT");
    assert_eq!(
        (audit[1].status, audit[1].path.as_ref()),
        (403, "/v1/status")
    );
    assert_eq!((audit[2].status, audit[2].identity.as_deref()), (404, None));
    assert!(audit[0].to_text().contains("req.path=/v1/key/create/k"));
}

#[tokio::test]
async fn log_levels_filter_the_sink() {
    let h = Harness::with(|o| {
        o.audit_level = kes_core::Level::OFF;
        o.error_level = kes_core::Level::DEBUG;
    });
    h.call(OTHER, "GET", "/v1/status", "").await;
    assert!(h.sink.audit.lock().unwrap().is_empty());
    assert_eq!(
        h.sink.error.lock().unwrap()[0].message,
        "access denied: identity not found"
    );
    let h = Harness::new();
    h.call(OTHER, "GET", "/v1/status", "").await;
    assert!(
        h.sink.error.lock().unwrap().is_empty(),
        "DEBUG is below the default INFO"
    );
    assert_eq!(h.sink.audit.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn log_streams_deliver_events() {
    use futures_util::StreamExt as _;
    let h = Harness::new();
    let r = h.admin("GET", "/v1/log/audit", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let kes_core::Body::Stream(mut audit) = r.body else {
        panic!("stream")
    };
    let kes_core::Body::Stream(mut errors) = h.admin("GET", "/v1/log/error", "").await.body else {
        panic!("stream")
    };
    assert_eq!(h.server.log_subscribers(), (1, 1));

    h.admin("PUT", "/v1/key/create/k", "").await;
    h.store.set_broken(true);
    h.admin("GET", "/v1/key/describe/other", "").await;
    h.store.set_broken(false);

    // The subscription requests themselves are audited first.
    for path in ["/v1/log/audit", "/v1/log/error"] {
        let line = audit.next().await.unwrap();
        let ev: AuditLogEvent = kes_types::json::from_slice(&line).unwrap();
        assert_eq!(ev.request.path, path);
    }
    let line = audit.next().await.unwrap();
    assert!(line.ends_with(b"\n"));
    let ev: AuditLogEvent = kes_types::json::from_slice(&line).unwrap();
    assert_eq!(ev.request.path, "/v1/key/create/k");
    assert_eq!(ev.request.identity, ADMIN);
    assert_eq!(ev.request.ip, "10.0.0.7");
    assert_eq!(ev.response.code, 200);

    let line = errors.next().await.unwrap();
    let ev: kes_types::dto::ErrorLogEvent = kes_types::json::from_slice(&line).unwrap();
    assert!(ev.message.contains("level=ERROR"), "{}", ev.message);
    assert!(ev.message.contains("disk on fire"), "{}", ev.message);

    let t = text(&h.admin("GET", "/v1/metrics", "").await);
    assert!(t.contains("kes_log_error_events 1"), "{t}");
    assert!(t.contains("kes_log_audit_events"), "{t}");

    drop(audit);
    h.admin("GET", "/v1/status", "").await; // publishing notices the closed subscriber
    assert_eq!(h.server.log_subscribers(), (0, 1));
}

#[test]
fn log_stream_vectors_decode() {
    let v = vector("log_streams.json");
    let text = v["audit_stream_text"].as_str().unwrap();
    for (line, want) in text.lines().zip(v["audit_expected"].as_array().unwrap()) {
        let ev: AuditLogEvent = kes_types::json::from_slice(line.as_bytes()).unwrap();
        assert_eq!(ev.request.path, want["path"].as_str().unwrap());
        assert_eq!(ev.request.identity, want["identity"].as_str().unwrap());
        assert_eq!(i64::from(ev.response.code), want["code"].as_i64().unwrap());
        assert_eq!(ev.response.time, want["response_time_ns"].as_i64().unwrap());
    }
    // Our own lines use the same shape and units (nanoseconds truncated to microseconds).
    let ours = kes_core::AuditEvent {
        time: start(),
        level: kes_core::Level::INFO,
        message: std::borrow::Cow::Borrowed("m"),
        method: "GET".into(),
        path: "/v1/log/audit".into(),
        ip: None,
        identity: Some("dd46485bedc9ad2909d2e8f9017216eec4413bc5c64b236d992f7ec19c843c5f".into()),
        status: 200,
        latency: Duration::from_nanos(12_106_999),
    };
    let ev: AuditLogEvent = kes_types::json::from_slice(ours.to_json_line().as_bytes()).unwrap();
    assert_eq!(ev.response.time, 12_106_000);
    assert_eq!(ev.time.to_rfc3339().unwrap(), "2023-11-14T22:13:20Z");
    let text = v["error_stream_text"].as_str().unwrap();
    for (line, want) in text.lines().zip(v["error_expected"].as_array().unwrap()) {
        let ev: kes_types::dto::ErrorLogEvent =
            kes_types::json::from_slice(line.as_bytes()).unwrap();
        assert_eq!(ev.message, want.as_str().unwrap());
    }
}

#[test]
fn http_accepts_vectors() {
    let v = vector("http_accepts.json");
    for case in v["vectors"].as_array().unwrap() {
        let accept: Vec<&str> = case["accept"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let ct = case["content_type"].as_str().unwrap();
        assert_eq!(
            kes_core::accepts(accept.iter().copied(), ct),
            case["accepts"].as_bool().unwrap(),
            "{accept:?} {ct}"
        );
    }
}

/// Shells box this future once per request. It used to hold the request and its context
/// twice (an `async fn` copies its arguments into its state) and was 1.5 KiB. glibc's malloc
/// serves at most 1,032 bytes from its per-thread cache, and kes-server's box adds 16 bytes
/// of its own (at 1,024 bytes here, its box was 1,048 and took malloc's slow path).
#[test]
fn request_future_stays_small() {
    let h = Harness::new();
    let fut = h
        .server
        .handle(h.ctx(None), Request::new("GET", "/version"));
    let size = std::mem::size_of_val(&fut);
    println!("Server::handle future: {size} bytes");
    assert!(size <= 1008, "Server::handle's future grew to {size} bytes");
}
