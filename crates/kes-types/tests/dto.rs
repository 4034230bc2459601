//! Exact bytes of every DTO as KES writes them, Go-tolerant decoding, and
//! round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use kes_types::dto::*;
use kes_types::json::{self, encode_base64, from_slice, to_vec};
use kes_types::{SecretBytes, Timestamp};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::macros::datetime;

fn enc<T: Serialize>(v: &T) -> String {
    String::from_utf8(to_vec(v).unwrap()).unwrap()
}

/// Encodes, checks the exact text, decodes and checks equality.
fn exact<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T, want: &str) {
    let text = enc(v);
    assert_eq!(text, format!("{want}\n"));
    let back: T = from_slice(text.as_bytes()).unwrap();
    assert_eq!(&back, v);
}

fn t0() -> Timestamp {
    Timestamp::new(datetime!(2024-01-12 10:39:20.886816 UTC))
}

const ID: &str = "c84cc9b91ae2399b043da7eca616048d4b4200edf2ff418d8af3835911db945d";

#[test]
fn server_responses() {
    exact(
        &VersionResponse {
            version: "2025-03-12T09-35-18Z".into(),
            commit: "abc".into(),
        },
        r#"{"version":"2025-03-12T09-35-18Z","commit":"abc"}"#,
    );
    exact(
        &StatusResponse {
            version: "v".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            uptime: 1234,
            num_cpu: 8,
            num_cpu_used: 8,
            mem_heap_used: 123456,
            mem_stack_used: 65536,
            keystore_latency: 1,
            ..Default::default()
        },
        r#"{"version":"v","os":"linux","arch":"amd64","uptime":1234,"num_cpu":8,"num_cpu_used":8,"mem_heap_used":123456,"mem_stack_used":65536,"keystore_latency":1}"#,
    );
    exact(
        &StatusResponse {
            keystore_unreachable: true,
            keystore_unavailable: true,
            ..Default::default()
        },
        r#"{"version":"","os":"","arch":"","uptime":0,"num_cpu":0,"num_cpu_used":0,"mem_heap_used":0,"mem_stack_used":0,"keystore_unreachable":true,"keystore_unavailable":true}"#,
    );
}

#[test]
fn key_bodies() {
    exact(
        &ImportKeyRequest {
            key: SecretBytes::new(vec![1; 32]),
            cipher: "AES256".into(),
            ..Default::default()
        },
        r#"{"key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","cipher":"AES256"}"#,
    );
    exact(
        &DescribeKeyResponse {
            name: "my-key".into(),
            algorithm: Some(KeyAlgorithm::Aes256),
            created_at: t0(),
            created_by: ID.into(),
        },
        &format!(
            r#"{{"name":"my-key","algorithm":"AES256","created_at":"2024-01-12T10:39:20.886816Z","created_by":"{ID}"}}"#
        ),
    );
    exact(
        &DescribeKeyResponse {
            name: "legacy".into(),
            algorithm: Some(KeyAlgorithm::ChaCha20),
            ..Default::default()
        },
        r#"{"name":"legacy","algorithm":"ChaCha20","created_at":"0001-01-01T00:00:00Z"}"#,
    );
    exact(
        &ListKeysResponse {
            names: vec!["a".into(), "b".into()],
            continue_at: "c".into(),
        },
        r#"{"names":["a","b"],"continue_at":"c"}"#,
    );
    exact(
        &GenerateKeyRequest {
            context: b"{}".to_vec(),
            version: String::new(),
        },
        r#"{"context":"e30="}"#,
    );
    exact(
        &GenerateKeyResponse {
            plaintext: SecretBytes::new(vec![0; 4]),
            ciphertext: vec![0xff; 4],
        },
        r#"{"plaintext":"AAAAAA==","ciphertext":"/////w=="}"#,
    );
    exact(
        &EncryptKeyRequest {
            plaintext: SecretBytes::from_slice(b"hi"),
            context: vec![],
            version: String::new(),
        },
        r#"{"plaintext":"aGk="}"#,
    );
    exact(
        &EncryptKeyResponse {
            ciphertext: b"abc".to_vec(),
        },
        r#"{"ciphertext":"YWJj"}"#,
    );
    exact(
        &DecryptKeyRequest {
            ciphertext: b"abc".to_vec(),
            context: b"x".to_vec(),
            version: "v1".into(),
        },
        r#"{"ciphertext":"YWJj","context":"eA==","version":"v1"}"#,
    );
    exact(
        &DecryptKeyResponse {
            plaintext: SecretBytes::default(),
        },
        r#"{"plaintext":""}"#,
    );
    exact(
        &HmacRequest {
            message: b"root access key".to_vec(),
            version: String::new(),
        },
        r#"{"message":"cm9vdCBhY2Nlc3Mga2V5"}"#,
    );
    exact(
        &HmacResponse {
            hmac: SecretBytes::new(vec![9; 3]),
        },
        r#"{"hmac":"CQkJ"}"#,
    );
}

