//! Choosing the KMS from flags and environment variables.
//!
//! * KES: `--kes` or `MINIO_KES_SERVER` / `KES_SERVER` / `MINIO_KMS_KES_ENDPOINT`, with the
//!   credentials `kes-cli` takes (API key, or certificate and key files), `-k`, `--kes-ca`,
//!   and the default key `--kes-key-name` / `MINIO_KMS_KES_KEY_NAME`.
//! * Static key: `--kms-secret-key` or `MINIO_KMS_SECRET_KEY` (or `MINIO_KMS_SECRET_KEY_FILE`).
//! * Master key (read-only, combinable): `--kms-master-key` or `MINIO_KMS_MASTER_KEY`.
//!
//! A flag wins over the environment. A KES server and a static key exclude each other, as
//! in MinIO.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use kes_client::{ApiKey, ClientBuilder};
use kes_crypto::sse::StaticKey;
use kes_crypto::sse::static_kms::LegacyMasterKey;
use zeroize::Zeroizing;

use crate::cli::GlobalArgs;
use crate::kms::{KesKms, Kms, MasterKeyFallback, StaticKms};

/// Server endpoints, first set wins (as `kes-cli`).
const SERVER_VARS: [&str; 3] = ["MINIO_KES_SERVER", "KES_SERVER", "MINIO_KMS_KES_ENDPOINT"];
/// API key.
const API_KEY_VARS: [&str; 3] = ["MINIO_KES_API_KEY", "KES_API_KEY", "MINIO_KMS_KES_API_KEY"];
/// Client private-key file.
const KEY_FILE_VARS: [&str; 3] = [
    "MINIO_KES_KEY_FILE",
    "KES_CLIENT_KEY",
    "MINIO_KES_CLIENT_KEY",
];
/// Client certificate file.
const CERT_FILE_VARS: [&str; 3] = [
    "MINIO_KES_CERT_FILE",
    "KES_CLIENT_CERT",
    "MINIO_KES_CLIENT_CERT",
];

/// Environment lookup (the process environment; tests pass their own).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn first(env: Env<'_>, vars: &[&str]) -> Option<String> {
    vars.iter()
        .find_map(|v| env(v).filter(|value| !value.trim().is_empty()))
}

/// What the flags and environment ask for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// No KMS.
    None,
    /// A KES server at these endpoints.
    Kes(Vec<String>),
    /// The static key (the `NAME:BASE64` setting).
    Static(String),
}

/// Decides between KES and the static key.
pub(crate) fn choose(args: &GlobalArgs, env: Env<'_>) -> Result<Choice> {
    let kes_flag = args.kes.as_deref().filter(|s| !s.trim().is_empty());
    let static_flag = args
        .kms_secret_key
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    let static_env = || -> Result<Option<String>> {
        if let Some(v) = env("MINIO_KMS_SECRET_KEY").filter(|v| !v.trim().is_empty()) {
            return Ok(Some(v));
        }
        match env("MINIO_KMS_SECRET_KEY_FILE").filter(|v| !v.trim().is_empty()) {
            Some(file) => read_secret_file(Path::new(file.trim())).map(Some),
            None => Ok(None),
        }
    };
    let endpoints = |list: &str| -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let e = e.strip_prefix("http://").unwrap_or(e);
                if e.starts_with("https://") {
                    e.to_owned()
                } else {
                    format!("https://{e}")
                }
            })
            .collect()
    };
    match (kes_flag, static_flag) {
        (Some(_), Some(_)) => bail!("--kes and --kms-secret-key cannot be used together"),
        (Some(kes), None) => return Ok(Choice::Kes(endpoints(kes))),
        (None, Some(s)) => return Ok(Choice::Static(s.to_owned())),
        (None, None) => {}
    }
    match (first(env, &SERVER_VARS), static_env()?) {
        (Some(_), Some(_)) => bail!(
            "both a KES server (KES_SERVER/MINIO_KES_SERVER) and MINIO_KMS_SECRET_KEY are set: \
             choose one with --kes or --kms-secret-key"
        ),
        (Some(kes), None) => Ok(Choice::Kes(endpoints(&kes))),
        (None, Some(s)) => Ok(Choice::Static(s)),
        (None, None) => Ok(Choice::None),
    }
}

