//! The validated configuration model: plain Rust values, no YAML.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use kes_keystore::{CacheConfig, KeyStore};
use kes_types::Api;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::events::Level;
use crate::server::{
    ApiOverride, DEFAULT_PROXY_CERT_HEADER, PolicyOptions, ProxyOptions, ServerOptions,
};

/// A loaded configuration and the warnings found while loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// One warning per legacy or ignored field, in file order.
    pub warnings: Vec<Warning>,
}

/// A non-fatal finding: a legacy field loaded with its old meaning, or a
/// field that is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The field, as a dotted path (`policy.my-app.paths`).
    pub field: String,
    /// What was done and what to change.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The KES server configuration (spec §11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `address`: where the server listens (default `0.0.0.0:7373`).
    pub address: Address,
    /// `admin.identity`: the admin identity, or a value that is no identity
    /// (e.g. `disabled`) to switch admin access off.
    pub admin: String,
    /// `tls`: the server's TLS settings.
    pub tls: TlsConfig,
    /// `cache.expiry`: the key cache settings, documented defaults applied.
    pub cache: CacheConfig,
    /// `log`: console log levels.
    pub log: LogConfig,
    /// `api`: per-route overrides, for known routes only.
    pub api: BTreeMap<Api, ApiConfig>,
    /// `policy`: the policies in file order.
    pub policies: Vec<PolicyConfig>,
    /// `keys`: names of keys to create at start-up (and on reload) if missing.
    pub keys: Vec<String>,
    /// `keystore`: the one keystore.
    pub keystore: KeyStoreConfig,
}

impl Config {
    /// Whether admin access is switched off: the admin value is not a
    /// 64-digit lower-case hex identity (upstream's rule: "not valid hex").
    pub fn admin_disabled(&self) -> bool {
        !is_hex_identity(&self.admin)
    }

    /// The reloadable server options this configuration describes, serving
    /// keys from `keystore` (which the shell builds from [`Config::keystore`]).
    ///
    /// TLS settings, the listen address and the keystore section are the
    /// shell's; forwarded-certificate verification for `tls.auth: on` is left
    /// unset (the shell adds its verifier).
    pub fn server_options(&self, keystore: Arc<dyn KeyStore>) -> ServerOptions {
        let mut opts = ServerOptions::new(self.admin.clone(), keystore);
        opts.policies = self
            .policies
            .iter()
            .map(|p| {
                let mut o = PolicyOptions::new(&p.name, &p.allow, &p.deny, &p.identities);
                o.legacy = p.legacy;
                o
            })
            .collect();
        opts.api = self
            .api
            .iter()
            .map(|(api, c)| ApiOverride::new(api.path(), c.timeout, c.skip_auth))
            .collect();
        opts.cache = self.cache;
        opts.keys = self.keys.clone();
        if !self.tls.proxy.identities.is_empty() {
            let mut proxy = ProxyOptions::new(&self.tls.proxy.identities);
            proxy.cert_header = self.tls.proxy.cert_header.clone();
            opts.proxy = Some(proxy);
        }
        opts.error_level = self.log.error;
        opts.audit_level = self.log.audit;
        opts
    }
}

/// Whether `s` looks like an identity: 64 lower-case hex digits.
pub(crate) fn is_hex_identity(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The listen address: an IP literal (or none: all interfaces) and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// The IP to listen on; `None` (written `:7373`) means all interfaces.
    pub ip: Option<IpAddr>,
    /// The TCP port.
    pub port: u16,
}

impl Address {
    /// The default, `0.0.0.0:7373`.
    pub const DEFAULT: Address = Address {
        ip: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        port: 7373,
    };

    /// The socket address to bind; no IP binds `0.0.0.0`.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            self.port,
        )
    }
}

impl Default for Address {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            None => write!(f, ":{}", self.port),
            Some(ip @ IpAddr::V4(_)) => write!(f, "{ip}:{}", self.port),
            Some(ip @ IpAddr::V6(_)) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// `tls`: the server certificate, client-certificate policy and TLS proxies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// `tls.key`: path of the private key (PEM).
    pub key: PathBuf,
    /// `tls.cert`: path of the certificate chain (PEM).
    pub cert: PathBuf,
    /// `tls.password`: decrypts a legacy encrypted PEM key.
    pub password: Option<SecretText>,
    /// `tls.auth`: whether client certificates are verified.
    pub auth: TlsAuth,
    /// `tls.ca`: a CA file or directory, added to the system roots.
    pub ca: Option<PathBuf>,
    /// `tls.proxy`: TLS proxies allowed to forward client certificates.
    pub proxy: ProxyConfig,
    /// The resulting client-certificate mode of the handshake, relaxed when
    /// some route has `skip_auth: true`.
    pub client_auth: ClientAuth,
}

