//! Property tests for sio-go streams: round trips with random chunking,
//! flipped bytes, truncation and extension.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};

use kes_crypto::sse::stream::{Algorithm, Stream};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Aes128Gcm),
        Just(Algorithm::Aes256Gcm),
        Just(Algorithm::ChaCha20Poly1305),
        Just(Algorithm::XChaCha20Poly1305),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_and_tamper(
        alg in algorithm(),
        buf_size in prop_oneof![1usize..64, Just(16384usize)],
        plaintext in prop::collection::vec(any::<u8>(), 0..5000),
        ad in prop::collection::vec(any::<u8>(), 0..32),
        seed in any::<u8>(),
        write_chunk in 1usize..3000,
        flip in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let key = vec![seed; alg.key_len()];
        let nonce = vec![seed ^ 0xff; alg.nonce_len()];
        let stream = Stream::with_buf_size(alg, &key, buf_size).unwrap();
        let ct = stream.encrypt_to_vec(&nonce, &ad, &plaintext).unwrap();
        prop_assert_eq!(
            ct.len() as u64,
            plaintext.len() as u64 + stream.overhead(plaintext.len() as u64).unwrap()
        );

        let mut w = stream.encrypt_writer(Vec::new(), &nonce, &ad).unwrap();
        for c in plaintext.chunks(write_chunk) {
            w.write_all(c).unwrap();
        }
        prop_assert_eq!(&w.finish().unwrap(), &ct);

        prop_assert_eq!(&stream.decrypt_to_vec(&nonce, &ad, &ct).unwrap(), &plaintext);
        let mut out = Vec::new();
        stream.decrypt_reader(&ct[..], &nonce, &ad).unwrap().read_to_end(&mut out).unwrap();
        prop_assert_eq!(&out, &plaintext);

        let mut bad = ct.clone();
        bad[flip.index(ct.len())] ^= 0x20;
        prop_assert!(stream.decrypt_to_vec(&nonce, &ad, &bad).is_err());
        let mut out = Vec::new();
        prop_assert!(stream.decrypt_reader(&bad[..], &nonce, &ad).unwrap().read_to_end(&mut out).is_err());

        let keep = cut.index(ct.len());
        prop_assert!(stream.decrypt_to_vec(&nonce, &ad, &ct[..keep]).is_err());
        let mut longer = ct.clone();
        longer.extend_from_slice(&ct);
        prop_assert!(stream.decrypt_to_vec(&nonce, &ad, &longer).is_err());
    }
}
