//! `keystore.vault` → [`kes_keystore_vault::VaultConfig`].

use std::sync::Arc;

use kes_core::config::{VaultAuth, VaultJwt, VaultKeyStore, VaultKvVersion};
use kes_keystore::KeyStore;
use kes_keystore_vault as kv;

use crate::{EnvLookup, Error};

/// Every field of `keystore.vault`, then the `VAULT_*` environment defaults from `env`.
pub(crate) fn config(cfg: &VaultKeyStore, env: EnvLookup<'_>) -> Result<kv::VaultConfig, Error> {
    let mut config = kv::VaultConfig::new(cfg.endpoint.clone());
    config.engine = cfg.engine.clone();
    config.version = match cfg.version {
        VaultKvVersion::V1 => kv::KvVersion::V1,
        VaultKvVersion::V2 => kv::KvVersion::V2,
    };
    config.namespace = cfg.namespace.clone();
    config.prefix = cfg.prefix.clone();
    config.transit = cfg.transit.as_ref().map(|t| {
        let mut transit = kv::TransitConfig::new(t.key.clone());
        transit.engine = t.engine.clone();
        transit
    });
    match &cfg.auth {
        Some(VaultAuth::AppRole(a)) => {
            let mut approle = kv::AppRoleConfig::new(a.id.clone(), a.secret.expose_secret());
            approle.engine = a.engine.clone();
            approle.namespace = a.namespace.clone();
            config.approle = Some(approle);
        }
        Some(VaultAuth::Kubernetes(k)) => {
            let jwt = match &k.jwt {
                VaultJwt::File(path) => kv::KubernetesJwt::File(path.clone()),
                VaultJwt::Token(token) => kv::KubernetesJwt::from_config(token.expose_secret()),
            };
            let mut kubernetes = kv::KubernetesConfig::new(k.role.clone(), jwt);
            kubernetes.engine = k.engine.clone();
            kubernetes.namespace = k.namespace.clone();
            config.kubernetes = Some(kubernetes);
        }
        // A legacy file without a login method: the backend's validation says so.
        None => {}
    }
    config.tls.key = cfg.tls.key.clone();
    config.tls.cert = cfg.tls.cert.clone();
    config.tls.ca = cfg.tls.ca.clone();
    config.status_ping = cfg.status_ping;
    config.apply_env(env).map_err(convert)?;
    Ok(config)
}