/// `tls.auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsAuth {
    /// `""` or `off` (default): any client certificate, chain not verified.
    #[default]
    Off,
    /// `on`: client certificates are verified against the roots.
    On,
}

/// How the TLS handshake treats client certificates (Go's `tls.ClientAuthType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A certificate is required, its chain is not verified (default).
    RequireAny,
    /// A certificate is required and verified (`tls.auth: on`).
    RequireAndVerify,
    /// A certificate is requested, not required, not verified (a route has
    /// `skip_auth: true`).
    Request,
    /// A certificate is requested and verified if given (`tls.auth: on` and a
    /// route has `skip_auth: true`).
    VerifyIfGiven,
}

/// `tls.proxy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `tls.proxy.identities`: identities of the proxies.
    pub identities: Vec<String>,
    /// `tls.proxy.header.cert`: the header carrying the forwarded client
    /// certificate (default `X-Tls-Client-Cert`).
    pub cert_header: String,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            identities: Vec::new(),
            cert_header: DEFAULT_PROXY_CERT_HEADER.to_owned(),
        }
    }
}

/// `log`: console log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `log.error`: the error log level (stderr and `/v1/log/error`).
    pub error: Level,
    /// `log.audit`: the audit log level (stdout and `/v1/log/audit`).
    pub audit: Level,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            error: Level::INFO,
            audit: Level::INFO,
        }
    }
}

/// `api.<path>`: overrides for one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ApiConfig {
    /// `timeout`: replaces the route's timeout when set and > 0.
    pub timeout: Option<Duration>,
    /// `skip_auth`: anyone who completes a TLS handshake may call the route.
    pub skip_auth: bool,
}

/// `policy.<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    /// The policy name.
    pub name: String,
    /// `allow` (or legacy `paths`) patterns, in file order.
    pub allow: Vec<String>,
    /// `deny` patterns, in file order.
    pub deny: Vec<String>,
    /// `identities` assigned to the policy.
    pub identities: Vec<String>,
    /// Evaluate the patterns with the legacy glob matcher (Go `path.Match`,
    /// KES ≤ 2023-10) instead of the current prefix matcher: set for every
    /// policy of a file in a legacy (pre-v0.18) layout.
    pub legacy: bool,
}

/// `keystore`: exactly one backend. Which backends are compiled into the
/// server is the server's business; this names the one the file chose.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStoreConfig {
    /// `keystore.fs`.
    Fs(FsKeyStore),
    /// `keystore.vault`.
    Vault(VaultKeyStore),
    /// `keystore.fortanix.sdkms`.
    Fortanix(FortanixKeyStore),
    /// `keystore.aws.secretsmanager`.
    Aws(AwsKeyStore),
    /// `keystore.gemalto.keysecure`.
    Gemalto(GemaltoKeyStore),
    /// `keystore.gcp.secretmanager`.
    Gcp(GcpKeyStore),
    /// `keystore.azure.keyvault`.
    Azure(AzureKeyStore),
    /// `keystore.entrust.keycontrol`.
    Entrust(EntrustKeyStore),
}

impl KeyStoreConfig {
    /// A short name: `fs`, `vault`, `fortanix`, `aws`, `gemalto`, `gcp`,
    /// `azure`, `entrust`.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyStoreConfig::Fs(_) => "fs",
            KeyStoreConfig::Vault(_) => "vault",
            KeyStoreConfig::Fortanix(_) => "fortanix",
            KeyStoreConfig::Aws(_) => "aws",
            KeyStoreConfig::Gemalto(_) => "gemalto",
            KeyStoreConfig::Gcp(_) => "gcp",
            KeyStoreConfig::Azure(_) => "azure",
            KeyStoreConfig::Entrust(_) => "entrust",
        }
    }

    /// The config path of the section, e.g. `keystore.aws.secretsmanager`.
    pub fn section(&self) -> &'static str {
        match self {
            KeyStoreConfig::Fs(_) => "keystore.fs",
            KeyStoreConfig::Vault(_) => "keystore.vault",
            KeyStoreConfig::Fortanix(_) => "keystore.fortanix.sdkms",
            KeyStoreConfig::Aws(_) => "keystore.aws.secretsmanager",
            KeyStoreConfig::Gemalto(_) => "keystore.gemalto.keysecure",
            KeyStoreConfig::Gcp(_) => "keystore.gcp.secretmanager",
            KeyStoreConfig::Azure(_) => "keystore.azure.keyvault",
            KeyStoreConfig::Entrust(_) => "keystore.entrust.keycontrol",
        }
    }
}

