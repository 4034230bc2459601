//! Azure Key Vault (`keystore.azure.keyvault`, spec §8.8), over the secrets REST API
//! (`api-version=7.4`).
//!
//! A key is a Key Vault secret whose value is the stored value — KES's layout. Key Vault
//! secret names are `[0-9A-Za-z-]{1,127}` and **case-insensitive**, KES names are
//! `[0-9A-Za-z_-]{1,80}` and case-sensitive, so each name has two possible *slots*:
//! * the name itself, when Key Vault can hold it (what KES uses, so secrets KES wrote are found);
//! * `kes-x-<hex SHA-256 of the name>` for names with `_`, and for a name whose own slot is
//!   taken by a name that differs only in case (`Key` after `key`).
//!
//! Every secret this store writes carries the tag `kes-name: <name>`, which tells whose a slot
//! is; a secret without the tag in a name's own slot is a KES-written secret of that name.
//!
//! * Create: the versions of both slots (any live one of this name ⇒ `key already exists`),
//!   then `PUT secrets/<slot>` `{"value","tags"}`. A slot that is deleted but recoverable is
//!   purged and the PUT retried (at most 7 tries), as KES. Creates of one name are serialized in
//!   the process; after the PUT, an older version of the slot means another process won.
//!   (Key Vault has no conditional write: two processes writing one new name within the same
//!   second can both be told they succeeded; every reader then reads the same, oldest version.)
//! * Get: `GET secrets/<slot>/versions` (every page: upstream failed on more than one), the
//!   **oldest** version (KES's choice), `GET secrets/<slot>/<version>`; a disabled, not yet
//!   valid or expired version is an error.
//! * Delete: `DELETE secrets/<slot>` then purge `DELETE deletedsecrets/<slot>` (retried while
//!   Key Vault is still deleting), so the name can be created again at once.
//! * List: every page of `GET secrets` (`nextLink`), names from the tags (else the secret name).
//! * `429` answers are retried honouring `Retry-After`; a `401` renews the token once.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use http::{HeaderName, HeaderValue, Method};
use kes_keystore::{Error as StoreError, KeyStore, ListPage, list_page};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::rest::{self, Token};
use crate::transport::{ClientOptions, HttpClient, HttpRequest, HttpResponse, default_verdict};
use crate::{Error, Result};

/// The Key Vault REST API version used for every call.
pub const API_VERSION: &str = "7.4";
/// The largest secret value Key Vault stores (25 KiB).
pub const MAX_VALUE: usize = 25 * 1024;
/// The tag holding the KES key name of a secret this store wrote.
pub const NAME_TAG: &str = "kes-name";
/// The prefix of the slot of names Key Vault cannot hold as they are.
pub const HASHED_PREFIX: &str = "kes-x-";
/// The default Azure instance metadata service (managed identity).
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// Tries of a create that meets a deleted secret of its name (as KES).
const TRIES: u32 = 7;
/// How long a purge or create waits for Key Vault to finish deleting a name.
const DELETING_WAIT: Duration = Duration::from_secs(30);
/// Secrets per list page (Key Vault's maximum).
const PAGE_SIZE: u32 = 25;
/// Lock stripes that serialize creates and deletes of one name (case-folded).
const STRIPES: usize = 64;
const WHAT: &str = "keyvault";

/// The environment lookup the default chain reads (injected, so it stays testable).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// How the store authenticates (`credentials`, `managed_identity`, or neither).
#[derive(Clone)]
#[non_exhaustive]
pub enum AzureAuth {
    /// `credentials`: a client secret of an app registration (service principal).
    ClientSecret {
        /// `tenant_id`.
        tenant_id: String,
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: SecretString,
    },
    /// `managed_identity`: a user-assigned managed identity.
    ManagedIdentity {
        /// `client_id`.
        client_id: String,
    },
    /// Neither block: the default chain (environment, workload identity, managed identity).
    Default,
}

impl std::fmt::Debug for AzureAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AzureAuth::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            AzureAuth::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
            AzureAuth::Default => f.write_str("Default"),
        }
    }
}

/// `keystore.azure.keyvault`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureConfig {
    /// `endpoint`, e.g. `https://my-vault.vault.azure.net`.
    pub endpoint: String,
    /// How to authenticate.
    pub auth: AzureAuth,
    /// The Microsoft Entra ID (AAD) authority, e.g. `https://login.microsoftonline.com` (not a
    /// KES field). Default: `AZURE_AUTHORITY_HOST`, else the authority of the vault's cloud.
    pub authority_host: Option<String>,
    /// The managed-identity endpoint (not a KES field; default: App Service's
    /// `IDENTITY_ENDPOINT` when set, else [`IMDS_ENDPOINT`]).
    pub managed_identity_endpoint: Option<String>,
    /// HTTP settings (timeouts, retries, CA).
    pub http: ClientOptions,
}

