//! [`AwsKeyStore`]: KES keys as Secrets Manager secrets (spec §8.6).
//!
//! Secret name = key name, `SecretString` = the stored value, exactly as KES writes them, so
//! KES and kes-rs read each other's secrets.

use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use http::{HeaderName, HeaderValue, Method};
use kes_keystore::{Error as StoreError, KeyStore, ListPage, list_page};
use kes_keystore_cloud::transport::{
    ClientOptions, HttpClient, HttpRequest, HttpResponse, RetryPolicy, Verdict, random_bytes,
};
use zeroize::Zeroizing;

use crate::config::AwsConfig;
use crate::credentials::{CredentialSource, Credentials, EnvLookup, Provider};
use crate::wire::{self, AwsError, ErrorKind};
use crate::{Error, Result};

/// The SigV4 service name of Secrets Manager.
const SERVICE: &str = "secretsmanager";
/// `ListSecrets` page size (the service maximum).
const LIST_PAGE_SIZE: u32 = 100;
/// A status check makes one attempt of at most this long.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a create is retried while a force-deleted secret of the same name is still
/// being removed (real AWS deletes asynchronously).
const DELETION_RETRIES: u32 = 4;

/// A Secrets Manager call that failed.
enum Failure {
    /// The service answered with an error.
    Aws(AwsError),
    /// The call did not get an answer (or credentials could not be obtained).
    Store(StoreError),
}

/// KES keys in AWS Secrets Manager.
pub struct AwsKeyStore {
    http: HttpClient,
    endpoint: String,
    region: String,
    kms_key: String,
    credentials: Provider,
}

impl std::fmt::Debug for AwsKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeyStore")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("kms_key", &self.kms_key)
            .field("credentials", &self.credentials.kind())
            .finish_non_exhaustive()
    }
}

impl AwsKeyStore {
    /// Connects with the process environment for the default credential chain and
    /// `AWS_CA_BUNDLE`. See [`AwsKeyStore::connect_with_env`].
    pub async fn connect(config: AwsConfig) -> Result<Self> {
        Self::connect_with_env(config, &|name: &str| std::env::var(name).ok()).await
    }

    /// Validates `config`, checks that the endpoint answers (as KES does) and that the
    /// credentials are accepted (a `ListSecrets` of one entry: wrong, unknown or expired
    /// credentials are a startup error instead of failing every request later; a policy that
    /// denies `ListSecrets` only logs a warning). `env` is read for the default credential
    /// chain (see [`crate::credentials`]) and `AWS_CA_BUNDLE`.
    pub async fn connect_with_env(mut config: AwsConfig, env: EnvLookup<'_>) -> Result<Self> {
        config.validate()?;
        if config.ca.is_none() {
            config.ca = env("AWS_CA_BUNDLE")
                .filter(|v| !v.trim().is_empty())
                .map(Into::into);
        }
        let endpoint = config.endpoint_url()?;
        let options = ClientOptions {
            timeout: config.timeout,
            ca: config.ca.clone(),
            retry: RetryPolicy {
                max_attempts: config.max_attempts.max(1),
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        };
        let http = HttpClient::new(options)?;
        let credentials = Provider::new(&config, env, http.clone());
        let store = AwsKeyStore {
            http,
            endpoint,
            region: config.region.trim().to_owned(),
            kms_key: config.kms_key.trim().to_owned(),
            credentials,
        };
        store.status().await.map_err(Error::Connect)?;
        store.check_credentials().await?;
        Ok(store)
    }

    /// Where the credentials come from.
    pub fn credential_source(&self) -> CredentialSource {
        self.credentials.kind()
    }

    /// The endpoint URL (`https://` added to a bare host).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn check_credentials(&self) -> Result<()> {
        let body = serde_json::to_vec(&wire::ListSecrets {
            max_results: 1,
            next_token: None,
            filters: Vec::new(),
        })
        .map_err(|e| Error::Connect(StoreError::other(e)))?;
        match self.call("ListSecrets", Zeroizing::new(body)).await {
            Ok(_) => Ok(()),
            Err(Failure::Store(e)) => Err(Error::Connect(e)),
            Err(Failure::Aws(e)) => match e.kind() {
                ErrorKind::Credentials => Err(Error::Connect(self.failure("ListSecrets", "", e))),
                _ => {
                    tracing::warn!(
                        target: "kes_keystore_aws",
                        "aws: the startup check (ListSecrets) failed: {e}; continuing"
                    );
                    Ok(())
                }
            },
        }
    }

