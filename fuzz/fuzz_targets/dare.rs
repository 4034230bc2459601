//! Fuzzes the DARE decryptors: the buffer and streaming readers must agree
//! and never panic, whatever the bytes; also the size and range arithmetic.
#![no_main]

use std::io::Read as _;

use kes_crypto::sse::dare::{
    self, CipherSuite, DareDecryptReader, DecryptOptions, RangePlan, Version,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let key = [0x42u8; 32];
    let options = match selector & 3 {
        0 => DecryptOptions::new(),
        1 => DecryptOptions::v2_only(),
        2 => DecryptOptions::new().versions(Version::V10, Version::V10),
        _ => DecryptOptions::new().sequence_number(u32::from(selector >> 2)),
    };

    // The buffer decryptor and the streaming reader agree on every input.
    let buffered = dare::decrypt_to_vec_with(&key, input, &options);
    let mut streamed = Vec::new();
    let reader = DareDecryptReader::with_options(input, &key, &options).read_to_end(&mut streamed);
    assert_eq!(buffered.is_ok(), reader.is_ok());
    if let Ok(plaintext) = buffered {
        assert_eq!(plaintext, streamed);
    }
    let _ = dare::open_package(&key, input);

    // Encrypting the input and decrypting it again gives it back.
    let suite = if selector & 4 == 0 {
        CipherSuite::Aes256Gcm
    } else {
        CipherSuite::ChaCha20Poly1305
    };
    if let Ok(sealed) = dare::encrypt_to_vec_with_nonce(&key, suite, [selector; 12], input) {
        assert_eq!(
            dare::decrypt_to_vec(&key, &sealed).ok().as_deref(),
            Some(input)
        );
    }

    // Size and range arithmetic never panics.
    let numbers: Vec<u64> = input
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    for &n in &numbers {
        let _ = dare::encrypted_size(n);
        let _ = dare::decrypted_size(n);
    }
    if let [offset, length, sizes @ ..] = numbers.as_slice()
        && let Ok(plan) = RangePlan::new(sizes, *offset, *length)
    {
        let total: u64 = plan.spans().iter().map(|s| s.encrypted_length()).sum();
        assert_eq!(total, plan.encrypted_length());
    }
});
