//! The KES ciphertext parser (binary, legacy msgpack, legacy JSON) and
//! decryption with both algorithms: no input may panic, and a parse that
//! succeeds yields a non-empty sealed part.

#![no_main]

use kes_crypto::{EmbeddedAlgorithm, KeyAlgorithm, SecretKey, ciphertext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = ciphertext::parse(data) {
        assert!(!parsed.sealed.is_empty());
        if parsed.format == ciphertext::Format::Binary {
            assert!(parsed.embedded_algorithm.is_none());
            assert_eq!(parsed.sealed.len() + 28, data.len());
        }
    }
    for algorithm in [KeyAlgorithm::Aes256, KeyAlgorithm::ChaCha20] {
        let key = SecretKey::new(algorithm, [0; 32]);
        let _ = key.decrypt(data, b"");
        let _ = key.decrypt_with(data, b"{}", EmbeddedAlgorithm::Honour);
    }
});
