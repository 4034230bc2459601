//! Every KES key/ciphertext vector from `tests/data/kes/` (copied verbatim
//! from the project's conformance vectors; see `vectors/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::ciphertext::{self, Format};
use kes_crypto::{EmbeddedAlgorithm, Error, HmacKey, KeyAlgorithm, KeyVersion, SecretKey};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/kes/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap()).unwrap()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn algorithm(v: &Value) -> KeyAlgorithm {
    text(v).parse().unwrap()
}

fn secret_key(case: &Value) -> SecretKey {
    SecretKey::from_slice(algorithm(&case["key_type"]), &b64(&case["key_b64"])).unwrap()
}

/// The ciphertext bytes: `ciphertext_b64`, or `ciphertext_text` as UTF-8.
fn ciphertext_bytes(case: &Value) -> Vec<u8> {
    match case.get("ciphertext_b64") {
        Some(v) => b64(v),
        None => text(&case["ciphertext_text"]).as_bytes().to_vec(),
    }
}

#[test]
fn secret_key_decrypt() {
    let file = load("secret_key_decrypt.json");
    let cases = file["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let index = &case["index"];
        let key = secret_key(case);
        let ct = ciphertext_bytes(case);
        if let Some(t) = case.get("ciphertext_text") {
            assert_eq!(t.as_str().unwrap().as_bytes(), ct, "case {index}");
        }
        let aad = b64(&case["associated_data_b64"]);
        let result = key.decrypt(&ct, &aad);
        if case["should_fail"].as_bool().unwrap() {
            assert!(
                matches!(result, Err(Error::NotAuthentic)),
                "case {index} must fail"
            );
        } else {
            let plain = result.unwrap_or_else(|e| panic!("case {index}: {e}"));
            assert_eq!(
                plain.as_slice(),
                b64(&case["plaintext_b64"]),
                "case {index}"
            );
        }

        // The detected format matches the informational one.
        let expected = match text(&case["format"]) {
            "json" => Format::LegacyJson,
            "msgpack" => Format::LegacyMsgpack,
            "binary" | "binary(json-parse-failed)" => Format::Binary,
            other => panic!("unknown format {other}"),
        };
        let parsed = ciphertext::parse(&ct).unwrap();
        assert_eq!(parsed.format, expected, "case {index}");
        let embedded = case
            .get("embedded_algorithm")
            .map(|v| text(v).replace("AES-256-GCM-HMAC-SHA-256", "AES256"))
            .map(|name| name.replace("ChaCha20Poly1305", "ChaCha20"))
            .map(|name| name.parse::<KeyAlgorithm>().unwrap());
        assert_eq!(parsed.embedded_algorithm, embedded, "case {index}");
    }
}

#[test]
fn secret_key_roundtrip() {
    let file = load("secret_key_roundtrip.json");
    let cases = file["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let key = secret_key(case);
        let plaintext = b64(&case["plaintext_b64"]);
        let aad = b64(&case["associated_data_b64"]);
        let ct = key.encrypt(&plaintext, &aad).unwrap();
        assert_eq!(ct.len(), plaintext.len() + 44);
        assert_eq!(key.decrypt(&ct, &aad).unwrap().as_slice(), plaintext);
        // Randomised: two encryptions differ.
        assert_ne!(key.encrypt(&plaintext, &aad).unwrap(), ct);
        let mut other_aad = aad.clone();
        other_aad.push(0);
        assert!(key.decrypt(&ct, &other_aad).is_err());
    }
}

#[test]
fn secret_key_encrypt_derived() {
    let file = load("secret_key_encrypt_derived.json");
    let cases = file["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let index = &case["index"];
        let key = secret_key(case);
        let plaintext = b64(&case["plaintext_b64"]);
        let aad = b64(&case["associated_data_b64"]);
        assert_eq!(text(&case["associated_data_text"]).as_bytes(), aad);
        let iv: [u8; 16] = hex::decode(text(&case["iv_hex"]))
            .unwrap()
            .try_into()
            .unwrap();
        let nonce: [u8; 12] = hex::decode(text(&case["nonce_hex"]))
            .unwrap()
            .try_into()
            .unwrap();
        let expected = b64(&case["ciphertext_binary_b64"]);
        let ct = key.encrypt_with(&iv, &nonce, &plaintext, &aad).unwrap();
        assert_eq!(ct, expected, "case {index}");

        let json = text(&case["ciphertext_legacy_json_text"])
            .as_bytes()
            .to_vec();
        let msgpack = b64(&case["ciphertext_legacy_msgpack_b64"]);
        for (form, bytes) in [
            (Format::Binary, &expected),
            (Format::LegacyJson, &json),
            (Format::LegacyMsgpack, &msgpack),
        ] {
            let parsed = ciphertext::parse(bytes).unwrap();
            assert_eq!(parsed.format, form, "case {index}");
            assert_eq!(parsed.iv, iv);
            assert_eq!(parsed.nonce, nonce);
            assert_eq!(&*parsed.sealed, &expected[..expected.len() - 28]);
            if form != Format::Binary {
                assert_eq!(parsed.embedded_algorithm, Some(key.algorithm()));
            }
            let plain = key.decrypt(bytes, &aad).unwrap();
            assert_eq!(plain.as_slice(), plaintext, "case {index} {form:?}");
        }
    }
}