impl AzureConfig {
    /// A config for `endpoint` with the default credential chain.
    pub fn new(endpoint: impl Into<String>) -> Self {
        AzureConfig {
            endpoint: endpoint.into(),
            auth: AzureAuth::Default,
            authority_host: None,
            managed_identity_endpoint: None,
            http: ClientOptions {
                retry: crate::transport::RetryPolicy {
                    max_attempts: TRIES,
                    ..crate::transport::RetryPolicy::default()
                },
                ..ClientOptions::default()
            },
        }
    }

    /// Authenticate with a client secret (`credentials`).
    pub fn set_client_secret(
        &mut self,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) {
        self.auth = AzureAuth::ClientSecret {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        };
    }

    /// Authenticate as the managed identity `client_id` (`managed_identity`).
    pub fn set_managed_identity(&mut self, client_id: impl Into<String>) {
        self.auth = AzureAuth::ManagedIdentity {
            client_id: client_id.into(),
        };
    }

    /// Checks the config (messages as KES's loader, without `kesconf: `).
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str| {
            Err(Error::Config(format!(
                "invalid Azure keyvault keystore: {what}"
            )))
        };
        if self.endpoint.trim().is_empty() {
            return invalid("no endpoint specified");
        }
        match &self.auth {
            AzureAuth::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
            } => {
                if tenant_id.trim().is_empty() {
                    return invalid("no tenant ID specified");
                }
                if client_id.trim().is_empty() {
                    return invalid("no client ID specified");
                }
                if client_secret.expose_secret().is_empty() {
                    return invalid("no client secret specified");
                }
            }
            AzureAuth::ManagedIdentity { client_id } if client_id.trim().is_empty() => {
                return invalid("no client ID specified");
            }
            _ => {}
        }
        rest::base_url("invalid Azure keyvault keystore", &self.endpoint)?;
        Ok(())
    }
}

/// The token resource of a vault (by its cloud's DNS suffix) and the default authority.
fn cloud_of(endpoint: &str) -> (&'static str, &'static str) {
    let host = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if host.ends_with(".vault.azure.cn") {
        ("https://vault.azure.cn", "https://login.chinacloudapi.cn")
    } else if host.ends_with(".vault.usgovcloudapi.net") {
        (
            "https://vault.usgovcloudapi.net",
            "https://login.microsoftonline.us",
        )
    } else if host.ends_with(".managedhsm.azure.net") {
        (
            "https://managedhsm.azure.net",
            "https://login.microsoftonline.com",
        )
    } else {
        (
            "https://vault.azure.net",
            "https://login.microsoftonline.com",
        )
    }
}

mod auth {
    //! Microsoft Entra ID access tokens: client secret, workload identity (federated token
    //! file), managed identity (IMDS or App Service); cached, renewed at half their lifetime.

    use std::path::PathBuf;

    use super::*;

    const METADATA: HeaderName = HeaderName::from_static("metadata");
    const IDENTITY_HEADER: HeaderName = HeaderName::from_static("x-identity-header");