/// `keystore.fs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsKeyStore {
    /// `path`: the key directory (created if missing).
    pub path: PathBuf,
    /// `seal` (our extension): seal stored values under a master key.
    pub seal: Option<SealKeySource>,
}

/// `keystore.fs.seal`: where the master key of a sealed filesystem store
/// comes from. Format: 32 bytes as 64 hex digits or padded standard base64
/// (`kes_keystore::parse_seal_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealKeySource {
    /// `seal.key_file`: a file holding the key; the server reads it at start-up.
    File(PathBuf),
    /// `seal.key`: the key itself, normally `${ENV}`; already parsed.
    Key(SealKey),
}

/// A 32-byte master key; zeroized on drop, never printed.
#[derive(Clone)]
pub struct SealKey(Zeroizing<[u8; 32]>);

impl SealKey {
    /// Wraps a parsed key.
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self(key)
    }

    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey([REDACTED])")
    }
}

impl PartialEq for SealKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SealKey {}

/// A credential (password, token, secret): zeroized on drop, never printed.
#[derive(Clone, Default)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps a credential.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The credential.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the credential is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("SecretText(\"\")")
        } else {
            f.write_str("SecretText([REDACTED])")
        }
    }
}

impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretText {}

/// `keystore.vault`: HashiCorp Vault's K/V engine, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultKeyStore {
    /// `endpoint`, e.g. `https://127.0.0.1:8200`.
    pub endpoint: String,
    /// `engine`: the K/V mount path (default `kv`).
    pub engine: String,
    /// `version`: the K/V engine version (default v1).
    pub version: VaultKvVersion,
    /// `namespace`: Vault Enterprise namespace (empty: none).
    pub namespace: String,
    /// `prefix`: directory under the engine for the keys (may be empty).
    pub prefix: String,
    /// `transit`: wrap stored values with a Vault transit key.
    pub transit: Option<VaultTransit>,
    /// `approle` or `kubernetes`. `None` only for a legacy-layout file whose
    /// auth blocks were all empty (KES v0.18 accepted that); the backend
    /// then has no login method and must say so.
    pub auth: Option<VaultAuth>,
    /// `tls`: client certificate and CA for talking to Vault.
    pub tls: VaultTls,
    /// `status.ping`: health check interval (default 15 s).
    pub status_ping: Duration,
}

impl VaultKeyStore {
    /// Default `engine`.
    pub const DEFAULT_ENGINE: &'static str = "kv";
    /// Default AppRole mount.
    pub const DEFAULT_APPROLE_ENGINE: &'static str = "approle";
    /// Default Kubernetes mount.
    pub const DEFAULT_KUBERNETES_ENGINE: &'static str = "kubernetes";
    /// Default transit mount.
    pub const DEFAULT_TRANSIT_ENGINE: &'static str = "transit";
    /// Default `status.ping` (what the code does; the sample config says 10 s).
    pub const DEFAULT_STATUS_PING: Duration = Duration::from_secs(15);
}

/// `keystore.vault.version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VaultKvVersion {
    /// K/V v1 (default).
    #[default]
    V1,
    /// K/V v2 (versioned; create-only via CAS 0).
    V2,
}

/// `keystore.vault.transit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultTransit {
    /// `engine`: the transit mount (default `transit`).
    pub engine: String,
    /// `key`: the transit key name.
    pub key: String,
}

/// The Vault login method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultAuth {
    /// `keystore.vault.approle`.
    AppRole(VaultAppRole),
    /// `keystore.vault.kubernetes`.
    Kubernetes(VaultKubernetes),
}

/// `keystore.vault.approle`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultAppRole {
    /// `engine`: the AppRole mount (default `approle`).
    pub engine: String,
    /// `namespace`: namespace for the login only; `/` is the root namespace;
    /// empty uses the store's namespace.
    pub namespace: String,
    /// `id`: the role ID.
    pub id: String,
    /// `secret`: the secret ID.
    pub secret: SecretText,
}