    /// Signs `body` for `secretsmanager.<op>` with `credentials`.
    fn signed(
        &self,
        op: &str,
        body: &Zeroizing<Vec<u8>>,
        credentials: &Credentials,
    ) -> Result<HttpRequest, StoreError> {
        let url = format!("{}/", self.endpoint);
        let target = format!("secretsmanager.{op}");
        let content_type = "application/x-amz-json-1.1";
        let identity = aws_credential_types::Credentials::new(
            credentials.access_key.clone(),
            credentials.secret_key.as_str().to_owned(),
            credentials
                .session_token
                .as_ref()
                .map(|t| t.as_str().to_owned()),
            None,
            "kes-rs",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| StoreError::other(format!("aws: cannot sign the request: {e}")))?
            .into();
        let headers = [
            ("content-type", content_type),
            ("x-amz-target", target.as_str()),
        ];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| StoreError::other(format!("aws: cannot sign the request: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| StoreError::other(format!("aws: cannot sign the request: {e}")))?
            .into_parts();
        let mut request = HttpRequest::new(Method::POST, url)
            .header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            )
            .header(
                HeaderName::from_static("x-amz-target"),
                HeaderValue::from_str(&target)
                    .map_err(|_| StoreError::other("aws: invalid operation name"))?,
            );
        for (name, value) in instructions.headers() {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| StoreError::other("aws: the signer produced an invalid header"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| StoreError::other("aws: the signer produced an invalid header"))?;
            if name == http::header::AUTHORIZATION || name.as_str() == "x-amz-security-token" {
                value.set_sensitive(true);
            }
            request.headers.insert(name, value);
        }
        request.body = body.clone();
        Ok(request)
    }

    /// Calls `secretsmanager.<op>` with a JSON body; retries throttling, 5xx and transport
    /// failures (with backoff and jitter), and refreshes expired temporary credentials once.
    async fn call(
        &self,
        op: &'static str,
        body: Zeroizing<Vec<u8>>,
    ) -> Result<HttpResponse, Failure> {
        let mut refreshed = false;
        loop {
            let credentials = self.credentials.get().await.map_err(Failure::Store)?;
            let response = self
                .http
                .send(
                    "aws",
                    || self.signed(op, &body, &credentials),
                    |r| {
                        if r.is_success() {
                            Verdict::Done
                        } else if AwsError::parse(r).kind() == ErrorKind::Retryable {
                            Verdict::Retry
                        } else {
                            Verdict::Done
                        }
                    },
                )
                .await
                .map_err(Failure::Store)?;
            if response.is_success() {
                return Ok(response);
            }
            let error = AwsError::parse(&response);
            if error.is_expired() && !refreshed && self.credentials.is_refreshable() {
                self.credentials.invalidate().await;
                refreshed = true;
                continue;
            }
            return Err(Failure::Aws(error));
        }
    }

    /// The error for a failed `op` (on key `name`, if any).
    fn failure(&self, op: &str, name: &str, e: AwsError) -> StoreError {
        let on = if name.is_empty() {
            String::new()
        } else {
            format!(" '{name}'")
        };
        match e.kind() {
            ErrorKind::Credentials => StoreError::other(format!(
                "aws: {op}{on} failed: the credentials were rejected ({e}); check the access key, secret key and session token ({})",
                self.credentials.kind()
            )),
            ErrorKind::AccessDenied => StoreError::other(format!(
                "aws: {op}{on} failed: access denied ({e}); the IAM policy must allow secretsmanager:{op}"
            )),
            ErrorKind::Retryable => StoreError::other(format!(
                "aws: {op}{on} failed after {} attempts: {e}",
                self.http.options().retry.max_attempts
            )),
            ErrorKind::Other => StoreError::other(format!("aws: {op}{on} failed: {e}")),
        }
    }

    fn to_json<T: serde::Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        serde_json::to_vec(value)
            .map(Zeroizing::new)
            .map_err(|e| StoreError::other(format!("aws: {e}")))
    }
}

