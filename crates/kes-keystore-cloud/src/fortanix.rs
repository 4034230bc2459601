//! Fortanix DSM / SDKMS (`keystore.fortanix.sdkms`, spec §8.10).
//!
//! A key is an exportable `OPAQUE` security object named after the key, its value the stored
//! value (base64 in JSON) — what KES writes. Every call authenticates with the application's
//! API key (`Authorization: Basic <api key>`); at connect the store checks the service's
//! health and opens and closes a session (`/sys/v1/session/auth`, `/terminate`) to validate
//! the key, as KES does.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderValue, Method};
use kes_keystore::{Error as StoreError, KeyStore, ListPage, list_page};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::rest;
use crate::transport::{ClientOptions, HttpClient, HttpRequest, HttpResponse, default_verdict};
use crate::{Error, Result};

const WHAT: &str = "fortanix";
/// Objects per list request (as KES).
const LIST_LIMIT: usize = 100;
/// A bound on list requests, against a server whose cursor does not advance.
const MAX_LIST_PAGES: usize = 100_000;

/// `keystore.fortanix.sdkms`.
#[derive(Clone)]
#[non_exhaustive]
pub struct FortanixConfig {
    /// `endpoint`, e.g. `https://sdkms.fortanix.com`.
    pub endpoint: String,
    /// `group_id`: the group of new keys (empty: the application's default group).
    pub group_id: String,
    /// `credentials.key`: the application's API key.
    pub api_key: SecretString,
    /// `tls.ca`: a CA file or directory (empty: the system roots).
    pub ca: Option<PathBuf>,
    /// HTTP settings (timeouts, retries).
    pub http: ClientOptions,
}

impl std::fmt::Debug for FortanixConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FortanixConfig")
            .field("endpoint", &self.endpoint)
            .field("group_id", &self.group_id)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl FortanixConfig {
    /// A config for `endpoint` with an application `api_key`.
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        FortanixConfig {
            endpoint: endpoint.into(),
            group_id: String::new(),
            api_key: SecretString::from(api_key.into()),
            ca: None,
            http: ClientOptions::default(),
        }
    }

    /// Checks the required fields with KES's messages.
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str| {
            Err(Error::Config(format!(
                "invalid fortanix SDKMS keystore: {what}"
            )))
        };
        if self.endpoint.trim().is_empty() {
            return invalid("no endpoint specified");
        }
        if self.api_key.expose_secret().trim().is_empty() {
            return invalid("no API key specified");
        }
        rest::base_url("invalid fortanix SDKMS keystore", &self.endpoint)?;
        Ok(())
    }
}

#[derive(Serialize)]
struct CreateKey<'a> {
    obj_type: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    group_id: &'a str,
    key_ops: [&'static str; 2],
    value: &'a str,
    enabled: bool,
}

#[derive(Serialize)]
struct ByName<'a> {
    name: &'a str,
}

#[derive(Deserialize)]
struct Exported {
    #[serde(default)]
    value: Option<Zeroizing<String>>,
    #[serde(default = "enabled_default")]
    enabled: bool,
}

fn enabled_default() -> bool {
    true
}