/// Reads `MINIO_KMS_SECRET_KEY_FILE` (a relative name is also tried under `/run/secrets/`).
fn read_secret_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).or_else(|e| {
        if path.is_relative() {
            std::fs::read_to_string(Path::new("/run/secrets").join(path))
        } else {
            Err(e)
        }
    });
    text.map(|t| t.trim().to_owned())
        .with_context(|| format!("cannot read MINIO_KMS_SECRET_KEY_FILE '{}'", path.display()))
}

/// Builds the KMS the flags and environment ask for (`None`: none configured).
pub(crate) fn build_kms(args: &GlobalArgs, env: Env<'_>) -> Result<Option<Box<dyn Kms>>> {
    let primary: Option<Box<dyn Kms>> = match choose(args, env)? {
        Choice::None => None,
        Choice::Static(setting) => {
            let setting = Zeroizing::new(setting);
            let key = StaticKey::parse(setting.trim())
                .map_err(|e| anyhow!("MINIO_KMS_SECRET_KEY / --kms-secret-key: {e}"))?;
            Some(Box::new(StaticKms::new(key)))
        }
        Choice::Kes(endpoints) => Some(Box::new(kes(args, env, endpoints)?)),
    };
    let master = args
        .kms_master_key
        .clone()
        .or_else(|| env("MINIO_KMS_MASTER_KEY"))
        .filter(|s| !s.trim().is_empty());
    match master {
        None => Ok(primary),
        Some(setting) => {
            let setting = Zeroizing::new(setting);
            let key = LegacyMasterKey::parse(setting.trim())
                .map_err(|e| anyhow!("MINIO_KMS_MASTER_KEY / --kms-master-key: {e}"))?;
            Ok(Some(Box::new(MasterKeyFallback::new(key, primary))))
        }
    }
}

/// What authenticates the client.
#[derive(Debug, PartialEq, Eq)]
enum Auth {
    ApiKey(String),
    Files { cert: PathBuf, key: PathBuf },
}

fn auth(args: &GlobalArgs, env: Env<'_>) -> Result<Auth> {
    let api_key = args
        .api_key
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| first(env, &API_KEY_VARS));
    let key_file = args
        .client_key
        .clone()
        .or_else(|| first(env, &KEY_FILE_VARS).map(PathBuf::from));
    let cert_file = args
        .client_cert
        .clone()
        .or_else(|| first(env, &CERT_FILE_VARS).map(PathBuf::from));
    match (api_key, key_file, cert_file) {
        (Some(_), Some(_), _) | (Some(_), None, Some(_)) => {
            bail!("an API key and a client certificate/key cannot be used at the same time")
        }
        (Some(key), None, None) => Ok(Auth::ApiKey(key.trim().to_owned())),
        (None, Some(key), Some(cert)) => Ok(Auth::Files { cert, key }),
        (None, Some(_), None) => {
            bail!("no client certificate: set --client-cert or MINIO_KES_CERT_FILE")
        }
        (None, None, Some(_)) => {
            bail!("no client private key: set --client-key or MINIO_KES_KEY_FILE")
        }
        (None, None, None) => bail!(
            "no credentials for the KES server: set --api-key or MINIO_KES_API_KEY (or a \
             client certificate and key)"
        ),
    }
}

