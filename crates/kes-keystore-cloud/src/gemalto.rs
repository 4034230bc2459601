//! Thales CipherTrust Manager / Gemalto KeySecure (`keystore.gemalto.keysecure`, spec §8.9).
//!
//! A key is a CipherTrust vault secret of data type `seed` named after the key, its material
//! the stored value — what KES writes. Authentication is a refresh token exchanged for a
//! short-lived JWT (`POST /api/v1/auth/tokens`), renewed at half its lifetime; an answer of
//! 401 triggers one new login and one retry.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{HeaderValue, Method};
use kes_keystore::{Error as StoreError, KeyStore, ListPage, list_page};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::rest::{self, Token};
use crate::transport::{ClientOptions, HttpClient, HttpRequest, HttpResponse, default_verdict};
use crate::{Error, Result};

const WHAT: &str = "gemalto";
/// Secrets per list request.
const LIST_LIMIT: u64 = 200;

/// `keystore.gemalto.keysecure`.
#[derive(Clone)]
#[non_exhaustive]
pub struct GemaltoConfig {
    /// `endpoint`, e.g. `https://ciphertrust.example.net`.
    pub endpoint: String,
    /// `credentials.token`: the refresh token.
    pub token: SecretString,
    /// `credentials.domain` (empty: the root domain).
    pub domain: String,
    /// `tls.ca`: a CA file or directory (empty: the system roots).
    pub ca: Option<PathBuf>,
    /// HTTP settings (timeouts, retries).
    pub http: ClientOptions,
}

impl std::fmt::Debug for GemaltoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GemaltoConfig")
            .field("endpoint", &self.endpoint)
            .field("domain", &self.domain)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl GemaltoConfig {
    /// A config for `endpoint` with a refresh `token` in the root domain.
    pub fn new(endpoint: impl Into<String>, token: impl Into<String>) -> Self {
        GemaltoConfig {
            endpoint: endpoint.into(),
            token: SecretString::from(token.into()),
            domain: String::new(),
            ca: None,
            http: ClientOptions::default(),
        }
    }

    /// Checks the required fields with KES's messages.
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str| {
            Err(Error::Config(format!(
                "invalid gemalto keysecure keystore: {what}"
            )))
        };
        if self.endpoint.trim().is_empty() {
            return invalid("no endpoint specified");
        }
        if self.token.expose_secret().trim().is_empty() {
            return invalid("no token specified");
        }
        rest::base_url("invalid gemalto keysecure keystore", &self.endpoint)?;
        Ok(())
    }
}

#[derive(Serialize)]
struct Login<'a> {
    grant_type: &'static str,
    refresh_token: &'a str,
    domain: &'a str,
}

#[derive(Deserialize)]
struct LoginAnswer {
    jwt: Zeroizing<String>,
    #[serde(default)]
    duration: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateSecret<'a> {
    data_type: &'static str,
    material: &'a str,
    name: &'a str,
}

#[derive(Deserialize)]
struct Exported {
    material: Zeroizing<String>,
}

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    resources: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
}