#[test]
fn policy_and_identity_bodies() {
    let start = Timestamp::new(datetime!(2024-05-01 12:00:00.5 +02:00));
    exact(
        &DescribePolicyResponse {
            name: "my-app".into(),
            created_at: start,
            created_by: ID.into(),
        },
        &format!(
            r#"{{"name":"my-app","created_at":"2024-05-01T12:00:00.5+02:00","created_by":"{ID}"}}"#
        ),
    );
    exact(
        &ReadPolicyResponse {
            name: "my-app".into(),
            allow: rules(["/v1/key/generate/my-app*", "/v1/key/create/my-app*"]),
            deny: rules(["/v1/key/generate/my-app-internal*"]),
            created_at: start,
            created_by: ID.into(),
        },
        &format!(
            r#"{{"name":"my-app","allow":{{"/v1/key/create/my-app*":{{}},"/v1/key/generate/my-app*":{{}}}},"deny":{{"/v1/key/generate/my-app-internal*":{{}}}},"created_at":"2024-05-01T12:00:00.5+02:00","created_by":"{ID}"}}"#
        ),
    );
    exact(
        &ReadPolicyResponse {
            name: "empty".into(),
            created_at: start,
            ..Default::default()
        },
        r#"{"name":"empty","created_at":"2024-05-01T12:00:00.5+02:00","created_by":""}"#,
    );
    exact(
        &ListPoliciesResponse {
            names: vec!["a".into()],
            continue_at: String::new(),
        },
        r#"{"names":["a"],"continue_at":""}"#,
    );
    exact(
        &DescribeIdentityResponse {
            admin: true,
            created_at: start,
            ..Default::default()
        },
        r#"{"admin":true,"created_at":"2024-05-01T12:00:00.5+02:00"}"#,
    );
    exact(
        &DescribeIdentityResponse {
            policy: "my-app".into(),
            created_at: start,
            created_by: ID.into(),
            ..Default::default()
        },
        &format!(
            r#"{{"policy":"my-app","created_at":"2024-05-01T12:00:00.5+02:00","created_by":"{ID}"}}"#
        ),
    );
    exact(
        &SelfDescribeIdentityResponse {
            identity: ID.into(),
            admin: true,
            created_at: start,
            ..Default::default()
        },
        &format!(
            r#"{{"identity":"{ID}","admin":true,"created_at":"2024-05-01T12:00:00.5+02:00"}}"#
        ),
    );
    exact(
        &SelfDescribeIdentityResponse {
            identity: "abc".into(),
            created_at: start,
            created_by: ID.into(),
            policy: "my-app".into(),
            allow: rules(["/v1/key/*"]),
            deny: rules(["/v1/key/delete/*"]),
            ..Default::default()
        },
        &format!(
            r#"{{"identity":"abc","created_at":"2024-05-01T12:00:00.5+02:00","created_by":"{ID}","policy":"my-app","allow":{{"/v1/key/*":{{}}}},"deny":{{"/v1/key/delete/*":{{}}}}}}"#
        ),
    );
    exact(
        &ListIdentitiesResponse {
            identities: vec![ID.into()],
            continue_at: String::new(),
        },
        &format!(r#"{{"identities":["{ID}"],"continue_at":""}}"#),
    );
}

#[test]
fn sdk_only_identity_fields_decode() {
    let d: DescribeIdentityResponse = from_slice(
        br#"{"policy":"p","ttl":"1h0m0s","expires_at":"2030-01-01T00:00:00Z","children":["a",null],"created_at":"2024-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(d.ttl, "1h0m0s");
    assert_eq!(
        d.expires_at.unwrap().to_rfc3339().unwrap(),
        "2030-01-01T00:00:00Z"
    );
    assert_eq!(d.children, vec!["a".to_owned(), String::new()]);
}

#[test]
fn tolerant_request_decoding() {
    // Case-insensitive names, unknown fields, trailing data, Kelvin sign.
    let r: ImportKeyRequest = from_slice(
        "{\"\u{212A}EY\":\"QUJD\",\"CIPHER\":\"AES256\",\"x\":[1,{\"y\":null}]} {\"key\":\"\"}"
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.key.expose_secret(), b"ABC");
    assert_eq!(r.cipher, "AES256");
    // Absent, null and empty context are all empty.
    for body in [
        &br#"{}"#[..],
        br#"{"context":null}"#,
        br#"{"context":""}"#,
        b"null",
    ] {
        let g: GenerateKeyRequest = from_slice(body).unwrap();
        assert!(g.context.is_empty(), "{}", String::from_utf8_lossy(body));
    }
    // Line breaks inside base64 are skipped, as in Go.
    let d: DecryptKeyRequest = from_slice(br#"{"ciphertext":"YW\r\nJj"}"#).unwrap();
    assert_eq!(d.ciphertext, b"abc");
    // Bad input.
    for bad in [
        &br#"{"ciphertext":"YWJ"}"#[..], // unpadded
        br#"{"ciphertext":"YWJj="}"#,    // extra padding
        br#"{"ciphertext":"-_-_"}"#,     // URL-safe alphabet
        br#"{"ciphertext":"YW Jj"}"#,    // space
        br#"{"ciphertext":12}"#,         // wrong type
        br#"{"ciphertext":true}"#,
        br#"{"context":{}}"#,
        br#"{"version":1}"#,
        br#"["ciphertext"]"#,
        br#""ciphertext""#,
        b"",
        b"{",
        br#"{"ciphertext":"YWJj""#,
    ] {
        assert!(
            from_slice::<DecryptKeyRequest>(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn describe_key_algorithm_decoding_matches_the_sdk() {
    let d: DescribeKeyResponse =
        from_slice(br#"{"name":"k","algorithm":"XCHACHA20-POLY1305"}"#).unwrap();
    assert_eq!(d.algorithm, Some(KeyAlgorithm::ChaCha20));
    assert!(d.created_at.is_zero());
    let d: DescribeKeyResponse = from_slice(br#"{"name":"k"}"#).unwrap();
    assert_eq!(d.algorithm, None);
    assert!(from_slice::<DescribeKeyResponse>(br#"{"algorithm":""}"#).is_err());
    assert!(from_slice::<DescribeKeyResponse>(br#"{"algorithm":"AES-256"}"#).is_err());
    assert!(from_slice::<DescribeKeyResponse>(br#"{"created_at":"yesterday"}"#).is_err());
}

#[test]
fn legacy_listing_lines() {
    let l: LegacyListEntry = from_slice(br#"{"name":"my-key"}"#).unwrap();
    assert_eq!(l.name, "my-key");
    let l: LegacyListEntry = from_slice(br#"{"error":"boom"}"#).unwrap();
    assert_eq!(l.error, "boom");
    let i: LegacyIdentityEntry =
        from_slice(br#"{"identity":"abc","admin":true,"policy":"","created_at":"2022-01-01T00:00:00Z","created_by":""}"#)
            .unwrap();
    assert!(i.admin);
    assert_eq!(
        enc(&LegacyListEntry {
            name: "a".into(),
            error: String::new()
        }),
        "{\"name\":\"a\"}\n"
    );
}

#[test]
fn html_characters_are_escaped_like_go() {
    exact(
        &ListKeysResponse {
            names: vec!["<&>".into()],
            continue_at: String::new(),
        },
        r#"{"names":["\u003c\u0026\u003e"]}"#,
    );
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let r = GenerateKeyResponse {
        plaintext: SecretBytes::new(b"topsecret".to_vec()),
        ciphertext: vec![],
    };
    assert!(!format!("{r:?}").contains("topsecret"));
    let r = ImportKeyRequest {
        key: SecretBytes::new(vec![0x41; 32]),
        ..Default::default()
    };
    assert!(!format!("{r:?}").contains(&encode_base64(&[0x41; 32])));
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = from_slice::<DecryptKeyRequest>(&body);
        let _ = from_slice::<ImportKeyRequest>(&body);
        let _ = from_slice::<StatusResponse>(&body);
        let _ = from_slice::<SelfDescribeIdentityResponse>(&body);
        let _ = from_slice::<AuditLogEvent>(&body);
    }

    #[test]
    fn jsonish_bodies_never_panic(body in r#"[{}\[\]",:0-9a-zA-Z=+/\\ \n.-]{0,120}"#) {
        let _ = from_slice::<EncryptKeyRequest>(body.as_bytes());
        let _ = from_slice::<ReadPolicyResponse>(body.as_bytes());
        let _ = from_slice::<kes_types::ErrorResponse>(body.as_bytes());
    }

    #[test]
    fn base64_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let text = encode_base64(&bytes);
        prop_assert_eq!(json::decode_base64(&text).unwrap(), bytes.clone());
        // Removing the padding makes it invalid (Go requires padding).
        if text.ends_with('=') {
            prop_assert!(json::decode_base64(text.trim_end_matches('=')).is_err());
        }
    }

    #[test]
    fn decrypt_request_round_trip(
        ciphertext in proptest::collection::vec(any::<u8>(), 0..80),
        context in proptest::collection::vec(any::<u8>(), 0..40),
        version in "[a-z0-9<>&]{0,8}",
    ) {
        let req = DecryptKeyRequest { ciphertext, context, version };
        let back: DecryptKeyRequest = from_slice(&to_vec(&req).unwrap()).unwrap();
        prop_assert_eq!(back, req);
    }

    #[test]
    fn list_round_trip(names in proptest::collection::vec("\\PC{0,12}", 0..8), cont in "\\PC{0,12}") {
        let resp = ListKeysResponse { names, continue_at: cont };
        let text = to_vec(&resp).unwrap();
        let back: ListKeysResponse = from_slice(&text).unwrap();
        prop_assert_eq!(&back, &resp);
        // Go's encoder never emits these raw.
        let s = String::from_utf8(text).unwrap();
        let raw = ['<', '>', '&', '\u{2028}', '\u{2029}'];
        prop_assert!(!s.contains(raw), "raw HTML character in {}", s);
    }

    #[test]
    fn timestamp_round_trip(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000, off in -86_399i32..86_399) {
        let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap().replace_nanosecond(nanos).unwrap();
        let off = time::UtcOffset::from_whole_seconds(off / 60 * 60).unwrap();
        let ts = Timestamp::new(t.to_offset(off));
        if let Ok(text) = ts.to_rfc3339() {
            prop_assert_eq!(Timestamp::parse_rfc3339(&text).unwrap(), ts);
        }
    }
}