pub(crate) async fn open(
    cfg: &VaultKeyStore,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn KeyStore>, Error> {
    let config = config(cfg, env)?;
    let store = kv::VaultKeyStore::connect(config).await.map_err(convert)?;
    Ok(Arc::new(store))
}

fn convert(e: kv::Error) -> Error {
    match e {
        kv::Error::Config(message) => Error::Config(message),
        other => Error::open("vault", other),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use kes_core::config::{VaultAppRole, VaultKubernetes, VaultTls, VaultTransit};
    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::testutil::*;

    #[test]
    fn every_field_is_mapped() {
        let mut cfg = vault_section("https://vault.example.com:8200");
        cfg.engine = "secret".into();
        cfg.version = VaultKvVersion::V2;
        cfg.namespace = "ns1".into();
        cfg.prefix = "kes".into();
        cfg.transit = Some(VaultTransit {
            engine: "transit2".into(),
            key: "wrap".into(),
        });
        cfg.auth = Some(VaultAuth::AppRole(VaultAppRole {
            engine: "approle2".into(),
            namespace: "/".into(),
            id: "the-role".into(),
            secret: secret("the-secret"),
        }));
        cfg.tls = VaultTls {
            key: Some(PathBuf::from("/etc/kes/vault.key")),
            cert: Some(PathBuf::from("/etc/kes/vault.crt")),
            ca: Some(PathBuf::from("/etc/kes/vault-ca.pem")),
        };
        cfg.status_ping = Duration::from_secs(7);
        let c = config(&cfg, &no_env).unwrap();
        assert_eq!(c.endpoint, "https://vault.example.com:8200");
        assert_eq!(c.engine, "secret");
        assert_eq!(c.version, kv::KvVersion::V2);
        assert_eq!(c.namespace, "ns1");
        assert_eq!(c.prefix, "kes");
        let transit = c.transit.as_ref().unwrap();
        assert_eq!(
            (transit.engine.as_str(), transit.key.as_str()),
            ("transit2", "wrap")
        );
        let approle = c.approle.as_ref().unwrap();
        assert_eq!(approle.engine, "approle2");
        assert_eq!(approle.namespace, "/");
        assert_eq!(approle.id, "the-role");
        assert_eq!(approle.secret.expose_secret(), "the-secret");
        assert!(c.kubernetes.is_none());
        assert_eq!(c.tls.key, cfg.tls.key);
        assert_eq!(c.tls.cert, cfg.tls.cert);
        assert_eq!(c.tls.ca, cfg.tls.ca);
        assert_eq!(c.status_ping, Duration::from_secs(7));

        // Kubernetes: an inline token, or a file (a value with '/').
        for (jwt, file) in [
            (VaultJwt::Token(secret("eyJ.token")), None),
            (
                VaultJwt::File(PathBuf::from("/var/run/secrets/token")),
                Some(PathBuf::from("/var/run/secrets/token")),
            ),
        ] {
            cfg.auth = Some(VaultAuth::Kubernetes(VaultKubernetes {
                engine: "k8s".into(),
                namespace: "login-ns".into(),
                role: "kes-role".into(),
                jwt,
            }));
            let c = config(&cfg, &no_env).unwrap();
            assert!(c.approle.is_none());
            let k = c.kubernetes.unwrap();
            assert_eq!(
                (k.engine.as_str(), k.namespace.as_str(), k.role.as_str()),
                ("k8s", "login-ns", "kes-role")
            );
            match (k.jwt, file) {
                (kv::KubernetesJwt::Token(t), None) => assert_eq!(t.expose_secret(), "eyJ.token"),
                (kv::KubernetesJwt::File(p), Some(f)) => assert_eq!(p, f),
                (other, _) => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn the_vault_environment_fills_unset_fields() {
        let cfg = vault_section("https://vault.example.com:8200");
        let env = env_of(&[
            ("VAULT_NAMESPACE", "env-ns"),
            ("VAULT_CACERT", "/env/ca.pem"),
            ("VAULT_MAX_RETRIES", "0"),
        ]);
        let c = config(&cfg, &env).unwrap();
        assert_eq!(c.namespace, "env-ns");
        assert_eq!(c.tls.ca, Some(PathBuf::from("/env/ca.pem")));
        assert_eq!(c.max_retries, 0);
        let err = config(&cfg, &env_of(&[("VAULT_SKIP_VERIFY", "maybe")])).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(err.to_string().contains("VAULT_SKIP_VERIFY"), "{err}");
    }

    #[tokio::test]
    async fn invalid_sections_give_the_validate_message() {
        let mut cfg = vault_section("");
        let err = open(&cfg, &no_env).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid vault keystore: no endpoint specified"
        );
        assert!(matches!(err, Error::Config(_)));
        cfg.endpoint = "https://vault.example.com:8200".into();
        cfg.auth = None;
        let err = open(&cfg, &no_env).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid vault keystore: no authentication method specified"
        );
        cfg.auth = Some(VaultAuth::AppRole(VaultAppRole {
            engine: String::new(),
            namespace: String::new(),
            id: " ".into(),
            secret: secret("s"),
        }));
        let err = open(&cfg, &no_env).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid vault keystore: invalid approle config: no approle ID specified"
        );
    }

    /// The login carries the mapped mount, namespace and credentials.
    #[tokio::test]
    async fn the_login_uses_the_config() {
        let vault = Recorder::start(400, r#"{"errors":["invalid role or secret ID"]}"#).await;
        let mut cfg = vault_section(&vault.url);
        cfg.namespace = "team-a".into();
        cfg.auth = Some(VaultAuth::AppRole(VaultAppRole {
            engine: "approle-kes".into(),
            namespace: String::new(),
            id: "the-role".into(),
            secret: secret("the-secret"),
        }));
        let err = open(&cfg, &no_env).await.err().unwrap();
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "vault",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("invalid role or secret ID"),
            "{err}"
        );
        let login = vault.find("PUT", "/v1/auth/approle-kes/login");
        assert_eq!(
            login.headers.get("x-vault-namespace").map(String::as_str),
            Some("team-a")
        );
        let body: serde_json::Value = serde_json::from_str(&login.body).unwrap();
        assert_eq!(body["role_id"], "the-role");
        assert_eq!(body["secret_id"], "the-secret");
    }

    #[tokio::test]
    async fn an_unreachable_vault_is_a_clear_error() {
        let addr = closed_port();
        let cfg = vault_section(&format!("http://{addr}"));
        let env = env_of(&[("VAULT_MAX_RETRIES", "0")]);
        let err = open(&cfg, &env).await.err().unwrap();
        assert!(
            matches!(
                err,
                Error::Open {
                    backend: "vault",
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("connect") || text.contains("refused"),
            "{text}"
        );
    }
}
