//! OAuth 2 access tokens for Secret Manager.
//!
//! Where the credentials come from, chosen once at connect:
//! 1. `keystore.gcp.secretmanager.credentials` (any field set): the service account KES
//!    synthesises from them (see [`super::GcpConfig::service_account_json`]);
//! 2. `GOOGLE_APPLICATION_CREDENTIALS`: a service-account or `authorized_user` JSON file;
//! 3. gcloud's application-default credentials file
//!    (`$CLOUDSDK_CONFIG/application_default_credentials.json`, default
//!    `$HOME/.config/gcloud/…`);
//! 4. the metadata server (GCE, GKE workload identity, Cloud Run): `GCE_METADATA_HOST` or
//!    `metadata.google.internal`.
//!
//! A service account signs a JWT (RS256, with *ring*) and trades it for an access token at
//! its `token_uri` (RFC 7523 JWT-bearer grant); an `authorized_user` trades its refresh token.
//! Tokens are cached and renewed at half their lifetime; a failed renewal keeps a token that is
//! still valid, and a token the service rejects (401) is replaced once before the call is retried.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Method};
use kes_keystore::Error as StoreError;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::rest::{self, Token};
use crate::transport::{HttpClient, HttpRequest, HttpResponse, default_verdict};
use crate::{Error, Result};

/// The token endpoint of Google's OAuth 2 server (used when a credentials file names none).
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The metadata server's host name.
pub const METADATA_HOST: &str = "metadata.google.internal";
/// Lifetime requested for a service-account assertion (the maximum Google accepts).
const ASSERTION_LIFETIME: u64 = 3600;
const WHAT: &str = "gcp: oauth";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const METADATA_FLAVOR: HeaderName = HeaderName::from_static("metadata-flavor");

/// The environment lookup the default chain reads (injected, so it stays testable).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Where the access tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// The service account of `keystore.gcp.secretmanager.credentials`.
    Config,
    /// A JSON file named by `GOOGLE_APPLICATION_CREDENTIALS`.
    EnvironmentFile(PathBuf),
    /// gcloud's application-default credentials file.
    GcloudFile(PathBuf),
    /// The metadata server at this base URL.
    MetadataServer(String),
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Config => f.write_str("the service account of the config"),
            CredentialSource::EnvironmentFile(p) => {
                write!(f, "GOOGLE_APPLICATION_CREDENTIALS ({})", p.display())
            }
            CredentialSource::GcloudFile(p) => {
                write!(f, "application-default credentials ({})", p.display())
            }
            CredentialSource::MetadataServer(url) => write!(f, "the metadata server ({url})"),
        }
    }
}

/// A service account's signing identity.
pub(crate) struct ServiceAccount {
    pub(crate) client_email: String,
    pub(crate) private_key_id: String,
    pub(crate) key: RsaKeyPair,
    pub(crate) token_uri: String,
}

impl ServiceAccount {
    /// Parses the PEM private key (PKCS #8, or PKCS #1 `RSA PRIVATE KEY`).
    pub(crate) fn new(
        client_email: &str,
        private_key_id: &str,
        private_key_pem: &str,
        token_uri: &str,
    ) -> Result<Self> {
        let invalid = |why: &dyn std::fmt::Display| {
            Error::Credentials(format!("gcp: invalid private key: {why}"))
        };
        let der =
            PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes()).map_err(|e| invalid(&e))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(invalid(&"not an RSA key")),
        }
        .map_err(|e| invalid(&e))?;
        if client_email.trim().is_empty() {
            return Err(Error::Credentials(
                "gcp: the service account has no client_email".into(),
            ));
        }
        Ok(ServiceAccount {
            client_email: client_email.trim().to_owned(),
            private_key_id: private_key_id.trim().to_owned(),
            key,
            token_uri: token_uri.to_owned(),
        })
    }

    /// The signed JWT-bearer assertion for `scope` (space-separated), issued at `iat`.
    pub(crate) fn assertion(&self, scope: &str, iat: u64) -> Result<Zeroizing<String>, StoreError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "kid": self.private_key_id,
        });
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME,
        });
        let mut jwt = Zeroizing::new(format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        ));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| StoreError::other("gcp: signing the token request failed"))?;
        jwt.push('.');
        jwt.push_str(&b64.encode(&signature));
        Ok(jwt)
    }
}

/// The fields of a credentials JSON file that matter here.
#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    private_key: Zeroizing<String>,
    #[serde(default)]
    token_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: Zeroizing<String>,
    #[serde(default)]
    refresh_token: Zeroizing<String>,
}

enum Source {
    ServiceAccount(Box<ServiceAccount>),
    AuthorizedUser {
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
        token_uri: String,
    },
    Metadata {
        url: String,
    },
}

