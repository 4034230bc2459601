//! The `keystore.vault` configuration (spec §8.5, §11.2) and the `VAULT_*` environment defaults.
//!
//! The server's config loader maps YAML into [`VaultConfig`] (every `keystore.vault` field has
//! a place here), then calls [`VaultConfig::apply_env`] with its environment lookup and
//! [`VaultConfig::validate`]. Neither reads the process environment by itself, so both stay
//! pure and testable; [`VaultConfig::apply_process_env`] is the shortcut for binaries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// Default K/V engine mount (`engine`).
pub const DEFAULT_ENGINE: &str = "kv";
/// Default AppRole auth mount (`approle.engine`).
pub const DEFAULT_APPROLE_ENGINE: &str = "approle";
/// Default Kubernetes auth mount (`kubernetes.engine`).
pub const DEFAULT_KUBERNETES_ENGINE: &str = "kubernetes";
/// Default transit engine mount (`transit.engine`).
pub const DEFAULT_TRANSIT_ENGINE: &str = "transit";
/// Default health ping interval (`status.ping`): what KES does when it is unset (the sample
/// config says 10 s, the code uses 15 s).
pub const DEFAULT_STATUS_PING: Duration = Duration::from_secs(15);
/// Default per-attempt request timeout (`VAULT_CLIENT_TIMEOUT`, like the Go Vault SDK).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default number of retries after a failed attempt (`VAULT_MAX_RETRIES`, like the Go SDK).
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The K/V secrets engine version (`version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KvVersion {
    /// KV v1: one entry per key, create = read then write (`v1`, the default).
    #[default]
    V1,
    /// KV v2: versioned entries, create-only through check-and-set 0 (`v2`).
    V2,
}

impl KvVersion {
    /// Parses the config value: `v1`, `v2`, or empty (= `v1`).
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim() {
            "" | "v1" => Ok(KvVersion::V1),
            "v2" => Ok(KvVersion::V2),
            other => Err(Error::Config(format!(
                "invalid vault keystore: invalid K/V engine version '{other}': only 'v1' and 'v2' are supported"
            ))),
        }
    }
}

/// `keystore.vault` — where and how to reach Vault.
///
/// `Default` gives KES's defaults with an empty endpoint and no authentication (which
/// [`VaultConfig::validate`] rejects).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VaultConfig {
    /// `endpoint`: the Vault address, e.g. `https://127.0.0.1:8200` (required).
    pub endpoint: String,
    /// `engine`: the K/V engine mount (default `kv`).
    pub engine: String,
    /// `version`: the K/V engine version (default v1).
    pub version: KvVersion,
    /// `namespace`: sent as `X-Vault-Namespace` on K/V and transit calls (empty = none).
    pub namespace: String,
    /// `prefix`: every key lives at `<engine>/<prefix>/<name>` (empty allowed).
    pub prefix: String,
    /// `transit`: wrap stored values with a transit key (optional).
    pub transit: Option<TransitConfig>,
    /// `approle`: AppRole login.
    pub approle: Option<AppRoleConfig>,
    /// `kubernetes`: Kubernetes service-account login.
    pub kubernetes: Option<KubernetesConfig>,
    /// `tls`: client certificate and CA.
    pub tls: VaultTlsConfig,
    /// `status.ping`: how often the background health check runs (default 15 s; zero
    /// disables it).
    pub status_ping: Duration,
    /// Per-attempt request timeout (`VAULT_CLIENT_TIMEOUT`, default 60 s). Not a YAML field.
    pub timeout: Duration,
    /// Retries after a failed attempt on connection errors and 5xx answers
    /// (`VAULT_MAX_RETRIES`, default 2). Not a YAML field.
    pub max_retries: u32,
    /// Skip server certificate verification (`VAULT_SKIP_VERIFY`). Not a YAML field.
    pub tls_skip_verify: bool,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            endpoint: String::new(),
            engine: DEFAULT_ENGINE.to_owned(),
            version: KvVersion::V1,
            namespace: String::new(),
            prefix: String::new(),
            transit: None,
            approle: None,
            kubernetes: None,
            tls: VaultTlsConfig::default(),
            status_ping: DEFAULT_STATUS_PING,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            tls_skip_verify: false,
        }
    }
}

