//! API-key parsing and Ed25519 PKCS#8 import: no input may panic, a parsed key re-parses
//! from its canonical text, and its identity is a lowercase SHA-256 hex string.

#![no_main]

use kes_policy::{ApiKey, Identity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = ApiKey::parse(text) {
            let canonical = key.expose_secret();
            assert!(canonical.starts_with("kes:v1:"));
            let again = ApiKey::parse(&canonical).expect("canonical text parses");
            assert_eq!(again, key);
            assert!(key.identity().is_sha256_hex());
            assert_eq!(
                Identity::from(&key),
                key.private_key().identity().expect("Ed25519")
            );
        }
        let _ = text.parse::<Identity>();
    }
    if let Ok(key) = ApiKey::from_ed25519_pkcs8(data) {
        assert_eq!(
            ApiKey::from_ed25519_pkcs8(&key.private_key_pkcs8_der()).ok(),
            Some(key)
        );
    }
});