/// Access tokens from one source, cached.
pub(crate) struct TokenSource {
    kind: CredentialSource,
    source: Source,
    /// Space-separated scopes.
    scope: String,
    http: HttpClient,
    cached: tokio::sync::Mutex<Option<Token>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("source", &self.kind)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Reads a credentials file (`service_account` or `authorized_user`).
fn from_file(path: &std::path::Path, token_url: Option<&str>) -> Result<Source> {
    let what = |e: &dyn std::fmt::Display| {
        Error::Credentials(format!("gcp: credentials file {}: {e}", path.display()))
    };
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| what(&e))?);
    let file: CredentialsFile = serde_json::from_slice(&bytes).map_err(|e| what(&e))?;
    let token_uri = |uri: &str| {
        token_url
            .map(str::to_owned)
            .or_else(|| (!uri.trim().is_empty()).then(|| uri.trim().to_owned()))
            .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_owned())
    };
    match file.kind.as_str() {
        "service_account" => Ok(Source::ServiceAccount(Box::new(
            ServiceAccount::new(
                &file.client_email,
                &file.private_key_id,
                &file.private_key,
                &token_uri(&file.token_uri),
            )
            .map_err(|e| what(&e))?,
        ))),
        "authorized_user" => {
            if file.client_id.is_empty() || file.refresh_token.is_empty() {
                return Err(what(&"authorized_user without client_id or refresh_token"));
            }
            Ok(Source::AuthorizedUser {
                client_id: file.client_id,
                client_secret: SecretString::from(file.client_secret.as_str()),
                refresh_token: SecretString::from(file.refresh_token.as_str()),
                token_uri: token_uri(&file.token_uri),
            })
        }
        other => Err(what(&format!(
            "credentials of type '{other}' are not supported (service_account and authorized_user are)"
        ))),
    }
}