/// `keystore.vault.transit`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransitConfig {
    /// `engine`: the transit mount (default `transit`).
    pub engine: String,
    /// `key`: the transit key name (required).
    pub key: String,
}

impl TransitConfig {
    /// A transit config for `key` at the default mount.
    pub fn new(key: impl Into<String>) -> Self {
        TransitConfig {
            engine: DEFAULT_TRANSIT_ENGINE.to_owned(),
            key: key.into(),
        }
    }
}

/// `keystore.vault.approle`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AppRoleConfig {
    /// `namespace`: namespace for the login call only (empty = the store's, `/` = root).
    pub namespace: String,
    /// `engine`: the AppRole mount (default `approle`).
    pub engine: String,
    /// `id`: the role ID (required).
    pub id: String,
    /// `secret`: the secret ID (required).
    pub secret: SecretString,
}

impl AppRoleConfig {
    /// An AppRole config at the default mount.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        AppRoleConfig {
            namespace: String::new(),
            engine: DEFAULT_APPROLE_ENGINE.to_owned(),
            id: id.into(),
            secret: SecretString::from(secret.into()),
        }
    }
}

/// `keystore.vault.kubernetes`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KubernetesConfig {
    /// `namespace`: namespace for the login call only (empty = the store's, `/` = root).
    pub namespace: String,
    /// `engine`: the Kubernetes auth mount (default `kubernetes`).
    pub engine: String,
    /// `role`: the Vault role to log in as.
    pub role: String,
    /// `jwt`: the service-account token, or the file that holds it.
    pub jwt: KubernetesJwt,
}

impl KubernetesConfig {
    /// A Kubernetes login config at the default mount.
    pub fn new(role: impl Into<String>, jwt: KubernetesJwt) -> Self {
        KubernetesConfig {
            namespace: String::new(),
            engine: DEFAULT_KUBERNETES_ENGINE.to_owned(),
            role: role.into(),
            jwt,
        }
    }
}

/// The Kubernetes service-account token: inline, or a file re-read at every login (Kubernetes
/// rotates projected tokens).
#[derive(Clone)]
#[non_exhaustive]
pub enum KubernetesJwt {
    /// The token itself.
    Token(SecretString),
    /// A file holding the token.
    File(PathBuf),
}

impl std::fmt::Debug for KubernetesJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubernetesJwt::Token(_) => f.write_str("Token([REDACTED])"),
            KubernetesJwt::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl KubernetesJwt {
    /// Interprets the config value like KES: a value containing `/` (or the OS path
    /// separator) names a file, anything else is the token itself.
    pub fn from_config(value: &str) -> Self {
        if value.contains('/') || value.contains(std::path::MAIN_SEPARATOR) {
            KubernetesJwt::File(PathBuf::from(value))
        } else {
            KubernetesJwt::Token(SecretString::from(value.to_owned()))
        }
    }

    /// The current token (reads the file for [`KubernetesJwt::File`], trimming whitespace).
    pub fn read(&self) -> Result<SecretString> {
        match self {
            KubernetesJwt::Token(token) => Ok(token.clone()),
            KubernetesJwt::File(path) => {
                let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    Error::Config(format!(
                        "failed to read vault kubernetes JWT from '{}': {e}",
                        path.display()
                    ))
                })?);
                Ok(SecretString::from(text.trim().to_owned()))
            }
        }
    }
}

