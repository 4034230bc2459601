//! Google Cloud Secret Manager (`keystore.gcp.secretmanager`, spec §8.7).
//!
//! A key is a secret of the project named after the key (secret IDs and KES names share the
//! alphabet `A-Z a-z 0-9 _ -`, both case-sensitive) with automatic replication, and its value
//! is the payload of the secret's first version — KES's layout. The store speaks the REST API
//! (v1) over the shared transport; [`auth`] gets the OAuth 2 access tokens.
//!
//! * Create: `POST …/secrets?secretId=<name>` then `POST …/secrets/<name>:addVersion`. The
//!   version numbers Secret Manager hands out decide a race: a create whose version is not
//!   the lowest live one lost, destroys its version and reports `key already exists`. A secret
//!   that exists without a live version (a create that died between its two calls) is
//!   completed by the next create instead of staying "exists but unreadable".
//! * Get: `GET …/versions/1:access` (KES reads version 1); when version 1 is missing or
//!   destroyed, the lowest live version (upstream failed). A disabled version is an error.
//! * Delete: `DELETE …/secrets/<name>` (404 ⇒ `key does not exist`).
//! * List: every page of `GET …/secrets` (`pageToken`), the last path element of each name.
//! * Throttling (`429 RESOURCE_EXHAUSTED`), 5xx and transport failures are retried with
//!   backoff by the transport; a `401` renews the access token once and retries.

pub mod auth;

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use http::Method;
use kes_keystore::{Error as StoreError, KeyStore, ListPage, list_page};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use auth::{CredentialSource, EnvLookup};

use crate::rest;
use crate::transport::{ClientOptions, HttpClient, HttpRequest, HttpResponse, default_verdict};
use crate::{Error, Result};

/// The Secret Manager endpoint KES uses when `endpoint` is empty (its gRPC form).
pub const DEFAULT_ENDPOINT: &str = "secretmanager.googleapis.com:443";
/// The OAuth scope used when `scopes` is empty.
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The largest payload Secret Manager accepts (64 KiB).
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Secrets asked for per list page.
const LIST_PAGE_SIZE: u32 = 250;
const WHAT: &str = "gcp";

/// `keystore.gcp.secretmanager.credentials`: a service account.
#[derive(Clone)]
#[non_exhaustive]
pub struct GcpCredentials {
    /// `client_email`.
    pub client_email: String,
    /// `client_id`.
    pub client_id: String,
    /// `private_key_id`.
    pub private_key_id: String,
    /// `private_key`: PEM; literal `\n` sequences stand for newlines (as in KES).
    pub private_key: SecretString,
}

impl std::fmt::Debug for GcpCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpCredentials")
            .field("client_email", &self.client_email)
            .field("client_id", &self.client_id)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

impl GcpCredentials {
    /// The private key with literal `\n` sequences turned into newlines (KES's rule).
    fn private_key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.private_key.expose_secret().replace("\\n", "\n"))
    }
}

/// `keystore.gcp.secretmanager`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GcpConfig {
    /// `project_id` (required).
    pub project_id: String,
    /// `endpoint`: a host (`:443` allowed, as in KES's gRPC form) or an http(s) URL; empty:
    /// [`DEFAULT_ENDPOINT`].
    pub endpoint: String,
    /// `scopes`: OAuth scopes (empty: [`DEFAULT_SCOPE`]).
    pub scopes: Vec<String>,
    /// `credentials`: a service account, or `None` for application-default credentials.
    pub credentials: Option<GcpCredentials>,
    /// Overrides the OAuth token endpoint of a service account or `authorized_user`
    /// (not a KES field: for proxies and tests). Default: the file's `token_uri`, for the
    /// config's service account `https://oauth2.googleapis.com/token`.
    pub token_url: Option<String>,
    /// HTTP settings (timeouts, retries, CA).
    pub http: ClientOptions,
}

impl GcpConfig {
    /// A config for `project_id` with application-default credentials.
    pub fn new(project_id: impl Into<String>) -> Self {
        GcpConfig {
            project_id: project_id.into(),
            endpoint: String::new(),
            scopes: Vec::new(),
            credentials: None,
            token_url: None,
            http: ClientOptions::default(),
        }
    }

    /// Sets the service account from the config's credential fields with KES's rule: any
    /// non-empty field means a service account (then all are required, see
    /// [`GcpConfig::validate`]); all empty means application-default credentials.
    pub fn set_credentials(
        &mut self,
        client_email: &str,
        client_id: &str,
        private_key_id: &str,
        private_key: &str,
    ) {
        let any = [client_email, client_id, private_key_id, private_key]
            .iter()
            .any(|f| !f.is_empty());
        self.credentials = any.then(|| GcpCredentials {
            client_email: client_email.to_owned(),
            client_id: client_id.to_owned(),
            private_key_id: private_key_id.to_owned(),
            private_key: SecretString::from(private_key.to_owned()),
        });
    }

