//! `metadata-vectors.json`: MinIO's internal SSE metadata rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::sse::metadata::{self, SealPolicy};
use kes_crypto::sse::{Context, SealAlgorithm, SealedObjectKey, SseType};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn cases<'a>(v: &'a Value, section: &str, count: usize) -> &'a Vec<Value> {
    let cases = v[section]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), count, "{section}");
    cases
}

/// Strips the Go variable-name prefix (`errFoo: message`) from an expected error.
fn message(expected: &str) -> &str {
    match expected.split_once(": ") {
        Some((name, msg)) if !name.contains(' ') => msg,
        _ => expected,
    }
}

#[test]
fn constants() {
    let v = load("metadata-vectors.json");
    let c = &v["constants"];
    for (name, value) in [
        ("MetaMultipart", metadata::META_MULTIPART),
        ("MetaIV", metadata::META_IV),
        ("MetaAlgorithm", metadata::META_ALGORITHM),
        ("MetaSealedKeySSEC", metadata::META_SEALED_KEY_SSEC),
        ("MetaSealedKeyS3", metadata::META_SEALED_KEY_S3),
        ("MetaSealedKeyKMS", metadata::META_SEALED_KEY_KMS),
        ("MetaKeyID", metadata::META_KEY_ID),
        ("MetaDataEncryptionKey", metadata::META_DATA_ENCRYPTION_KEY),
        ("MetaSsecCRC", metadata::META_SSEC_CRC),
        ("MetaContext", metadata::META_CONTEXT),
        ("SealAlgorithm", SealAlgorithm::DareV2HmacSha256.as_str()),
        ("InsecureSealAlgorithm", SealAlgorithm::DareSha256.as_str()),
        ("ARNPrefix", metadata::ARN_PREFIX),
    ] {
        assert_eq!(c[name].as_str().unwrap(), value, "{name}");
    }
}

#[test]
fn detection() {
    let v = load("metadata-vectors.json");
    for (i, case) in cases(&v, "is_multipart", 5).iter().enumerate() {
        let md = map_of(&case["metadata"]);
        assert_eq!(
            metadata::is_multipart(&md),
            case["expected"].as_bool().unwrap(),
            "multipart #{i}"
        );
    }
    for (i, case) in cases(&v, "is_encrypted_any", 9).iter().enumerate() {
        let md = map_of(&case["metadata"]);
        assert_eq!(
            metadata::is_encrypted(&md),
            case["expected"].as_bool().unwrap(),
            "any #{i}"
        );
    }
    for (section, sse) in [
        ("is_encrypted_sse_s3", SseType::SseS3),
        ("is_encrypted_sse_c", SseType::SseC),
    ] {
        for (i, case) in cases(&v, section, 9).iter().enumerate() {
            let md = map_of(&case["metadata"]);
            let got = metadata::encryption_type(&md) == Some(sse);
            assert_eq!(got, case["expected"].as_bool().unwrap(), "{section} #{i}");
        }
    }
    // Order: SSE-KMS wins over SSE-S3 wins over SSE-C.
    let all: BTreeMap<String, String> = [
        metadata::META_SEALED_KEY_SSEC,
        metadata::META_SEALED_KEY_S3,
        metadata::META_SEALED_KEY_KMS,
    ]
    .iter()
    .map(|k| ((*k).to_owned(), String::new()))
    .collect();
    assert_eq!(metadata::encryption_type(&all), Some(SseType::SseKms));
}

#[test]
fn parse_sse_s3() {
    let v = load("metadata-vectors.json");
    for (i, case) in cases(&v, "sse_s3_parse_metadata", 11).iter().enumerate() {
        let md = map_of(&case["metadata"]);
        let got = metadata::parse_sse_s3(&md, SealPolicy::Minio);
        match case["expected_error"].as_str() {
            Some(e) => assert_eq!(got.unwrap_err().to_string(), message(e), "#{i}"),
            None => {
                let got = got.unwrap();
                let want = &case["expected"];
                assert_eq!(got.key_id, want["key_id"].as_str().unwrap());
                assert_eq!(
                    got.dek_ciphertext,
                    B64.decode(want["data_key_b64"].as_str().unwrap()).unwrap()
                );
                assert_eq!(
                    got.sealed_key.algorithm().as_str(),
                    want["algorithm"].as_str().unwrap()
                );
                assert_eq!(
                    B64.encode(got.sealed_key.iv()),
                    want["iv_b64"].as_str().unwrap()
                );
                assert_eq!(
                    B64.encode(got.sealed_key.sealed_bytes()),
                    want["sealed_key_b64"].as_str().unwrap()
                );
            }
        }
    }
}

