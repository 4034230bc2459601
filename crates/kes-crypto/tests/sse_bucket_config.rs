//! `bucket-sse-config-vectors.json`: the bucket default-encryption XML.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_crypto::sse::bucket_config::{BucketSseConfig, S3_XMLNS, SseAlgorithm};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn vectors() {
    let v = load("bucket-sse-config-vectors.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for (i, case) in cases.iter().enumerate() {
        let xml = case["xml"].as_str().unwrap();
        let got = BucketSseConfig::parse(xml);
        if case["should_pass"].as_bool().unwrap() {
            let c = got.unwrap();
            let algo = match c.algorithm() {
                SseAlgorithm::Aes256 => "AES256",
                SseAlgorithm::AwsKms => "aws:kms",
            };
            assert_eq!(algo, case["algo"].as_str().unwrap(), "#{i}");
            assert_eq!(c.key_id(), case["key_id"].as_str().unwrap(), "#{i}");
            if case["remarshal_equal"].as_bool() == Some(true) {
                assert_eq!(c.to_xml(), xml, "#{i}");
            }
            assert_eq!(c.clone().with_default_namespace().xmlns(), Some(S3_XMLNS));
        } else {
            assert_eq!(
                got.unwrap_err().to_string(),
                case["error"].as_str().unwrap(),
                "#{i}"
            );
        }
    }
}