impl TokenSource {
    /// The configured service account, or the first default-chain source `env` names.
    pub(crate) fn new(
        account: Option<ServiceAccount>,
        scopes: &[String],
        token_url: Option<&str>,
        env: EnvLookup<'_>,
        http: HttpClient,
    ) -> Result<Self> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let gcloud_file = var("CLOUDSDK_CONFIG")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config").join("gcloud")))
            .map(|dir| dir.join("application_default_credentials.json"))
            .filter(|f| f.is_file());
        let (kind, source) = if let Some(account) = account {
            (
                CredentialSource::Config,
                Source::ServiceAccount(Box::new(account)),
            )
        } else if let Some(file) = var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from) {
            let source = from_file(&file, token_url)?;
            (CredentialSource::EnvironmentFile(file), source)
        } else if let Some(file) = gcloud_file {
            let source = from_file(&file, token_url)?;
            (CredentialSource::GcloudFile(file), source)
        } else {
            let host = var("GCE_METADATA_HOST").unwrap_or_else(|| METADATA_HOST.to_owned());
            let host = host.trim().trim_end_matches('/');
            let url = if host.contains("://") {
                host.to_owned()
            } else {
                format!("http://{host}")
            };
            (
                CredentialSource::MetadataServer(url.clone()),
                Source::Metadata { url },
            )
        };
        let scope = if scopes.is_empty() {
            super::DEFAULT_SCOPE.to_owned()
        } else {
            scopes.join(" ")
        };
        Ok(TokenSource {
            kind,
            source,
            scope,
            http,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// Which source this is.
    pub(crate) fn kind(&self) -> &CredentialSource {
        &self.kind
    }

    /// The current `Authorization` header value: cached, renewed at half its lifetime (a
    /// failed renewal keeps a still-valid token), replaced when `force` is set.
    pub(crate) async fn token(&self, force: bool) -> Result<HeaderValue, StoreError> {
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
            Source::ServiceAccount(account) => {
                let iat = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let assertion = account.assertion(&self.scope, iat)?;
                let body = form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)]);
                self.post_form(&account.token_uri, body).await?
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let body = form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id),
                    ("client_secret", client_secret.expose_secret()),
                    ("refresh_token", refresh_token.expose_secret()),
                ]);
                self.post_form(token_uri, body).await?
            }
            Source::Metadata { url } => {
                let url = format!(
                    "{url}/computeMetadata/v1/instance/service-accounts/default/token?scopes={}",
                    rest::segment(&self.scope.replace(' ', ","))
                );
                self.http
                    .send(
                        WHAT,
                        || {
                            Ok(HttpRequest::new(Method::GET, url.clone())
                                .header(METADATA_FLAVOR, HeaderValue::from_static("Google")))
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
pub(crate) fn form(fields: &[(&str, &str)]) -> Zeroizing<Vec<u8>> {
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

/// A token answer: `{"access_token","expires_in","token_type"}`, or an OAuth error.
fn token_from(source: &CredentialSource, response: &HttpResponse) -> Result<Token, StoreError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        access_token: Zeroizing<String>,
        #[serde(default)]
        expires_in: Option<u64>,
    }
    #[derive(Deserialize)]
    struct OauthError {
        error: String,
        #[serde(default)]
        error_description: String,
    }
    if !response.is_success() {
        let detail = match serde_json::from_slice::<OauthError>(&response.body) {
            Ok(e) if e.error_description.is_empty() => e.error,
            Ok(e) => format!("{}: {}", e.error, e.error_description),
            Err(_) => response.error_text(),
        };
        return Err(StoreError::other(format!(
            "gcp: no access token from {source}: HTTP {}: {detail}",
            response.status
        )));
    }
    let answer: Answer = rest::parse(WHAT, response)?;
    if answer.access_token.is_empty() {
        return Err(StoreError::other(format!(
            "gcp: no access token from {source}: the answer has no access_token"
        )));
    }
    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600).max(1));
    Token::new(
        WHAT,
        &format!("Bearer {}", answer.access_token.as_str()),
        lifetime,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        let body = form(&[("grant_type", JWT_BEARER), ("a b", "x/y+z=")]);
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&a%20b=x%2Fy%2Bz%3D"
        );
    }

    #[test]
    fn chain_order_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let http = HttpClient::new(crate::transport::ClientOptions::default()).unwrap();
        let none = |_: &str| None;
        let t = TokenSource::new(None, &[], None, &none, http.clone()).unwrap();
        assert_eq!(
            t.kind(),
            &CredentialSource::MetadataServer("http://metadata.google.internal".into())
        );
        assert_eq!(t.scope, super::super::DEFAULT_SCOPE);

        let user = dir.path().join("user.json");
        std::fs::write(
            &user,
            r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#,
        )
        .unwrap();
        let path = user.display().to_string();
        let env = move |k: &str| match k {
            "GOOGLE_APPLICATION_CREDENTIALS" => Some(path.clone()),
            "GCE_METADATA_HOST" => Some("127.0.0.1:1".into()),
            _ => None,
        };
        let scopes = ["a".to_owned(), "b".to_owned()];
        let t = TokenSource::new(None, &scopes, None, &env, http.clone()).unwrap();
        assert_eq!(t.kind(), &CredentialSource::EnvironmentFile(user.clone()));
        assert_eq!(t.scope, "a b");
        assert!(
            matches!(&t.source, Source::AuthorizedUser { token_uri, .. } if token_uri == GOOGLE_TOKEN_URL)
        );

        // gcloud's file, when GOOGLE_APPLICATION_CREDENTIALS is unset.
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir(&gcloud).unwrap();
        std::fs::copy(&user, gcloud.join("application_default_credentials.json")).unwrap();
        let g = gcloud.display().to_string();
        let env = move |k: &str| (k == "CLOUDSDK_CONFIG").then(|| g.clone());
        let t = TokenSource::new(None, &[], Some("http://t/token"), &env, http.clone()).unwrap();
        assert!(matches!(t.kind(), CredentialSource::GcloudFile(_)));
        assert!(
            matches!(&t.source, Source::AuthorizedUser { token_uri, .. } if token_uri == "http://t/token")
        );

        for (body, want) in [
            (r#"{"type":"external_account"}"#, "not supported"),
            (
                r#"{"type":"service_account","client_email":"e","private_key":"x"}"#,
                "invalid private key",
            ),
            ("not json", "credentials file"),
        ] {
            std::fs::write(&user, body).unwrap();
            let path = user.display().to_string();
            let env = move |k: &str| (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| path.clone());
            let err = TokenSource::new(None, &[], None, &env, http.clone()).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
    }

    #[test]
    fn token_answers() {
        let answer = |status, body: &str| HttpResponse {
            status,
            headers: http::HeaderMap::new(),
            body: Zeroizing::new(body.as_bytes().to_vec()),
        };
        let src = CredentialSource::Config;
        let t = token_from(
            &src,
            &answer(200, r#"{"access_token":"ya29.x","expires_in":120}"#),
        )
        .unwrap();
        assert_eq!(t.value.to_str().unwrap(), "Bearer ya29.x");
        assert!(t.value.is_sensitive());
        assert!(t.expires_at - Instant::now() <= Duration::from_secs(120));
        let Err(err) = token_from(
            &src,
            &answer(
                400,
                r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            ),
        ) else {
            panic!("a 400 gave a token")
        };
        assert_eq!(
            err.to_string(),
            "gcp: no access token from the service account of the config: HTTP 400: invalid_grant: Invalid JWT Signature."
        );
        assert!(token_from(&src, &answer(200, r#"{"access_token":""}"#)).is_err());
    }
}
