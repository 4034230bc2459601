//! AWS credentials: static ones from the config, or the default chain.
//!
//! The chain is chosen once, at connect, from the environment (passed in as a lookup, so it
//! stays testable), in the order of the AWS SDKs (shared config files are not read, as in
//! KES):
//! 1. `AWS_ACCESS_KEY_ID` (or `AWS_ACCESS_KEY`) + `AWS_SECRET_ACCESS_KEY` (or
//!    `AWS_SECRET_KEY`), optional `AWS_SESSION_TOKEN`;
//! 2. web identity (EKS IAM roles for service accounts): `AWS_WEB_IDENTITY_TOKEN_FILE` +
//!    `AWS_ROLE_ARN` (+ `AWS_ROLE_SESSION_NAME`) → STS `AssumeRoleWithWebIdentity` at
//!    `AWS_ENDPOINT_URL_STS` (default `https://sts.<region>.amazonaws.com`); the token file is
//!    re-read at every refresh;
//! 3. ECS/EKS container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on
//!    `http://169.254.170.2`) or `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)`;
//! 4. EC2 instance metadata (IMDSv2) at `AWS_EC2_METADATA_SERVICE_ENDPOINT` (default
//!    `http://169.254.169.254`) unless `AWS_EC2_METADATA_DISABLED=true`.
//!
//! Temporary credentials are cached and refreshed five minutes before they expire (or
//! half-way through, for shorter lifetimes); one refresh is shared by all concurrent callers.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method};
use kes_keystore::Error as StoreError;
use kes_keystore_cloud::transport::{HttpClient, HttpRequest, HttpResponse, default_verdict};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::config::AwsConfig;
use crate::wire::xml_tag;

/// How long before expiry temporary credentials are refreshed.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// The ECS container credentials host.
const ECS_HOST: &str = "http://169.254.170.2";
/// The EC2 instance metadata service.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// Characters percent-encoded in a URL path segment (all but RFC 3986 unreserved ones).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One set of credentials (secret parts zeroized on drop).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) access_key: String,
    pub(crate) secret_key: Zeroizing<String>,
    pub(crate) session_token: Option<Zeroizing<String>>,
    pub(crate) expires: Option<SystemTime>,
    /// When they were obtained (for the "half-way" refresh of short-lived credentials).
    obtained: SystemTime,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn new(
        access_key: String,
        secret_key: Zeroizing<String>,
        session_token: Option<Zeroizing<String>>,
        expires: Option<SystemTime>,
    ) -> Self {
        Credentials {
            access_key,
            secret_key,
            session_token: session_token.filter(|t| !t.is_empty()),
            expires,
            obtained: SystemTime::now(),
        }
    }

    /// `true` when these credentials should be replaced at `now`.
    fn is_stale(&self, now: SystemTime) -> bool {
        let Some(expires) = self.expires else {
            return false;
        };
        let lifetime = expires.duration_since(self.obtained).unwrap_or_default();
        let margin = REFRESH_BEFORE.min(lifetime / 2);
        match expires.checked_sub(margin) {
            Some(refresh_at) => now >= refresh_at,
            None => true,
        }
    }
}

