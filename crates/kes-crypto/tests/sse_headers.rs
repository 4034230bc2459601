//! `header-vectors.json`: S3 SSE request-header classification and parsing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use kes_crypto::Error;
use kes_crypto::sse::SseType;
use kes_crypto::sse::headers::{self, RequestErrorKind};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn headers_of(v: &Value) -> BTreeMap<String, String> {
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

fn kind_of(e: Error) -> RequestErrorKind {
    match e {
        Error::SseRequest(k) => k,
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn is_requested() {
    let v = load("header-vectors.json");
    type Pred = fn(&BTreeMap<String, String>) -> bool;
    let sections: [(&str, usize, Pred); 4] = [
        ("sse_kms_is_requested", 7, |h| headers::sse_kms_requested(h)),
        ("sse_s3_is_requested", 5, |h| headers::sse_s3_requested(h)),
        ("sse_c_is_requested", 7, |h| headers::sse_c_requested(h)),
        ("sse_c_copy_is_requested", 7, |h| {
            headers::sse_c_copy_requested(h)
        }),
    ];
    for (section, count, pred) in sections {
        for (i, case) in cases(&v, section, count).iter().enumerate() {
            let h = headers_of(&case["headers"]);
            assert_eq!(
                pred(&h),
                case["expected"].as_bool().unwrap(),
                "{section} #{i}"
            );
        }
    }
}

#[test]
fn dispatcher_order() {
    // {SSE: AES256, Kms-Key-Id: ""} is SSE-S3 although SSE-KMS is also requested.
    let h: BTreeMap<String, String> = [
        (headers::SSE.to_owned(), "AES256".to_owned()),
        (headers::SSE_KMS_KEY_ID.to_owned(), String::new()),
    ]
    .into();
    assert!(headers::sse_kms_requested(&h));
    assert_eq!(headers::requested(&h), Some(SseType::SseS3));
    let h: BTreeMap<String, String> = [(headers::SSE_C_KEY.to_owned(), String::new())].into();
    assert_eq!(headers::requested(&h), Some(SseType::SseC));
    assert_eq!(headers::requested(&BTreeMap::new()), None);
}

#[test]
fn kms_parse() {
    let v = load("header-vectors.json");
    for (i, case) in cases(&v, "sse_kms_parse_http", 8).iter().enumerate() {
        let h = headers_of(&case["headers"]);
        let got = headers::parse_sse_kms(&h);
        assert_eq!(
            got.is_err(),
            case["should_fail"].as_bool().unwrap(),
            "#{i}: {got:?}"
        );
        if let Ok(req) = got {
            let want_id = h.get(headers::SSE_KMS_KEY_ID).cloned().unwrap_or_default();
            assert_eq!(req.key_id, want_id);
        }
    }
    let h: BTreeMap<String, String> = [
        (headers::SSE.to_owned(), "aws:kms".to_owned()),
        (
            headers::SSE_CONTEXT.to_owned(),
            "eyJidWNrZXQiOiAic29tZS1idWNrZXQifQ==".to_owned(),
        ),
    ]
    .into();
    let req = headers::parse_sse_kms(&h).unwrap();
    assert_eq!(req.context.get("bucket"), Some("some-bucket"));
    assert_eq!(req.key_id, "");
}

#[test]
fn s3_parse() {
    let v = load("header-vectors.json");
    for (i, case) in cases(&v, "sse_s3_parse_http", 4).iter().enumerate() {
        let h = headers_of(&case["headers"]);
        match case["expected_error"].as_str() {
            None => headers::parse_sse_s3(&h).unwrap(),
            Some(name) => {
                let kind = kind_of(headers::parse_sse_s3(&h).unwrap_err());
                assert_eq!(kind.minio_name(), name, "#{i}");
            }
        }
    }
}

#[test]
fn ssec_parse() {
    let v = load("header-vectors.json");
    let messages = v["error_messages"].as_object().unwrap();
    type Parse = fn(&BTreeMap<String, String>) -> kes_crypto::Result<kes_crypto::sse::ExternalKey>;
    let sections: [(&str, Parse); 2] = [
        ("sse_c_parse_http", |h| headers::parse_sse_c(h)),
        ("sse_c_copy_parse_http", |h| headers::parse_sse_c_copy(h)),
    ];
    for (section, parse) in sections {
        for (i, case) in cases(&v, section, 7).iter().enumerate() {
            let h = headers_of(&case["headers"]);
            match case["expected_error"].as_str() {
                None => {
                    let key = parse(&h).unwrap();
                    assert_eq!(key.expose_secret(), b"32byteslongsecretkeymustprovided");
                }
                Some(name) => {
                    let e = parse(&h).unwrap_err();
                    let msg = e.to_string();
                    let kind = kind_of(e);
                    assert_eq!(kind.minio_name(), name, "{section} #{i}");
                    assert_eq!(msg, messages[name].as_str().unwrap());
                }
            }
        }
    }
}

#[test]
fn error_messages_match() {
    let v = load("header-vectors.json");
    let messages = v["error_messages"].as_object().unwrap();
    for kind in [
        RequestErrorKind::InvalidEncryptionMethod,
        RequestErrorKind::InvalidCustomerAlgorithm,
        RequestErrorKind::MissingCustomerKey,
        RequestErrorKind::MissingCustomerKeyMd5,
        RequestErrorKind::InvalidCustomerKey,
        RequestErrorKind::CustomerKeyMd5Mismatch,
        RequestErrorKind::IncompatibleEncryptionMethod,
        RequestErrorKind::InvalidEncryptionKeyId,
    ] {
        assert_eq!(
            kind.message(),
            messages[kind.minio_name()].as_str().unwrap()
        );
    }
}

#[test]
fn remove_sensitive() {
    let v = load("header-vectors.json");
    for (i, case) in cases(&v, "remove_sensitive_headers", 5).iter().enumerate() {
        let mut h = headers_of(&case["headers"]);
        headers::remove_sensitive_headers(&mut h);
        assert_eq!(h, headers_of(&case["expected"]), "#{i}");
    }
}