#[derive(Deserialize)]
struct Info {
    kid: String,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct SessionAnswer {
    access_token: Zeroizing<String>,
}

/// KES keys as Fortanix DSM security objects.
pub struct FortanixKeyStore {
    http: HttpClient,
    endpoint: String,
    group_id: String,
    auth: HeaderValue,
}

impl std::fmt::Debug for FortanixKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FortanixKeyStore")
            .field("endpoint", &self.endpoint)
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

impl FortanixKeyStore {
    /// Validates `config`, checks `GET /sys/v1/health` and validates the API key with a
    /// session that is opened and terminated at once (failures are startup errors).
    pub async fn connect(config: FortanixConfig) -> Result<Self> {
        config.validate()?;
        let mut options = config.http.clone();
        if config.ca.is_some() {
            options.ca = config.ca.clone();
        }
        let mut auth =
            HeaderValue::from_str(&format!("Basic {}", config.api_key.expose_secret().trim()))
                .map_err(|_| {
                    Error::Credentials("fortanix: the API key is not a valid header value".into())
                })?;
        auth.set_sensitive(true);
        let store = FortanixKeyStore {
            http: HttpClient::new(options)?,
            endpoint: rest::base_url(WHAT, &config.endpoint)?,
            group_id: config.group_id.trim().to_owned(),
            auth,
        };
        let health = store
            .request(Method::GET, "/sys/v1/health", None, None)
            .await
            .map_err(Error::Connect)?;
        if !health.is_success() {
            return Err(Error::Connect(StoreError::unreachable(format!(
                "fortanix: the service is not healthy: {}",
                error_text(&health)
            ))));
        }
        let session = store
            .request(Method::POST, "/sys/v1/session/auth", None, None)
            .await
            .map_err(Error::Connect)?;
        if session.status != 200 {
            return Err(Error::Connect(StoreError::other(format!(
                "fortanix: authentication with the API key failed: {}",
                error_text(&session)
            ))));
        }
        let session: SessionAnswer =
            rest::parse("fortanix: session", &session).map_err(Error::Connect)?;
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", session.access_token.as_str())).map_err(
                |_| Error::Connect(StoreError::other("fortanix: invalid session token")),
            )?;
        bearer.set_sensitive(true);
        let terminated = store
            .request(
                Method::POST,
                "/sys/v1/session/terminate",
                None,
                Some(bearer),
            )
            .await
            .map_err(Error::Connect)?;
        if !terminated.is_success() {
            tracing::warn!(
                target: "kes_keystore_cloud",
                "fortanix: terminating the check session failed: {}",
                error_text(&terminated)
            );
        }
        Ok(store)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Zeroizing<Vec<u8>>>,
        auth: Option<HeaderValue>,
    ) -> Result<HttpResponse, StoreError> {
        let url = format!("{}{path}", self.endpoint);
        let auth = auth.unwrap_or_else(|| self.auth.clone());
        self.http
            .send(
                WHAT,
                || {
                    let mut r = HttpRequest::new(method.clone(), url.clone())
                        .header(http::header::AUTHORIZATION, auth.clone());
                    if let Some(b) = &body {
                        r = r.json(b.clone());
                    }
                    Ok(r)
                },
                default_verdict,
            )
            .await
    }
}

/// The error body (DSM answers plain text, sometimes JSON with `message`).
fn error_text(response: &HttpResponse) -> String {
    #[derive(Deserialize)]
    struct E {
        message: String,
    }
    match serde_json::from_slice::<E>(&response.body) {
        Ok(e) => format!("HTTP {}: {}", response.status, e.message),
        Err(_) => format!("HTTP {}: {}", response.status, response.error_text()),
    }
}

#[async_trait]
impl KeyStore for FortanixKeyStore {
    fn describe(&self) -> String {
        format!("Fortanix SDKMS: {}", self.endpoint)
    }

