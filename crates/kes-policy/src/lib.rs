//! Who a KES client is and what it may do.
//!
//! * [`Identity`]: the lowercase hex SHA-256 of a client certificate's public key
//!   (SubjectPublicKeyInfo), computed from DER or PEM certificates ([`Certificate`],
//!   [`client_identity`]) or from an [`ApiKey`].
//! * [`ApiKey`]: the `kes:v1:…` Ed25519 API keys, their identity and the client certificate
//!   a client presents for them.
//! * [`new_identity`], [`self_signed`], [`dev_server_certificate`]: key pairs and
//!   self-signed certificates, as `kes identity new` and `kes server --dev` create them.
//! * [`parse_certificates`], [`read_cert_pool`], [`parse_private_key`]: PEM files with
//!   upstream's rules, including password-encrypted private keys ([`PrivateKey`],
//!   [`KeyEncryption`]).
//! * [`Policy`], [`Pattern`], [`Matcher`], [`PolicySet`], [`Decision`]: allow/deny rules
//!   over request paths with the current and the legacy (pre-2023-10) matcher, and the
//!   admin / identity → policy decision.
//! * [`names`]: the name and list-pattern rules.
//!
//! Section numbers (§) refer to the KES wire specification the project follows.
//!
//! # Certificate in, decision out
//!
//! ```
//! use kes_policy::{client_identity, parse_certificates, Decision, Identity, Policy, PolicySet};
//!
//! // The certificate a client presented in its TLS handshake (here: from a PEM file).
//! let pem = include_str!("../tests/data/certs/server_test_srv_cert.pem");
//! let chain: Vec<Vec<u8>> = parse_certificates(pem.as_bytes())?
//!     .iter()
//!     .map(|c| c.as_der().to_vec())
//!     .collect();
//! let identity = client_identity(&chain)?;
//! assert_eq!(
//!     identity.as_str(),
//!     "96918edf9cc8e7473d4217e3eed793ba111c3b7827189eafdcfd7ab275b43af6"
//! );
//!
//! // The server's policies: MinIO may use its own keys, but not the internal ones.
//! let mut policies = PolicySet::new();
//! policies.insert(
//!     "minio",
//!     Policy::new(
//!         ["/v1/key/create/minio-*", "/v1/key/generate/minio-*", "/v1/key/decrypt/minio-*"],
//!         ["/v1/key/*/minio-internal*"],
//!     ),
//!     [identity.clone()],
//! )?;
//! let admin: Identity = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22".parse()?;
//!
//! // Decide requests by their percent-decoded URL path.
//! let decision = policies.authorize(&identity, Some(&admin), "/v1/key/generate/minio-default");
//! assert_eq!(decision, Decision::Allowed { policy: "minio" });
//! let decision = policies.authorize(&identity, Some(&admin), "/v1/key/delete/minio-default");
//! assert_eq!(decision, Decision::Denied { policy: "minio" });
//! assert!(policies.authorize(&admin, Some(&admin), "/v1/key/delete/x").is_allowed());
//! # Ok::<(), kes_policy::Error>(())
//! ```
//!
//! Note that in the example `/v1/key/*/minio-internal*` is a *literal* pattern for the
//! current matcher: only a trailing `*` is a wildcard. [`Matcher::Legacy`] gives such
//! patterns their pre-2023-10 `path.Match` meaning.

mod api_key;
mod certgen;
mod error;
mod glob;
mod identity;
pub mod names;
mod pem;
mod policy;
mod private_key;

pub use api_key::{API_KEY_PREFIX, ApiKey};
pub use certgen::{
    API_KEY_CERT_VALIDITY, CertificateOptions, DEFAULT_IDENTITY_VALIDITY, DEV_SERVER_CERT_VALIDITY,
    NewIdentity, NewIdentityOptions, TlsCredentials, dev_admin_api_key, dev_server_certificate,
    new_identity, self_signed, write_certificate_file, write_private_key_file,
};
pub use error::Error;
pub use identity::{Certificate, Identity, client_identity};
pub use names::{validate_identity, validate_key_name, validate_pattern, validate_policy_name};
pub use pem::{
    PemItem, first_pem_item, parse_certificates, parse_private_key, read_cert_pool,
    read_certificates, read_private_key,
};
pub use policy::{Decision, Matcher, Pattern, Policy, PolicySet};
pub use private_key::{DEFAULT_SCRYPT_LOG_N, KeyAlgorithm, KeyEncryption, PrivateKey};
