//! The stored-key parser (legacy JSON and base64 protobuf) and the key-wrap
//! reader, the two things a keystore value goes through: no input may
//! panic, and every key version that parses and has an HMAC key re-encodes
//! to a value that parses back to the same key version.

#![no_main]

use kes_crypto::KeyVersion;
use kes_crypto::keywrap::{self, WrapKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(version) = KeyVersion::parse(data)
        && version.hmac.is_some()
    {
        let encoded = version.encode().expect("a parsed key version re-encodes");
        let again = KeyVersion::parse(encoded.as_bytes()).expect("re-encoded value parses");
        assert_eq!(again, version);
    }
    let _ = keywrap::detect(data);
    let _ = keywrap::key_id_of(data);
    assert!(WrapKey::new([7; 32]).open(data, b"").is_err() || keywrap::detect(data).is_some());
});