    /// Where the access tokens come from.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum CredentialSource {
        /// The config's `credentials` block.
        ClientSecret,
        /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`.
        Environment,
        /// Workload identity: `AZURE_FEDERATED_TOKEN_FILE` with `AZURE_TENANT_ID` and
        /// `AZURE_CLIENT_ID`.
        WorkloadIdentity,
        /// A managed identity (`None`: the system-assigned one).
        ManagedIdentity(Option<String>),
    }

    impl std::fmt::Display for CredentialSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                CredentialSource::ClientSecret => f.write_str("the config's client secret"),
                CredentialSource::Environment => f.write_str("environment client secret"),
                CredentialSource::WorkloadIdentity => f.write_str("workload identity"),
                CredentialSource::ManagedIdentity(Some(id)) => {
                    write!(f, "managed identity {id}")
                }
                CredentialSource::ManagedIdentity(None) => {
                    f.write_str("system-assigned managed identity")
                }
            }
        }
    }

    enum Source {
        Secret {
            url: String,
            client_id: String,
            secret: SecretString,
        },
        Federated {
            url: String,
            client_id: String,
            token_file: PathBuf,
        },
        Imds {
            url: String,
        },
        AppService {
            url: String,
            header: SecretString,
        },
    }

    /// Access tokens from one source, cached.
    pub(super) struct TokenSource {
        kind: CredentialSource,
        source: Source,
        scope: String,
        http: HttpClient,
        cached: tokio::sync::Mutex<Option<Token>>,
    }

    impl TokenSource {
        pub(super) fn new(config: &AzureConfig, env: EnvLookup<'_>, http: HttpClient) -> Self {
            let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
            let (resource, default_authority) = cloud_of(&config.endpoint);
            let authority = config
                .authority_host
                .clone()
                .or_else(|| var("AZURE_AUTHORITY_HOST"))
                .unwrap_or_else(|| default_authority.to_owned());
            let authority = authority.trim().trim_end_matches('/').to_owned();
            let token_url =
                |tenant: &str| format!("{authority}/{}/oauth2/v2.0/token", rest::segment(tenant));
            let managed = |client_id: Option<String>| {
                let query = |base: &str, api: &str| {
                    let mut url = format!(
                        "{base}?api-version={api}&resource={}",
                        rest::segment(resource)
                    );
                    if let Some(id) = &client_id {
                        url.push_str("&client_id=");
                        url.push_str(&rest::segment(id));
                    }
                    url
                };
                let source = match (
                    &config.managed_identity_endpoint,
                    var("IDENTITY_ENDPOINT"),
                    var("IDENTITY_HEADER"),
                ) {
                    (None, Some(endpoint), Some(header)) => Source::AppService {
                        url: query(endpoint.trim(), "2019-08-01"),
                        header: SecretString::from(header),
                    },
                    (endpoint, _, _) => {
                        let base = endpoint.as_deref().unwrap_or(IMDS_ENDPOINT);
                        let base = base.trim().trim_end_matches('/');
                        Source::Imds {
                            url: query(
                                &format!("{base}/metadata/identity/oauth2/token"),
                                "2018-02-01",
                            ),
                        }
                    }
                };
                (CredentialSource::ManagedIdentity(client_id), source)
            };
            let (kind, source) = match &config.auth {
                AzureAuth::ClientSecret {
                    tenant_id,
                    client_id,
                    client_secret,
                } => (
                    CredentialSource::ClientSecret,
                    Source::Secret {
                        url: token_url(tenant_id.trim()),
                        client_id: client_id.trim().to_owned(),
                        secret: client_secret.clone(),
                    },
                ),
                AzureAuth::ManagedIdentity { client_id } => {
                    managed(Some(client_id.trim().to_owned()))
                }
                AzureAuth::Default => {
                    let tenant = var("AZURE_TENANT_ID");
                    let client = var("AZURE_CLIENT_ID");
                    match (
                        &tenant,
                        &client,
                        var("AZURE_CLIENT_SECRET"),
                        var("AZURE_FEDERATED_TOKEN_FILE"),
                    ) {
                        (Some(t), Some(c), Some(secret), _) => (
                            CredentialSource::Environment,
                            Source::Secret {
                                url: token_url(t.trim()),
                                client_id: c.trim().to_owned(),
                                secret: SecretString::from(secret),
                            },
                        ),
                        (Some(t), Some(c), None, Some(file)) => (
                            CredentialSource::WorkloadIdentity,
                            Source::Federated {
                                url: token_url(t.trim()),
                                client_id: c.trim().to_owned(),
                                token_file: PathBuf::from(file),
                            },
                        ),
                        _ => managed(client),
                    }
                }
            };
            TokenSource {
                kind,
                source,
                scope: format!("{resource}/.default"),
                http,
                cached: tokio::sync::Mutex::new(None),
            }
        }

        pub(super) fn kind(&self) -> &CredentialSource {
            &self.kind
        }

        /// The current `Authorization` value: cached, renewed at half its lifetime (a failed
        /// renewal keeps a still-valid token), replaced when `force` is set.
        pub(super) async fn token(&self, force: bool) -> Result<HeaderValue, StoreError> {
            let mut slot = self.cached.lock().await;
            let now = Instant::now();
            if let Some(t) = slot.as_ref() {
                if !force && t.is_fresh(now) {
                    return Ok(t.value.clone());
                }
            }
            match self.fetch().await {
                Ok(token) => {
                    let value = token.value.clone();
                    *slot = Some(token);
                    Ok(value)
                }
                Err(e) => match slot.as_ref() {
                    Some(t) if !force && t.is_valid(now) => {
                        tracing::warn!(target: "kes_keystore_cloud", "{e}; using the current token");
                        Ok(t.value.clone())
                    }
                    _ => Err(e),
                },
            }
        }

        async fn fetch(&self) -> Result<Token, StoreError> {
            let response = match &self.source {
                Source::Secret {
                    url,
                    client_id,
                    secret,
                } => {
                    let body = form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id),
                        ("client_secret", secret.expose_secret()),
                        ("scope", &self.scope),
                    ]);
                    self.post_form(url, body).await?
                }
                Source::Federated {
                    url,
                    client_id,
                    token_file,
                } => {
                    // Re-read every time: the kubelet rotates the projected token.
                    let assertion =
                        Zeroizing::new(std::fs::read_to_string(token_file).map_err(|e| {
                            StoreError::other(format!(
                                "keyvault: cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}",
                                token_file.display()
                            ))
                        })?);
                    let body = form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion.trim()),
                        ("scope", &self.scope),
                    ]);
                    self.post_form(url, body).await?
                }
                Source::Imds { url } => {
                    self.http
                        .send(
                            WHAT,
                            || {
                                Ok(HttpRequest::new(Method::GET, url.clone())
                                    .header(METADATA, HeaderValue::from_static("true")))
                            },
                            default_verdict,
                        )
                        .await?
                }
                Source::AppService { url, header } => {
                    let mut value =
                        HeaderValue::from_str(header.expose_secret()).map_err(|_| {
                            StoreError::other(
                                "keyvault: IDENTITY_HEADER is not a valid header value",
                            )
                        })?;
                    value.set_sensitive(true);
                    self.http
                        .send(
                            WHAT,
                            || {
                                Ok(HttpRequest::new(Method::GET, url.clone())
                                    .header(IDENTITY_HEADER, value.clone()))
                            },
                            default_verdict,
                        )
                        .await?
                }
            };
            token_from(&self.kind, &response)
        }

        async fn post_form(
            &self,
            url: &str,
            body: Zeroizing<Vec<u8>>,
        ) -> Result<HttpResponse, StoreError> {
            self.http
                .send(
                    WHAT,
                    || {
                        let mut request = HttpRequest::new(Method::POST, url);
                        request.headers.insert(
                            http::header::CONTENT_TYPE,
                            HeaderValue::from_static("application/x-www-form-urlencoded"),
                        );
                        request.body = body.clone();
                        Ok(request)
                    },
                    default_verdict,
                )
                .await
        }
    }

    /// `application/x-www-form-urlencoded` fields.
    fn form(fields: &[(&str, &str)]) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(String::new());
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(&rest::segment(k));
            out.push('=');
            out.push_str(&rest::segment(v));
        }
        Zeroizing::new(out.as_bytes().to_vec())
    }

    /// A number that may come as a JSON number or a string (IMDS sends strings).
    fn number(v: Option<&serde_json::Value>) -> Option<u64> {
        match v? {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        access_token: Zeroizing<String>,
        #[serde(default)]
        expires_in: Option<serde_json::Value>,
        #[serde(default)]
        expires_on: Option<serde_json::Value>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        error_description: Option<String>,
    }

    /// A token answer (`access_token` with `expires_in` or `expires_on`), or an error.
    pub(super) fn token_from(
        source: &CredentialSource,
        response: &HttpResponse,
    ) -> Result<Token, StoreError> {
        let answer = serde_json::from_slice::<Answer>(&response.body).ok();
        if !response.is_success() {
            let detail = match answer.as_ref().map(|a| (&a.error, &a.error_description)) {
                Some((Some(e), Some(d))) => {
                    format!("{e}: {}", d.lines().next().unwrap_or_default())
                }
                Some((Some(e), None)) => e.clone(),
                _ => response.error_text(),
            };
            return Err(StoreError::other(format!(
                "keyvault: no access token from {source}: HTTP {}: {detail}",
                response.status
            )));
        }
        let Some(answer) = answer.filter(|a| !a.access_token.is_empty()) else {
            return Err(StoreError::other(format!(
                "keyvault: no access token from {source}: the answer has no access_token"
            )));
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let lifetime = number(answer.expires_in.as_ref())
            .or_else(|| number(answer.expires_on.as_ref()).map(|on| on.saturating_sub(now)))
            .unwrap_or(3600)
            .max(1);
        Token::new(
            WHAT,
            &format!("Bearer {}", answer.access_token.as_str()),
            Duration::from_secs(lifetime),
        )
    }
}

pub use auth::CredentialSource;

/// `true` for a name Key Vault can hold as it is: 1–127 of `0-9 A-Z a-z -`.
pub fn is_vault_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The slot of `name` when its own name cannot be used: `kes-x-<hex SHA-256 of the name>`.
pub fn hashed_slot(name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut out = String::with_capacity(HASHED_PREFIX.len() + 64);
    out.push_str(HASHED_PREFIX);
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The slots `name` may live in, own name first.
fn slots(name: &str) -> Vec<(String, bool)> {
    let mut out = Vec::with_capacity(2);
    if is_vault_name(name) {
        out.push((name.to_owned(), true));
    }
    out.push((hashed_slot(name), false));
    out
}

/// `{"error":{"code","message","innererror":{"code"}}}`.
#[derive(Default)]
struct ApiError {
    code: String,
    inner: String,
    message: String,
}

fn api_error(response: &HttpResponse) -> ApiError {
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        code: String,
    }
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        innererror: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Envelope {
        error: Body,
    }
    match serde_json::from_slice::<Envelope>(&response.body) {
        Ok(e) => ApiError {
            code: e.error.code,
            inner: e.error.innererror.map(|i| i.code).unwrap_or_default(),
            message: e.error.message,
        },
        Err(_) => ApiError {
            message: response.error_text(),
            ..ApiError::default()
        },
    }
}

fn fail(what: &str, response: &HttpResponse) -> StoreError {
    let e = api_error(response);
    let code = if e.inner.is_empty() {
        e.code
    } else {
        format!("{} ({})", e.code, e.inner)
    };
    let text = format!(
        "keyvault: {what}: HTTP {} {code}: {}",
        response.status, e.message
    );
    if response.status == 429 || response.status >= 500 {
        StoreError::unreachable(text)
    } else {
        StoreError::other(text)
    }
}

/// `true` for a 409 saying the name is deleted but recoverable.
fn is_deleted_conflict(response: &HttpResponse) -> bool {
    let e = api_error(response);
    response.status == 409
        && (e.code == "ObjectIsDeletedButRecoverable" || e.inner == "ObjectIsDeletedButRecoverable")
}

/// `true` for a 409 saying Key Vault is still deleting (or purging) the name.
fn is_deleting_conflict(response: &HttpResponse) -> bool {
    let e = api_error(response);
    response.status == 409
        && (e.code == "ObjectIsBeingDeleted" || e.inner == "ObjectIsBeingDeleted")
}

#[derive(Deserialize, Default, Clone)]
struct Attributes {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    created: Option<i64>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone)]
struct Item {
    #[serde(default)]
    id: String,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    tags: Option<HashMap<String, String>>,
}

impl Item {
    fn tag(&self) -> Option<&str> {
        self.tags.as_ref()?.get(NAME_TAG).map(String::as_str)
    }

    /// The last path element of the id (version id or secret name).
    fn last(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or_default()
    }

    fn order(&self) -> (i64, &str) {
        (self.attributes.created.unwrap_or(i64::MAX), self.last())
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<Item>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(default)]
    value: Zeroizing<String>,
    #[serde(default)]
    id: String,
}

/// `true` when the secret in `slot` (own slot if `own`) belongs to `name`.
fn owns(name: &str, own: bool, tag: Option<&str>) -> bool {
    match tag {
        Some(tag) => tag == name,
        // Written by KES: its own name (Key Vault matched it case-insensitively, as for KES).
        None => own,
    }
}

/// KES keys in an Azure Key Vault.
pub struct AzureKeyStore {
    http: HttpClient,
    base: String,
    tokens: auth::TokenSource,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AzureKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureKeyStore")
            .field("endpoint", &self.base)
            .field("credentials", self.tokens.kind())
            .finish_non_exhaustive()
    }
}

impl AzureKeyStore {
    /// Validates `config`, chooses the credentials (the process environment for the default
    /// chain) and gets a first access token: failing credentials are a startup error.
    pub async fn connect(config: AzureConfig) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        Self::connect_with_env(config, &env).await
    }

    /// [`AzureKeyStore::connect`] with the environment the credentials read passed in.
    pub async fn connect_with_env(config: AzureConfig, env: EnvLookup<'_>) -> Result<Self> {
        config.validate()?;
        let http = HttpClient::new(config.http.clone())?;
        let store = AzureKeyStore {
            tokens: auth::TokenSource::new(&config, env, http.clone()),
            http,
            base: rest::base_url(WHAT, &config.endpoint)?,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        };
        store.tokens.token(false).await.map_err(Error::Connect)?;
        Ok(store)
    }

    /// Where the access tokens come from.
    pub fn credential_source(&self) -> &CredentialSource {
        self.tokens.kind()
    }

    /// The vault URL.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// The lock stripe of `name` (case-folded: `Key` and `key` share an own slot).
    fn stripe(&self, name: &str) -> &tokio::sync::Mutex<()> {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, name.to_ascii_lowercase().as_bytes());
        let index = digest.as_ref().first().map_or(0, |b| usize::from(*b)) % STRIPES;
        // `index < STRIPES == len`.
        &self.stripes[index]
    }

    fn url(&self, path: &str, query: &str) -> String {
        format!("{}/{path}?api-version={API_VERSION}{query}", self.base)
    }

    /// One call with the current token; a `401` renews the token once and retries.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<HttpResponse, StoreError> {
        let mut force = false;
        loop {
            let token = self.tokens.token(force).await?;
            let response = self
                .http
                .send(
                    WHAT,
                    || {
                        let request = HttpRequest::new(method.clone(), url)
                            .header(http::header::AUTHORIZATION, token.clone());
                        Ok(match &body {
                            Some(b) => request.json(b.clone()),
                            None => request,
                        })
                    },
                    default_verdict,
                )
                .await?;
            if response.status == 401 && !force {
                force = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// Every item of a paged listing starting at `url`, following `nextLink` (which must
    /// stay on the vault: the token is not sent anywhere else). `None` on 404.
    async fn pages(&self, what: &str, url: String) -> Result<Option<Vec<Item>>, StoreError> {
        let mut items = Vec::new();
        let mut url = url;
        let mut seen = std::collections::HashSet::new();
        loop {
            let response = self.call(Method::GET, &url, None).await?;
            match response.status {
                200 => {}
                404 => return Ok(None),
                _ => return Err(fail(what, &response)),
            }
            let page: Page = rest::parse("keyvault: list", &response)?;
            items.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                None => return Ok(Some(items)),
                Some(next) => {
                    if !next.starts_with(&format!("{}/", self.base)) {
                        return Err(StoreError::other(format!(
                            "keyvault: {what}: nextLink leaves the vault: {}",
                            next.split('?').next().unwrap_or_default()
                        )));
                    }
                    if !seen.insert(next.clone()) {
                        return Err(StoreError::other(format!(
                            "keyvault: {what}: the same nextLink twice"
                        )));
                    }
                    url = next;
                }
            }
        }
    }

    /// The versions of `slot` (`None` when the slot has no secret).
    async fn versions(&self, slot: &str) -> Result<Option<Vec<Item>>, StoreError> {
        let url = self.url(
            &format!("secrets/{}/versions", rest::segment(slot)),
            &format!("&maxresults={PAGE_SIZE}"),
        );
        let versions = self
            .pages(&format!("failed to list the versions of '{slot}'"), url)
            .await?;
        Ok(versions.filter(|v| !v.is_empty()))
    }

    /// The slot holding `name` and its versions.
    async fn find(&self, name: &str) -> Result<Option<(String, Vec<Item>)>, StoreError> {
        for (slot, own) in slots(name) {
            if let Some(versions) = self.versions(&slot).await? {
                let oldest = versions.iter().min_by(|a, b| a.order().cmp(&b.order()));
                if oldest.is_some_and(|o| owns(name, own, o.tag())) {
                    return Ok(Some((slot, versions)));
                }
            }
        }
        Ok(None)
    }

    /// Purges the deleted secret `slot`, waiting while Key Vault is still deleting it.
    /// `Ok(false)` when purging is not allowed (purge protection or permissions).
    async fn purge(&self, slot: &str) -> Result<bool, StoreError> {
        let url = self.url(&format!("deletedsecrets/{}", rest::segment(slot)), "");
        let started = Instant::now();
        let mut wait = 0;
        loop {
            let response = self.call(Method::DELETE, &url, None).await?;
            match response.status {
                200 | 204 | 404 => return Ok(true),
                403 => {
                    tracing::warn!(
                        target: "kes_keystore_cloud",
                        "keyvault: cannot purge deleted secret '{slot}': {}",
                        fail("purge", &response)
                    );
                    return Ok(false);
                }
                409 if is_deleting_conflict(&response) && started.elapsed() < DELETING_WAIT => {
                    wait += 1;
                    tokio::time::sleep(deleting_backoff(wait)).await;
                }
                _ => {
                    return Err(fail(
                        &format!("failed to purge deleted secret '{slot}'"),
                        &response,
                    ));
                }
            }
        }
    }

    /// `PUT secrets/<slot>`, purging a deleted secret of that name first (at most
    /// [`TRIES`] times) and waiting while Key Vault is still deleting it (at most
    /// [`DELETING_WAIT`]). Returns the new version's id.
    async fn put(&self, name: &str, slot: &str, value: &str) -> Result<String, StoreError> {
        // Borrowed, so the value is only copied into the zeroizing buffer.
        #[derive(serde::Serialize)]
        struct Tags<'a> {
            #[serde(rename = "kes-name")]
            name: &'a str,
        }
        #[derive(serde::Serialize)]
        struct SetSecret<'a> {
            value: &'a str,
            tags: Tags<'a>,
        }
        let body = rest::json(
            WHAT,
            &SetSecret {
                value,
                tags: Tags { name },
            },
        )?;
        let url = self.url(&format!("secrets/{}", rest::segment(slot)), "");
        let started = Instant::now();
        let mut purges = 0;
        let mut wait = 0;
        loop {
            let response = self.call(Method::PUT, &url, Some(body.clone())).await?;
            if response.is_success() {
                let bundle: Bundle = rest::parse("keyvault: set", &response)?;
                return Ok(bundle.id.rsplit('/').next().unwrap_or_default().to_owned());
            }
            if is_deleted_conflict(&response) && purges < TRIES {
                purges += 1;
                if !self.purge(slot).await? {
                    return Err(fail(
                        &format!(
                            "failed to create key '{name}': a deleted secret '{slot}' exists and cannot be purged"
                        ),
                        &response,
                    ));
                }
            } else if is_deleting_conflict(&response) && started.elapsed() < DELETING_WAIT {
                wait += 1;
                tokio::time::sleep(deleting_backoff(wait)).await;
            } else {
                return Err(fail(&format!("failed to create key '{name}'"), &response));
            }
        }
    }
}

/// The wait before retry `n` (1-based) while Key Vault finishes deleting a name: 50 ms,
/// doubling, at most 2 s.
fn deleting_backoff(n: u32) -> Duration {
    Duration::from_millis(50u64 << n.saturating_sub(1).min(6)).min(Duration::from_secs(2))
}

#[async_trait]
impl KeyStore for AzureKeyStore {
    fn describe(&self) -> String {
        format!("Azure KeyVault: {}", self.base)
    }

    /// A plain GET of the vault URL: any HTTP answer is reachable (as KES).
    async fn status(&self) -> kes_keystore::Result<Duration> {
        rest::probe(&self.http, WHAT, &self.base).await
    }

    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        if name.is_empty() {
            return Err(StoreError::InvalidName(name.to_owned()));
        }
        let invalid = |reason: String| StoreError::InvalidValue {
            name: name.to_owned(),
            reason,
        };
        if value.len() > MAX_VALUE {
            return Err(invalid(format!(
                "Key Vault stores secrets of at most {MAX_VALUE} bytes"
            )));
        }
        let text = std::str::from_utf8(value)
            .map_err(|_| invalid("Key Vault secrets are text; the value is not UTF-8".into()))?;
        let _guard = self.stripe(name).lock().await;
        let mut free = None;
        for (slot, own) in slots(name) {
            match self.versions(&slot).await? {
                None => {
                    free.get_or_insert(slot);
                }
                Some(versions) => {
                    let oldest = versions.iter().min_by(|a, b| a.order().cmp(&b.order()));
                    if oldest.is_some_and(|o| owns(name, own, o.tag())) {
                        return Err(StoreError::Exists);
                    }
                }
            }
        }
        let Some(slot) = free else {
            return Err(StoreError::other(format!(
                "keyvault: failed to create key '{name}': its slots hold other secrets"
            )));
        };
        let ours = self.put(name, &slot, text).await?;
        // Another process may have written the slot at the same time: the oldest version
        // (by `created`, then version id: the order get reads) is the key. A create whose
        // version is not the oldest lost; the creator of the oldest one always wins.
        if let Some(versions) = self.versions(&slot).await? {
            let oldest = versions.iter().min_by(|a, b| a.order().cmp(&b.order()));
            if oldest.is_some_and(|o| o.last() != ours) {
                return Err(StoreError::Exists);
            }
        }
        Ok(())
    }

    async fn get(&self, name: &str) -> kes_keystore::Result<Zeroizing<Vec<u8>>> {
        let Some((slot, versions)) = self.find(name).await? else {
            return Err(StoreError::NotFound);
        };
        let Some(oldest) = versions.iter().min_by(|a, b| a.order().cmp(&b.order())) else {
            return Err(StoreError::NotFound);
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        let a = &oldest.attributes;
        let refused = if !a.enabled {
            Some("is disabled")
        } else if a.nbf.is_some_and(|nbf| nbf > now) {
            Some("is not valid yet")
        } else if a.exp.is_some_and(|exp| exp <= now) {
            Some("has expired")
        } else {
            None
        };
        if let Some(why) = refused {
            return Err(StoreError::other(format!(
                "keyvault: failed to read key '{name}': the secret {why}"
            )));
        }
        let url = self.url(
            &format!(
                "secrets/{}/{}",
                rest::segment(&slot),
                rest::segment(oldest.last())
            ),
            "",
        );
        let response = self.call(Method::GET, &url, None).await?;
        match response.status {
            200 => {}
            404 => return Err(StoreError::NotFound),
            _ => return Err(fail(&format!("failed to read key '{name}'"), &response)),
        }
        let bundle: Bundle = rest::parse("keyvault: get", &response)?;
        Ok(Zeroizing::new(bundle.value.as_bytes().to_vec()))
    }

    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        let _guard = self.stripe(name).lock().await;
        let Some((slot, _)) = self.find(name).await? else {
            return Err(StoreError::NotFound);
        };
        let url = self.url(&format!("secrets/{}", rest::segment(&slot)), "");
        let response = self.call(Method::DELETE, &url, None).await?;
        match response.status {
            200 | 204 => {}
            404 => return Err(StoreError::NotFound),
            _ => return Err(fail(&format!("failed to delete key '{name}'"), &response)),
        }
        self.purge(&slot).await?;
        Ok(())
    }

    /// Every page of `GET secrets` (every secret of the vault, as KES), names from the
    /// `kes-name` tag where a secret has one, then the shared list helper.
    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> kes_keystore::Result<ListPage> {
        let url = self.url("secrets", &format!("&maxresults={PAGE_SIZE}"));
        let items = self
            .pages("failed to list keys", url)
            .await?
            .unwrap_or_default();
        let mut names: Vec<String> = items
            .iter()
            .filter_map(|item| {
                let slot = item.last();
                let name = match item.tag() {
                    Some(tag)
                        if (is_vault_name(tag) && tag.eq_ignore_ascii_case(slot))
                            || hashed_slot(tag) == slot =>
                    {
                        tag
                    }
                    _ => slot,
                };
                (!name.is_empty()).then(|| name.to_owned())
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(list_page(names, prefix, continue_at, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages() {
        let mut c = AzureConfig::new("https://v.vault.azure.net");
        assert!(c.validate().is_ok());
        c.set_client_secret("t", "c", "s");
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("\"s\""));
        for (t, id, s, want) in [
            ("", "c", "s", "no tenant ID specified"),
            ("t", "", "s", "no client ID specified"),
            ("t", "c", "", "no client secret specified"),
        ] {
            c.set_client_secret(t, id, s);
            assert_eq!(
                c.validate().unwrap_err().to_string(),
                format!("invalid Azure keyvault keystore: {want}")
            );
        }
        c.set_managed_identity(" ");
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid Azure keyvault keystore: no client ID specified"
        );
        assert_eq!(
            AzureConfig::new("").validate().unwrap_err().to_string(),
            "invalid Azure keyvault keystore: no endpoint specified"
        );
    }

    #[test]
    fn slots_and_clouds() {
        assert!(is_vault_name("My-Key-1"));
        assert!(!is_vault_name("my_key"));
        assert!(!is_vault_name(&"a".repeat(128)));
        assert_eq!(slots("my-key").len(), 2);
        assert_eq!(slots("my_key").len(), 1);
        let h = hashed_slot("my_key");
        assert_eq!(h.len(), HASHED_PREFIX.len() + 64);
        assert!(is_vault_name(&h));
        assert_ne!(hashed_slot("Key"), hashed_slot("key"));
        assert!(owns("k", true, None));
        assert!(!owns("k", false, None));
        assert!(owns("K", false, Some("K")));
        assert!(!owns("K", true, Some("k")));
        assert_eq!(
            cloud_of("https://x.vault.azure.net/"),
            (
                "https://vault.azure.net",
                "https://login.microsoftonline.com"
            )
        );
        assert_eq!(
            cloud_of("https://x.VAULT.azure.cn").0,
            "https://vault.azure.cn"
        );
        assert_eq!(
            cloud_of("x.vault.usgovcloudapi.net:443").1,
            "https://login.microsoftonline.us"
        );
    }

    #[test]
    fn token_answers() {
        let answer = |status, body: &str| HttpResponse {
            status,
            headers: http::HeaderMap::new(),
            body: Zeroizing::new(body.as_bytes().to_vec()),
        };
        let src = CredentialSource::ManagedIdentity(None);
        // IMDS sends numbers as strings.
        let t = auth::token_from(
            &src,
            &answer(200, r#"{"access_token":"a","expires_in":"600"}"#),
        )
        .unwrap();
        assert!(t.expires_at - Instant::now() <= Duration::from_secs(600));
        assert!(t.expires_at - Instant::now() > Duration::from_secs(590));
        let on = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 120;
        let t = auth::token_from(
            &src,
            &answer(
                200,
                &format!(r#"{{"access_token":"a","expires_on":"{on}"}}"#),
            ),
        )
        .unwrap();
        assert!(t.expires_at - Instant::now() <= Duration::from_secs(120));
        let Err(e) = auth::token_from(
            &CredentialSource::ClientSecret,
            &answer(
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#,
            ),
        ) else {
            panic!("a 401 gave a token")
        };
        assert_eq!(
            e.to_string(),
            "keyvault: no access token from the config's client secret: HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided."
        );
    }
}