    /// Checks the config (messages as KES's loader, without `kesconf: `).
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str| {
            Err(Error::Config(format!(
                "invalid GCP secretmanager keystore: {what}"
            )))
        };
        if self.project_id.trim().is_empty() {
            return invalid("no project ID specified");
        }
        if let Some(c) = &self.credentials {
            if c.client_email.trim().is_empty() {
                return invalid("no client email specified");
            }
            if c.client_id.trim().is_empty() {
                return invalid("no client ID specified");
            }
            if c.private_key_id.trim().is_empty() {
                return invalid("no private key ID specified");
            }
            if c.private_key.expose_secret().trim().is_empty() {
                return invalid("no private key specified");
            }
        }
        self.endpoint_url()?;
        Ok(())
    }

    /// The REST base URL: `https://<endpoint>` for a host (`:443` dropped), a URL as given.
    pub fn endpoint_url(&self) -> Result<String> {
        let endpoint = match self.endpoint.trim() {
            "" => DEFAULT_ENDPOINT,
            e => e,
        };
        let endpoint = match endpoint.strip_suffix(":443") {
            Some(host) if !endpoint.contains("://") => host,
            _ => endpoint,
        };
        rest::base_url("invalid GCP secretmanager keystore", endpoint)
    }

    /// The service-account JSON KES synthesises from the credential fields, byte for byte
    /// (field order and Go's JSON escaping as upstream; vector `gcp_credentials.json`), or
    /// `None` without credentials. It holds the private key.
    pub fn service_account_json(&self) -> Option<Zeroizing<String>> {
        let c = self.credentials.as_ref()?;
        let key = c.private_key_pem();
        let mut out = Zeroizing::new(String::with_capacity(key.len() + 1024));
        let fields: [(&str, &str); 10] = [
            ("type", "service_account"),
            ("project_id", &self.project_id),
            ("private_key_id", &c.private_key_id),
            ("private_key", &key),
            ("client_email", &c.client_email),
            ("client_id", &c.client_id),
            ("auth_uri", "https://accounts.google.com/o/oauth2/auth"),
            ("token_uri", "https://accounts.google.com/o/oauth2/token"),
            (
                "auth_provider_x509_cert_url",
                "https://www.googleapis.com/oauth2/v1/certs",
            ),
            ("client_x509_cert_url", ""),
        ];
        let cert_url = format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{}",
            go_query_escape(&c.client_email)
        );
        out.push('{');
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            go_json_string(&mut out, k);
            out.push(':');
            let v = if *k == "client_x509_cert_url" {
                cert_url.as_str()
            } else {
                v
            };
            go_json_string(&mut out, v);
        }
        out.push('}');
        Some(out)
    }
}

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it (HTML-safe: `<`, `>`
/// and `&` escaped, U+2028/U+2029 escaped).
fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, everything else `%XX`.
fn go_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// CRC32C (Castagnoli), the checksum Secret Manager keeps for payloads.
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        let index = usize::from((crc as u8) ^ b);
        crc = (crc >> 8) ^ TABLE.get(index).copied().unwrap_or(0);
    }
    !crc
}

/// `true` for a valid secret ID: 1–255 of `A-Z a-z 0-9 _ -`.
pub fn is_valid_secret_id(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A version's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Enabled,
    Disabled,
    Destroyed,
}

/// `{"error":{"code","message","status"}}`.
#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

fn api_error(response: &HttpResponse) -> ApiError {
    #[derive(Deserialize)]
    struct Envelope {
        error: ApiError,
    }
    serde_json::from_slice::<Envelope>(&response.body)
        .map(|e| e.error)
        .unwrap_or_else(|_| ApiError {
            message: response.error_text(),
            status: String::new(),
        })
}

fn error_text(response: &HttpResponse) -> String {
    let e = api_error(response);
    if e.status.is_empty() {
        format!("HTTP {}: {}", response.status, e.message)
    } else {
        format!("HTTP {} {}: {}", response.status, e.status, e.message)
    }
}

