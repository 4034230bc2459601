//! Each cloud backend: every field mapped, the validate messages, and the first request of
//! the startup login carrying the config (against a loopback recorder; the default
//! credential chains are pointed at it through the injected environment, so nothing leaves
//! the machine).

use std::path::PathBuf;

use secrecy::ExposeSecret as _;

use crate::testutil::*;
use crate::{Error, open};

/// `open` of `config` fails; the error.
async fn open_err(
    config: &kes_core::config::KeyStoreConfig,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Error {
    match open(config, env).await {
        Ok(store) => panic!("opened {}", store.describe()),
        Err(e) => e,
    }
}

#[cfg(feature = "gcp")]
mod gcp {
    use kes_core::config::{GcpCredentials, KeyStoreConfig, SecretText};

    use super::*;
    use crate::cloud::gcp::config;

    fn with_account(private_key: &str) -> kes_core::config::GcpKeyStore {
        let mut cfg = gcp_section();
        cfg.credentials = GcpCredentials {
            client_email: "kes@kes-project.iam.gserviceaccount.com".into(),
            client_id: "1234".into(),
            private_key_id: "key-1".into(),
            private_key: secret(private_key),
        };
        cfg
    }

    #[test]
    fn every_field_is_mapped() {
        let mut cfg =
            with_account("-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n");
        cfg.endpoint = "secretmanager.example.com:443".into();
        cfg.scopes = vec!["scope-a".into(), "scope-b".into()];
        let c = config(&cfg);
        assert_eq!(c.project_id, "kes-project");
        assert_eq!(c.endpoint, "secretmanager.example.com:443");
        assert_eq!(c.scopes, ["scope-a", "scope-b"]);
        let account = c.credentials.as_ref().unwrap();
        assert_eq!(
            account.client_email,
            "kes@kes-project.iam.gserviceaccount.com"
        );
        assert_eq!(account.client_id, "1234");
        assert_eq!(account.private_key_id, "key-1");
        assert!(
            account
                .private_key
                .expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----\\n")
        );
        assert!(
            config(&gcp_section()).credentials.is_none(),
            "default credentials"
        );
    }

    #[tokio::test]
    async fn invalid_sections_give_the_validate_message() {
        let mut cfg = gcp_section();
        cfg.project_id = String::new();
        let err = open_err(&KeyStoreConfig::Gcp(cfg), &no_env).await;
        assert_eq!(
            err.to_string(),
            "invalid GCP secretmanager keystore: no project ID specified"
        );
        assert!(matches!(err, Error::Config(_)));
        let mut cfg = gcp_section();
        cfg.credentials.client_email = "kes@example.com".into();
        let err = open_err(&KeyStoreConfig::Gcp(cfg), &no_env).await;
        assert_eq!(
            err.to_string(),
            "invalid GCP secretmanager keystore: no client ID specified"
        );
    }

    /// The configured service account is used: its key is parsed before any request.
    #[tokio::test]
    async fn the_configured_service_account_is_used() {
        let err = open_err(&KeyStoreConfig::Gcp(with_account("not a key")), &no_env).await;
        assert!(matches!(err, Error::Open { backend: "gcp", .. }), "{err:?}");
        assert!(err.to_string().contains("private key"), "{err}");
    }

    /// Without credentials: the metadata server, asked for the configured scopes.
    #[tokio::test]
    async fn default_credentials_ask_the_metadata_server_for_the_scopes() {
        let metadata = Recorder::start(404, r#"{"error":"not here"}"#).await;
        let host = metadata.url.trim_start_matches("http://").to_owned();
        let mut cfg = gcp_section();
        cfg.scopes = vec!["scope-a".into(), "scope-b".into()];
        cfg.credentials.private_key = SecretText::default();
        let env = env_of(&[("GCE_METADATA_HOST", &host)]);
        let err = open_err(&KeyStoreConfig::Gcp(cfg), &env).await;
        assert!(matches!(err, Error::Open { backend: "gcp", .. }), "{err:?}");
        let token = metadata.find(
            "GET",
            "/computeMetadata/v1/instance/service-accounts/default/token",
        );
        assert!(
            token.target.ends_with("?scopes=scope-a%2Cscope-b"),
            "{}",
            token.target
        );
        assert_eq!(token.headers["metadata-flavor"], "Google");
    }
}

#[cfg(feature = "azure")]
mod azure {
    use kes_core::config::{AzureAuth, KeyStoreConfig};
    use kes_keystore_cloud::azure::AzureAuth as Auth;

    use super::*;
    use crate::cloud::azure::config;

    const VAULT: &str = "https://kes.vault.azure.net";

    #[test]
    fn every_field_is_mapped() {
        let cfg = azure_section(VAULT);
        let c = config(&cfg);
        assert_eq!(c.endpoint, VAULT);
        match &c.auth {
            Auth::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
            } => {
                assert_eq!(
                    (tenant_id.as_str(), client_id.as_str()),
                    ("tenant-1", "client-1")
                );
                assert_eq!(client_secret.expose_secret(), "azure-secret");
            }
            other => panic!("{other:?}"),
        }
        let mut cfg = azure_section(VAULT);
        cfg.auth = AzureAuth::ManagedIdentity {
            client_id: "mi-1".into(),
        };
        assert!(
            matches!(&config(&cfg).auth, Auth::ManagedIdentity { client_id } if client_id == "mi-1")
        );
        cfg.auth = AzureAuth::Default;
        assert!(matches!(config(&cfg).auth, Auth::Default));
    }

    #[tokio::test]
    async fn invalid_sections_give_the_validate_message() {
        let err = open_err(&azure_config(""), &no_env).await;
        assert_eq!(
            err.to_string(),
            "invalid Azure keyvault keystore: no endpoint specified"
        );
        assert!(matches!(err, Error::Config(_)));
        let mut cfg = azure_section(VAULT);
        cfg.auth = AzureAuth::ClientSecret {
            tenant_id: String::new(),
            client_id: "c".into(),
            client_secret: secret("s"),
        };
        let err = open_err(&KeyStoreConfig::Azure(cfg), &no_env).await;
        assert_eq!(
            err.to_string(),
            "invalid Azure keyvault keystore: no tenant ID specified"
        );
    }

    #[tokio::test]
    async fn the_client_secret_login_uses_the_config() {
        let entra = Recorder::start(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
        )
        .await;
        let env = env_of(&[("AZURE_AUTHORITY_HOST", &entra.url)]);
        let err = open_err(&azure_config(VAULT), &env).await;
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "azure",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("AADSTS7000215"), "{err}");
        let login = entra.find("POST", "/tenant-1/oauth2/v2.0/token");
        assert!(login.body.contains("client_id=client-1"), "{}", login.body);
        assert!(
            login.body.contains("client_secret=azure-secret"),
            "{}",
            login.body
        );
    }

    #[tokio::test]
    async fn the_managed_identity_login_uses_the_config() {
        let identity = Recorder::start(
            400,
            r#"{"error":"invalid_request","error_description":"unknown identity"}"#,
        )
        .await;
        let endpoint = format!("{}/msi/token", identity.url);
        let env = env_of(&[("IDENTITY_ENDPOINT", &endpoint), ("IDENTITY_HEADER", "h")]);
        let mut cfg = azure_section(VAULT);
        cfg.auth = AzureAuth::ManagedIdentity {
            client_id: "mi-1".into(),
        };
        let err = open_err(&KeyStoreConfig::Azure(cfg), &env).await;
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "azure",
                    ..
                }
            ),
            "{err:?}"
        );
        let token = identity.find("GET", "/msi/token");
        assert!(token.target.contains("client_id=mi-1"), "{}", token.target);
    }
}