/// Where credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// `keystore.aws.secretsmanager.credentials`.
    Static,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    Environment,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` through STS.
    WebIdentity,
    /// ECS/EKS container credentials (`AWS_CONTAINER_CREDENTIALS_*`).
    Container,
    /// EC2 instance metadata (IMDSv2).
    InstanceMetadata,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialSource::Static => "static credentials",
            CredentialSource::Environment => "environment credentials",
            CredentialSource::WebIdentity => "web identity credentials",
            CredentialSource::Container => "container credentials",
            CredentialSource::InstanceMetadata => "EC2 instance metadata credentials",
        })
    }
}

enum ContainerAuth {
    Token(SecretString),
    File(PathBuf),
}

enum Source {
    Fixed(Credentials),
    WebIdentity {
        token_file: PathBuf,
        role_arn: String,
        session_name: String,
        sts_url: String,
    },
    Container {
        url: String,
        auth: Option<ContainerAuth>,
    },
    Imds {
        endpoint: String,
    },
}

/// A credentials provider with a cache.
pub(crate) struct Provider {
    kind: CredentialSource,
    source: Source,
    http: HttpClient,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

/// The environment lookup the default chain reads (`Sync`, so that `connect_with_env` is a
/// `Send` future a server can spawn).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

impl Provider {
    /// Chooses the source: static credentials from `config`, else the first default-chain
    /// source the environment names.
    pub(crate) fn new(config: &AwsConfig, env: EnvLookup<'_>, http: HttpClient) -> Self {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (kind, source) = if let Some(c) = &config.credentials {
            let token = c.session_token.expose_secret();
            (
                CredentialSource::Static,
                Source::Fixed(Credentials::new(
                    c.access_key.clone(),
                    Zeroizing::new(c.secret_key.expose_secret().to_owned()),
                    (!token.is_empty()).then(|| Zeroizing::new(token.to_owned())),
                    None,
                )),
            )
        } else if let (Some(id), Some(secret)) = (
            var("AWS_ACCESS_KEY_ID").or_else(|| var("AWS_ACCESS_KEY")),
            var("AWS_SECRET_ACCESS_KEY").or_else(|| var("AWS_SECRET_KEY")),
        ) {
            (
                CredentialSource::Environment,
                Source::Fixed(Credentials::new(
                    id,
                    Zeroizing::new(secret),
                    var("AWS_SESSION_TOKEN").map(Zeroizing::new),
                    None,
                )),
            )
        } else if let (Some(token_file), Some(role_arn)) =
            (var("AWS_WEB_IDENTITY_TOKEN_FILE"), var("AWS_ROLE_ARN"))
        {
            let sts_url = var("AWS_ENDPOINT_URL_STS")
                .or_else(|| var("AWS_ENDPOINT_URL"))
                .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", config.region.trim()));
            let session_name = var("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                format!("kes-rs-{}", now.as_millis())
            });
            (
                CredentialSource::WebIdentity,
                Source::WebIdentity {
                    token_file: PathBuf::from(token_file),
                    role_arn,
                    session_name,
                    sts_url: sts_url.trim_end_matches('/').to_owned(),
                },
            )
        } else if let Some(url) = var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .map(|rel| format!("{ECS_HOST}{rel}"))
            .or_else(|| var("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        {
            let auth = var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                .map(|f| ContainerAuth::File(PathBuf::from(f)))
                .or_else(|| {
                    var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                        .map(|t| ContainerAuth::Token(SecretString::from(t)))
                });
            (CredentialSource::Container, Source::Container { url, auth })
        } else {
            let endpoint = var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                .unwrap_or_else(|| IMDS_ENDPOINT.to_owned());
            let disabled = var("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            let endpoint = if disabled { String::new() } else { endpoint };
            (
                CredentialSource::InstanceMetadata,
                Source::Imds {
                    endpoint: endpoint.trim_end_matches('/').to_owned(),
                },
            )
        };
        Provider {
            kind,
            source,
            http,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Which source the provider uses.
    pub(crate) fn kind(&self) -> CredentialSource {
        self.kind
    }

    /// Current credentials (cached; refreshed when stale).
    pub(crate) async fn get(&self) -> Result<Credentials, StoreError> {
        if let Source::Fixed(c) = &self.source {
            return Ok(c.clone());
        }
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if !c.is_stale(SystemTime::now()) {
                return Ok(c.clone());
            }
        }
        let fresh = self.fetch().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops cached temporary credentials (after the service said they expired).
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// `true` when [`Provider::invalidate`] can lead to different credentials.
    pub(crate) fn is_refreshable(&self) -> bool {
        !matches!(self.source, Source::Fixed(_))
    }

    async fn fetch(&self) -> Result<Credentials, StoreError> {
        match &self.source {
            Source::Fixed(c) => Ok(c.clone()),
            Source::WebIdentity {
                token_file,
                role_arn,
                session_name,
                sts_url,
            } => {
                self.web_identity(token_file, role_arn, session_name, sts_url)
                    .await
            }
            Source::Container { url, auth } => self.container(url, auth.as_ref()).await,
            Source::Imds { endpoint } => self.imds(endpoint).await,
        }
    }

    async fn web_identity(
        &self,
        token_file: &PathBuf,
        role_arn: &str,
        session_name: &str,
        sts_url: &str,
    ) -> Result<Credentials, StoreError> {
        let what = "aws: web identity";
        let token = Zeroizing::new(std::fs::read_to_string(token_file).map_err(|e| {
            StoreError::other(format!(
                "{what}: failed to read AWS_WEB_IDENTITY_TOKEN_FILE '{}': {e}",
                token_file.display()
            ))
        })?);
        let enc = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
        let body = Zeroizing::new(
            format!(
                "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName={}&WebIdentityToken={}",
                enc(role_arn),
                enc(session_name),
                enc(token.trim())
            )
            .into_bytes(),
        );
        let response = self
            .http
            .send(
                what,
                || {
                    let mut r = HttpRequest::new(Method::POST, format!("{sts_url}/")).header(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/x-www-form-urlencoded"),
                    );
                    r.body = body.clone();
                    Ok(r)
                },
                default_verdict,
            )
            .await?;
        let text = Zeroizing::new(String::from_utf8_lossy(&response.body).into_owned());
        if !response.is_success() {
            let code = xml_tag(&text, "Code").unwrap_or_default();
            let message = xml_tag(&text, "Message").unwrap_or_else(|| response.error_text());
            return Err(StoreError::other(format!(
                "{what}: AssumeRoleWithWebIdentity for '{role_arn}' failed (HTTP {}): {code}: {message}",
                response.status
            )));
        }
        let field = |tag: &str| {
            xml_tag(&text, tag)
                .ok_or_else(|| StoreError::other(format!("{what}: the STS answer has no <{tag}>")))
        };
        Ok(Credentials::new(
            field("AccessKeyId")?,
            Zeroizing::new(field("SecretAccessKey")?),
            Some(Zeroizing::new(field("SessionToken")?)),
            Some(parse_time(what, &field("Expiration")?)?),
        ))
    }

    async fn container(
        &self,
        url: &str,
        auth: Option<&ContainerAuth>,
    ) -> Result<Credentials, StoreError> {
        let what = "aws: container credentials";
        let token = match auth {
            None => None,
            Some(ContainerAuth::Token(t)) => Some(Zeroizing::new(t.expose_secret().to_owned())),
            Some(ContainerAuth::File(f)) => {
                Some(Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
                    StoreError::other(format!(
                        "{what}: failed to read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE '{}': {e}",
                        f.display()
                    ))
                })?))
            }
        };
        let response = self
            .http
            .send(
                what,
                || {
                    let mut r = HttpRequest::new(Method::GET, url);
                    if let Some(t) = &token {
                        let mut v = HeaderValue::from_str(t.trim()).map_err(|_| {
                            StoreError::other(format!(
                                "{what}: the authorization token is not a valid header value"
                            ))
                        })?;
                        v.set_sensitive(true);
                        r = r.header(http::header::AUTHORIZATION, v);
                    }
                    Ok(r)
                },
                default_verdict,
            )
            .await?;
        json_credentials(what, &response)
    }

    async fn imds(&self, endpoint: &str) -> Result<Credentials, StoreError> {
        let what = "aws: EC2 instance metadata";
        if endpoint.is_empty() {
            return Err(StoreError::other(
                "aws: no credentials: none configured, none in the environment, and EC2 instance metadata is disabled (AWS_EC2_METADATA_DISABLED)",
            ));
        }
        let token = self
            .http
            .send(
                what,
                || {
                    Ok(
                        HttpRequest::new(Method::PUT, format!("{endpoint}/latest/api/token"))
                            .header(
                                http::header::HeaderName::from_static(
                                    "x-aws-ec2-metadata-token-ttl-seconds",
                                ),
                                HeaderValue::from_static("21600"),
                            ),
                    )
                },
                default_verdict,
            )
            .await?;
        if !token.is_success() {
            return Err(StoreError::other(format!(
                "{what}: getting a session token failed (HTTP {}): {}",
                token.status,
                token.error_text()
            )));
        }
        let mut token = HeaderValue::from_bytes(token.body.trim_ascii()).map_err(|_| {
            StoreError::other(format!(
                "{what}: the session token is not a valid header value"
            ))
        })?;
        token.set_sensitive(true);
        let get = |path: String| {
            let token = token.clone();
            async move {
                self.http
                    .send(
                        what,
                        || {
                            Ok(
                                HttpRequest::new(Method::GET, format!("{endpoint}{path}")).header(
                                    http::header::HeaderName::from_static(
                                        "x-aws-ec2-metadata-token",
                                    ),
                                    token.clone(),
                                ),
                            )
                        },
                        default_verdict,
                    )
                    .await
            }
        };
        let roles = get("/latest/meta-data/iam/security-credentials/".to_owned()).await?;
        if !roles.is_success() {
            return Err(StoreError::other(format!(
                "{what}: no IAM role is attached to this instance (HTTP {})",
                roles.status
            )));
        }
        let roles = String::from_utf8_lossy(&roles.body).into_owned();
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| {
                StoreError::other(format!("{what}: no IAM role is attached to this instance"))
            })?;
        let path = format!(
            "/latest/meta-data/iam/security-credentials/{}",
            utf8_percent_encode(role, PATH_SEGMENT)
        );
        let response = get(path).await?;
        json_credentials(what, &response)
    }
}

/// Parses the JSON credentials document of the container and instance metadata services:
/// `{"AccessKeyId","SecretAccessKey","Token","Expiration"}`.
fn json_credentials(what: &str, response: &HttpResponse) -> Result<Credentials, StoreError> {
    if !response.is_success() {
        return Err(StoreError::other(format!(
            "{what}: HTTP {}: {}",
            response.status,
            response.error_text()
        )));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Doc {
        access_key_id: String,
        secret_access_key: Zeroizing<String>,
        #[serde(default)]
        token: Option<Zeroizing<String>>,
        #[serde(default)]
        expiration: Option<String>,
    }
    let doc: Doc = serde_json::from_slice(&response.body)
        .map_err(|e| StoreError::other(format!("{what}: invalid credentials document: {e}")))?;
    let expires = match doc.expiration.as_deref() {
        Some(t) if !t.is_empty() => Some(parse_time(what, t)?),
        _ => None,
    };
    Ok(Credentials::new(
        doc.access_key_id,
        doc.secret_access_key,
        doc.token,
        expires,
    ))
}

fn parse_time(what: &str, text: &str) -> Result<SystemTime, StoreError> {
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|e| StoreError::other(format!("{what}: invalid expiration '{text}': {e}")))?;
    Ok(SystemTime::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn provider(vars: &[(&str, &str)]) -> Provider {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let http = HttpClient::new(Default::default()).unwrap();
        Provider::new(
            &AwsConfig::new("h", "eu-west-1"),
            &|k: &str| map.get(k).cloned(),
            http,
        )
    }

    #[test]
    fn chain_order() {
        assert_eq!(provider(&[]).kind(), CredentialSource::InstanceMetadata);
        let p = provider(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn"),
        ]);
        assert_eq!(p.kind(), CredentialSource::Environment);
        assert!(!p.is_refreshable());
        // Only one half of the env pair: the next source.
        let p = provider(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn"),
        ]);
        assert_eq!(p.kind(), CredentialSource::WebIdentity);
        match &p.source {
            Source::WebIdentity { sts_url, .. } => {
                assert_eq!(sts_url, "https://sts.eu-west-1.amazonaws.com");
            }
            _ => unreachable!(),
        }
        let p = provider(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds/x")]);
        assert_eq!(p.kind(), CredentialSource::Container);
        match &p.source {
            Source::Container { url, .. } => assert_eq!(url, "http://169.254.170.2/v2/creds/x"),
            _ => unreachable!(),
        }
        let p = provider(&[("AWS_ACCESS_KEY", "AKID"), ("AWS_SECRET_KEY", "s")]);
        assert_eq!(p.kind(), CredentialSource::Environment);
    }

    #[tokio::test]
    async fn disabled_metadata_is_a_clear_error() {
        let p = provider(&[("AWS_EC2_METADATA_DISABLED", "true")]);
        let err = p.get().await.unwrap_err();
        assert!(
            err.to_string().contains("AWS_EC2_METADATA_DISABLED"),
            "{err}"
        );
    }

    #[test]
    fn staleness() {
        let now = SystemTime::now();
        let mut c = Credentials::new("a".into(), Zeroizing::new("s".into()), None, None);
        assert!(!c.is_stale(now + Duration::from_secs(1 << 30)));
        c.obtained = now;
        c.expires = Some(now + Duration::from_secs(3600));
        assert!(!c.is_stale(now + Duration::from_secs(3000)));
        assert!(c.is_stale(now + Duration::from_secs(3301)));
        // Short-lived: refreshed half-way.
        c.expires = Some(now + Duration::from_secs(60));
        assert!(!c.is_stale(now + Duration::from_secs(29)));
        assert!(c.is_stale(now + Duration::from_secs(30)));
    }

    #[test]
    fn credentials_documents() {
        let ok = HttpResponse {
            status: 200,
            headers: http::HeaderMap::new(),
            body: Zeroizing::new(
                br#"{"Code":"Success","AccessKeyId":"ASIA1","SecretAccessKey":"sk","Token":"tok","Expiration":"2026-11-22T12:30:57Z"}"#
                    .to_vec(),
            ),
        };
        let c = json_credentials("t", &ok).unwrap();
        assert_eq!(c.access_key, "ASIA1");
        assert_eq!(c.session_token.as_deref().map(String::as_str), Some("tok"));
        assert!(c.expires.is_some());
        assert!(!format!("{c:?}").contains("sk"));
        let bad = HttpResponse {
            status: 200,
            headers: http::HeaderMap::new(),
            body: Zeroizing::new(b"{}".to_vec()),
        };
        assert!(json_credentials("t", &bad).is_err());
        assert!(parse_time("t", "2026-11-22T12:30:57.139407Z").is_ok());
        assert!(parse_time("t", "yesterday").is_err());
    }
}
