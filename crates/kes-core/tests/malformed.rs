//! Bad input: a corpus of malformed requests (bad JSON, wrong types, unpadded or URL-safe
//! base64, oversized bodies, bad names, unicode, empty bodies, huge paths, bad escapes, bad
//! methods), each answered with the right 4xx and no panic; and a property test over
//! `Server::handle` with arbitrary requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kes_core::{Peer, Request, RequestContext};
use proptest::prelude::*;

/// (method, path, body, expected status, expected message; `None` = a non-JSON answer).
type Case = (String, String, Vec<u8>, u16, Option<String>);

const BAD_JSON: &[&str] = &[
    "{",
    "}",
    "[",
    "[]",
    "[1,2]",
    "\"text\"",
    "12",
    "-1",
    "true",
    "nul",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\":1,}",
    "{'a':1}",
    "{a:1}",
    "{\"a\":\"\\x\"}",
    "{\"a\":\"unterminated}",
    "\u{feff}{}",
    "{\"a\":01}",
    "\x00",
];

fn bad_base64() -> Vec<String> {
    [
        "AAE",       // unpadded
        "AA",        // unpadded
        "A",         // truncated
        "AA=",       // short padding
        "A===",      // too much padding
        "-_8=",      // URL-safe
        "Pz8_",      // URL-safe
        "AAAA AAAA", // space
        "AA==AA==",  // padding in the middle
        "@@@@",      // alphabet
        "éé==",      // non-ASCII
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn wrong_types(field: &str) -> Vec<String> {
    [
        "1",
        "1.5",
        "true",
        "{}",
        "{\"a\":1}",
        "[\"a\"]",
        "[256]",
        "[-1]",
    ]
    .iter()
    .map(|v| format!("{{\"{field}\":{v}}}"))
    .collect()
}

fn corpus() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut push = |m: &str, p: &str, b: Vec<u8>, s: u16, msg: Option<&str>| {
        cases.push((m.to_owned(), p.to_owned(), b, s, msg.map(str::to_owned)));
    };
    let invalid_body = Some("invalid request body");
    let invalid_import = Some("invalid import key request body");

    // Bad JSON on every body-reading route.
    for body in BAD_JSON {
        for route in ["generate", "encrypt", "decrypt", "hmac"] {
            push(
                "PUT",
                &format!("/v1/key/{route}/k"),
                body.as_bytes().to_vec(),
                400,
                invalid_body,
            );
        }
        push(
            "PUT",
            "/v1/key/import/new",
            body.as_bytes().to_vec(),
            400,
            invalid_import,
        );
    }
    // Wrong types and bad base64 per byte field.
    for (route, field) in [
        ("encrypt", "plaintext"),
        ("encrypt", "context"),
        ("decrypt", "ciphertext"),
        ("decrypt", "context"),
        ("hmac", "message"),
        ("generate", "context"),
    ] {
        for body in wrong_types(field) {
            push(
                "PUT",
                &format!("/v1/key/{route}/k"),
                body.into_bytes(),
                400,
                invalid_body,
            );
        }
        for b in bad_base64() {
            let body = format!("{{\"{field}\":\"{b}\"}}");
            push(
                "PUT",
                &format!("/v1/key/{route}/k"),
                body.into_bytes(),
                400,
                invalid_body,
            );
        }
    }
    for body in wrong_types("key").into_iter().chain(wrong_types("cipher")) {
        push(
            "PUT",
            "/v1/key/import/new",
            body.into_bytes(),
            400,
            invalid_import,
        );
    }
    for b in bad_base64() {
        push(
            "PUT",
            "/v1/key/import/new",
            format!("{{\"key\":\"{b}\",\"cipher\":\"AES256\"}}").into_bytes(),
            400,
            invalid_import,
        );
    }
    // Empty bodies where a body is required.
    for route in ["encrypt", "decrypt", "hmac"] {
        push(
            "PUT",
            &format!("/v1/key/{route}/k"),
            Vec::new(),
            400,
            invalid_body,
        );
        push(
            "POST",
            &format!("/v1/key/{route}/k"),
            b"   ".to_vec(),
            400,
            invalid_body,
        );
    }
    push("PUT", "/v1/key/import/new", Vec::new(), 400, invalid_import);
    // Oversized bodies.
    let huge = format!("{{\"plaintext\":\"{}\"}}", "A".repeat(1_000_004));
    for route in ["generate", "encrypt", "decrypt", "hmac"] {
        push(
            "PUT",
            &format!("/v1/key/{route}/k"),
            huge.clone().into_bytes(),
            400,
            invalid_body,
        );
    }
    push(
        "PUT",
        "/v1/key/import/new",
        huge.into_bytes(),
        400,
        invalid_import,
    );
    // Import semantics.
    push(
        "PUT",
        "/v1/key/import/new",
        format!("{{\"key\":\"{}\",\"cipher\":\"DES\"}}", b64(&[0; 32])).into_bytes(),
        406,
        Some("algorithm 'DES' is not supported"),
    );
    push(
        "PUT",
        "/v1/key/import/new",
        format!("{{\"key\":\"{}\",\"cipher\":\"AES256\"}}", b64(&[0; 31])).into_bytes(),
        406,
        Some("invalid key size for 'AES256'"),
    );
    push(
        "PUT",
        "/v1/key/import/new",
        format!("{{\"key\":\"{}\",\"cipher\":\"ChaCha20\"}}", b64(&[0; 33])).into_bytes(),
        406,
        Some("invalid key size for 'ChaCha20'"),
    );

    // Bad names (percent-encoded where needed) on every key route, policies and identities.
    let names: Vec<(String, String)> = [
        ("", ""),
        ("-", "-"),
        ("a-", "a-"),
        ("-a", "-a"),
        ("_", "_"),
        ("a.b", "a.b"),
        ("a%20b", "a b"),
        ("a%2Fb", "a/b"),
        ("a%2Fb%2Fc", "a/b/c"),
        ("a*", "a*"),
        ("%2A", "*"),
        ("%C3%A4", "ä"),
        ("%E2%9C%93", "✓"),
        ("%00", "\0"),
        ("a%0Ab", "a\nb"),
        ("a+b", "a+b"),
        ("a~b", "a~b"),
        ("a=b", "a=b"),
        ("a@b", "a@b"),
        ("a:b", "a:b"),
    ]
    .iter()
    .map(|(raw, dec)| ((*raw).to_owned(), (*dec).to_owned()))
    .chain(std::iter::once(("x".repeat(81), "x".repeat(81))))
    .chain(std::iter::once(("y".repeat(10_000), "y".repeat(10_000))))
    .collect();
    for (raw, dec) in &names {
        let msg = format!("key name '{dec}' is empty, too long or contains invalid characters");
        for (method, route) in [
            ("PUT", "create"),
            ("PUT", "import"),
            ("GET", "describe"),
            ("DELETE", "delete"),
            ("PUT", "generate"),
            ("PUT", "encrypt"),
            ("PUT", "decrypt"),
            ("PUT", "hmac"),
        ] {
            push(
                method,
                &format!("/v1/key/{route}/{raw}"),
                b"{}".to_vec(),
                400,
                Some(&msg),
            );
        }
        let msg = format!("policy name '{dec}' is empty, too long or contains invalid characters");
        push(
            "GET",
            &format!("/v1/policy/describe/{raw}"),
            Vec::new(),
            400,
            Some(&msg),
        );
        push(
            "GET",
            &format!("/v1/policy/read/{raw}"),
            Vec::new(),
            400,
            Some(&msg),
        );
        let msg = format!("identity '{dec}' is empty, too long or contains invalid characters");
        push(
            "GET",
            &format!("/v1/identity/describe/{raw}"),
            Vec::new(),
            400,
            Some(&msg),
        );
    }
    // Bad list patterns.
    for (raw, dec) in [
        ("*a", "*a"),
        ("a*b", "a*b"),
        ("**", "**"),
        ("-a*", "-a*"),
        ("a-", "a-"),
        ("_", "_"),
        ("a.b*", "a.b*"),
        ("%C3%A4*", "ä*"),
    ] {
        let msg = format!("listing pattern '{dec}' is empty, too long or is invalid");
        for route in ["key", "policy", "identity"] {
            push(
                "GET",
                &format!("/v1/{route}/list/{raw}"),
                Vec::new(),
                400,
                Some(&msg),
            );
        }
    }
    // Bad escapes and huge paths.
    for raw in [
        "/v1/key/create/%",
        "/v1/key/create/%4",
        "/v1/key/create/%zz",
        "/v1/%ZZ/x",
        "/%",
        "/v1/key/describe/a%g0",
    ] {
        push("PUT", raw, Vec::new(), 400, None);
    }
    push(
        "GET",
        &format!("/{}", "a/".repeat(5_000)),
        Vec::new(),
        404,
        None,
    );
    push(
        "GET",
        &format!("/v1/{}", "x".repeat(100_000)),
        Vec::new(),
        404,
        None,
    );
    // Bad methods.
    for m in [
        "HEAD", "OPTIONS", "TRACE", "CONNECT", "PATCH", "put", "", "G E T",
    ] {
        let msg = format!("received method '{m}' expected 'PUT'");
        push(m, "/v1/key/generate/k", Vec::new(), 405, Some(&msg));
    }
    cases
}

#[tokio::test]
async fn malformed_corpus_gets_the_right_4xx() {
    let h = Harness::new();
    h.admin("PUT", "/v1/key/create/k", "").await;
    let cases = corpus();
    assert!(cases.len() >= 200, "corpus has {} cases", cases.len());
    for (method, path, body, status, message) in cases {
        let r = h
            .send(
                Some(ADMIN),
                Request::new(method.clone(), path.clone()).with_body(body),
            )
            .await;
        let shown = format!("{method} {}", path.chars().take(80).collect::<String>());
        match message {
            Some(m) => {
                assert_eq!(r.status, status, "{shown}: {}", text(&r));
                assert_eq!(
                    text(&r),
                    format!("{{\"message\":{}\n}}", serde_json::to_string(&m).unwrap()),
                    "{shown}"
                );
            }
            None => assert_eq!(r.status, status, "{shown}"),
        }
    }
    // Nothing was created by any of it.
    let names = json(&h.admin("GET", "/v1/key/list/*", "").await);
    assert_eq!(names["names"], serde_json::json!(["k"]));
}

fn arb_request() -> impl Strategy<Value = (Request, u8)> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("PUT".to_owned()),
        Just("POST".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Z]{0,8}",
    ];
    let prefix = prop_oneof![
        Just("/version"),
        Just("/v1/ready"),
        Just("/v1/status"),
        Just("/v1/metrics"),
        Just("/v1/api"),
        Just("/v1/key/create/"),
        Just("/v1/key/import/"),
        Just("/v1/key/describe/"),
        Just("/v1/key/list/"),
        Just("/v1/key/delete/"),
        Just("/v1/key/generate/"),
        Just("/v1/key/encrypt/"),
        Just("/v1/key/decrypt/"),
        Just("/v1/key/hmac/"),
        Just("/v1/policy/read/"),
        Just("/v1/policy/list/"),
        Just("/v1/identity/describe/"),
        Just("/v1/identity/self/describe"),
        Just("/v1/identity/list/"),
        Just("/"),
        Just(""),
    ];
    let suffix = prop_oneof![
        "[a-zA-Z0-9_*%/.-]{0,12}",
        any::<String>(),
        Just("k".to_owned())
    ];
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        "\\{\"[a-zA-Z]{0,10}\":\"[A-Za-z0-9+/=_-]{0,12}\"\\}".prop_map(String::into_bytes),
        Just(b"{\"plaintext\":\"aGk=\",\"context\":\"e30=\"}".to_vec()),
        Just(b"{\"message\":\"aGk=\"}".to_vec()),
        Just(format!("{{\"key\":\"{}\",\"cipher\":\"AES256\"}}", b64(&[3; 32])).into_bytes()),
    ];
    let headers = proptest::collection::vec(("[a-zA-Z-]{1,20}", any::<String>()), 0..3);
    (method, prefix, suffix, body, headers, any::<u8>()).prop_map(|(m, p, s, b, hs, peer)| {
        let mut r = Request::new(m, format!("{p}{s}")).with_body(b);
        for (name, value) in &hs {
            r.headers.push(name, value);
        }
        (r, peer)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn handle_never_panics_and_never_fails_internally((req, peer) in arb_request()) {
        thread_local! {
            static RT: tokio::runtime::Runtime =
                tokio::runtime::Builder::new_current_thread().build().unwrap();
            static H: Harness = {
                let h = Harness::new();
                RT.with(|rt| rt.block_on(h.admin("PUT", "/v1/key/create/k", "")));
                h
            };
        }
        let peer = match peer % 5 {
            0 => Peer::NoCertificate,
            1 => Peer::Insecure,
            2 => Peer::Certificate(ADMIN.parse().unwrap()),
            3 => Peer::Certificate(APP.parse().unwrap()),
            _ => Peer::Certificate(OTHER.parse().unwrap()),
        };
        let status = H.with(|h| {
            let ctx = RequestContext::new(peer, None, h.now());
            RT.with(|rt| rt.block_on(h.server.handle(ctx, req))).status
        });
        prop_assert!(
            matches!(status, 200 | 301 | 400 | 403 | 404 | 405 | 406 | 409),
            "unexpected status {status}"
        );
    }
}
