//! Property tests for the KES key and ciphertext formats and the key wrap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_crypto::keywrap::{self, WrapKey};
use kes_crypto::{
    EmbeddedAlgorithm, Error, HmacKey, KeyAlgorithm, KeyVersion, SecretKey, ciphertext,
};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = KeyAlgorithm> {
    prop_oneof![Just(KeyAlgorithm::Aes256), Just(KeyAlgorithm::ChaCha20)]
}

fn key() -> impl Strategy<Value = SecretKey> {
    (algorithm(), any::<[u8; 32]>()).prop_map(|(alg, bytes)| SecretKey::new(alg, bytes))
}

/// Inputs that look like each ciphertext format, plus noise.
fn ciphertext_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(|mut v| {
            v.insert(0, 0x95);
            v
        }),
        "\\{[ -~]{0,150}".prop_map(String::into_bytes),
        (
            "(AES256|ChaCha20|XCHACHA20-POLY1305|AES-256-GCM-HMAC-SHA-256|ChaCha20Poly1305|x)",
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(alg, iv, nonce, bytes)| {
                use base64::Engine as _;
                let b = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
                format!(
                    r#"{{"aead":"{alg}","iv":"{}","nonce":"{}","bytes":"{}"}}"#,
                    b(&iv),
                    b(&nonce),
                    b(&bytes)
                )
                .into_bytes()
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(
        key in key(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let ct = key.encrypt(&plaintext, &aad).unwrap();
        prop_assert_eq!(ct.len(), plaintext.len() + 44);
        prop_assert_eq!(key.decrypt(&ct, &aad).unwrap().to_vec(), plaintext.clone());
        prop_assert_eq!(
            key.decrypt_with(&ct, &aad, EmbeddedAlgorithm::Honour).unwrap().to_vec(),
            plaintext.clone()
        );
    }

    #[test]
    fn deterministic_encryption_matches_random_layout(
        key in key(),
        iv in any::<[u8; 16]>(),
        nonce in any::<[u8; 12]>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let ct = key.encrypt_with(&iv, &nonce, &plaintext, b"ad").unwrap();
        prop_assert_eq!(&ct[ct.len() - 28..ct.len() - 12], &iv[..]);
        prop_assert_eq!(&ct[ct.len() - 12..], &nonce[..]);
        prop_assert_eq!(key.encrypt_with(&iv, &nonce, &plaintext, b"ad").unwrap(), ct.clone());
        prop_assert_eq!(key.decrypt(&ct, b"ad").unwrap().to_vec(), plaintext.clone());
    }

    /// Every single-bit flip anywhere (sealed body, tag, iv, nonce) fails.
    #[test]
    fn every_bit_flip_fails(
        key in key(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..48),
        aad in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let ct = key.encrypt(&plaintext, &aad).unwrap();
        let mut flipped = ct.clone();
        for bit in 0..ct.len() * 8 {
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(
                matches!(key.decrypt(&flipped, &aad), Err(Error::NotAuthentic)),
                "bit {} accepted", bit
            );
            flipped[bit / 8] ^= 1 << (bit % 8);
        }
        prop_assert_eq!(flipped, ct);
    }

    #[test]
    fn truncated_and_oversized_fail(
        key in key(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..48),
        extra in proptest::collection::vec(any::<u8>(), 1..40),
    ) {
        let ct = key.encrypt(&plaintext, b"").unwrap();
        for len in 0..ct.len() {
            prop_assert!(key.decrypt(&ct[..len], b"").is_err(), "prefix {} accepted", len);
            prop_assert!(key.decrypt(&ct[ct.len() - len..], b"").is_err(), "suffix {} accepted", len);
        }
        let mut longer = ct.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(key.decrypt(&longer, b"").is_err());
        let mut prefixed = extra.clone();
        prefixed.extend_from_slice(&ct);
        prop_assert!(key.decrypt(&prefixed, b"").is_err());
    }

    #[test]
    fn other_key_or_algorithm_fails(
        bytes in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        prop_assume!(bytes != other);
        let aes = SecretKey::new(KeyAlgorithm::Aes256, bytes);
        let chacha = SecretKey::new(KeyAlgorithm::ChaCha20, bytes);
        let ct = aes.encrypt(&plaintext, b"").unwrap();
        prop_assert!(chacha.decrypt(&ct, b"").is_err());
        prop_assert!(SecretKey::new(KeyAlgorithm::Aes256, other).decrypt(&ct, b"").is_err());
    }

    /// The parsers and decryption never panic, whatever the input.
    #[test]
    fn parsers_never_panic(input in ciphertext_like(), key in key()) {
        let parsed = ciphertext::parse(&input);
        if let Ok(p) = &parsed {
            prop_assert!(!p.sealed.is_empty());
        } else {
            let legacy_prefix = matches!(input.first(), Some(0x95 | 0x7b));
            prop_assert!(input.len() <= 28 || legacy_prefix);
        }
        let _ = key.decrypt(&input, b"");
        let _ = key.decrypt_with(&input, b"", EmbeddedAlgorithm::Honour);
        let _ = KeyVersion::parse(&input);
        let _ = keywrap::key_id_of(&input);
        prop_assert!(WrapKey::new([1; 32]).open(&input, b"").is_err());
    }

    #[test]
    fn stored_key_parser_never_panics(input in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[A-Za-z0-9+/=\\r\\n]{0,200}".prop_map(String::into_bytes),
        "\\{\"[a-z_]{0,12}\":[ -~]{0,80}\\}".prop_map(String::into_bytes),
    ]) {
        if let Ok(version) = KeyVersion::parse(&input) {
            // Whatever parses re-encodes (when it has an HMAC key) to a
            // value that parses to the same key version.
            if version.hmac.is_some() {
                let again = KeyVersion::parse(version.encode().unwrap().as_bytes()).unwrap();
                prop_assert_eq!(again, version);
            }
        }
    }

    #[test]
    fn key_version_encode_parse(
        alg in algorithm(),
        key in any::<[u8; 32]>(),
        hmac in any::<[u8; 32]>(),
        seconds in -62_135_596_800i64..253_402_300_799,
        nanos in 0u32..1_000_000_000,
        created_by in "[ -~]{0,70}",
    ) {
        let at = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap()
            .replace_nanosecond(nanos).unwrap();
        let version = KeyVersion::new(SecretKey::new(alg, key), HmacKey::new(hmac), at, created_by);
        let encoded = version.encode().unwrap();
        let back = KeyVersion::parse(encoded.as_bytes()).unwrap();
        prop_assert_eq!(&back, &version);
        prop_assert_eq!(back.hmac(b"m").unwrap(), HmacKey::new(hmac).sign(b"m"));
    }

    #[test]
    fn keywrap_round_trip_tamper_wrong_key(
        key in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..100),
        aad in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        prop_assume!(key != other);
        let wrap = WrapKey::new(key);
        let sealed = wrap.seal(&plaintext, &aad).unwrap();
        prop_assert_eq!(sealed.len(), plaintext.len() + keywrap::OVERHEAD);
        prop_assert_eq!(wrap.open(&sealed, &aad).unwrap().to_vec(), plaintext.clone());
        let text = wrap.seal_text(&plaintext, &aad).unwrap();
        prop_assert_eq!(wrap.open(text.as_bytes(), &aad).unwrap().to_vec(), plaintext.clone());

        // Every bit flip fails.
        let mut flipped = sealed.clone();
        for bit in 0..sealed.len() * 8 {
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(wrap.open(&flipped, &aad).is_err(), "bit {} accepted", bit);
            flipped[bit / 8] ^= 1 << (bit % 8);
        }
        // Truncation and extension fail.
        for len in 0..sealed.len() {
            prop_assert!(wrap.open(&sealed[..len], &aad).is_err());
        }
        let mut longer = sealed.clone();
        longer.push(0);
        prop_assert!(wrap.open(&longer, &aad).is_err());
        // Another key fails.
        prop_assert!(WrapKey::new(other).open(&sealed, &aad).is_err());
        prop_assert!(WrapKey::new(other).open(text.as_bytes(), &aad).is_err());
    }
}
