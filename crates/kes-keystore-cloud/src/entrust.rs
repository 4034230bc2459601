//! Entrust KeyControl (`keystore.entrust.keycontrol`, spec §8.11).
//!
//! A key is a KeyControl secret in one box, named after the key, its data the stored value
//! (base64 in JSON) — what KES writes. Login (`POST /vault/1.0/Login/<vault_id>/`) gives a
//! token with an expiry; it is renewed (`POST /vault/1.0/Renew/`) at half its remaining
//! lifetime, and when renewal fails the store logs in again. An answer of 401 triggers one new
//! login and one retry, so an expired token never fails a request while the login works.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderName, HeaderValue, Method};
use kes_keystore::{Error as StoreError, KeyStore, ListPage, list_page};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::rest::{self, Token};
use crate::transport::{ClientOptions, HttpClient, HttpRequest, HttpResponse, default_verdict};
use crate::{Error, Result};

const WHAT: &str = "keycontrol";
/// The token header.
const AUTH_HEADER: HeaderName = HeaderName::from_static("x-vault-auth");
/// Secrets per list request (as KES).
const LIST_LIMIT: u32 = 256;
/// Token lifetime assumed when the server sends no usable expiry (as KES).
const FALLBACK_LIFETIME: Duration = Duration::from_secs(300);

/// `keystore.entrust.keycontrol`.
#[derive(Clone)]
#[non_exhaustive]
pub struct EntrustConfig {
    /// `endpoint`.
    pub endpoint: String,
    /// `vault_id`.
    pub vault_id: String,
    /// `box_id`: box name or ID.
    pub box_id: String,
    /// `credentials.username`.
    pub username: String,
    /// `credentials.password`.
    pub password: SecretString,
    /// `tls.ca`: a CA file or directory (empty: the system roots).
    pub ca: Option<PathBuf>,
    /// HTTP settings (timeouts, retries).
    pub http: ClientOptions,
}

impl std::fmt::Debug for EntrustConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntrustConfig")
            .field("endpoint", &self.endpoint)
            .field("vault_id", &self.vault_id)
            .field("box_id", &self.box_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl EntrustConfig {
    /// A config with every required field.
    pub fn new(
        endpoint: impl Into<String>,
        vault_id: impl Into<String>,
        box_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        EntrustConfig {
            endpoint: endpoint.into(),
            vault_id: vault_id.into(),
            box_id: box_id.into(),
            username: username.into(),
            password: SecretString::from(password.into()),
            ca: None,
            http: ClientOptions::default(),
        }
    }

    /// Checks the required fields with KES's messages.
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str| {
            Err(Error::Config(format!(
                "invalid Entrust KeyControl keystore: {what}"
            )))
        };
        if self.endpoint.trim().is_empty() {
            return invalid("no endpoint specified");
        }
        if self.vault_id.trim().is_empty() {
            return invalid("no vault ID specified");
        }
        if self.box_id.trim().is_empty() {
            return invalid("no box ID specified");
        }
        if self.username.trim().is_empty() {
            return invalid("no username specified");
        }
        if self.password.expose_secret().is_empty() {
            return invalid("no password specified");
        }
        rest::base_url("invalid Entrust KeyControl keystore", &self.endpoint)?;
        Ok(())
    }
}

#[derive(Serialize)]
struct Login<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Zeroizing<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct BoxId<'a> {
    box_id: &'a str,
}

#[derive(Serialize)]
struct CreateSecret<'a> {
    box_id: &'a str,
    name: &'a str,
    secret_data: &'a str,
}

#[derive(Serialize)]
struct SecretRef<'a> {
    box_id: &'a str,
    secret_id: &'a str,
}

#[derive(Deserialize)]
struct Checkout {
    secret_data: Zeroizing<String>,
}

#[derive(Serialize)]
struct ListRequest<'a> {
    box_id: &'a str,
    max_items: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    secrets: Vec<ListEntry>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct ListEntry {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expired: bool,
}

/// KES keys in an Entrust KeyControl box.
pub struct EntrustKeyStore {
    http: HttpClient,
    endpoint: String,
    vault_id: String,
    box_id: String,
    username: String,
    password: SecretString,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl std::fmt::Debug for EntrustKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntrustKeyStore")
            .field("endpoint", &self.endpoint)
            .field("vault_id", &self.vault_id)
            .field("box_id", &self.box_id)
            .finish_non_exhaustive()
    }
}

