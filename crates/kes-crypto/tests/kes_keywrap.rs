//! The key-wrap v1 format against vectors computed independently (Python's
//! `hmac` and the `cryptography` package's AES-GCM-SIV), so that the byte
//! layout documented in `docs/formats.md` cannot drift.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::keywrap::{self, Form, WrapKey};
use serde_json::Value;

fn load() -> Value {
    let path = format!(
        "{}/tests/data/kes/keywrap_v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_field(case: &Value, name: &str) -> Vec<u8> {
    hex::decode(case[name].as_str().unwrap()).unwrap()
}

#[test]
fn keywrap_v1_vectors() {
    let file = load();
    let cases = file["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let key = WrapKey::from_slice(&hex_field(case, "key_hex")).unwrap();
        let nonce: [u8; 12] = hex_field(case, "nonce_hex").try_into().unwrap();
        let plaintext = B64.decode(case["plaintext_b64"].as_str().unwrap()).unwrap();
        let aad = B64
            .decode(case["associated_data_b64"].as_str().unwrap())
            .unwrap();
        let wrapped = hex_field(case, "wrapped_hex");
        let text = case["wrapped_text"].as_str().unwrap();

        assert_eq!(key.key_id().to_vec(), hex_field(case, "key_id_hex"));
        assert_eq!(
            key.seal_with_nonce(&nonce, &plaintext, &aad).unwrap(),
            wrapped
        );
        assert_eq!(key.open(&wrapped, &aad).unwrap().as_slice(), plaintext);
        assert_eq!(
            key.open(text.as_bytes(), &aad).unwrap().as_slice(),
            plaintext
        );
        assert_eq!(keywrap::detect(&wrapped), Some(Form::Binary));
        assert_eq!(keywrap::detect(text.as_bytes()), Some(Form::Text));
        assert_eq!(keywrap::key_id_of(text.as_bytes()), Some(key.key_id()));
        assert_eq!(wrapped.len(), plaintext.len() + keywrap::OVERHEAD);
        // A binary wrapped value is never UTF-8 text, hence never a KES
        // stored key (JSON or base64).
        assert!(std::str::from_utf8(&wrapped).is_err());
    }
}