    async fn status(&self) -> kes_keystore::Result<Duration> {
        rest::probe(&self.http, WHAT, &self.endpoint).await
    }

    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value));
        let body = rest::json(
            WHAT,
            &CreateKey {
                obj_type: "OPAQUE",
                name,
                group_id: &self.group_id,
                key_ops: ["EXPORT", "APPMANAGEABLE"],
                value: &encoded,
                enabled: true,
            },
        )?;
        let response = self
            .request(Method::PUT, "/crypto/v1/keys", Some(body), None)
            .await?;
        match response.status {
            200 | 201 => Ok(()),
            409 => Err(StoreError::Exists),
            _ => Err(StoreError::other(format!(
                "fortanix: failed to create key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    async fn get(&self, name: &str) -> kes_keystore::Result<Zeroizing<Vec<u8>>> {
        let body = rest::json(WHAT, &ByName { name })?;
        let response = self
            .request(Method::POST, "/crypto/v1/keys/export", Some(body), None)
            .await?;
        match response.status {
            200 => {}
            404 => return Err(StoreError::NotFound),
            _ => {
                return Err(StoreError::other(format!(
                    "fortanix: failed to read key '{name}': {}",
                    error_text(&response)
                )));
            }
        }
        let exported: Exported = rest::parse("fortanix: export", &response)?;
        if !exported.enabled {
            return Err(StoreError::other(format!(
                "fortanix: failed to read key '{name}': the key is disabled"
            )));
        }
        let value = exported.value.ok_or_else(|| StoreError::InvalidValue {
            name: name.to_owned(),
            reason: "the exported object has no value".to_owned(),
        })?;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| StoreError::InvalidValue {
                name: name.to_owned(),
                reason: "the value is not valid base64".to_owned(),
            })
    }

    /// Looks up the object's id with `POST /crypto/v1/keys/info` (KES exports the key for
    /// that, which moves key material needlessly), then `DELETE /crypto/v1/keys/<kid>`.
    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        let body = rest::json(WHAT, &ByName { name })?;
        let response = self
            .request(Method::POST, "/crypto/v1/keys/info", Some(body), None)
            .await?;
        match response.status {
            200 => {}
            404 => return Err(StoreError::NotFound),
            _ => {
                return Err(StoreError::other(format!(
                    "fortanix: failed to delete key '{name}': {}",
                    error_text(&response)
                )));
            }
        }
        let info: Info = rest::parse("fortanix: info", &response)?;
        let path = format!("/crypto/v1/keys/{}", rest::segment(&info.kid));
        let response = self.request(Method::DELETE, &path, None, None).await?;
        match response.status {
            200 | 204 => Ok(()),
            404 => Err(StoreError::NotFound),
            _ => Err(StoreError::other(format!(
                "fortanix: failed to delete key '{name}': {}",
                error_text(&response)
            ))),
        }
    }

    /// Pages through `GET /crypto/v1/keys?sort=name:asc&limit=100&start=<last name>`,
    /// advancing `start` to the last name of each page (upstream never advanced it and looped
    /// forever). Names at or before the cursor are dropped, so it does not matter whether the
    /// server treats `start` as inclusive.
    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> kes_keystore::Result<ListPage> {
        let mut names: Vec<String> = Vec::new();
        let mut start: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut path = format!("/crypto/v1/keys?sort=name:asc&limit={LIST_LIMIT}");
            if let Some(s) = &start {
                path.push_str("&start=");
                path.push_str(&rest::segment(s));
            }
            let response = self.request(Method::GET, &path, None, None).await?;
            if response.status != 200 {
                return Err(StoreError::other(format!(
                    "fortanix: failed to list keys: {}",
                    error_text(&response)
                )));
            }
            let page: Vec<Listed> = rest::parse("fortanix: list", &response)?;
            let full = page.len() >= LIST_LIMIT;
            let fresh: Vec<String> = page
                .into_iter()
                .map(|o| o.name)
                .filter(|n| !n.is_empty() && start.as_deref().is_none_or(|s| n.as_str() > s))
                .collect();
            let Some(last) = fresh.iter().max().cloned() else {
                return Ok(list_page(names, prefix, continue_at, n));
            };
            names.extend(fresh);
            if !full {
                return Ok(list_page(names, prefix, continue_at, n));
            }
            start = Some(last);
        }
        Err(StoreError::other(format!(
            "fortanix: failed to list keys: more than {MAX_LIST_PAGES} pages"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages() {
        let e = FortanixConfig::new("", "k").validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid fortanix SDKMS keystore: no endpoint specified"
        );
        let e = FortanixConfig::new("https://h", " ")
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid fortanix SDKMS keystore: no API key specified"
        );
        assert!(!format!("{:?}", FortanixConfig::new("h", "api-secret")).contains("api-secret"));
    }
}