fn fail(what: &str, response: &HttpResponse) -> StoreError {
    let text = error_text(response);
    if response.status == 429 || response.status >= 500 {
        // What is left after the transport's retries.
        StoreError::unreachable(format!("gcp: {what}: {text}"))
    } else {
        StoreError::other(format!("gcp: {what}: {text}"))
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    data: Zeroizing<String>,
    #[serde(default, rename = "dataCrc32c")]
    data_crc32c: Option<String>,
}

#[derive(Deserialize)]
struct AccessAnswer {
    payload: Payload,
}

#[derive(Deserialize)]
struct VersionAnswer {
    #[serde(default)]
    name: String,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct VersionsPage {
    #[serde(default)]
    versions: Vec<VersionAnswer>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: String,
}

#[derive(Deserialize)]
struct SecretAnswer {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct SecretsPage {
    #[serde(default)]
    secrets: Vec<SecretAnswer>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: String,
}

/// The number at the end of `projects/*/secrets/*/versions/<n>`.
fn version_number(name: &str) -> Option<u64> {
    name.rsplit('/').next()?.parse().ok()
}

fn parse_state(state: &str) -> State {
    match state {
        "ENABLED" => State::Enabled,
        "DISABLED" => State::Disabled,
        _ => State::Destroyed,
    }
}

/// KES keys in a Google Cloud Secret Manager project.
pub struct GcpKeyStore {
    http: HttpClient,
    base: String,
    project: String,
    tokens: auth::TokenSource,
}

impl std::fmt::Debug for GcpKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpKeyStore")
            .field("endpoint", &self.base)
            .field("project", &self.project)
            .field("credentials", self.tokens.kind())
            .finish_non_exhaustive()
    }
}

impl GcpKeyStore {
    /// Validates `config`, chooses the credentials (the process environment for the default
    /// chain) and gets a first access token: failing credentials are a startup error.
    pub async fn connect(config: GcpConfig) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        Self::connect_with_env(config, &env).await
    }

    /// [`GcpKeyStore::connect`] with the environment the default chain reads passed in.
    pub async fn connect_with_env(config: GcpConfig, env: EnvLookup<'_>) -> Result<Self> {
        config.validate()?;
        let http = HttpClient::new(config.http.clone())?;
        let account = match &config.credentials {
            Some(c) => Some(auth::ServiceAccount::new(
                &c.client_email,
                &c.private_key_id,
                &c.private_key_pem(),
                config
                    .token_url
                    .as_deref()
                    .unwrap_or(auth::GOOGLE_TOKEN_URL),
            )?),
            None => None,
        };
        let tokens = auth::TokenSource::new(
            account,
            &config.scopes,
            config.token_url.as_deref(),
            env,
            http.clone(),
        )?;
        let store = GcpKeyStore {
            http,
            base: config.endpoint_url()?,
            project: config.project_id.trim().to_owned(),
            tokens,
        };
        store.tokens.token(false).await.map_err(Error::Connect)?;
        Ok(store)
    }

    /// Where the access tokens come from.
    pub fn credential_source(&self) -> &CredentialSource {
        self.tokens.kind()
    }

    /// The REST base URL.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    fn secrets_url(&self) -> String {
        format!(
            "{}/v1/projects/{}/secrets",
            self.base,
            rest::segment(&self.project)
        )
    }

    fn secret_url(&self, name: &str) -> String {
        format!("{}/{}", self.secrets_url(), rest::segment(name))
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

    /// Every version of `name` as (number, state), or `None` when the secret is missing.
    async fn versions(&self, name: &str) -> Result<Option<Vec<(u64, State)>>, StoreError> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut url = format!("{}/versions?pageSize=100", self.secret_url(name));
            if !token.is_empty() {
                url.push_str("&pageToken=");
                url.push_str(&rest::segment(&token));
            }
            let response = self.call(Method::GET, &url, None).await?;
            match response.status {
                200 => {}
                404 => return Ok(None),
                _ => {
                    return Err(fail(
                        &format!("failed to list versions of '{name}'"),
                        &response,
                    ));
                }
            }
            let page: VersionsPage = rest::parse("gcp: versions", &response)?;
            out.extend(
                page.versions
                    .iter()
                    .filter_map(|v| Some((version_number(&v.name)?, parse_state(&v.state)))),
            );
            if page.next_page_token.is_empty() {
                return Ok(Some(out));
            }
            if page.next_page_token == token {
                return Err(StoreError::other(
                    "gcp: listing versions did not advance (same pageToken twice)",
                ));
            }
            token = page.next_page_token;
        }
    }

    /// The lowest version that is not destroyed.
    async fn first_live(&self, name: &str) -> Result<Option<(u64, State)>, StoreError> {
        Ok(self
            .versions(name)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, s)| *s != State::Destroyed)
            .min_by_key(|(n, _)| *n))
    }

    /// `GET …/versions/<n>:access`: `Ok(None)` on 404 or a version that is not enabled
    /// (400 FAILED_PRECONDITION).
    async fn access(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let url = format!("{}/versions/{version}:access", self.secret_url(name));
        let response = self.call(Method::GET, &url, None).await?;
        match response.status {
            200 => {}
            404 => return Ok(None),
            400 if api_error(&response).status == "FAILED_PRECONDITION" => return Ok(None),
            _ => return Err(fail(&format!("failed to read key '{name}'"), &response)),
        }
        let answer: AccessAnswer = rest::parse("gcp: access", &response)?;
        let invalid = |reason: &str| StoreError::InvalidValue {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let value = base64::engine::general_purpose::STANDARD
            .decode(answer.payload.data.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| invalid("the payload is not valid base64"))?;
        if let Some(crc) = answer.payload.data_crc32c.as_deref() {
            if crc.parse::<u64>().ok() != Some(u64::from(crc32c(&value))) {
                return Err(invalid("the payload does not match its CRC32C checksum"));
            }
        }
        Ok(Some(value))
    }

    async fn add_version(&self, name: &str, value: &[u8]) -> Result<u64, StoreError> {
        let data = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value));
        // Borrowed, so the value is only copied into the zeroizing buffers.
        #[derive(serde::Serialize)]
        struct Payload<'a> {
            data: &'a str,
            #[serde(rename = "dataCrc32c")]
            data_crc32c: String,
        }
        #[derive(serde::Serialize)]
        struct AddVersion<'a> {
            payload: Payload<'a>,
        }
        let body = rest::json(
            WHAT,
            &AddVersion {
                payload: Payload {
                    data: data.as_str(),
                    data_crc32c: crc32c(value).to_string(),
                },
            },
        )?;
        let url = format!("{}:addVersion", self.secret_url(name));
        let response = self.call(Method::POST, &url, Some(body)).await?;
        if response.status != 200 {
            return Err(fail(&format!("failed to create key '{name}'"), &response));
        }
        let version: VersionAnswer = rest::parse("gcp: addVersion", &response)?;
        version_number(&version.name).ok_or_else(|| {
            StoreError::other(format!(
                "gcp: addVersion answered an invalid version name '{}'",
                version.name
            ))
        })
    }

    /// Destroys version `n` (best effort: a lost create's value should not stay readable).
    async fn destroy(&self, name: &str, n: u64) {
        let url = format!("{}/versions/{n}:destroy", self.secret_url(name));
        let body = Zeroizing::new(b"{}".to_vec());
        match self.call(Method::POST, &url, Some(body)).await {
            Ok(r) if r.is_success() => {}
            Ok(r) => tracing::warn!(
                target: "kes_keystore_cloud",
                "gcp: failed to destroy version {n} of '{name}': {}",
                error_text(&r)
            ),
            Err(e) => tracing::warn!(
                target: "kes_keystore_cloud",
                "gcp: failed to destroy version {n} of '{name}': {e}"
            ),
        }
    }
}

