//! `kms-context-vectors.json`: MinIO's canonical KMS context encoding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_crypto::sse::Context;
use kes_crypto::sse::context::encode_raw;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn context_of(v: &Value) -> Context {
    match v {
        Value::Null => Context::new(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect(),
        other => panic!("unexpected context {other}"),
    }
}

#[test]
fn go_vectors() {
    let v = load("kms-context-vectors.json");
    let cases = v["go_vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let ctx = context_of(&case["context"]);
        assert_eq!(
            ctx.to_json_string(),
            case["expected_json"].as_str().unwrap()
        );
    }
}

#[test]
fn derived_vectors() {
    let v = load("kms-context-vectors.json");
    let cases = v["derived"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    for case in cases {
        let want = hex::decode(case["expected_json_hex"].as_str().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&want),
            case["expected_json"].as_str().unwrap()
        );
        let got = if let Some(raw) = case.get("context_hex") {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = raw
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        hex::decode(k).unwrap(),
                        hex::decode(v.as_str().unwrap()).unwrap(),
                    )
                })
                .collect();
            encode_raw(pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
        } else {
            let ctx = context_of(&case["context"]);
            // Same bytes through the raw encoder, too.
            let raw = encode_raw(ctx.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())));
            assert_eq!(raw, ctx.to_json(), "{}", case["note"]);
            ctx.to_json()
        };
        assert_eq!(got, want, "{}", case["note"]);
    }
}

#[test]
fn encoding_parses_back() {
    let v = load("kms-context-vectors.json");
    for case in v["derived"].as_array().unwrap() {
        if case.get("context_hex").is_some() {
            continue;
        }
        let ctx = context_of(&case["context"]);
        assert_eq!(Context::from_json(&ctx.to_json()).unwrap(), ctx);
        assert_eq!(Context::from_base64(&ctx.to_base64()).unwrap(), ctx);
    }
}