#[cfg(feature = "gemalto")]
mod gemalto {
    use kes_core::config::{KeyStoreConfig, SecretText};

    use super::*;
    use crate::cloud::gemalto::config;

    #[test]
    fn every_field_is_mapped() {
        let mut cfg = gemalto_section("https://ciphertrust.example.com");
        cfg.ca = Some(PathBuf::from("/etc/kes/ct-ca.pem"));
        let c = config(&cfg);
        assert_eq!(c.endpoint, "https://ciphertrust.example.com");
        assert_eq!(c.token.expose_secret(), "refresh-token");
        assert_eq!(c.domain, "kes-domain");
        assert_eq!(c.ca, cfg.ca);
    }

    #[tokio::test]
    async fn invalid_sections_give_the_validate_message() {
        let mut cfg = gemalto_section("https://ciphertrust.example.com");
        cfg.token = SecretText::default();
        let err = open_err(&KeyStoreConfig::Gemalto(cfg), &no_env).await;
        assert_eq!(
            err.to_string(),
            "invalid gemalto keysecure keystore: no token specified"
        );
        assert!(matches!(err, Error::Config(_)));
    }

    #[tokio::test]
    async fn the_login_uses_the_config() {
        let server =
            Recorder::start(401, r#"{"code":10,"codeDesc":"NCERRInvalidRefreshToken"}"#).await;
        let err = open_err(&gemalto_config(&server.url), &no_env).await;
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "gemalto",
                    ..
                }
            ),
            "{err:?}"
        );
        let login: serde_json::Value =
            serde_json::from_str(&server.find("POST", "/api/v1/auth/tokens").body).unwrap();
        assert_eq!(login["refresh_token"], "refresh-token");
        assert_eq!(login["domain"], "kes-domain");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_clear_error() {
        let addr = closed_port();
        let err = open_err(&gemalto_config(&format!("http://{addr}")), &no_env).await;
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "gemalto",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("gemalto"), "{err}");
    }
}

