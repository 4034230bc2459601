//! Property tests for the SSE envelope chain: sealing round-trips, every
//! mismatch fails, part keys differ, encoders and parsers are total.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use kes_crypto::sse::context::{encode_raw, escape_json_string};
use kes_crypto::sse::headers;
use kes_crypto::sse::metadata::{self, SealPolicy};
use kes_crypto::sse::object_key::go_path_clean;
use kes_crypto::sse::{
    Context, ExternalKey, ObjectKey, SealAlgorithm, SealedObjectKey, SseType, StaticKey,
    go_path_join,
};
use proptest::prelude::*;

fn domain() -> impl Strategy<Value = SseType> {
    prop_oneof![
        Just(SseType::SseS3),
        Just(SseType::SseKms),
        Just(SseType::SseC)
    ]
}

fn algorithm() -> impl Strategy<Value = SealAlgorithm> {
    prop_oneof![
        Just(SealAlgorithm::DareV2HmacSha256),
        Just(SealAlgorithm::KeywrapV2)
    ]
}

/// Object names: path-like strings with separators, dots and non-ASCII.
fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9./é☃-]{0,24}").unwrap()
}

fn seal(
    key: &ObjectKey,
    alg: SealAlgorithm,
    ek: &ExternalKey,
    iv: &[u8; 32],
    d: SseType,
    b: &str,
    o: &str,
) -> SealedObjectKey {
    match alg {
        SealAlgorithm::KeywrapV2 => key.seal_v2(ek, iv, d, b, o).unwrap(),
        _ => key.seal(ek, iv, d, b, o).unwrap(),
    }
}