/// `keystore.vault.tls`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VaultTlsConfig {
    /// `key`: the client private key (PEM), given together with `cert`.
    pub key: Option<PathBuf>,
    /// `cert`: the client certificate chain (PEM), given together with `key`.
    pub cert: Option<PathBuf>,
    /// `ca`: a PEM file, or a directory of PEM files, with the CA certificates to trust
    /// instead of the system roots.
    pub ca: Option<PathBuf>,
}

impl VaultConfig {
    /// A config for `endpoint` with every other field at its default.
    pub fn new(endpoint: impl Into<String>) -> Self {
        VaultConfig {
            endpoint: endpoint.into(),
            ..VaultConfig::default()
        }
    }

    /// Fills unset fields from the `VAULT_*` environment variables that KES (through the Go
    /// Vault SDK) honours, using `lookup` to read a variable:
    ///
    /// * `VAULT_CACERT` / `VAULT_CAPATH` → `tls.ca` when `tls.ca` is unset,
    /// * `VAULT_CLIENT_CERT` + `VAULT_CLIENT_KEY` → `tls.cert` + `tls.key` when both are unset,
    /// * `VAULT_SKIP_VERIFY` (a Go boolean: `1 t T TRUE true True 0 f F FALSE false False`),
    /// * `VAULT_CLIENT_TIMEOUT` (seconds, or a duration such as `30s`, `1m`, `500ms`),
    /// * `VAULT_MAX_RETRIES` (a non-negative integer),
    /// * `VAULT_NAMESPACE` → `namespace` when it is empty.
    ///
    /// `VAULT_ADDR` is ignored: the endpoint is required in the config and wins, as in KES.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<()> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if self.tls.ca.is_none() {
            self.tls.ca = get("VAULT_CACERT")
                .or_else(|| get("VAULT_CAPATH"))
                .map(PathBuf::from);
        }
        if self.tls.cert.is_none() && self.tls.key.is_none() {
            if let (Some(cert), Some(key)) = (get("VAULT_CLIENT_CERT"), get("VAULT_CLIENT_KEY")) {
                self.tls.cert = Some(PathBuf::from(cert));
                self.tls.key = Some(PathBuf::from(key));
            }
        }
        if let Some(v) = get("VAULT_SKIP_VERIFY") {
            self.tls_skip_verify = parse_go_bool(v.trim()).ok_or_else(|| {
                Error::Config(format!("invalid VAULT_SKIP_VERIFY '{v}': not a boolean"))
            })?;
        }
        if let Some(v) = get("VAULT_CLIENT_TIMEOUT") {
            self.timeout = parse_duration(v.trim()).ok_or_else(|| {
                Error::Config(format!(
                    "invalid VAULT_CLIENT_TIMEOUT '{v}': not a duration"
                ))
            })?;
        }
        if let Some(v) = get("VAULT_MAX_RETRIES") {
            self.max_retries = v.trim().parse().map_err(|_| {
                Error::Config(format!("invalid VAULT_MAX_RETRIES '{v}': not a count"))
            })?;
        }
        if self.namespace.is_empty() {
            if let Some(ns) = get("VAULT_NAMESPACE") {
                self.namespace = ns;
            }
        }
        Ok(())
    }

    /// [`VaultConfig::apply_env`] with the process environment.
    pub fn apply_process_env(&mut self) -> Result<()> {
        self.apply_env(|name| std::env::var(name).ok())
    }

    /// Checks the config like KES's loader and fills empty mounts with their defaults.
    ///
    /// Error messages are KES's (`invalid vault keystore: no endpoint specified`, …) without
    /// the loader's `kesconf: ` prefix.
    pub fn validate(&mut self) -> Result<()> {
        let invalid = |msg: &str| Err(Error::Config(format!("invalid vault keystore: {msg}")));
        self.endpoint = self.endpoint.trim().to_owned();
        if self.endpoint.is_empty() {
            return invalid("no endpoint specified");
        }
        match reqwest::Url::parse(&self.endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => {
                return invalid(&format!(
                    "invalid endpoint '{}': expected http(s)://host[:port]",
                    self.endpoint
                ));
            }
        }
        default_if_empty(&mut self.engine, DEFAULT_ENGINE);
        match (&mut self.approle, &mut self.kubernetes) {
            (None, None) => return invalid("no authentication method specified"),
            (Some(_), Some(_)) => return invalid("more than one authentication method specified"),
            (Some(approle), None) => {
                default_if_empty(&mut approle.engine, DEFAULT_APPROLE_ENGINE);
                if approle.id.trim().is_empty() {
                    return invalid("invalid approle config: no approle ID specified");
                }
                if approle.secret.expose_secret().trim().is_empty() {
                    return invalid("invalid approle config: no approle secret specified");
                }
            }
            (None, Some(k8s)) => {
                default_if_empty(&mut k8s.engine, DEFAULT_KUBERNETES_ENGINE);
                match &k8s.jwt {
                    KubernetesJwt::Token(t) if t.expose_secret().trim().is_empty() => {
                        return invalid("invalid kubernetes config: no JWT specified");
                    }
                    KubernetesJwt::File(path) if path.as_os_str().is_empty() => {
                        return invalid("invalid kubernetes config: no JWT specified");
                    }
                    // The file must be readable now; it is read again at every login.
                    jwt => drop(jwt.read()?),
                }
            }
        }
        if let Some(transit) = &mut self.transit {
            default_if_empty(&mut transit.engine, DEFAULT_TRANSIT_ENGINE);
            if transit.key.trim().is_empty() {
                return invalid("invalid transit config: no key name specified");
            }
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) => return invalid("invalid tls config: no TLS private key provided"),
            (None, Some(_)) => return invalid("invalid tls config: no TLS certificate provided"),
            _ => {}
        }
        Ok(())
    }
}

