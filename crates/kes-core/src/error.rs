//! The crate's one error type: reasons a configuration cannot be served.
//!
//! Request failures never surface as this type: `Server::handle` turns every one into the
//! KES wire error (status + exact message) from `kes_types::ApiError`.

/// Why a server could not be built, started or reloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `admin.identity` is empty.
    #[error("kes: invalid admin identity: no admin identity")]
    NoAdmin,
    /// An identity in a policy or the proxy list violates the name rule.
    #[error("kes: identity '{0}' is empty, too long or contains invalid characters")]
    InvalidIdentity(String),
    /// A policy name, a duplicate policy, or an identity assigned to two policies.
    #[error("kes: {0}")]
    Policy(#[source] kes_policy::Error),
    /// The admin identity is also a TLS proxy.
    #[error("kes: invalid tls proxy: identity '{0}' is already admin")]
    ProxyIsAdmin(String),
    /// A policy lists the admin identity.
    #[error("kes: invalid policy '{policy}': identity '{identity}' is already admin")]
    PolicyIdentityIsAdmin {
        /// The policy.
        policy: String,
        /// The identity.
        identity: String,
    },
    /// A policy lists a TLS proxy identity.
    #[error("kes: invalid policy '{policy}': identity '{identity}' is already a TLS proxy")]
    PolicyIdentityIsProxy {
        /// The policy.
        policy: String,
        /// The identity.
        identity: String,
    },
    /// `skip_auth` on a route that must always authenticate (only `/v1/ready`, `/v1/status`,
    /// `/v1/metrics` and `/v1/api` may skip it).
    #[error("kes: invalid api config: skip_auth is not allowed for '{0}'")]
    SkipAuthNotAllowed(String),
    /// A declarative key (`keys:`) could not be created.
    #[error("kes: failed to create key '{name}': {reason}")]
    DeclarativeKey {
        /// The key name.
        name: String,
        /// The keystore's or generator's error text.
        reason: String,
    },
    /// The metrics registry rejected a metric (a bug, reported instead of panicking).
    #[error("kes: metrics: {0}")]
    Metrics(String),
    /// The configuration file is not YAML, or a value has the wrong YAML type (the message
    /// names the field and the line).
    #[error("kesconf: {0}")]
    ConfigSyntax(String),
    /// A `${VAR}` reference in the configuration names an environment variable that is not set.
    #[error("kesconf: referenced env. variable '{var}' in field '{field}' not found")]
    MissingEnvVar {
        /// The variable's name.
        var: String,
        /// The field whose value referenced it.
        field: String,
    },
    /// A configuration field has an invalid value, or a required field is missing (KES's
    /// message, plus the field).
    #[error("{message} (field '{field}')")]
    InvalidConfig {
        /// The field, as a dotted path (`keystore.vault.endpoint`).
        field: String,
        /// What is wrong, in KES's words where KES has them.
        message: String,
    },
}

impl Error {
    /// The configuration field a configuration error is about.
    pub fn config_field(&self) -> Option<&str> {
        match self {
            Error::MissingEnvVar { field, .. } | Error::InvalidConfig { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }
}
