//! Randomness: straight from the operating system's CSPRNG, one call per
//! operation.
//!
//! Every random byte this crate uses comes from the `getrandom` crate's
//! [`getrandom::fill`]: on Linux the C library's `getrandom`, which is the
//! system call, or the kernel's vDSO generator where the C library uses it
//! (glibc 2.41 and later on Linux 6.11 and later), with the kernel's own fork
//! and VM-fork handling either way. There is no user-space generator
//! to seed, reseed or fork-protect. To keep the hot path cheap, an operation
//! draws all the randomness it needs in **one** call: generating a data key
//! fills 60 bytes (32-byte key, 16-byte iv, 12-byte nonce) at once and splits
//! them with [`fill_parts`]. The reasoning is in `docs/randomness.md`.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Largest total that [`fill_parts`] draws into a stack buffer; larger
/// requests use a (zeroizing) heap buffer. Either way it is one OS call.
const STACK_LEN: usize = 128;

/// Fills `dest` with bytes from the OS CSPRNG in one call.
///
/// # Errors
/// [`Error::Rng`] when the OS randomness source fails.
pub fn fill(dest: &mut [u8]) -> Result<()> {
    getrandom::fill(dest).map_err(|_| Error::Rng)
}

/// Fills several buffers with one OS CSPRNG call, as if they were one
/// contiguous buffer. The intermediate buffer is zeroized.
///
/// # Errors
/// [`Error::Rng`] when the OS randomness source fails; the parts are then
/// left unchanged.
pub fn fill_parts(parts: &mut [&mut [u8]]) -> Result<()> {
    let total = parts
        .iter()
        .try_fold(0usize, |acc, p| acc.checked_add(p.len()))
        .ok_or(Error::Rng)?;
    if total <= STACK_LEN {
        let mut buf = Zeroizing::new([0u8; STACK_LEN]);
        let random = buf.get_mut(..total).ok_or(Error::Rng)?;
        fill(random)?;
        distribute(random, parts);
    } else {
        let mut buf = Zeroizing::new(vec![0u8; total]);
        fill(buf.as_mut_slice())?;
        distribute(&buf, parts);
    }
    Ok(())
}

/// Copies consecutive chunks of `random` into `parts`
/// (`random.len()` is the sum of the parts' lengths).
fn distribute(random: &[u8], parts: &mut [&mut [u8]]) {
    let mut rest = random;
    for part in parts.iter_mut() {
        let (head, tail) = rest.split_at(part.len().min(rest.len()));
        part.copy_from_slice(head);
        rest = tail;
    }
}

/// Returns `N` random bytes from one OS CSPRNG call. For non-secret values
/// (ivs, nonces); put secrets straight into zeroizing storage with
/// [`fill`].
///
/// # Errors
/// [`Error::Rng`] when the OS randomness source fails.
pub fn array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_parts_covers_every_part() {
        // With 2^-128 odds a 16-byte part stays all zero by chance.
        let (mut a, mut b, mut c) = ([0u8; 16], [0u8; 16], [0u8; 16]);
        fill_parts(&mut [&mut a, &mut b, &mut c]).unwrap();
        for part in [a, b, c] {
            assert_ne!(part, [0u8; 16]);
        }
        assert_ne!(a, b);
        assert_ne!(b, c);
    }

    #[test]
    fn fill_parts_large_and_empty() {
        let mut big = vec![0u8; 200];
        let mut small = [0u8; 16];
        fill_parts(&mut [big.as_mut_slice(), &mut [], &mut small]).unwrap();
        assert_ne!(&big[184..], &[0u8; 16]);
        assert_ne!(small, [0u8; 16]);
        fill_parts(&mut []).unwrap();
    }

    #[test]
    fn array_is_random() {
        assert_ne!(array::<16>().unwrap(), array::<16>().unwrap());
    }
}
