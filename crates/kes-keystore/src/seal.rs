//! Sealing for the filesystem store, and the master-key file format.
//!
//! A sealed value is kes-crypto's key-wrap ([`kes_crypto::keywrap`], AES-256-GCM-SIV) in its
//! text form, `kes-rs:wrap:v1:` followed by base64, so files stay ASCII like KES's own values.
//! The associated data binds the key name (`"kes-rs/fs-keystore/v1/key:" ‖ name`), so a value
//! copied to another file name does not open. A value without the prefix is a plaintext KES
//! value and is returned as it is (neither KES's JSON nor its base64 can contain `:`).
//!
//! # Master key file
//! [`read_seal_key_file`] / [`parse_seal_key`] accept the 32-byte master key as 64 hex digits
//! or as standard base64 (44 characters, padded), surrounded by optional whitespace. Generate
//! one with e.g. `openssl rand -hex 32`.

use std::path::Path;

use kes_crypto::keywrap::{self, WrapKey};
use zeroize::Zeroizing;

use crate::{Error, Result};

const NAME_AAD: &[u8] = b"kes-rs/fs-keystore/v1/key:";
const CHECK_AAD: &[u8] = b"kes-rs/fs-keystore/v1/seal-check";
const CHECK_PLAINTEXT: &[u8] = b"kes-rs sealed filesystem keystore";

/// `true` if `value` is a sealed (wrapped) value rather than a plaintext KES value.
pub fn is_sealed(value: &[u8]) -> bool {
    keywrap::detect(value).is_some()
}

/// Parses a master key given as 64 hex digits or padded standard base64 of 32 bytes.
pub fn parse_seal_key(text: &str) -> Result<Zeroizing<[u8; 32]>> {
    use base64::Engine as _;

    let text = text.trim();
    let mut key = Zeroizing::new([0u8; 32]);
    if text.len() == 64 && hex::decode_to_slice(text, key.as_mut_slice()).is_ok() {
        return Ok(key);
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| invalid_key())?,
    );
    if decoded.len() != 32 {
        return Err(invalid_key());
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

/// Reads a master key file (see [`parse_seal_key`] for the format).
pub fn read_seal_key_file(path: impl AsRef<Path>) -> Result<Zeroizing<[u8; 32]>> {
    let path = path.as_ref();
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        Error::io(
            format!("failed to read master key file '{}'", path.display()),
            e,
        )
    })?);
    parse_seal_key(&text).map_err(|_| {
        Error::Seal(format!(
            "invalid master key in '{}': expected 32 bytes as 64 hex digits or base64",
            path.display()
        ))
    })
}

fn invalid_key() -> Error {
    Error::Seal("invalid master key: expected 32 bytes as 64 hex digits or base64".into())
}

fn name_aad(name: &str) -> Vec<u8> {
    [NAME_AAD, name.as_bytes()].concat()
}

/// Seals and opens values of one sealed directory.
pub(crate) struct Sealer {
    key: WrapKey,
}

impl Sealer {
    pub(crate) fn new(master_key: &[u8; 32]) -> Result<Self> {
        // From the slice, so no copy of the master key is left on the stack.
        let key = WrapKey::from_slice(master_key).map_err(|e| Error::Seal(e.to_string()))?;
        Ok(Sealer { key })
    }

    pub(crate) fn seal(&self, name: &str, value: &[u8]) -> Result<String> {
        self.key
            .seal_text(value, &name_aad(name))
            .map_err(|e| Error::Seal(format!("failed to seal key '{name}': {e}")))
    }

    pub(crate) fn open(&self, name: &str, value: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.key.open(value, &name_aad(name)).map_err(|_| {
            if keywrap::key_id_of(value).is_some_and(|id| id != self.key.key_id()) {
                Error::Seal(format!(
                    "key '{name}' is sealed with a different master key"
                ))
            } else {
                Error::Seal(format!(
                    "key '{name}' cannot be unsealed: the value was modified or belongs to another name"
                ))
            }
        })
    }

    pub(crate) fn seal_check(&self) -> Result<String> {
        self.key
            .seal_text(CHECK_PLAINTEXT, CHECK_AAD)
            .map_err(|e| Error::Seal(format!("failed to seal the check value: {e}")))
    }

    pub(crate) fn verify_check(&self, value: &[u8]) -> bool {
        self.key
            .open(value, CHECK_AAD)
            .is_ok_and(|v| v.as_slice() == CHECK_PLAINTEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_formats() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let key = parse_seal_key(&format!("  {hex}\n")).unwrap();
        assert_eq!(key[1], 0x11);
        assert_eq!(key[31], 0xff);
        let b64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
        assert_eq!(*parse_seal_key(b64).unwrap(), *key);
        for bad in [
            "",
            "00",
            &hex[..62],
            "ABEiM0RVZneImaq7zN3u/w==",
            "not a key",
        ] {
            assert!(
                matches!(parse_seal_key(bad), Err(Error::Seal(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn values_are_bound_to_names_and_keys() {
        let a = Sealer::new(&[1; 32]).unwrap();
        let b = Sealer::new(&[2; 32]).unwrap();
        let sealed = a.seal("k1", b"{\"bytes\":\"x\"}").unwrap();
        assert!(sealed.is_ascii());
        assert!(is_sealed(sealed.as_bytes()));
        assert_eq!(
            a.open("k1", sealed.as_bytes()).unwrap().as_slice(),
            b"{\"bytes\":\"x\"}"
        );
        let swapped = a.open("k2", sealed.as_bytes()).unwrap_err().to_string();
        assert!(swapped.contains("another name"), "{swapped}");
        let wrong = b.open("k1", sealed.as_bytes()).unwrap_err().to_string();
        assert!(wrong.contains("different master key"), "{wrong}");
        assert!(!is_sealed(b"{\"bytes\":\"x\"}"));
        assert!(!is_sealed(b"CiQKIAAA"));

        let check = a.seal_check().unwrap();
        assert!(a.verify_check(check.as_bytes()));
        assert!(!b.verify_check(check.as_bytes()));
    }
}
