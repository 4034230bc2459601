//! `object-key-vectors.json`: KEK derivation, path joining, object-key
//! generation, sealing/unsealing (incl. legacy DARE-SHA256) and part keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::Error;
use kes_crypto::sse::dare::CipherSuite;
use kes_crypto::sse::headers;
use kes_crypto::sse::metadata::{self, SealPolicy};
use kes_crypto::sse::object_key::derive_legacy_unseal_key;
use kes_crypto::sse::{
    ExternalKey, ObjectKey, SealAlgorithm, SealedObjectKey, SseType, derive_kek, go_path_join,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn domain(v: &Value) -> SseType {
    match v.as_str().unwrap() {
        "SSE-S3" => SseType::SseS3,
        "SSE-KMS" => SseType::SseKms,
        "SSE-C" => SseType::SseC,
        other => panic!("unknown domain {other}"),
    }
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn go_path_join_vectors() {
    let v = load("object-key-vectors.json");
    let cases = v["go_path_join_DERIVED"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let [b, o, want] = [0, 1, 2].map(|i| case[i].as_str().unwrap());
        assert_eq!(go_path_join(b, o), want, "join({b:?}, {o:?})");
    }
}

#[test]
fn kek_derivation_vectors() {
    let v = load("object-key-vectors.json");
    let cases = v["kek_derivation_DERIVED"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let ek = ExternalKey::from_bytes(hex32(&case["ext_key_hex"]));
        let (bucket, object) = (
            case["bucket"].as_str().unwrap(),
            case["object"].as_str().unwrap(),
        );
        assert_eq!(
            go_path_join(bucket, object),
            case["path_join"].as_str().unwrap()
        );
        let kek = derive_kek(
            &ek,
            &hex32(&case["iv_hex"]),
            domain(&case["domain"]),
            bucket,
            object,
        );
        assert_eq!(
            hex::encode(kek.expose_secret()),
            case["kek_hex"].as_str().unwrap()
        );
    }
}

#[test]
fn object_key_generation_vectors() {
    let v = load("object-key-vectors.json");
    let cases = v["object_key_generation_DERIVED"]["cases"]
        .as_array()
        .unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let ek = ExternalKey::from_bytes(hex32(&case["ext_key_hex"]));
        let key = ObjectKey::generate_with(&ek, &hex32(&case["random32_hex"]));
        assert_eq!(
            hex::encode(key.expose_secret()),
            case["object_key_hex"].as_str().unwrap()
        );
    }
}

#[test]
fn part_key_vectors() {
    let v = load("object-key-vectors.json");
    let section = &v["derive_part_key"];
    let key = ObjectKey::from_bytes(hex32(&section["object_key_hex"]));
    let cases = section["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let part = u32::try_from(case["part_id"].as_u64().unwrap()).unwrap();
        assert_eq!(
            hex::encode(key.derive_part_key(part).expose_secret()),
            case["part_key_hex"].as_str().unwrap()
        );
    }
}

#[test]
fn seal_unseal_vectors() {
    let v = load("object-key-vectors.json");
    let cases = v["seal_unseal"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let why = case["why"].as_str().unwrap();
        let (seal, unseal, derived) = (&case["seal"], &case["unseal"], &case["derived"]);
        let seal_ek = ExternalKey::from_bytes(hex32(&seal["ext_key_hex"]));
        let iv = hex32(&seal["iv_hex"]);
        let (sb, so) = (
            seal["bucket"].as_str().unwrap(),
            seal["object"].as_str().unwrap(),
        );
        let kek = derive_kek(&seal_ek, &iv, domain(&seal["domain"]), sb, so);
        assert_eq!(
            hex::encode(kek.expose_secret()),
            derived["kek_hex"].as_str().unwrap(),
            "{why}"
        );
        // Deterministic seal reproduces the derived bytes.
        let key = ObjectKey::from_bytes(hex32(&derived["object_key_hex"]));
        let nonce: [u8; 12] = hex::decode(derived["dare_nonce12_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let suite =
            CipherSuite::from_id(u8::try_from(derived["cipher"].as_u64().unwrap()).unwrap())
                .unwrap();
        let sealed = key
            .seal_with(&seal_ek, &iv, domain(&seal["domain"]), sb, so, suite, nonce)
            .unwrap();
        assert_eq!(
            hex::encode(sealed.sealed_bytes()),
            derived["sealed_key_hex"].as_str().unwrap(),
            "{why}"
        );
        assert_eq!(
            B64.encode(sealed.sealed_bytes()),
            derived["sealed_key_b64"].as_str().unwrap()
        );
        // A randomly sealed key behaves the same way on unseal.
        let random = key
            .seal(&seal_ek, &iv, domain(&seal["domain"]), sb, so)
            .unwrap();
        for s in [&sealed, &random] {
            let got = ObjectKey::unseal(
                s,
                &ExternalKey::from_bytes(hex32(&unseal["ext_key_hex"])),
                domain(&unseal["domain"]),
                unseal["bucket"].as_str().unwrap(),
                unseal["object"].as_str().unwrap(),
            );
            if case["should_pass"].as_bool().unwrap() {
                assert_eq!(got.unwrap(), key, "{why}");
            } else {
                assert!(matches!(got, Err(Error::NotAuthentic)), "{why}: {got:?}");
            }
        }
    }
}

#[test]
fn legacy_dare_sha256() {
    let v = load("object-key-vectors.json");
    let section = &v["seal_unseal"];
    let legacy = &section["legacy_insecure_derived"];
    let ek = ExternalKey::from_bytes(hex32(&legacy["ext_key_hex"]));
    let iv = hex32(&legacy["iv_hex"]);
    assert_eq!(
        hex::encode(derive_legacy_unseal_key(&ek, &iv).expose_secret()),
        legacy["unseal_key_hex"].as_str().unwrap()
    );
    let sealed = SealedObjectKey::new(
        SealAlgorithm::DareSha256,
        iv,
        hex::decode(legacy["sealed_key_dare10_hex"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    // No domain or path in the legacy derivation.
    let key = ObjectKey::unseal(&sealed, &ek, SseType::SseC, "any", "thing").unwrap();
    assert_eq!(
        hex::encode(key.expose_secret()),
        legacy["object_key_hex"].as_str().unwrap()
    );
    let wrong = ExternalKey::from_bytes([1; 32]);
    assert!(ObjectKey::unseal(&sealed, &wrong, SseType::SseC, "any", "thing").is_err());
    // The same DARE 1.0 bytes labelled DAREv2 must fail (v2 accepts only DARE 2.0).
    let relabelled = SealedObjectKey::new(
        SealAlgorithm::DareV2HmacSha256,
        iv,
        sealed.sealed_bytes().to_vec(),
    )
    .unwrap();
    assert!(ObjectKey::unseal(&relabelled, &ek, SseType::SseC, "bucket", "object").is_err());

    // Go's tail case: sealed with DAREv2-HMAC-SHA256 (ext key 0, iv 0,
    // SSE-S3, bucket/object) but labelled DARE-SHA256 must fail.
    assert_eq!(
        section["legacy_insecure_algorithm_case"]["should_pass"],
        false
    );
    let key = ObjectKey::from_bytes([0x42; 32]);
    let ek0 = ExternalKey::from_bytes([0; 32]);
    let v2 = key
        .seal(&ek0, &[0; 32], SseType::SseS3, "bucket", "object")
        .unwrap();
    let mislabelled = SealedObjectKey::new(
        SealAlgorithm::DareSha256,
        [0; 32],
        v2.sealed_bytes().to_vec(),
    )
    .unwrap();
    assert!(ObjectKey::unseal(&mislabelled, &ek0, SseType::SseS3, "bucket", "object").is_err());
}

#[test]
fn sse_c_unseal_vectors() {
    let v = load("object-key-vectors.json");
    let section = &v["sse_c_unseal"];
    for (sub, parse) in [
        (
            "sse_c",
            headers::parse_sse_c::<BTreeMap<String, String>> as fn(&_) -> _,
        ),
        (
            "sse_c_copy",
            headers::parse_sse_c_copy::<BTreeMap<String, String>>,
        ),
    ] {
        let cases = section[sub].as_array().unwrap();
        assert_eq!(cases.len(), 4);
        for (i, case) in cases.iter().enumerate() {
            // MinIO's order: parse the client key, then the metadata, then unseal.
            let result = parse(&map_of(&case["headers"])).and_then(|ek| {
                let sealed = metadata::parse_sse_c(&map_of(&case["metadata"]), SealPolicy::Minio)?;
                ObjectKey::unseal(
                    &sealed,
                    &ek,
                    SseType::SseC,
                    case["bucket"].as_str().unwrap(),
                    case["object"].as_str().unwrap(),
                )
            });
            match case["expected_error"].as_str() {
                None => {
                    let key = result.unwrap();
                    if sub == "sse_c" && i == 0 {
                        let d = &section["derived_for_case_0"];
                        assert_eq!(
                            hex::encode(key.expose_secret()),
                            d["object_key_hex"].as_str().unwrap()
                        );
                    }
                }
                Some(e) => {
                    let err = result.unwrap_err();
                    let msg = e.split_once(": ").unwrap().1;
                    match err {
                        Error::NotAuthentic => {
                            assert!(e.starts_with("ErrSecretKeyMismatch"), "{sub} #{i}: {e}");
                        }
                        other => assert_eq!(other.to_string(), msg, "{sub} #{i}"),
                    }
                }
            }
        }
    }
    let d = &section["derived_for_case_0"];
    let ek = ExternalKey::from_bytes(hex32(&d["client_key_hex"]));
    let kek = derive_kek(&ek, &hex32(&d["iv_hex"]), SseType::SseC, "bucket", "object");
    assert_eq!(
        hex::encode(kek.expose_secret()),
        d["kek_hex"].as_str().unwrap()
    );
}