/// A straightforward (slow) statement of Go's escaping rules: decode like
/// Go's `utf8.DecodeRune`, one replacement per invalid byte.
fn reference_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let valid = match std::str::from_utf8(rest) {
            Ok(v) => v,
            Err(e) => std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap(),
        };
        for c in valid.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                '\u{2028}' | '\u{2029}' => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                _ => out.extend_from_slice(c.to_string().as_bytes()),
            }
        }
        rest = &rest[valid.len()..];
        if !rest.is_empty() {
            out.extend_from_slice(b"\\ufffd");
            rest = &rest[1..];
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn escaping_matches_reference(bytes in any::<Vec<u8>>(), text in ".{0,16}") {
        for input in [bytes.as_slice(), text.as_bytes()] {
            let mut got = Vec::new();
            escape_json_string(input, &mut got);
            prop_assert_eq!(got, reference_escape(input));
        }
    }

    #[test]
    fn seal_unseal_roundtrip(
        ek in any::<[u8; 32]>(), key in any::<[u8; 32]>(), iv in any::<[u8; 32]>(),
        d in domain(), alg in algorithm(), bucket in name(), object in name(),
    ) {
        let ek = ExternalKey::from_bytes(ek);
        let key = ObjectKey::from_bytes(key);
        let sealed = seal(&key, alg, &ek, &iv, d, &bucket, &object);
        prop_assert_eq!(sealed.sealed_bytes().len(), alg.sealed_len());
        prop_assert_eq!(ObjectKey::unseal(&sealed, &ek, d, &bucket, &object).unwrap(), key.clone());
        // Generating and sealing in one step round-trips too.
        let (fresh, sealed2) = ObjectKey::generate_sealed(&ek, alg, d, &bucket, &object).unwrap();
        prop_assert_eq!(ObjectKey::unseal(&sealed2, &ek, d, &bucket, &object).unwrap(), fresh);
    }

    #[test]
    fn any_mismatch_fails(
        ek in any::<[u8; 32]>(), key in any::<[u8; 32]>(), iv in any::<[u8; 32]>(),
        d in domain(), other_d in domain(), alg in algorithm(),
        bucket in name(), object in name(), other_object in name(),
        ek_bit in 0usize..256, iv_bit in 0usize..256, sealed_bit in any::<prop::sample::Index>(),
    ) {
        let ek_v = ExternalKey::from_bytes(ek);
        let sealed = seal(&ObjectKey::from_bytes(key), alg, &ek_v, &iv, d, &bucket, &object);
        // Wrong external key.
        let mut ek2 = ek;
        ek2[ek_bit / 8] ^= 1 << (ek_bit % 8);
        prop_assert!(ObjectKey::unseal(&sealed, &ExternalKey::from_bytes(ek2), d, &bucket, &object).is_err());
        // Wrong domain.
        if other_d != d {
            prop_assert!(ObjectKey::unseal(&sealed, &ek_v, other_d, &bucket, &object).is_err());
        }
        // Wrong path (only when path.Join really differs).
        if go_path_join(&bucket, &other_object) != go_path_join(&bucket, &object) {
            prop_assert!(ObjectKey::unseal(&sealed, &ek_v, d, &bucket, &other_object).is_err());
        }
        // Wrong IV.
        let mut iv2 = iv;
        iv2[iv_bit / 8] ^= 1 << (iv_bit % 8);
        let moved = SealedObjectKey::new(alg, iv2, sealed.sealed_bytes().to_vec()).unwrap();
        prop_assert!(ObjectKey::unseal(&moved, &ek_v, d, &bucket, &object).is_err());
        // Any flipped bit of the sealed bytes.
        let mut bytes = sealed.sealed_bytes().to_vec();
        let bit = sealed_bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let flipped = SealedObjectKey::new(alg, iv, bytes).unwrap();
        prop_assert!(ObjectKey::unseal(&flipped, &ek_v, d, &bucket, &object).is_err());
        // The other algorithm's label on the same bytes fails (lengths differ, too).
        let other_alg = if alg == SealAlgorithm::KeywrapV2 {
            SealAlgorithm::DareV2HmacSha256
        } else {
            SealAlgorithm::KeywrapV2
        };
        let relabelled = SealedObjectKey::new(other_alg, iv, sealed.sealed_bytes().to_vec());
        prop_assert!(relabelled.is_err());
    }

    #[test]
    fn part_keys_differ_per_part(key in any::<[u8; 32]>(), a in any::<u32>(), b in any::<u32>()) {
        let key = ObjectKey::from_bytes(key);
        let (ka, kb) = (key.derive_part_key(a), key.derive_part_key(b));
        prop_assert_eq!(a == b, ka == kb);
        prop_assert_ne!(ka.expose_secret(), key.expose_secret());
    }

    #[test]
    fn path_join_is_clean(bucket in name(), object in name()) {
        let joined = go_path_join(&bucket, &object);
        if !joined.is_empty() {
            prop_assert_eq!(go_path_clean(&joined), joined.clone());
            prop_assert!(!joined.contains("//"));
            prop_assert!(joined == "/" || !joined.ends_with('/'));
        }
    }

    #[test]
    fn context_json_roundtrips(map in proptest::collection::btree_map(".{0,8}", ".{0,8}", 0..6)) {
        let ctx = Context::from(map.clone());
        let json = ctx.to_json();
        // Valid JSON that any parser reads back as the same map.
        let parsed: BTreeMap<String, String> = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(&parsed, &map);
        prop_assert_eq!(Context::from_json(&json).unwrap(), ctx.clone());
        prop_assert_eq!(encode_raw(map.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))), json.clone());
        // No raw HTML-special bytes or control bytes survive escaping.
        prop_assert!(!json.iter().any(|b| matches!(b, b'<' | b'>' | b'&') || *b < 0x20));
    }

    #[test]
    fn raw_encoding_is_valid_json(pairs in proptest::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 0..4)) {
        let json = encode_raw(pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
        let parsed: BTreeMap<String, String> = serde_json::from_slice(&json).unwrap();
        prop_assert!(parsed.len() <= pairs.len());
    }

    #[test]
    fn static_kms_roundtrip(secret in any::<[u8; 32]>(), map in proptest::collection::btree_map("[a-z]{1,4}", ".{0,6}", 0..3)) {
        let kms = StaticKey::new("k", secret);
        let ctx = Context::from(map);
        let dek = kms.generate_key("k", &ctx).unwrap();
        prop_assert_eq!(&kms.decrypt("k", dek.ciphertext(), &ctx).unwrap(), dek.plaintext());
        let mut other = ctx.clone();
        other.insert("zzzzz", "other");
        prop_assert!(kms.decrypt("k", dek.ciphertext(), &other).is_err());
        prop_assert!(kms.decrypt("k", &dek.ciphertext()[..75], &ctx).is_err());
    }

    #[test]
    fn metadata_and_header_parsers_are_total(
        entries in proptest::collection::btree_map(
            prop_oneof![
                Just(metadata::META_IV.to_owned()), Just(metadata::META_ALGORITHM.to_owned()),
                Just(metadata::META_SEALED_KEY_S3.to_owned()), Just(metadata::META_SEALED_KEY_KMS.to_owned()),
                Just(metadata::META_SEALED_KEY_SSEC.to_owned()), Just(metadata::META_KEY_ID.to_owned()),
                Just(metadata::META_DATA_ENCRYPTION_KEY.to_owned()), Just(metadata::META_CONTEXT.to_owned()),
                Just(headers::SSE.to_owned()), Just(headers::SSE_CONTEXT.to_owned()),
                Just(headers::SSE_KMS_KEY_ID.to_owned()), Just(headers::SSE_C_ALGORITHM.to_owned()),
                Just(headers::SSE_C_KEY.to_owned()), Just(headers::SSE_C_KEY_MD5.to_owned()),
            ],
            prop_oneof![
                ".{0,12}",
                Just("DAREv2-HMAC-SHA256".to_owned()),
                Just("AES256".to_owned()),
                Just("aws:kms".to_owned()),
                Just("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned()),
            ],
            0..10,
        ),
    ) {
        let _ = metadata::parse_sse_s3(&entries, SealPolicy::WithKeywrapV2);
        let _ = metadata::parse_sse_kms(&entries, SealPolicy::Minio);
        let _ = metadata::parse_sse_c(&entries, SealPolicy::Minio);
        let _ = metadata::encryption_type(&entries);
        let _ = headers::requested(&entries);
        let _ = headers::parse_sse_kms(&entries);
        let _ = headers::parse_sse_c(&entries);
    }
}
