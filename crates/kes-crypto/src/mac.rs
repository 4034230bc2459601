//! HMAC-SHA-256, the one keyed hash of this crate: the per-ciphertext sub-key of AES-256
//! keys, `/v1/key/hmac`, MinIO's KEK, object-key and ETag-key derivations, and the wrap
//! key's labels.
//!
//! Built on RustCrypto's `hmac` and `sha2` with their `zeroize` features, so the inner and
//! outer SHA-256 states that a key is prepared into are wiped when they are dropped. That is
//! what lets a long-lived key keep its prepared state next to its bytes ([`Prepared`], which
//! [`SecretKey`](crate::SecretKey), [`HmacKey`](crate::HmacKey) and the legacy master key
//! hold; a wrap key prepares once for its two labels) and pay two SHA-256
//! blocks per message instead of four. ring's HMAC key cannot be wiped, so it used to be
//! rebuilt for every message and left behind on the stack each time.
//!
//! Every key this crate signs with is 32 bytes, so preparing one never fails: the key is
//! padded to SHA-256's 64-byte block in a zeroizing buffer, which is how HMAC treats any key
//! shorter than a block. `hmac`'s own setup still XORs that block with the pads in a stack
//! temporary it does not wipe (as ring's did); with prepared keys that happens once per key
//! instead of once per message.

use hmac::digest::FixedOutput as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of an HMAC-SHA-256 tag and of every key signed with here.
pub(crate) const LEN: usize = 32;

/// SHA-256's block size: keys are padded to it.
const BLOCK_LEN: usize = 64;

/// A 32-byte key together with its HMAC-SHA-256 preparation, both wiped on drop; no `Debug`.
///
/// One box (about 190 bytes) so that the keys holding one stay small: kes-core's request
/// futures hold a new key version by value while it is stored.
#[derive(Clone)]
pub(crate) struct Prepared(Box<Inner>);

#[derive(Clone)]
struct Inner {
    key: Zeroizing<[u8; LEN]>,
    hmac: Hmac<Sha256>,
}

impl Prepared {
    /// Keeps `key` and prepares it (two SHA-256 blocks).
    pub(crate) fn new(key: Zeroizing<[u8; LEN]>) -> Self {
        let hmac = prepare(&key);
        Self(Box::new(Inner { key, hmac }))
    }

    /// The key bytes.
    pub(crate) fn key(&self) -> &[u8; LEN] {
        &self.0.key
    }

    /// `HMAC-SHA256(key, parts[0] ‖ parts[1] ‖ …)` in a zeroizing buffer.
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> Zeroizing<[u8; LEN]> {
        finish(self.0.hmac.clone(), parts)
    }
}

/// `HMAC-SHA256(key, parts[0] ‖ parts[1] ‖ …)` with a key used once.
pub(crate) fn sign(key: &[u8; LEN], parts: &[&[u8]]) -> Zeroizing<[u8; LEN]> {
    finish(prepare(key), parts)
}

/// `key` padded to a block (in a zeroizing buffer) and run through the inner and outer pads.
fn prepare(key: &[u8; LEN]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; BLOCK_LEN]);
    block[..LEN].copy_from_slice(key);
    let block: &[u8; BLOCK_LEN] = &block;
    Hmac::<Sha256>::new(block.into())
}

fn finish(mut mac: Hmac<Sha256>, parts: &[&[u8]]) -> Zeroizing<[u8; LEN]> {
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; LEN]);
    let tag: &mut [u8; LEN] = &mut out;
    mac.finalize_into(tag.into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    /// RFC 4231 has no 32-byte key case, so the reference is ring's HMAC (the
    /// implementation this module replaced) over keys and split messages.
    #[test]
    fn matches_ring_for_split_messages() {
        for seed in 0u8..16 {
            let key = [seed.wrapping_mul(37).wrapping_add(1); LEN];
            let message: Vec<u8> = (0..u16::from(seed) * 13).map(|i| i as u8).collect();
            let want = ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
                &message,
            );
            let prepared = Prepared::new(Zeroizing::new(key));
            assert_eq!(prepared.key(), &key);
            for cut in [0, message.len() / 2, message.len()] {
                let (a, b) = message.split_at(cut);
                assert_eq!(prepared.sign(&[a, b]).as_slice(), want.as_ref());
                assert_eq!(sign(&key, &[a, b]).as_slice(), want.as_ref());
            }
            // A prepared key is reusable: signing twice gives the same tag.
            assert_eq!(*prepared.sign(&[&message]), *prepared.sign(&[&message]));
        }
    }

    /// A known answer computed independently (Python's `hmac` module):
    /// `HMAC-SHA256(0x0b × 32, "Hi There")`.
    #[test]
    fn known_answer() {
        let tag = sign(&[0x0b; LEN], &[b"Hi There"]);
        assert_eq!(
            *tag,
            hex32("198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7")
        );
    }
}