#[async_trait]
impl KeyStore for GcpKeyStore {
    fn describe(&self) -> String {
        format!("GCP SecretManager: Project={}", self.project)
    }

    /// A plain GET of the endpoint: any HTTP answer is reachable (as KES).
    async fn status(&self) -> kes_keystore::Result<Duration> {
        rest::probe(&self.http, WHAT, &self.base).await
    }

    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        if !is_valid_secret_id(name) {
            return Err(StoreError::InvalidName(name.to_owned()));
        }
        if value.len() > MAX_PAYLOAD {
            return Err(StoreError::InvalidValue {
                name: name.to_owned(),
                reason: format!("Secret Manager stores at most {MAX_PAYLOAD} bytes"),
            });
        }
        let url = format!("{}?secretId={}", self.secrets_url(), rest::segment(name));
        let body = Zeroizing::new(br#"{"replication":{"automatic":{}}}"#.to_vec());
        let response = self.call(Method::POST, &url, Some(body)).await?;
        match response.status {
            200 => {}
            409 => {
                // The secret exists: a key, unless no version is left (a create that died
                // between its two calls, or one still running: the version race decides).
                if self.first_live(name).await?.is_some() {
                    return Err(StoreError::Exists);
                }
            }
            _ => return Err(fail(&format!("failed to create key '{name}'"), &response)),
        }
        let ours = self.add_version(name, value).await?;
        if ours == 1 {
            return Ok(());
        }
        // Not version 1: another create may have added a version first.
        match self.first_live(name).await? {
            Some((first, _)) if first < ours => {
                let same = match self.access(name, first).await? {
                    // Our own earlier attempt (a retried addVersion), or the same value.
                    Some(v) => bool::from(v.as_slice().ct_eq(value)),
                    None => false,
                };
                if same {
                    return Ok(());
                }
                self.destroy(name, ours).await;
                Err(StoreError::Exists)
            }
            _ => Ok(()),
        }
    }