/// Names Secrets Manager accepts: 1–512 of `A-Z a-z 0-9 / _ + = . @ -`.
pub fn is_valid_secret_name(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

/// A version-4 UUID for `ClientRequestToken` (makes a retried create idempotent).
fn request_token() -> Result<String, StoreError> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = |r: std::ops::Range<usize>| {
        b.get(r)
            .map(|s| s.iter().map(|x| format!("{x:02x}")).collect::<String>())
            .unwrap_or_default()
    };
    Ok(format!(
        "{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    ))
}

/// `true` for an `InvalidRequestException` about a secret scheduled for deletion (AWS: "…
/// because it was marked for deletion", moto: "… a secret that's currently marked deleted").
fn is_pending_deletion(e: &AwsError) -> bool {
    e.code == "InvalidRequestException" && e.message.to_ascii_lowercase().contains("delet")
}

#[async_trait]
impl KeyStore for AwsKeyStore {
    fn describe(&self) -> String {
        format!("AWS SecretsManager: {}", self.endpoint)
    }

    /// A plain GET of the endpoint, unsigned: any HTTP answer means reachable (as KES).
    async fn status(&self) -> kes_keystore::Result<Duration> {
        let started = Instant::now();
        let probe = self.http.send_once(
            "aws",
            HttpRequest::new(Method::GET, format!("{}/", self.endpoint)),
        );
        match tokio::time::timeout(STATUS_TIMEOUT, probe).await {
            Err(_) => Err(StoreError::unreachable(format!(
                "aws: {}: no answer within {STATUS_TIMEOUT:?}",
                self.endpoint
            ))),
            Ok(Err(e)) => Err(e),
            Ok(Ok(_)) => Ok(started.elapsed()),
        }
    }

    async fn create(&self, name: &str, value: &[u8]) -> kes_keystore::Result<()> {
        if !is_valid_secret_name(name) {
            return Err(StoreError::InvalidName(name.to_owned()));
        }
        let token = request_token()?;
        // KES's values are ASCII and go into SecretString; anything that is not UTF-8 goes
        // into SecretBinary, which KES reads as well.
        let body = match std::str::from_utf8(value) {
            Ok(text) => Self::to_json(&wire::CreateSecret {
                name,
                secret_string: Some(text),
                secret_binary: None,
                kms_key_id: &self.kms_key,
                client_request_token: &token,
            })?,
            Err(_) => {
                let encoded =
                    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(value));
                Self::to_json(&wire::CreateSecret {
                    name,
                    secret_string: None,
                    secret_binary: Some(&encoded),
                    kms_key_id: &self.kms_key,
                    client_request_token: &token,
                })?
            }
        };
        let mut retry = 0;
        loop {
            match self.call("CreateSecret", body.clone()).await {
                Ok(_) => return Ok(()),
                Err(Failure::Store(e)) => return Err(e),
                Err(Failure::Aws(e)) if e.code == "ResourceExistsException" => {
                    return Err(StoreError::Exists);
                }
                Err(Failure::Aws(e)) if is_pending_deletion(&e) => {
                    retry += 1;
                    if retry > DELETION_RETRIES {
                        return Err(StoreError::other(format!(
                            "aws: CreateSecret '{name}' failed: a secret with this name is scheduled for deletion ({e}); restore it or delete it with ForceDeleteWithoutRecovery"
                        )));
                    }
                    tokio::time::sleep(self.http.options().retry.backoff(retry + 1)).await;
                }
                Err(Failure::Aws(e)) => return Err(self.failure("CreateSecret", name, e)),
            }
        }
    }

    async fn get(&self, name: &str) -> kes_keystore::Result<Zeroizing<Vec<u8>>> {
        if !is_valid_secret_name(name) {
            return Err(StoreError::NotFound);
        }
        let body = Self::to_json(&wire::SecretId { secret_id: name })?;
        let response = match self.call("GetSecretValue", body).await {
            Ok(r) => r,
            Err(Failure::Store(e)) => return Err(e),
            Err(Failure::Aws(e))
                if e.code == "ResourceNotFoundException" || is_pending_deletion(&e) =>
            {
                return Err(StoreError::NotFound);
            }
            Err(Failure::Aws(e)) if e.code == "DecryptionFailure" => {
                return Err(StoreError::other(format!(
                    "aws: GetSecretValue '{name}' failed: the secret cannot be decrypted with its KMS key ({e})"
                )));
            }
            Err(Failure::Aws(e)) => return Err(self.failure("GetSecretValue", name, e)),
        };
        let secret: wire::SecretValue = serde_json::from_slice(&response.body).map_err(|e| {
            StoreError::other(format!("aws: GetSecretValue '{name}': invalid answer: {e}"))
        })?;
        // A SecretId may also match a secret by ARN suffix; only the exact name is ours.
        if secret.name.as_deref().is_some_and(|n| n != name) {
            return Err(StoreError::NotFound);
        }
        if let Some(text) = secret.secret_string {
            return Ok(Zeroizing::new(text.as_bytes().to_vec()));
        }
        if let Some(b64) = secret.secret_binary {
            return base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map(Zeroizing::new)
                .map_err(|_| StoreError::InvalidValue {
                    name: name.to_owned(),
                    reason: "SecretBinary is not valid base64".to_owned(),
                });
        }
        Err(StoreError::InvalidValue {
            name: name.to_owned(),
            reason: "the secret has neither SecretString nor SecretBinary".to_owned(),
        })
    }

    async fn delete(&self, name: &str) -> kes_keystore::Result<()> {
        if !is_valid_secret_name(name) {
            return Err(StoreError::NotFound);
        }
        let body = Self::to_json(&wire::DeleteSecret {
            secret_id: name,
            force_delete_without_recovery: true,
        })?;
        match self.call("DeleteSecret", body).await {
            Ok(_) => Ok(()),
            Err(Failure::Store(e)) => Err(e),
            Err(Failure::Aws(e)) if e.code == "ResourceNotFoundException" => {
                Err(StoreError::NotFound)
            }
            Err(Failure::Aws(e)) => Err(self.failure("DeleteSecret", name, e)),
        }
    }

    /// Every page of `ListSecrets` (all secrets of the account and region, as KES), then the
    /// shared list helper. No server-side filter: Secrets Manager's name filter is
    /// case-insensitive and word-based, so prefix matching is done here.
    async fn list(
        &self,
        prefix: &str,
        continue_at: &str,
        n: usize,
    ) -> kes_keystore::Result<ListPage> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let body = Self::to_json(&wire::ListSecrets {
                max_results: LIST_PAGE_SIZE,
                next_token: next.as_deref(),
                filters: Vec::new(),
            })?;
            let response = match self.call("ListSecrets", body).await {
                Ok(r) => r,
                Err(Failure::Store(e)) => return Err(e),
                Err(Failure::Aws(e)) => return Err(self.failure("ListSecrets", "", e)),
            };
            let page: wire::SecretList = serde_json::from_slice(&response.body)
                .map_err(|e| StoreError::other(format!("aws: ListSecrets: invalid answer: {e}")))?;
            names.extend(page.secret_list.into_iter().map(|s| s.name));
            match page.next_token.filter(|t| !t.is_empty()) {
                None => break,
                Some(token) if next.as_deref() == Some(token.as_str()) => {
                    return Err(StoreError::other(
                        "aws: ListSecrets returned the same NextToken twice",
                    ));
                }
                Some(token) => next = Some(token),
            }
        }
        Ok(list_page(names, prefix, continue_at, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        assert!(is_valid_secret_name("my-key"));
        assert!(is_valid_secret_name("a/b_c+d=e.f@g-h"));
        assert!(is_valid_secret_name(&"k".repeat(512)));
        assert!(!is_valid_secret_name(&"k".repeat(513)));
        assert!(!is_valid_secret_name(""));
        assert!(!is_valid_secret_name("with space"));
        assert!(!is_valid_secret_name("ümlaut"));
    }

    #[test]
    fn request_tokens_are_v4_uuids() {
        let a = request_token().unwrap();
        let b = request_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn pending_deletion() {
        let e = |code: &str, message: &str| AwsError {
            status: 400,
            code: code.to_owned(),
            message: message.to_owned(),
        };
        assert!(is_pending_deletion(&e(
            "InvalidRequestException",
            "You can't create this secret because a secret with this name is already scheduled for deletion."
        )));
        assert!(is_pending_deletion(&e(
            "InvalidRequestException",
            "You tried to perform the operation on a secret that's currently marked deleted."
        )));
        assert!(!is_pending_deletion(&e("InvalidRequestException", "other")));
        assert!(!is_pending_deletion(&e(
            "ResourceExistsException",
            "deletion"
        )));
    }
}