impl EntrustKeyStore {
    /// Validates `config` and logs in (a failed login is a startup error, as in KES).
    pub async fn connect(config: EntrustConfig) -> Result<Self> {
        config.validate()?;
        let mut options = config.http.clone();
        if config.ca.is_some() {
            options.ca = config.ca.clone();
        }
        let store = EntrustKeyStore {
            http: HttpClient::new(options)?,
            endpoint: rest::base_url(WHAT, &config.endpoint)?,
            vault_id: config.vault_id.trim().to_owned(),
            box_id: config.box_id.trim().to_owned(),
            username: config.username.clone(),
            password: config.password.clone(),
            token: tokio::sync::Mutex::new(None),
        };
        store.auth(false).await.map_err(Error::Connect)?;
        Ok(store)
    }

    /// The current token: renewed when due (half its lifetime), a new login when renewal
    /// fails, when there is none, or when `force` is set.
    async fn auth(&self, force: bool) -> Result<HeaderValue, StoreError> {
        let mut slot = self.token.lock().await;
        let now = Instant::now();
        if let Some(t) = slot.as_ref() {
            if !force && t.is_fresh(now) {
                return Ok(t.value.clone());
            }
        }
        let renewed = match slot.as_ref() {
            Some(t) if !force && t.is_valid(now) => match self.renew(&t.value).await {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(target: "kes_keystore_cloud", "{e}; logging in again");
                    None
                }
            },
            _ => None,
        };
        let token = match renewed {
            Some(t) => t,
            None => self.login().await?,
        };
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    async fn login(&self) -> Result<Token, StoreError> {
        let body = rest::json(
            WHAT,
            &Login {
                username: &self.username,
                password: self.password.expose_secret(),
            },
        )?;
        let url = format!(
            "{}/vault/1.0/Login/{}/",
            self.endpoint,
            rest::segment(&self.vault_id)
        );
        let response = self
            .http
            .send(
                WHAT,
                || Ok(HttpRequest::new(Method::POST, url.clone()).json(body.clone())),
                default_verdict,
            )
            .await?;
        token_from("keycontrol: login failed", &response)
    }

    async fn renew(&self, current: &HeaderValue) -> Result<Token, StoreError> {
        let url = format!("{}/vault/1.0/Renew/", self.endpoint);
        let response = self
            .http
            .send(
                WHAT,
                || {
                    Ok(HttpRequest::new(Method::POST, url.clone())
                        .header(AUTH_HEADER, current.clone()))
                },
                default_verdict,
            )
            .await?;
        token_from("keycontrol: token renewal failed", &response)
    }