    async fn get(&self, name: &str) -> kes_keystore::Result<Zeroizing<Vec<u8>>> {
        if !is_valid_secret_id(name) {
            return Err(StoreError::NotFound);
        }
        if let Some(value) = self.access(name, 1).await? {
            return Ok(value);
        }
        // Version 1 is missing, destroyed or disabled: look at the versions.
        match self.first_live(name).await? {
            None => Err(StoreError::NotFound),
            Some((n, State::Enabled)) => match self.access(name, n).await? {
                Some(value) => Ok(value),
                None => Err(StoreError::NotFound),
            },
            Some((n, _)) => Err(StoreError::other(format!(
                "gcp: failed to read key '{name}': version {n} is disabled"
            ))),
        }
    }

    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        if !is_valid_secret_id(name) {
            return Err(StoreError::NotFound);
        }
        let response = self
            .call(Method::DELETE, &self.secret_url(name), None)
            .await?;
        match response.status {
            200 | 204 => Ok(()),
            404 => Err(StoreError::NotFound),
            _ => Err(fail(&format!("failed to delete key '{name}'"), &response)),
        }
    }

    /// Every page of `ListSecrets` (every secret of the project, as KES), then the shared
    /// list helper.
    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> kes_keystore::Result<ListPage> {
        let mut names = Vec::new();
        let mut token = String::new();
        loop {
            let mut url = format!("{}?pageSize={LIST_PAGE_SIZE}", self.secrets_url());
            if !token.is_empty() {
                url.push_str("&pageToken=");
                url.push_str(&rest::segment(&token));
            }
            let response = self.call(Method::GET, &url, None).await?;
            if response.status != 200 {
                return Err(fail("failed to list keys", &response));
            }
            let page: SecretsPage = rest::parse("gcp: list", &response)?;
            names.extend(page.secrets.into_iter().filter_map(|s| {
                s.name
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
            }));
            if page.next_page_token.is_empty() {
                break;
            }
            if page.next_page_token == token {
                return Err(StoreError::other(
                    "gcp: failed to list keys: the server returned the same pageToken twice",
                ));
            }
            token = page.next_page_token;
        }
        Ok(list_page(names, prefix, continue_at, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_values() {
        // RFC 3720 B.4 test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn validation_and_endpoint() {
        let mut c = GcpConfig::new("p");
        assert!(c.validate().is_ok());
        assert_eq!(
            c.endpoint_url().unwrap(),
            "https://secretmanager.googleapis.com"
        );
        c.endpoint = "eu-secretmanager.example.net:8443".into();
        assert_eq!(
            c.endpoint_url().unwrap(),
            "https://eu-secretmanager.example.net:8443"
        );
        c.endpoint = "http://127.0.0.1:9".into();
        assert_eq!(c.endpoint_url().unwrap(), "http://127.0.0.1:9");
        assert_eq!(
            GcpConfig::new(" ").validate().unwrap_err().to_string(),
            "invalid GCP secretmanager keystore: no project ID specified"
        );
        c.set_credentials("", "", "", "");
        assert!(c.credentials.is_none());
        c.set_credentials("e@x", "", "", "");
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid GCP secretmanager keystore: no client ID specified"
        );
        c.set_credentials("e@x", "1", "k", "-----BEGIN PRIVATE KEY-----");
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("BEGIN"));
    }

    #[test]
    fn names_and_versions() {
        assert!(is_valid_secret_id("my-key_1"));
        assert!(is_valid_secret_id(&"a".repeat(255)));
        assert!(!is_valid_secret_id(&"a".repeat(256)));
        for bad in ["", "a.b", "a/b", "ä"] {
            assert!(!is_valid_secret_id(bad), "{bad}");
        }
        assert_eq!(version_number("projects/1/secrets/k/versions/12"), Some(12));
        assert_eq!(version_number("projects/1/secrets/k/versions/x"), None);
        assert_eq!(go_query_escape("a b@c.d/é"), "a+b%40c.d%2F%C3%A9");
        let mut s = String::new();
        go_json_string(&mut s, "<a&b>\n\"\\\u{1}\u{2028}");
        assert_eq!(s, r#""\u003ca\u0026b\u003e\n\"\\\u0001\u2028""#);
    }
}