fn kes(args: &GlobalArgs, env: Env<'_>, endpoints: Vec<String>) -> Result<KesKms> {
    if endpoints.is_empty() {
        bail!("--kes / KES_SERVER: no endpoint given");
    }
    let mut builder = ClientBuilder::new()
        .endpoints(endpoints)
        .danger_accept_invalid_certificates(args.insecure);
    if let Some(ca) = &args.kes_ca {
        builder = builder.ca_file(ca);
    }
    builder = match auth(args, env)? {
        Auth::ApiKey(key) => {
            let key: ApiKey = key.parse().map_err(|e| anyhow!("API key: {e}"))?;
            builder.api_key(key)
        }
        Auth::Files { cert, key } => {
            let chain = kes_policy::read_certificates(&cert)
                .map_err(|e| anyhow!("'{}': {e}", cert.display()))?;
            let private_key = kes_policy::read_private_key(&key, b"")
                .map_err(|e| anyhow!("'{}': {e}", key.display()))?;
            builder.client_certificate(chain, private_key)
        }
    };
    let client = builder.build().map_err(|e| anyhow!("KES client: {e}"))?;
    let default_key = args
        .kes_key_name
        .clone()
        .or_else(|| env("MINIO_KMS_KES_KEY_NAME"))
        .filter(|s| !s.trim().is_empty());
    KesKms::new(client, default_key).context("cannot start the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const SECRET: &str = "my-key:eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8=";

    #[test]
    fn choice_precedence() {
        let args = GlobalArgs::default();
        assert_eq!(choose(&args, &env_of(&[])).unwrap(), Choice::None);
        assert_eq!(
            choose(&args, &env_of(&[("KES_SERVER", "127.0.0.1:7373")])).unwrap(),
            Choice::Kes(vec!["https://127.0.0.1:7373".into()])
        );
        assert_eq!(
            choose(&args, &env_of(&[("MINIO_KMS_SECRET_KEY", SECRET)])).unwrap(),
            Choice::Static(SECRET.into())
        );
        let both = env_of(&[("KES_SERVER", "a:1"), ("MINIO_KMS_SECRET_KEY", SECRET)]);
        assert!(choose(&args, &both).is_err());
        let flag = GlobalArgs {
            kes: Some("http://x:1, y:2".into()),
            ..GlobalArgs::default()
        };
        assert_eq!(
            choose(&flag, &both).unwrap(),
            Choice::Kes(vec!["https://x:1".into(), "https://y:2".into()])
        );
        let both_flags = GlobalArgs {
            kes: Some("x:1".into()),
            kms_secret_key: Some(SECRET.into()),
            ..GlobalArgs::default()
        };
        assert!(choose(&both_flags, &env_of(&[])).is_err());
    }

    #[test]
    fn builds_static_and_master() {
        let args = GlobalArgs {
            kms_secret_key: Some(SECRET.into()),
            ..GlobalArgs::default()
        };
        let kms = build_kms(&args, &env_of(&[])).unwrap().unwrap();
        assert_eq!(kms.default_key().as_deref(), Some("my-key"));
        let bad = GlobalArgs {
            kms_secret_key: Some("my-key:AAAA".into()),
            ..GlobalArgs::default()
        };
        assert!(build_kms(&bad, &env_of(&[])).is_err());
        let master = env_of(&[(
            "MINIO_KMS_MASTER_KEY",
            "m:6368616e676520746869732070617373776f726420746f206120736563726574",
        )]);
        let kms = build_kms(&GlobalArgs::default(), &master).unwrap().unwrap();
        assert!(kms.describe().contains("read-only"));
        assert!(
            build_kms(&GlobalArgs::default(), &env_of(&[]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn credential_rules() {
        let args = GlobalArgs::default();
        assert!(auth(&args, &env_of(&[])).is_err());
        assert!(auth(&args, &env_of(&[("KES_CLIENT_KEY", "k")])).is_err());
        assert!(
            auth(
                &args,
                &env_of(&[("KES_API_KEY", "a"), ("KES_CLIENT_CERT", "c")])
            )
            .is_err()
        );
        assert_eq!(
            auth(
                &args,
                &env_of(&[("MINIO_KMS_KES_API_KEY", "z"), ("KES_API_KEY", "a")])
            )
            .unwrap(),
            Auth::ApiKey("a".into())
        );
        assert_eq!(
            auth(
                &args,
                &env_of(&[("KES_CLIENT_KEY", "k"), ("KES_CLIENT_CERT", "c")])
            )
            .unwrap(),
            Auth::Files {
                cert: "c".into(),
                key: "k".into()
            }
        );
        let flag = GlobalArgs {
            api_key: Some("flag".into()),
            ..GlobalArgs::default()
        };
        assert_eq!(
            auth(&flag, &env_of(&[("KES_API_KEY", "a")])).unwrap(),
            Auth::ApiKey("flag".into())
        );
    }
}
