//! `legacy-master-key-sse-s3.json`: real SSE-S3 objects written by MinIO in
//! 2020 under the old `MINIO_KMS_MASTER_KEY`; each object key must come out
//! as listed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::Error;
use kes_crypto::sse::metadata::{self, SealPolicy};
use kes_crypto::sse::static_kms::LegacyMasterKey;
use kes_crypto::sse::{ObjectKey, SseType, derive_kek};
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

#[test]
fn real_minio_objects_unseal() {
    let v = load("legacy-master-key-sse-s3.json");
    let key_id = v["key_id"].as_str().unwrap();
    let master = LegacyMasterKey::parse(&format!(
        "{key_id}:{}",
        v["master_key_hex"].as_str().unwrap()
    ))
    .unwrap();
    assert_eq!(
        hex::decode(v["master_key_hex"].as_str().unwrap()).unwrap(),
        v["master_key_ascii"].as_str().unwrap().as_bytes()
    );
    let entries = v["entries"].as_array().unwrap();
    assert!(entries.len() >= 10, "{}", entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let (bucket, object) = (
            entry["bucket"].as_str().unwrap(),
            entry["object"].as_str().unwrap(),
        );
        let md = map_of(&entry["metadata"]);
        let derived = &entry["derived"];
        assert_eq!(metadata::encryption_type(&md), Some(SseType::SseS3), "#{i}");
        let parsed = metadata::parse_sse_s3(&md, SealPolicy::Minio).unwrap();
        assert_eq!(parsed.key_id, key_id);
        let ctx = parsed.kms_context(bucket, object);
        assert_eq!(
            ctx.to_json_string(),
            derived["kms_context_json"].as_str().unwrap(),
            "#{i}"
        );
        let dek = master
            .decrypt(&parsed.key_id, &parsed.dek_ciphertext, &ctx)
            .unwrap();
        assert_eq!(
            hex::encode(dek.expose_secret()),
            derived["dek_hex"].as_str().unwrap(),
            "#{i}"
        );
        let kek = derive_kek(&dek, parsed.sealed_key.iv(), SseType::SseS3, bucket, object);
        assert_eq!(
            hex::encode(kek.expose_secret()),
            derived["kek_hex"].as_str().unwrap(),
            "#{i}"
        );
        let oek =
            ObjectKey::unseal(&parsed.sealed_key, &dek, SseType::SseS3, bucket, object).unwrap();
        assert_eq!(
            hex::encode(oek.expose_secret()),
            derived["object_key_hex"].as_str().unwrap(),
            "#{i}"
        );
        // The wrong object path or domain fails.
        assert!(
            ObjectKey::unseal(&parsed.sealed_key, &dek, SseType::SseKms, bucket, object).is_err()
        );
        assert!(
            ObjectKey::unseal(&parsed.sealed_key, &dek, SseType::SseS3, bucket, "other").is_err()
        );
        // The wrong context fails to decrypt the DEK.
        let other = kes_crypto::sse::Context::for_object(bucket, "other");
        assert!(matches!(
            master.decrypt(&parsed.key_id, &parsed.dek_ciphertext, &other),
            Err(Error::NotAuthentic)
        ));
    }
    // Another key name is not this master key.
    let e = &entries[0];
    let md = map_of(&e["metadata"]);
    let dek = B64.decode(&md[metadata::META_DATA_ENCRYPTION_KEY]).unwrap();
    let ctx = kes_crypto::sse::Context::for_object(
        e["bucket"].as_str().unwrap(),
        e["object"].as_str().unwrap(),
    );
    assert!(matches!(
        master.decrypt("other", &dek, &ctx),
        Err(Error::KeyNotFound)
    ));
}