fn default_if_empty(field: &mut String, default: &str) {
    if field.trim().is_empty() {
        *field = default.to_owned();
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The Vault SDK's `ParseDurationSecond`: a bare number is seconds, otherwise a Go duration
/// with one unit (`ms`, `s`, `m`, `h`).
fn parse_duration(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// `true` if `path` is a directory (for `tls.ca`).
pub(crate) fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn approle_config() -> VaultConfig {
        let mut c = VaultConfig::new("https://127.0.0.1:8200");
        c.approle = Some(AppRoleConfig::new("id", "secret"));
        c
    }

    fn err(c: &mut VaultConfig) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_messages_match_kes() {
        let mut c = VaultConfig::default();
        assert_eq!(err(&mut c), "invalid vault keystore: no endpoint specified");
        let mut c = VaultConfig::new("https://vault:8200");
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: no authentication method specified"
        );
        let mut c = approle_config();
        c.kubernetes = Some(KubernetesConfig::new(
            "r",
            KubernetesJwt::from_config("jwt"),
        ));
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: more than one authentication method specified"
        );
        let mut c = approle_config();
        c.approle = Some(AppRoleConfig::new("", "s"));
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: invalid approle config: no approle ID specified"
        );
        c.approle = Some(AppRoleConfig::new("i", ""));
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: invalid approle config: no approle secret specified"
        );
        let mut c = VaultConfig::new("https://vault:8200");
        c.kubernetes = Some(KubernetesConfig::new("r", KubernetesJwt::from_config("")));
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: invalid kubernetes config: no JWT specified"
        );
        let mut c = approle_config();
        c.transit = Some(TransitConfig::new(""));
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: invalid transit config: no key name specified"
        );
        let mut c = approle_config();
        c.tls.cert = Some("c.pem".into());
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: invalid tls config: no TLS private key provided"
        );
        let mut c = approle_config();
        c.tls.key = Some("k.pem".into());
        assert_eq!(
            err(&mut c),
            "invalid vault keystore: invalid tls config: no TLS certificate provided"
        );
        let mut c = approle_config();
        c.endpoint = "vault:8200".into();
        assert!(err(&mut c).contains("invalid endpoint"));
    }

    #[test]
    fn validation_fills_default_mounts() {
        let mut c = approle_config();
        c.engine.clear();
        c.approle.as_mut().unwrap().engine.clear();
        c.transit = Some(TransitConfig {
            engine: String::new(),
            key: "k".into(),
        });
        c.validate().unwrap();
        assert_eq!(c.engine, "kv");
        assert_eq!(c.approle.unwrap().engine, "approle");
        assert_eq!(c.transit.unwrap().engine, "transit");
        assert_eq!(c.status_ping, Duration::from_secs(15));
    }

    #[test]
    fn kubernetes_jwt_file_must_be_readable_and_is_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let value = path.to_str().unwrap();
        let mut c = VaultConfig::new("https://vault:8200");
        c.kubernetes = Some(KubernetesConfig::new(
            "r",
            KubernetesJwt::from_config(value),
        ));
        let e = err(&mut c);
        assert!(
            e.starts_with("failed to read vault kubernetes JWT from '"),
            "{e}"
        );
        std::fs::write(&path, "first\n").unwrap();
        c.validate().unwrap();
        let jwt = &c.kubernetes.as_ref().unwrap().jwt;
        assert_eq!(jwt.read().unwrap().expose_secret(), "first");
        std::fs::write(&path, "second").unwrap();
        assert_eq!(jwt.read().unwrap().expose_secret(), "second");
        assert!(!format!("{:?}", KubernetesJwt::from_config("abc")).contains("abc"));
    }

    #[test]
    fn versions_parse() {
        assert_eq!(KvVersion::parse("").unwrap(), KvVersion::V1);
        assert_eq!(KvVersion::parse("v1").unwrap(), KvVersion::V1);
        assert_eq!(KvVersion::parse("v2").unwrap(), KvVersion::V2);
        assert!(KvVersion::parse("v3").is_err());
    }

    #[test]
    fn environment_defaults() {
        let env: HashMap<&str, &str> = [
            ("VAULT_CACERT", "/ca.pem"),
            ("VAULT_CLIENT_CERT", "/c.pem"),
            ("VAULT_CLIENT_KEY", "/k.pem"),
            ("VAULT_SKIP_VERIFY", "true"),
            ("VAULT_CLIENT_TIMEOUT", "5"),
            ("VAULT_MAX_RETRIES", "7"),
            ("VAULT_NAMESPACE", "team-a"),
        ]
        .into_iter()
        .collect();
        let lookup = |k: &str| env.get(k).map(|v| (*v).to_owned());
        let mut c = approle_config();
        c.apply_env(lookup).unwrap();
        assert_eq!(c.tls.ca.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(c.tls.cert.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(c.tls.key.as_deref(), Some(Path::new("/k.pem")));
        assert!(c.tls_skip_verify);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.max_retries, 7);
        assert_eq!(c.namespace, "team-a");

        // The config wins over the environment.
        let mut c = approle_config();
        c.namespace = "mine".into();
        c.tls.ca = Some("/mine.pem".into());
        c.apply_env(lookup).unwrap();
        assert_eq!(c.namespace, "mine");
        assert_eq!(c.tls.ca.as_deref(), Some(Path::new("/mine.pem")));

        let mut c = approle_config();
        assert!(
            c.apply_env(|k| (k == "VAULT_SKIP_VERIFY").then(|| "maybe".into()))
                .is_err()
        );
        assert!(
            c.apply_env(|k| (k == "VAULT_MAX_RETRIES").then(|| "-1".into()))
                .is_err()
        );
        assert!(
            c.apply_env(|k| (k == "VAULT_CLIENT_TIMEOUT").then(|| "x".into()))
                .is_err()
        );
    }

    #[test]
    fn durations_parse_like_the_vault_sdk() {
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn go_booleans() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false));
        }
        assert_eq!(parse_go_bool("yes"), None);
    }
}
