//! Name and list-pattern rules (spec §4.1, §8.3).
//!
//! * A **name** (key, policy or identity) is 1–80 bytes of `0-9 A-Z a-z _ -`, where `-` is
//!   neither the first nor the last byte and the name `_` alone is invalid.
//! * A **list pattern** uses the same alphabet plus a `*` that may only be the last byte; the
//!   `-` position rule applies to the whole pattern, `*` alone and the empty pattern are
//!   valid, `_` alone is not.
//! * The filesystem keystore additionally refuses names that are empty or contain `/`, `\`
//!   or `.` (it is also given names that never passed the name rule, for example from the
//!   declarative `keys:` list).
//!
//! ```
//! use kes_policy::names::{is_valid_name, is_valid_pattern};
//! assert!(is_valid_name("my-key"));
//! assert!(!is_valid_name("-my-key"));
//! assert!(is_valid_pattern("my-*"));
//! assert!(!is_valid_pattern("*-*"));
//! ```

use crate::Error;

/// The longest valid name or pattern, in bytes.
pub const MAX_NAME_LEN: usize = 80;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Checks the bytes of a name or pattern body: alphabet and `-` position rule.
/// `star_last` allows a `*` as the final byte.
fn check(s: &str, star_last: bool) -> bool {
    let bytes = s.as_bytes();
    let last = bytes.len().saturating_sub(1);
    bytes.iter().enumerate().all(|(i, &b)| {
        is_name_byte(b) || (b == b'-' && i > 0 && i < last) || (star_last && b == b'*' && i == last)
    })
}

/// Reports whether `name` is a valid key, policy or identity name.
///
/// ```
/// assert!(kes_policy::names::is_valid_name("_-___---_"));
/// assert!(!kes_policy::names::is_valid_name("my.key"));
/// ```
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name != "_" && name.len() <= MAX_NAME_LEN && check(name, false)
}

/// Reports whether `pattern` is a valid list pattern (`/v1/key/list/<pattern>` and friends).
///
/// ```
/// assert!(kes_policy::names::is_valid_pattern(""));
/// assert!(kes_policy::names::is_valid_pattern("*"));
/// assert!(!kes_policy::names::is_valid_pattern("_"));
/// ```
pub fn is_valid_pattern(pattern: &str) -> bool {
    pattern == "*" || (pattern != "_" && pattern.len() <= MAX_NAME_LEN && check(pattern, true))
}

/// Reports whether the filesystem keystore accepts `name` as a file name (§8.3): non-empty and
/// free of `/`, `\` and `.`.
///
/// ```
/// assert!(kes_policy::names::is_valid_fs_key_name("my-key"));
/// assert!(!kes_policy::names::is_valid_fs_key_name(".."));
/// ```
pub fn is_valid_fs_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '.'])
}

/// Validates a key name; the error carries the exact API message
/// `key name '<name>' is empty, too long or contains invalid characters`.
///
/// ```
/// assert!(kes_policy::validate_key_name("my-key").is_ok());
/// assert!(kes_policy::validate_key_name("").is_err());
/// ```
pub fn validate_key_name(name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidKeyName(name.to_owned()))
    }
}

/// Validates a policy name; the error carries the exact message
/// `policy name '<name>' is empty, too long or contains invalid characters`.
///
/// ```
/// assert!(kes_policy::validate_policy_name("minio").is_ok());
/// assert!(kes_policy::validate_policy_name("a/b").is_err());
/// ```
pub fn validate_policy_name(name: &str) -> Result<(), Error> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidPolicyName(name.to_owned()))
    }
}

/// Validates an identity string; the error carries the exact message
/// `identity '<id>' is empty, too long or contains invalid characters`.
///
/// Identities computed from certificates always pass; note that an upper-case hex string
/// also passes but never equals a computed identity (identities compare as exact strings).
///
/// ```
/// assert!(kes_policy::validate_identity(
///     "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
/// ).is_ok());
/// assert!(kes_policy::validate_identity("").is_err());
/// ```
pub fn validate_identity(identity: &str) -> Result<(), Error> {
    if is_valid_name(identity) {
        Ok(())
    } else {
        Err(Error::InvalidIdentity(identity.to_owned()))
    }
}

/// Validates a list pattern; the error carries the exact API message
/// `listing pattern '<p>' is empty, too long or is invalid`.
///
/// ```
/// assert!(kes_policy::validate_pattern("my-*").is_ok());
/// assert!(kes_policy::validate_pattern("a*b").is_err());
/// ```
pub fn validate_pattern(pattern: &str) -> Result<(), Error> {
    if is_valid_pattern(pattern) {
        Ok(())
    } else {
        Err(Error::InvalidPattern(pattern.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphen_position() {
        assert!(is_valid_name("a-b"));
        assert!(!is_valid_name("-"));
        assert!(!is_valid_name("a-"));
        assert!(is_valid_pattern("a-*"));
        assert!(!is_valid_pattern("a-"));
        assert!(!is_valid_pattern("-a*"));
        assert!(!is_valid_pattern("-*"));
        assert!(!is_valid_pattern("**"));
    }

    #[test]
    fn length_limit() {
        assert!(is_valid_name(&"a".repeat(80)));
        assert!(!is_valid_name(&"a".repeat(81)));
        assert!(is_valid_pattern(&format!("{}*", "a".repeat(79))));
        assert!(!is_valid_pattern(&format!("{}*", "a".repeat(80))));
    }

    #[test]
    fn messages() {
        assert_eq!(
            validate_key_name("a.b").unwrap_err().to_string(),
            "key name 'a.b' is empty, too long or contains invalid characters"
        );
        assert_eq!(
            validate_pattern("a.b").unwrap_err().to_string(),
            "listing pattern 'a.b' is empty, too long or is invalid"
        );
    }
}
