//! The server configuration file (spec §11): raw YAML text in, validated
//! [`Config`] out.
//!
//! [`load`] is a pure function: it reads no file and no environment of its
//! own. Environment variables come from the lookup closure the caller passes
//! (`|name| std::env::var(name).ok()` in the server); file paths in the
//! config (TLS key and certificate, CA, Vault JWT file, seal key file) are
//! recorded as paths for the shell to read.
//!
//! What it implements (details and every field in `docs/config.md`):
//! * every field of the current format, with KES's defaults (and the
//!   documented cache defaults where upstream has a bug);
//! * `${VAR}` expansion exactly where and how KES does it: a scalar whose
//!   whole trimmed value is `${NAME}` is replaced by the variable; a missing
//!   variable is an error naming it; no partial substitution; never for
//!   `version`, policy `allow`/`deny` or map keys;
//! * KES's validation messages (`kesconf: …`), each with the field it is
//!   about;
//! * the legacy layouts (top-level `root:`, `policy.<name>.paths`,
//!   `keys.<backend>`, v0.14–v0.17 `keystore.*`) with their original meaning
//!   — policies of such a file keep the legacy glob matcher — and one
//!   [`Warning`] per legacy or ignored field (KES silently ignored them);
//! * our `keystore.fs.seal` extension (a master key from `key_file` or
//!   `key: ${ENV}`).
//!
//! This module is the only place in the workspace that uses the YAML crate.
//!
//! ```
//! let yaml = "
//! admin:
//!   identity: ${KES_ADMIN}
//! tls:
//!   key: ./server.key
//!   cert: ./server.cert
//! keystore:
//!   fs:
//!     path: /var/lib/kes
//! ";
//! let env = |name: &str| (name == "KES_ADMIN").then(|| "disabled".to_owned());
//! let loaded = kes_core::config::load(yaml, &env).unwrap();
//! assert_eq!(loaded.config.admin, "disabled");
//! assert_eq!(loaded.config.address.to_string(), "0.0.0.0:7373");
//!
//! let err = kes_core::config::load(yaml, &|_: &str| None).unwrap_err();
//! assert_eq!(err.to_string(), "kesconf: referenced env. variable 'KES_ADMIN' in field 'admin.identity' not found");
//! ```

mod convert;
mod goduration;
mod model;
mod raw;

pub use model::*;

use crate::error::Error;

/// Parses and validates a KES server configuration.
///
/// `yaml` is the file's text; `env` looks up environment variables for
/// `${VAR}` references. Returns the configuration and its warnings, or the
/// first error, which names the field (and for a missing variable, the
/// variable).
pub fn load(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Error> {
    convert::load(yaml, env)
}

#[cfg(test)]
mod tests {
    /// The module example (doctests are off for this crate).
    #[test]
    fn module_example() {
        let yaml = "\nadmin:\n  identity: ${KES_ADMIN}\ntls:\n  key: ./server.key\n  cert: ./server.cert\nkeystore:\n  fs:\n    path: /var/lib/kes\n";
        let env = |name: &str| (name == "KES_ADMIN").then(|| "disabled".to_owned());
        let loaded = super::load(yaml, &env).unwrap();
        assert_eq!(loaded.config.admin, "disabled");
        assert_eq!(loaded.config.address.to_string(), "0.0.0.0:7373");
        let err = super::load(yaml, &|_: &str| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kesconf: referenced env. variable 'KES_ADMIN' in field 'admin.identity' not found"
        );
    }
}