    /// POSTs `body` to `/vault/1.0/<op>/` with the current token; on 401 logs in once more
    /// and retries.
    async fn call(&self, op: &str, body: Zeroizing<Vec<u8>>) -> Result<HttpResponse, StoreError> {
        let url = format!("{}/vault/1.0/{op}/", self.endpoint);
        let mut force = false;
        loop {
            let token = self.auth(force).await?;
            let response = self
                .http
                .send(
                    WHAT,
                    || {
                        Ok(HttpRequest::new(Method::POST, url.clone())
                            .header(AUTH_HEADER, token.clone())
                            .json(body.clone()))
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

/// A token from a login or renewal answer (expiry: `expires_at`, else 5 minutes).
fn token_from(what: &str, response: &HttpResponse) -> Result<Token, StoreError> {
    if response.status != 200 {
        return Err(StoreError::other(format!(
            "{what}: {}",
            error_text(response)
        )));
    }
    let answer: TokenAnswer = rest::parse(what, response)?;
    if answer.access_token.is_empty() {
        return Err(StoreError::other(format!("{what}: auth token is empty")));
    }
    let lifetime = answer
        .expires_at
        .as_deref()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .and_then(|t| {
            let left = t - time::OffsetDateTime::now_utc();
            Duration::try_from(left).ok()
        })
        .filter(|d| !d.is_zero())
        .unwrap_or(FALLBACK_LIFETIME);
    Token::new(WHAT, &answer.access_token, lifetime)
}

/// `{"error":…}` as text (or the raw body).
fn error_text(response: &HttpResponse) -> String {
    #[derive(Deserialize)]
    struct E {
        error: String,
    }
    match serde_json::from_slice::<E>(&response.body) {
        Ok(e) => format!("HTTP {}: {}", response.status, e.error),
        Err(_) => format!("HTTP {}: {}", response.status, response.error_text()),
    }
}

#[async_trait]
impl KeyStore for EntrustKeyStore {
    fn describe(&self) -> String {
        format!("Entrust KeyControl: {}", self.endpoint)
    }

    /// `POST /vault/1.0/GetBox/`: the box must exist and the token work (as KES).
    async fn status(&self) -> kes_keystore::Result<Duration> {
        let body = rest::json(
            WHAT,
            &BoxId {
                box_id: &self.box_id,
            },
        )?;
        let started = Instant::now();
        let response = self.call("GetBox", body).await?;
        if response.status != 200 {
            return Err(StoreError::other(format!(
                "keycontrol: failed to fetch status: {}",
                error_text(&response)
            )));
        }
        Ok(started.elapsed())
    }

    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        let data = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value));
        let body = rest::json(
            WHAT,
            &CreateSecret {
                box_id: &self.box_id,
                name,
                secret_data: &data,
            },
        )?;
        let response = self.call("CreateSecret", body).await?;
        match response.status {
            200 | 201 => Ok(()),
            409 => Err(StoreError::Exists),
            _ => Err(StoreError::other(format!(
                "keycontrol: failed to create key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    async fn get(&self, name: &str) -> kes_keystore::Result<Zeroizing<Vec<u8>>> {
        let body = rest::json(
            WHAT,
            &SecretRef {
                box_id: &self.box_id,
                secret_id: name,
            },
        )?;
        let response = self.call("CheckoutSecret", body).await?;
        match response.status {
            200 => {
                let c: Checkout = rest::parse("keycontrol: checkout", &response)?;
                base64::engine::general_purpose::STANDARD
                    .decode(c.secret_data.as_bytes())
                    .map(Zeroizing::new)
                    .map_err(|_| StoreError::InvalidValue {
                        name: name.to_owned(),
                        reason: "secret_data is not valid base64".to_owned(),
                    })
            }
            404 => Err(StoreError::NotFound),
            _ => Err(StoreError::other(format!(
                "keycontrol: failed to read key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        let body = rest::json(
            WHAT,
            &SecretRef {
                box_id: &self.box_id,
                secret_id: name,
            },
        )?;
        let response = self.call("DeleteSecret", body).await?;
        match response.status {
            200 | 204 => Ok(()),
            404 => Err(StoreError::NotFound),
            _ => Err(StoreError::other(format!(
                "keycontrol: failed to delete key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    /// Every page of `ListSecretIds` (the server's `next_token` passed back unchanged),
    /// expired secrets and empty names skipped, then the shared list helper.
    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> kes_keystore::Result<ListPage> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let body = rest::json(
                WHAT,
                &ListRequest {
                    box_id: &self.box_id,
                    max_items: LIST_LIMIT,
                    next_token: next.as_deref(),
                },
            )?;
            let response = self.call("ListSecretIds", body).await?;
            if response.status != 200 {
                return Err(StoreError::other(format!(
                    "keycontrol: failed to list keys: {}",
                    error_text(&response)
                )));
            }
            let page: ListAnswer = rest::parse("keycontrol: list", &response)?;
            names.extend(
                page.secrets
                    .into_iter()
                    .filter(|s| !s.expired && !s.name.is_empty())
                    .map(|s| s.name),
            );
            match page.next_token.filter(|t| !t.is_empty()) {
                None => break,
                Some(t) if next.as_deref() == Some(t.as_str()) => {
                    return Err(StoreError::other(
                        "keycontrol: failed to list keys: the server returned the same next_token twice",
                    ));
                }
                Some(t) => next = Some(t),
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
        let ok = EntrustConfig::new("https://h", "v", "b", "u", "p");
        assert!(ok.validate().is_ok());
        let cases = [
            (
                EntrustConfig::new("", "v", "b", "u", "p"),
                "no endpoint specified",
            ),
            (
                EntrustConfig::new("https://h", "", "b", "u", "p"),
                "no vault ID specified",
            ),
            (
                EntrustConfig::new("https://h", "v", "", "u", "p"),
                "no box ID specified",
            ),
            (
                EntrustConfig::new("https://h", "v", "b", "", "p"),
                "no username specified",
            ),
            (
                EntrustConfig::new("https://h", "v", "b", "u", ""),
                "no password specified",
            ),
        ];
        for (config, message) in cases {
            assert_eq!(
                config.validate().unwrap_err().to_string(),
                format!("invalid Entrust KeyControl keystore: {message}")
            );
        }
        assert!(!format!("{ok:?}").contains("\"p\""));
    }

    #[test]
    fn token_expiry_parsing() {
        let answer = |body: &str| HttpResponse {
            status: 200,
            headers: http::HeaderMap::new(),
            body: Zeroizing::new(body.as_bytes().to_vec()),
        };
        let in_an_hour = (time::OffsetDateTime::now_utc() + Duration::from_secs(3600))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let t = token_from(
            "t",
            &answer(&format!(
                r#"{{"access_token":"a","expires_at":"{in_an_hour}"}}"#
            )),
        )
        .unwrap();
        let left = t.expires_at - Instant::now();
        assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600));
        let t = token_from("t", &answer(r#"{"access_token":"a"}"#)).unwrap();
        assert!(t.expires_at - Instant::now() <= FALLBACK_LIFETIME);
        assert!(token_from("t", &answer(r#"{"access_token":""}"#)).is_err());
    }
}
