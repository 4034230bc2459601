//! The `keystore.aws.secretsmanager` configuration (spec §8.6, §11.2).
//!
//! The server maps kes-core's config model into [`AwsConfig`]; [`AwsConfig::validate`] checks
//! it with KES's messages (without the `kesconf: ` prefix).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// Default per-attempt timeout of a Secrets Manager call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of attempts per call (1 + 4 retries; the AWS SDKs' standard mode makes 3):
/// throttling should back off rather than fail a KES request.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Static credentials (`keystore.aws.secretsmanager.credentials`).
#[derive(Clone)]
pub struct StaticCredentials {
    /// `accesskey`.
    pub access_key: String,
    /// `secretkey`.
    pub secret_key: SecretString,
    /// `token`: a session token (empty = none).
    pub session_token: SecretString,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &if self.session_token.expose_secret().is_empty() {
                    "<none>"
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

/// `keystore.aws.secretsmanager` — where and how to reach Secrets Manager.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AwsConfig {
    /// `endpoint`: a host (`secretsmanager.us-east-2.amazonaws.com`, `https://` is implied) or
    /// a URL (`http://127.0.0.1:5055`).
    pub endpoint: String,
    /// `region`, e.g. `us-east-2` (the SigV4 signing region).
    pub region: String,
    /// `kmskey`: the KMS key (id, ARN or alias) that encrypts new secrets; empty = the
    /// account's default key `aws/secretsmanager`.
    pub kms_key: String,
    /// `credentials`: static credentials, or `None` for the default chain (environment, web
    /// identity, ECS container credentials, EC2 instance metadata). KES uses static
    /// credentials as soon as any of the three fields is set: see
    /// [`AwsConfig::set_credentials`].
    pub credentials: Option<StaticCredentials>,
    /// A PEM file or directory of CA certificates to trust instead of the system roots
    /// (`AWS_CA_BUNDLE` when unset).
    pub ca: Option<PathBuf>,
    /// Bound for one attempt of a call.
    pub timeout: Duration,
    /// Attempts per call (1 = no retries); throttling and 5xx answers and transport failures
    /// are retried with exponential backoff and jitter.
    pub max_attempts: u32,
}

impl AwsConfig {
    /// A config for `endpoint` and `region`, default-chain credentials, the account's default
    /// KMS key.
    pub fn new(endpoint: impl Into<String>, region: impl Into<String>) -> Self {
        AwsConfig {
            endpoint: endpoint.into(),
            region: region.into(),
            kms_key: String::new(),
            credentials: None,
            ca: None,
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// KES's rule for `credentials`: static credentials if any of `accesskey`, `secretkey`,
    /// `token` is non-empty, the default chain otherwise.
    pub fn set_credentials(&mut self, access_key: &str, secret_key: &str, session_token: &str) {
        self.credentials =
            if access_key.is_empty() && secret_key.is_empty() && session_token.is_empty() {
                None
            } else {
                Some(StaticCredentials {
                    access_key: access_key.to_owned(),
                    secret_key: SecretString::from(secret_key.to_owned()),
                    session_token: SecretString::from(session_token.to_owned()),
                })
            };
    }

    /// Checks the required fields with KES's messages.
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str| {
            Err(Error::Config(format!(
                "invalid AWS secretsmanager keystore: {what}"
            )))
        };
        if self.endpoint.trim().is_empty() {
            return invalid("no endpoint specified");
        }
        if self.region.trim().is_empty() {
            return invalid("no region specified");
        }
        self.endpoint_url()?;
        Ok(())
    }

    /// The endpoint as a base URL without a trailing `/`: `https://` is added to a bare host
    /// (as the AWS SDK does); only `http` and `https` are accepted.
    pub fn endpoint_url(&self) -> Result<String> {
        let endpoint = self.endpoint.trim().trim_end_matches('/');
        let url = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("https://{endpoint}")
        };
        let uri: http::Uri = url.parse().map_err(|e| {
            Error::Config(format!(
                "invalid AWS secretsmanager keystore: invalid endpoint '{endpoint}': {e}"
            ))
        })?;
        match (uri.scheme_str(), uri.host()) {
            (Some("http" | "https"), Some(host)) if !host.is_empty() => {}
            _ => {
                return Err(Error::Config(format!(
                    "invalid AWS secretsmanager keystore: invalid endpoint '{endpoint}': expected a host or an http(s) URL"
                )));
            }
        }
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err(Error::Config(format!(
                "invalid AWS secretsmanager keystore: invalid endpoint '{endpoint}': a path or query is not supported"
            )));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages() {
        let err = AwsConfig::new("", "us-east-1").validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid AWS secretsmanager keystore: no endpoint specified"
        );
        let err = AwsConfig::new("secretsmanager.us-east-2.amazonaws.com", " ")
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid AWS secretsmanager keystore: no region specified"
        );
        assert!(AwsConfig::new("ftp://x", "r").validate().is_err());
        assert!(AwsConfig::new("https://x/path", "r").validate().is_err());
    }

    #[test]
    fn endpoint_forms() {
        let c = AwsConfig::new("secretsmanager.us-east-2.amazonaws.com", "us-east-2");
        assert_eq!(
            c.endpoint_url().unwrap(),
            "https://secretsmanager.us-east-2.amazonaws.com"
        );
        let c = AwsConfig::new("http://127.0.0.1:5055/", "us-east-1");
        assert_eq!(c.endpoint_url().unwrap(), "http://127.0.0.1:5055");
    }

    #[test]
    fn kes_credentials_rule_and_redacted_debug() {
        let mut c = AwsConfig::new("h", "r");
        c.set_credentials("", "", "");
        assert!(c.credentials.is_none());
        c.set_credentials("", "", "session");
        assert!(c.credentials.is_some());
        c.set_credentials(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "",
        );
        let debug = format!("{c:?}");
        assert!(debug.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
    }
}