#[cfg(feature = "fortanix")]
mod fortanix {
    use kes_core::config::{KeyStoreConfig, SecretText};

    use super::*;
    use crate::cloud::fortanix::config;

    #[test]
    fn every_field_is_mapped() {
        let mut cfg = fortanix_section("https://sdkms.example.com");
        cfg.ca = Some(PathBuf::from("/etc/kes/dsm-ca.pem"));
        let c = config(&cfg);
        assert_eq!(c.endpoint, "https://sdkms.example.com");
        assert_eq!(c.api_key.expose_secret(), "fortanix-api-key");
        assert_eq!(c.group_id, "group-1");
        assert_eq!(c.ca, cfg.ca);
    }

    #[tokio::test]
    async fn invalid_sections_give_the_validate_message() {
        let mut cfg = fortanix_section("https://sdkms.example.com");
        cfg.api_key = SecretText::default();
        let err = open_err(&KeyStoreConfig::Fortanix(cfg), &no_env).await;
        assert_eq!(
            err.to_string(),
            "invalid fortanix SDKMS keystore: no API key specified"
        );
        assert!(matches!(err, Error::Config(_)));
    }

    #[tokio::test]
    async fn the_session_login_uses_the_api_key() {
        let server = Recorder::start_with(|r| match r.target.as_str() {
            "/sys/v1/health" => (200, "{}"),
            _ => (401, r#"{"message":"invalid API key"}"#),
        })
        .await;
        let err = open_err(&fortanix_config(&server.url), &no_env).await;
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "fortanix",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("authentication with the API key failed"),
            "{err}"
        );
        let session = server.find("POST", "/sys/v1/session/auth");
        assert_eq!(session.headers["authorization"], "Basic fortanix-api-key");
    }
}

#[cfg(feature = "entrust")]
mod entrust {
    use kes_core::config::KeyStoreConfig;

    use super::*;
    use crate::cloud::entrust::config;

    #[test]
    fn every_field_is_mapped() {
        let mut cfg = entrust_section("https://keycontrol.example.com");
        cfg.ca = Some(PathBuf::from("/etc/kes/kc-ca.pem"));
        let c = config(&cfg);
        assert_eq!(c.endpoint, "https://keycontrol.example.com");
        assert_eq!(c.vault_id, "vault-1");
        assert_eq!(c.box_id, "box-1");
        assert_eq!(c.username, "kes-user");
        assert_eq!(c.password.expose_secret(), "entrust-password");
        assert_eq!(c.ca, cfg.ca);
    }

    #[tokio::test]
    async fn invalid_sections_give_the_validate_message() {
        let mut cfg = entrust_section("https://keycontrol.example.com");
        cfg.box_id = String::new();
        let err = open_err(&KeyStoreConfig::Entrust(cfg), &no_env).await;
        assert_eq!(
            err.to_string(),
            "invalid Entrust KeyControl keystore: no box ID specified"
        );
        assert!(matches!(err, Error::Config(_)));
    }

    #[tokio::test]
    async fn the_login_uses_the_config() {
        let server = Recorder::start(401, r#"{"error":"invalid credentials"}"#).await;
        let err = open_err(&entrust_config(&server.url), &no_env).await;
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "entrust",
                    ..
                }
            ),
            "{err:?}"
        );
        let login: serde_json::Value =
            serde_json::from_str(&server.find("POST", "/vault/1.0/Login/vault-1/").body).unwrap();
        assert_eq!(login["username"], "kes-user");
        assert_eq!(login["password"], "entrust-password");
    }
}