#[test]
fn legacy_compat_derived() {
    let file = load("legacy_compat_derived.json");
    let cases = file["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for (i, case) in cases.iter().enumerate() {
        let version = KeyVersion::parse(text(&case["stored_key_raw"]).as_bytes()).unwrap();
        assert!(version.implicit_algorithm);
        assert_eq!(version.algorithm(), KeyAlgorithm::Aes256);
        let ct = ciphertext_bytes(case);
        let aad = b64(&case["associated_data_b64"]);
        let plaintext = b64(&case["plaintext_b64"]);

        // Recommended behaviour: KeyVersion::decrypt honours the embedded
        // algorithm for keys stored without one.
        assert_eq!(text(&case["recommended"]), "success");
        assert_eq!(
            version.decrypt(&ct, &aad).unwrap().as_slice(),
            plaintext,
            "case {i}"
        );

        // Current upstream KES behaviour is still available.
        let current = version.key.decrypt(&ct, &aad);
        if text(&case["current_kes_result"]).starts_with("fail") {
            assert!(current.is_err(), "case {i}");
        } else {
            assert_eq!(current.unwrap().as_slice(), plaintext, "case {i}");
        }
    }
}

#[test]
fn explicit_algorithm_keys_ignore_the_embedded_one() {
    // A key stored WITH an algorithm decrypts with it, as current KES does:
    // the ChaCha20 ciphertext of the compat vectors fails under an explicit
    // AES256 key.
    let file = load("legacy_compat_derived.json");
    let case = &file["vectors"][0];
    let version = KeyVersion::parse(
        br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","algorithm":"AES256"}"#,
    )
    .unwrap();
    assert!(!version.implicit_algorithm);
    assert!(version.decrypt(&ciphertext_bytes(case), b"").is_err());
    // ...unless the caller asks for the old behaviour.
    let plain = version
        .key
        .decrypt_with(&ciphertext_bytes(case), b"", EmbeddedAlgorithm::Honour)
        .unwrap();
    assert_eq!(plain.as_slice(), b64(&case["plaintext_b64"]));
}

fn parse_time(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(text(v), &Rfc3339).unwrap()
}

#[test]
fn parse_key_version() {
    let file = load("parse_key_version.json");
    let cases = file["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let raw = text(&case["raw"]);
        let result = KeyVersion::parse(raw.as_bytes());
        if case["should_fail"].as_bool().unwrap() {
            assert!(result.is_err(), "{raw} must fail");
            continue;
        }
        let version = result.unwrap_or_else(|e| panic!("{raw}: {e}"));
        let expect = &case["expect"];
        assert_eq!(version.algorithm(), algorithm(&expect["key_type"]), "{raw}");
        assert_eq!(version.key.as_bytes().as_slice(), b64(&expect["key_b64"]));
        match &expect["hmac_key"] {
            Value::Null => {
                assert!(version.hmac.is_none());
                assert!(matches!(version.hmac(b"x"), Err(Error::NoHmacKey)));
            }
            other => panic!("unexpected hmac_key {other}"),
        }
        assert_eq!(
            version.created_at,
            parse_time(&expect["created_at"]),
            "{raw}"
        );
        assert_eq!(version.created_by, text(&expect["created_by"]));
        // Legacy JSON without "algorithm" types the key implicitly.
        assert_eq!(version.implicit_algorithm, !raw.contains("\"algorithm\""));
    }
}