/// KES keys in CipherTrust Manager's vault.
pub struct GemaltoKeyStore {
    http: HttpClient,
    endpoint: String,
    refresh_token: SecretString,
    domain: String,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl std::fmt::Debug for GemaltoKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GemaltoKeyStore")
            .field("endpoint", &self.endpoint)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl GemaltoKeyStore {
    /// Validates `config` and logs in (a failed login is a startup error, as in KES).
    pub async fn connect(config: GemaltoConfig) -> Result<Self> {
        config.validate()?;
        let mut options = config.http.clone();
        if config.ca.is_some() {
            options.ca = config.ca.clone();
        }
        let store = GemaltoKeyStore {
            http: HttpClient::new(options)?,
            endpoint: rest::base_url(WHAT, &config.endpoint)?,
            refresh_token: config.token.clone(),
            domain: config.domain.clone(),
            token: tokio::sync::Mutex::new(None),
        };
        store.auth(false).await.map_err(Error::Connect)?;
        Ok(store)
    }

    /// The current JWT: logs in when there is none, when it is due for renewal (half its
    /// lifetime), or when `force` is set. A failed renewal keeps a still-valid token.
    async fn auth(&self, force: bool) -> Result<HeaderValue, StoreError> {
        let mut slot = self.token.lock().await;
        let now = Instant::now();
        if let Some(t) = slot.as_ref() {
            if !force && t.is_fresh(now) {
                return Ok(t.value.clone());
            }
        }
        match self.login().await {
            Ok(t) => {
                let value = t.value.clone();
                *slot = Some(t);
                Ok(value)
            }
            Err(e) => match slot.as_ref() {
                Some(t) if !force && t.is_valid(now) => {
                    tracing::warn!(target: "kes_keystore_cloud", "{e}; using the current token until it expires");
                    Ok(t.value.clone())
                }
                _ => Err(e),
            },
        }
    }

    async fn login(&self) -> Result<Token, StoreError> {
        let body = rest::json(
            WHAT,
            &Login {
                grant_type: "refresh_token",
                refresh_token: self.refresh_token.expose_secret(),
                domain: &self.domain,
            },
        )?;
        let url = format!("{}/api/v1/auth/tokens", self.endpoint);
        let response = self
            .http
            .send(
                WHAT,
                || Ok(HttpRequest::new(Method::POST, url.clone()).json(body.clone())),
                default_verdict,
            )
            .await?;
        if !response.is_success() {
            return Err(StoreError::other(format!(
                "gemalto: login failed: {}",
                error_text(&response)
            )));
        }
        let answer: LoginAnswer = rest::parse("gemalto: login", &response)?;
        // KES re-logs in every duration/2; a missing duration falls back to 5 minutes.
        let lifetime = match answer.duration {
            0 => Duration::from_secs(300),
            d => Duration::from_secs(d),
        };
        Token::new(WHAT, &format!("Bearer {}", answer.jwt.as_str()), lifetime)
    }

    /// Sends a request with the current token; on 401 logs in once more and retries.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<HttpResponse, StoreError> {
        let url = format!("{}{path}", self.endpoint);
        let mut force = false;
        loop {
            let token = self.auth(force).await?;
            let response = self
                .http
                .send(
                    WHAT,
                    || {
                        let mut r = HttpRequest::new(method.clone(), url.clone())
                            .header(http::header::AUTHORIZATION, token.clone());
                        if let Some(b) = &body {
                            r = r.json(b.clone());
                        }
                        Ok(r)
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
}

/// `{"code":…,"codeDesc":…}` as text (or the raw body).
fn error_text(response: &HttpResponse) -> String {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct E {
        #[serde(default)]
        code: serde_json::Value,
        #[serde(default)]
        code_desc: String,
    }
    match serde_json::from_slice::<E>(&response.body) {
        Ok(e) if !e.code_desc.is_empty() => {
            format!(
                "HTTP {}: {} (code {})",
                response.status, e.code_desc, e.code
            )
        }
        _ => format!("HTTP {}: {}", response.status, response.error_text()),
    }
}

#[async_trait]
impl KeyStore for GemaltoKeyStore {
    fn describe(&self) -> String {
        format!("Gemalto KeySecure: {}", self.endpoint)
    }

    async fn status(&self) -> kes_keystore::Result<Duration> {
        rest::probe(&self.http, WHAT, &self.endpoint).await
    }

    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        let material = std::str::from_utf8(value).map_err(|_| {
            StoreError::other("gemalto: key values must be text (KES's stored values are ASCII)")
        })?;
        let body = rest::json(
            WHAT,
            &CreateSecret {
                data_type: "seed",
                material,
                name,
            },
        )?;
        let response = self
            .call(Method::POST, "/api/v1/vault/secrets", Some(body))
            .await?;
        match response.status {
            200 | 201 => Ok(()),
            409 => Err(StoreError::Exists),
            _ => Err(StoreError::other(format!(
                "gemalto: failed to create key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    async fn get(&self, name: &str) -> kes_keystore::Result<Zeroizing<Vec<u8>>> {
        let path = format!(
            "/api/v1/vault/secrets/{}/export?type=name",
            rest::segment(name)
        );
        let response = self.call(Method::POST, &path, None).await?;
        match response.status {
            200 => {
                let e: Exported = rest::parse("gemalto: export", &response)?;
                Ok(Zeroizing::new(e.material.as_bytes().to_vec()))
            }
            404 => Err(StoreError::NotFound),
            _ => Err(StoreError::other(format!(
                "gemalto: failed to read key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        let path = format!("/api/v1/vault/secrets/{}?type=name", rest::segment(name));
        let response = self.call(Method::DELETE, &path, None).await?;
        match response.status {
            200 | 204 => Ok(()),
            404 => Err(StoreError::NotFound),
            _ => Err(StoreError::other(format!(
                "gemalto: failed to delete key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> kes_keystore::Result<ListPage> {
        let mut names = Vec::new();
        let mut skip = 0u64;
        loop {
            let path = format!("/api/v1/vault/secrets?limit={LIST_LIMIT}&skip={skip}");
            let response = self.call(Method::GET, &path, None).await?;
            if response.status != 200 {
                return Err(StoreError::other(format!(
                    "gemalto: failed to list keys: {}",
                    error_text(&response)
                )));
            }
            let page: ListAnswer = rest::parse("gemalto: list", &response)?;
            let got = u64::try_from(page.resources.len()).unwrap_or(u64::MAX);
            names.extend(
                page.resources
                    .into_iter()
                    .map(|r| r.name)
                    .filter(|n| !n.is_empty()),
            );
            skip = skip.saturating_add(got);
            if got == 0 || skip >= page.total {
                break;
            }
        }
        Ok(list_page(names, prefix, continue_at, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages() {
        let e = GemaltoConfig::new("", "t").validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid gemalto keysecure keystore: no endpoint specified"
        );
        let e = GemaltoConfig::new("https://h", "").validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid gemalto keysecure keystore: no token specified"
        );
        assert!(GemaltoConfig::new("https://h", "t").validate().is_ok());
        assert!(
            !format!("{:?}", GemaltoConfig::new("h", "refresh-secret")).contains("refresh-secret")
        );
    }
}
