//! `secret-key-kms-vectors.json`: MinIO's static-key KMS in every era's
//! format, the DEK text form and the MAC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::Error;
use kes_crypto::sse::object_key::SealedDek;
use kes_crypto::sse::static_kms::StaticKey;
use kes_crypto::sse::{Context, Dek, ExternalKey};
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

fn key() -> (Value, StaticKey) {
    let v = load("secret-key-kms-vectors.json");
    let env = v["env"].as_str().unwrap();
    let setting = env.strip_prefix("MINIO_KMS_SECRET_KEY=").unwrap();
    let key = StaticKey::parse(setting).unwrap();
    (v, key)
}

#[test]
fn decrypt_go_legacy_json_chacha() {
    let (v, key) = key();
    let cases = v["decrypt_go"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let ctx = context_of(&case["context"]);
        assert_eq!(ctx.to_json_string(), case["aad_DERIVED"].as_str().unwrap());
        let want = B64.decode(case["plaintext_b64"].as_str().unwrap()).unwrap();
        let name = case["key_id"].as_str().unwrap();
        let json = case["ciphertext"].as_str().unwrap();
        let got = key.decrypt(name, json.as_bytes(), &ctx).unwrap();
        assert_eq!(got.expose_secret().as_slice(), want.as_slice());
        // The binary equivalent is a ChaCha20 ciphertext: the static key
        // (AES) cannot read it as binary, which is why `aead` must be honoured.
        let binary = B64
            .decode(case["binary_equivalent_b64_DERIVED"].as_str().unwrap())
            .unwrap();
        assert!(key.decrypt(name, &binary, &ctx).is_err());
        // Wrong context fails.
        let mut other = ctx.clone();
        other.insert("x", "y");
        assert!(matches!(
            key.decrypt(name, json.as_bytes(), &other),
            Err(Error::NotAuthentic)
        ));
    }
}

#[test]
fn roundtrip_go() {
    let (v, key) = key();
    let rt = &v["roundtrip_go"];
    let name = rt["generate_name"].as_str().unwrap();
    assert_eq!(key.name(), name);
    let dek = key.generate_key(name, &Context::new()).unwrap();
    assert_eq!(dek.ciphertext().len(), 76);
    assert_eq!(
        &key.decrypt(name, dek.ciphertext(), &Context::new())
            .unwrap(),
        dek.plaintext()
    );
    assert!(matches!(
        key.generate_key("other", &Context::new()),
        Err(Error::KeyNotFound)
    ));
    assert!(matches!(
        key.decrypt("other", dek.ciphertext(), &Context::new()),
        Err(Error::KeyNotFound)
    ));
    // Fresh randomness every time.
    let dek2 = key.generate_key(name, &Context::new()).unwrap();
    assert_ne!(dek.plaintext(), dek2.plaintext());
}

#[test]
fn derived_binary_aes() {
    let (v, key) = key();
    let cases = v["derived_binary_aes"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let ctx = context_of(&case["context"]);
        assert_eq!(ctx.to_json_string(), case["aad"].as_str().unwrap());
        let random = hex::decode(case["random28_hex"].as_str().unwrap()).unwrap();
        let iv: [u8; 16] = random[..16].try_into().unwrap();
        let nonce: [u8; 12] = random[16..].try_into().unwrap();
        assert_eq!(hex::encode(iv), case["iv16_hex"].as_str().unwrap());
        assert_eq!(hex::encode(nonce), case["nonce12_hex"].as_str().unwrap());
        let plaintext: [u8; 32] = hex::decode(case["plaintext_dek_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let name = case["key_id"].as_str().unwrap();
        let dek = key
            .generate_key_with(name, &ctx, ExternalKey::from_bytes(plaintext), &iv, &nonce)
            .unwrap();
        assert_eq!(
            B64.encode(dek.ciphertext()),
            case["ciphertext_b64"].as_str().unwrap()
        );
        assert_eq!(
            dek.ciphertext().len(),
            usize::try_from(case["ciphertext_len"].as_u64().unwrap()).unwrap()
        );
        let ct = B64
            .decode(case["ciphertext_b64"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            key.decrypt(name, &ct, &ctx).unwrap().expose_secret(),
            &plaintext
        );
        // Every single-bit flip fails.
        for i in 0..ct.len() * 8 {
            let mut bad = ct.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(key.decrypt(name, &bad, &ctx).is_err(), "bit {i}");
        }
    }
}

#[test]
fn derived_legacy_json_aes() {
    let (v, key) = key();
    let case = &v["derived_legacy_json_aes"];
    let ctx = context_of(&case["context"]);
    let want = hex::decode(case["plaintext_dek_hex"].as_str().unwrap()).unwrap();
    let json = case["ciphertext_json"].as_str().unwrap();
    assert_eq!(
        key.decrypt("my-key", json.as_bytes(), &ctx)
            .unwrap()
            .expose_secret()
            .as_slice(),
        want
    );
    let binary = B64
        .decode(case["binary_equivalent_b64"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        key.decrypt("my-key", &binary, &ctx)
            .unwrap()
            .expose_secret()
            .as_slice(),
        want
    );
}

#[test]
fn derived_mac() {
    let (v, key) = key();
    let cases = v["derived_mac"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let mac = key.mac(case["message"].as_str().unwrap().as_bytes());
        assert_eq!(hex::encode(mac), case["mac_hex"].as_str().unwrap());
    }
}

#[test]
fn dek_text() {
    let v = load("secret-key-kms-vectors.json");
    let cases = v["dek_text"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let d = &case["dek"];
        let ciphertext = d["ciphertext_b64"].as_str().map(|s| B64.decode(s).unwrap());
        let sealed = SealedDek {
            key_id: d["key_id"].as_str().unwrap().to_owned(),
            version: u32::try_from(d["version"].as_u64().unwrap()).unwrap(),
            ciphertext: ciphertext.clone(),
        };
        let text = sealed.to_text();
        assert_eq!(text, case["marshal_text_DERIVED"].as_str().unwrap());
        // UnmarshalText keeps the key id and ciphertext, drops the plaintext.
        assert_eq!(SealedDek::from_text(text.as_bytes()).unwrap(), sealed);
        if let (Some(ct), Some(pt)) = (ciphertext, d["plaintext_b64"].as_str()) {
            let pt: [u8; 32] = B64.decode(pt).unwrap().try_into().unwrap();
            let dek = Dek::new(sealed.key_id.clone(), ExternalKey::from_bytes(pt), ct);
            assert_eq!(dek.to_text(), text);
            assert!(!text.contains(&B64.encode(pt)));
        }
    }
    let versioned = SealedDek {
        key_id: "k<1>".into(),
        version: 3,
        ciphertext: Some(vec![]),
    };
    assert_eq!(
        versioned.to_text(),
        r#"{"keyid":"k\u003c1\u003e","version":3,"ciphertext":""}"#
    );
    assert_eq!(
        SealedDek::from_text(versioned.to_text().as_bytes()).unwrap(),
        versioned
    );
    assert!(SealedDek::from_text(b"{\"ciphertext\":\"***\"}").is_err());
}
