//! `keystore.aws.secretsmanager` → [`kes_keystore_aws::AwsConfig`].

use std::sync::Arc;

use kes_core::config::AwsKeyStore;
use kes_keystore::KeyStore;
use kes_keystore_aws as aws;

use crate::{EnvLookup, Error};

/// Every field of `keystore.aws.secretsmanager`; credentials by KES's rule (static if any of
/// the three is set, else the default chain).
pub(crate) fn config(cfg: &AwsKeyStore) -> aws::AwsConfig {
    let mut config = aws::AwsConfig::new(cfg.endpoint.clone(), cfg.region.clone());
    config.kms_key = cfg.kms_key.clone();
    config.set_credentials(
        &cfg.access_key,
        cfg.secret_key.expose_secret(),
        cfg.session_token.expose_secret(),
    );
    config
}

pub(crate) async fn open(
    cfg: &AwsKeyStore,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn KeyStore>, Error> {
    let store = aws::AwsKeyStore::connect_with_env(config(cfg), env)
        .await
        .map_err(|e| match e {
            aws::Error::Config(message) => Error::Config(message),
            other => Error::open("aws", other),
        })?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use kes_core::config::SecretText;
    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::testutil::*;

    #[test]
    fn every_field_is_mapped() {
        let mut cfg = aws_section("secretsmanager.us-east-2.amazonaws.com");
        cfg.kms_key = "alias/kes".into();
        cfg.session_token = secret("session");
        let c = config(&cfg);
        assert_eq!(c.endpoint, "secretsmanager.us-east-2.amazonaws.com");
        assert_eq!(c.region, "us-east-2");
        assert_eq!(c.kms_key, "alias/kes");
        let creds = c.credentials.unwrap();
        assert_eq!(creds.access_key, "AKIDKESBACKENDS");
        assert_eq!(creds.secret_key.expose_secret(), "aws-secret-key");
        assert_eq!(creds.session_token.expose_secret(), "session");

        // No credential field: the default chain.
        cfg.access_key = String::new();
        cfg.secret_key = SecretText::default();
        cfg.session_token = SecretText::default();
        assert!(config(&cfg).credentials.is_none());
    }

    #[tokio::test]
    async fn invalid_sections_give_the_validate_message() {
        let mut cfg = aws_section("");
        let err = open(&cfg, &no_env).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid AWS secretsmanager keystore: no endpoint specified"
        );
        assert!(matches!(err, Error::Config(_)));
        cfg.endpoint = "secretsmanager.us-east-2.amazonaws.com".into();
        cfg.region = String::new();
        let err = open(&cfg, &no_env).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid AWS secretsmanager keystore: no region specified"
        );
    }

    /// The startup check is signed with the configured credentials for the configured
    /// region; a refusal is a startup error naming the credentials.
    #[tokio::test]
    async fn the_startup_check_uses_the_config() {
        let server = Recorder::start(
            400,
            r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
        )
        .await;
        let mut cfg = aws_section(&server.url);
        cfg.session_token = secret("the-session-token");
        let err = open(&cfg, &no_env).await.err().unwrap();
        assert!(matches!(err, Error::Open { backend: "aws", .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("UnrecognizedClientException"), "{text}");
        assert!(text.contains("static credentials"), "{text}");
        let list = server
            .requests()
            .into_iter()
            .find(|r| {
                r.headers.get("x-amz-target").map(String::as_str)
                    == Some("secretsmanager.ListSecrets")
            })
            .unwrap();
        let auth = &list.headers["authorization"];
        assert!(
            auth.contains("Credential=AKIDKESBACKENDS/")
                && auth.contains("/us-east-2/secretsmanager/aws4_request"),
            "{auth}"
        );
        assert_eq!(list.headers["x-amz-security-token"], "the-session-token");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_clear_error() {
        let addr = closed_port();
        let err = open(&aws_section(&format!("http://{addr}")), &no_env)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::Open { backend: "aws", .. }), "{err:?}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