/// `keystore.vault.kubernetes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultKubernetes {
    /// `engine`: the Kubernetes mount (default `kubernetes`).
    pub engine: String,
    /// `namespace`: namespace for the login only; `/` is the root namespace;
    /// empty uses the store's namespace.
    pub namespace: String,
    /// `role`: the login role.
    pub role: String,
    /// `jwt`: the service-account token, or a file holding it.
    pub jwt: VaultJwt,
}

/// `keystore.vault.kubernetes.jwt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultJwt {
    /// The token itself.
    Token(SecretText),
    /// A value containing `/` (or the OS separator) is a file path: the
    /// server must be able to read it at start-up and re-reads it at every
    /// login.
    File(PathBuf),
}

/// `keystore.vault.tls`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VaultTls {
    /// `key`: client private key for mTLS (given together with `cert`).
    pub key: Option<PathBuf>,
    /// `cert`: client certificate for mTLS (given together with `key`).
    pub cert: Option<PathBuf>,
    /// `ca`: CA file or directory for Vault's certificate.
    pub ca: Option<PathBuf>,
}

/// `keystore.fortanix.sdkms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FortanixKeyStore {
    /// `endpoint`.
    pub endpoint: String,
    /// `group_id`: group for new keys (empty: the app's default group).
    pub group_id: String,
    /// `credentials.key`: the application API key.
    pub api_key: SecretText,
    /// `tls.ca`: CA file or directory.
    pub ca: Option<PathBuf>,
}

/// `keystore.aws.secretsmanager`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsKeyStore {
    /// `endpoint`, e.g. `secretsmanager.us-east-2.amazonaws.com`.
    pub endpoint: String,
    /// `region`.
    pub region: String,
    /// `kmskey`: KMS key for the secrets (empty: the account default).
    pub kms_key: String,
    /// `credentials.accesskey` (all three empty: the default credential chain).
    pub access_key: String,
    /// `credentials.secretkey`.
    pub secret_key: SecretText,
    /// `credentials.token`: session token.
    pub session_token: SecretText,
}

/// `keystore.gemalto.keysecure`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GemaltoKeyStore {
    /// `endpoint`.
    pub endpoint: String,
    /// `credentials.token`: the refresh token.
    pub token: SecretText,
    /// `credentials.domain` (empty: root domain).
    pub domain: String,
    /// `tls.ca`: CA file or directory.
    pub ca: Option<PathBuf>,
}

/// `keystore.gcp.secretmanager`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcpKeyStore {
    /// `project_id`.
    pub project_id: String,
    /// `endpoint` (empty: [`GcpKeyStore::DEFAULT_ENDPOINT`]).
    pub endpoint: String,
    /// `scopes`: OAuth scopes.
    pub scopes: Vec<String>,
    /// `credentials` (all empty: application-default credentials).
    pub credentials: GcpCredentials,
}

impl GcpKeyStore {
    /// The Secret Manager endpoint used when `endpoint` is empty.
    pub const DEFAULT_ENDPOINT: &'static str = "secretmanager.googleapis.com:443";
}

/// `keystore.gcp.secretmanager.credentials`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GcpCredentials {
    /// `client_email`.
    pub client_email: String,
    /// `client_id`.
    pub client_id: String,
    /// `private_key_id`.
    pub private_key_id: String,
    /// `private_key` (literal `\n` sequences stand for newlines).
    pub private_key: SecretText,
}

/// `keystore.azure.keyvault`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureKeyStore {
    /// `endpoint`, e.g. `https://my.vault.azure.net`.
    pub endpoint: String,
    /// How to authenticate.
    pub auth: AzureAuth,
}

/// The Azure login method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AzureAuth {
    /// `credentials`: a client secret.
    ClientSecret {
        /// `tenant_id`.
        tenant_id: String,
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: SecretText,
    },
    /// `managed_identity`.
    ManagedIdentity {
        /// `client_id`.
        client_id: String,
    },
    /// Neither block: the Azure default credential chain.
    Default,
}

/// `keystore.entrust.keycontrol`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrustKeyStore {
    /// `endpoint`.
    pub endpoint: String,
    /// `vault_id`.
    pub vault_id: String,
    /// `box_id`: box name or ID.
    pub box_id: String,
    /// `credentials.username`.
    pub username: String,
    /// `credentials.password`.
    pub password: SecretText,
    /// `tls.ca`: CA file or directory.
    pub ca: Option<PathBuf>,
}
