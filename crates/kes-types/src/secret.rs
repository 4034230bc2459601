//! [`SecretBytes`]: key material and plaintext carried by a DTO.
//!
//! Some wire fields carry secrets: a generated data key, an imported key, a
//! decrypted plaintext, an HMAC that MinIO uses as a root credential. They are
//! held in zeroizing memory, print as `[REDACTED]`, compare in constant time,
//! and are not `Serialize` on their own: only the DTO that carries one writes
//! it, as standard base64, when the DTO is encoded on purpose.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes, wiped from memory on drop.
///
/// The bytes leave only through [`SecretBytes::expose_secret`].
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps `bytes`. The vector is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The number of secret bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no secret bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

/// Constant-time comparison (the length is not secret).
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SecretBytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_bytes() {
        let s = SecretBytes::from_slice(b"\x01\x02secret");
        let d = format!("{s:?}");
        assert_eq!(d, "SecretBytes([REDACTED; 8 bytes])");
        assert!(!d.contains("secret"));
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::new(b"ab".to_vec())
        );
        assert_ne!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"ac")
        );
        assert_ne!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"abc")
        );
        assert!(SecretBytes::default().is_empty());
        assert_eq!(SecretBytes::from_slice(b"abc").len(), 3);
        assert_eq!(SecretBytes::from_slice(b"abc").expose_secret(), b"abc");
    }
}