#[test]
fn parse_sse_c() {
    let v = load("metadata-vectors.json");
    for (i, case) in cases(&v, "sse_c_parse_metadata", 8).iter().enumerate() {
        let md = map_of(&case["metadata"]);
        let got = metadata::parse_sse_c(&md, SealPolicy::Minio);
        match case["expected_error"].as_str() {
            Some(e) => assert_eq!(got.unwrap_err().to_string(), message(e), "#{i}"),
            None => {
                let got = got.unwrap();
                let want = &case["expected"];
                assert_eq!(
                    got.algorithm().as_str(),
                    want["algorithm"].as_str().unwrap()
                );
                assert_eq!(B64.encode(got.iv()), want["iv_b64"].as_str().unwrap());
                assert_eq!(
                    B64.encode(got.sealed_bytes()),
                    want["sealed_key_b64"].as_str().unwrap()
                );
            }
        }
    }
}

fn sealed_of(v: &Value) -> SealedObjectKey {
    let iv: [u8; 32] = B64
        .decode(v["iv_b64"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let alg = SealAlgorithm::from_name(v["algorithm"].as_str().unwrap()).unwrap();
    SealedObjectKey::new(alg, iv, B64.decode(v["key_b64"].as_str().unwrap()).unwrap()).unwrap()
}

#[test]
fn create_sse_s3_roundtrip() {
    let v = load("metadata-vectors.json");
    for (i, case) in cases(&v, "sse_s3_create_metadata_roundtrip", 4)
        .iter()
        .enumerate()
    {
        let key_id = case["key_id"].as_str().unwrap();
        let dek = case["sealed_data_key_b64"]
            .as_str()
            .map(|s| B64.decode(s).unwrap())
            .unwrap_or_default();
        let sealed = sealed_of(&case["sealed_key"]);
        let md = metadata::create_sse_s3(key_id, &dek, &sealed).unwrap();
        assert_eq!(md, map_of(&case["expected_metadata_DERIVED"]), "#{i}");
        let back = metadata::parse_sse_s3(&md, SealPolicy::Minio).unwrap();
        assert_eq!(back.key_id, key_id);
        assert_eq!(back.dek_ciphertext, dek);
        assert_eq!(back.sealed_key, sealed);
    }
}

#[test]
fn sse_kms_derived() {
    let v = load("metadata-vectors.json");
    let case = &v["sse_kms_metadata_DERIVED"];
    let sealed = SealedObjectKey::new(
        SealAlgorithm::DareV2HmacSha256,
        {
            let mut iv = [0u8; 32];
            iv[0] = 1;
            iv
        },
        {
            let mut k = vec![0u8; 64];
            k[0] = 1;
            k
        },
    )
    .unwrap();
    let ctx: Context = [("project", "demo")].into_iter().collect();
    let md = metadata::create_sse_kms("my-minio-key", &[0u8; 76], &sealed, &ctx).unwrap();
    assert_eq!(md, map_of(&case["metadata"]));
    let parsed = metadata::parse_sse_kms(&md, SealPolicy::Minio).unwrap();
    let want = &case["parse_expected"];
    assert_eq!(parsed.key_id, want["key_id"].as_str().unwrap());
    assert_eq!(
        B64.encode(&parsed.dek_ciphertext),
        want["kms_key_b64"].as_str().unwrap()
    );
    assert_eq!(parsed.context, ctx);
    assert_eq!(
        parsed.sealed_key.algorithm().as_str(),
        want["algorithm"].as_str().unwrap()
    );
    assert_eq!(
        parsed.kms_context("b", "o").to_json_string(),
        case["decrypt_context_for_bucket_b_object_o"]
            .as_str()
            .unwrap()
    );
    // Without a client context, no context entry is written.
    let md =
        metadata::create_sse_kms("my-minio-key", &[0u8; 76], &sealed, &Context::new()).unwrap();
    assert!(!md.contains_key(metadata::META_CONTEXT));
    // A stored context that is not base64 JSON is an error.
    let mut bad = map_of(&case["metadata"]);
    bad.insert(metadata::META_CONTEXT.to_owned(), "e30".to_owned());
    assert!(metadata::parse_sse_kms(&bad, SealPolicy::Minio).is_err());
    bad.insert(metadata::META_CONTEXT.to_owned(), B64.encode(br#"{"a":1}"#));
    assert!(metadata::parse_sse_kms(&bad, SealPolicy::Minio).is_err());
}

#[test]
fn remove_internal_entries() {
    let v = load("metadata-vectors.json");
    for (i, case) in cases(&v, "remove_internal_entries", 2).iter().enumerate() {
        let mut md = map_of(&case["metadata"]);
        metadata::remove_internal_entries(&mut md);
        assert_eq!(md, map_of(&case["expected"]), "#{i}");
    }
    let mut md: BTreeMap<String, String> =
        [(metadata::META_CONTEXT.to_owned(), "e30=".to_owned())].into();
    metadata::remove_internal_entries(&mut md);
    assert_eq!(md.len(), 1, "the context entry stays");
}

#[test]
fn create_multipart() {
    let v = load("metadata-vectors.json");
    let want = map_of(&v["create_multipart_metadata"]["expected"]);
    let got: BTreeMap<String, String> = [metadata::multipart_entry()].into();
    assert_eq!(got, want);
}