#[test]
fn encode_key_version() {
    let file = load("parse_key_version.json");
    let cases = file["encode_vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 3);

    let case = &cases[0];
    let hmac = &case["hmac_key"];
    assert_eq!(text(&hmac["hash"]), "SHA256");
    let version = KeyVersion::new(
        secret_key(case),
        HmacKey::from_slice(&b64(&hmac["key_b64"])).unwrap(),
        parse_time(&case["created_at"]),
        text(&case["created_by"]),
    );
    let encoded = version.encode().unwrap();
    assert_eq!(encoded.as_str(), text(&case["encoded"]));
    let back = KeyVersion::parse(encoded.as_bytes()).unwrap();
    assert_eq!(back, version);
    assert_eq!(
        back.hmac.as_ref().unwrap().as_bytes().as_slice(),
        b64(&hmac["key_b64"])
    );

    // encodeSecretKeyVersionTests[1]: no HMAC key, cannot be encoded.
    assert_eq!(
        text(&cases[1]["reason"]),
        "KeyVersion without HMAC key cannot be encoded"
    );
    let mut without_hmac = version.clone();
    without_hmac.hmac = None;
    assert!(matches!(without_hmac.encode(), Err(Error::NoHmacKey)));

    // encodeSecretKeyVersionTests[2]: a KeyVersion without a secret key is
    // not representable here (the field is not optional). Its stored form,
    // the canonical encoding minus field 1, must not parse (KES panics on
    // it; §7.4 rec).
    assert_eq!(
        text(&cases[2]["reason"]),
        "KeyVersion without secret key cannot be encoded"
    );
    let bytes = b64(&case["encoded"]);
    assert_eq!(&bytes[..2], &[0x0a, 0x24], "field 1 is 36 bytes long");
    let without_key = B64.encode(&bytes[2 + 0x24..]);
    assert!(KeyVersion::parse(without_key.as_bytes()).is_err());
    // And without field 2 (the HMAC key).
    assert_eq!(&bytes[38..40], &[0x12, 0x24]);
    let mut without_hmac = bytes[..38].to_vec();
    without_hmac.extend_from_slice(&bytes[40 + 0x24..]);
    assert!(KeyVersion::parse(B64.encode(&without_hmac).as_bytes()).is_err());
}

#[test]
fn key_algorithm_text_and_numbers() {
    let file = load("key_algorithm.json");
    // `value` is the Go SDK enum. Its String() of an out-of-range value
    // ("%!2") is Go formatting of an invalid enum; here such a value is
    // rejected when converting into KeyAlgorithm.
    for case in file["string"].as_array().unwrap() {
        let value = u32::try_from(case["value"].as_u64().unwrap()).unwrap();
        let expected = text(&case["string"]);
        match KeyAlgorithm::from_sdk_value(value) {
            Ok(alg) => {
                assert_eq!(alg.to_string(), expected);
                assert_eq!(alg.sdk_value(), value);
            }
            Err(_) => assert!(expected.starts_with("%!"), "{value}"),
        }
    }
    for case in file["marshal_text"].as_array().unwrap() {
        let value = u32::try_from(case["value"].as_u64().unwrap()).unwrap();
        let result = KeyAlgorithm::from_sdk_value(value);
        if case.get("should_fail").is_some() {
            assert!(result.is_err(), "{value}");
        } else {
            let alg = result.unwrap();
            assert_eq!(alg.as_str(), text(&case["text"]));
            assert_eq!(
                serde_json::to_value(alg).unwrap(),
                Value::String(alg.as_str().to_owned())
            );
        }
    }
    for case in file["unmarshal_text"].as_array().unwrap() {
        let input = text(&case["text"]);
        let result = input.parse::<KeyAlgorithm>();
        let json = serde_json::from_value::<KeyAlgorithm>(case["text"].clone());
        if case.get("should_fail").is_some() {
            assert!(result.is_err(), "{input}");
            assert!(json.is_err(), "{input}");
        } else {
            let value = u32::try_from(case["value"].as_u64().unwrap()).unwrap();
            assert_eq!(result.unwrap().sdk_value(), value, "{input}");
            assert_eq!(json.unwrap().sdk_value(), value, "{input}");
        }
    }
    // The protobuf numbers of §7.1.
    assert_eq!(KeyAlgorithm::Aes256.proto_type(), 1);
    assert_eq!(KeyAlgorithm::ChaCha20.proto_type(), 2);
}

#[test]
fn minio_builtin_kms_ciphertexts() {
    let file = load("minio_context.json");
    let cases = file["decrypt_vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        assert!(text(&case["key_type"]).starts_with("ChaCha20"));
        let key_bytes = b64(&case["key_b64"]);
        let ct = text(&case["ciphertext_text"]).as_bytes();
        let aad = text(&case["associated_data_text"]).as_bytes();
        let plaintext = b64(&case["plaintext_b64"]);

        let chacha = SecretKey::from_slice(KeyAlgorithm::ChaCha20, &key_bytes).unwrap();
        assert_eq!(chacha.decrypt(ct, aad).unwrap().as_slice(), plaintext);
        // MinIO sends `{}` for an empty context, never empty bytes.
        assert!(chacha.decrypt(ct, b"").is_err());

        // The algorithm comes from the JSON "aead" field: an untyped key
        // (legacy JSON without algorithm) decrypts it too.
        let stored = format!(r#"{{"bytes":"{}"}}"#, text(&case["key_b64"]));
        let version = KeyVersion::parse(stored.as_bytes()).unwrap();
        assert_eq!(version.decrypt(ct, aad).unwrap().as_slice(), plaintext);
    }
}

#[test]
fn minio_context_encoding() {
    // How MinIO turns a kms.Context into the associated data it sends. The
    // encoder lives in `sse::context`; the bytes must be exactly these.
    let file = load("minio_context.json");
    let cases = file["marshal_examples_derived"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let context: kes_crypto::sse::Context = case["context"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), text(v).to_owned()))
            .collect();
        assert_eq!(context.to_json(), text(&case["text"]).as_bytes());
    }
    // And the decrypt vectors' associated data is that encoding of their map.
    for case in file["decrypt_vectors"].as_array().unwrap() {
        let context: kes_crypto::sse::Context = case["context_map"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), text(v).to_owned()))
            .collect();
        assert_eq!(
            context.to_json(),
            text(&case["associated_data_text"]).as_bytes()
        );
    }
}
