//! [`ClientBuilder`] and [`Client`]: configuration, and every v1 API of a KES server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use kes_policy::{ApiKey, Certificate, PrivateKey};
use kes_types::dto::{
    AuditLogEvent, DecryptKeyRequest, DecryptKeyResponse, DescribeIdentityResponse,
    DescribeKeyResponse, DescribePolicyResponse, EncryptKeyRequest, EncryptKeyResponse,
    ErrorLogEvent, GenerateKeyRequest, GenerateKeyResponse, HmacRequest, HmacResponse,
    ImportKeyRequest, KeyAlgorithm, ListIdentitiesResponse, ListKeysResponse, ListPoliciesResponse,
    ReadPolicyResponse, SelfDescribeIdentityResponse, StatusResponse, VersionResponse,
};
use kes_types::{ApiDescription, ApiError, SecretBytes};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::endpoint::{api_path, normalize};
use crate::error::{Error, Result};
use crate::list::{ListIter, ListKind, ListPage};
use crate::log::LogStream;
use crate::metrics::Metrics;
use crate::tls::{TlsSettings, client_config};
use crate::transport::{Request, Settings, Transport};

/// Response size limits (Go SDK): 1 MiB in general, 1 KiB for `/version`, 1000 bytes for HMACs.
const MAX_RESPONSE: usize = 1 << 20;
const MAX_VERSION_RESPONSE: usize = 1 << 10;
const MAX_HMAC_RESPONSE: usize = 1000;
/// List responses may be larger: KES-rs servers answer with every match at once.
const MAX_LIST_RESPONSE: usize = 64 << 20;

/// How the client proves its identity.
#[derive(Clone)]
enum Credentials {
    None,
    ApiKey(ApiKey),
    Certificate(Vec<Certificate>, PrivateKey),
    Files {
        cert: PathBuf,
        key: PathBuf,
        password: Zeroizing<Vec<u8>>,
    },
}

/// Configures and builds a [`Client`].
///
/// ```no_run
/// # fn demo() -> Result<(), kes_client::Error> {
/// let api_key: kes_client::ApiKey = "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc".parse()?;
/// let client = kes_client::ClientBuilder::new()
///     .endpoints(["kes-1.example.net:7373", "kes-2.example.net:7373"])
///     .api_key(api_key)
///     .ca_file("/etc/kes/ca.pem")
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    credentials: Result<Credentials, String>,
    ca_files: Vec<PathBuf>,
    ca_certs: Vec<Certificate>,
    system_roots: bool,
    insecure: bool,
    settings: Settings,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoints", &self.endpoints)
            .field("ca_files", &self.ca_files)
            .field("system_roots", &self.system_roots)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    /// A builder with no endpoint, no credentials, the system roots, a 30 s connect
    /// timeout, no overall request timeout, 2 retries after 200–1000 ms and a 30 s
    /// endpoint back-off.
    pub fn new() -> Self {
        ClientBuilder {
            endpoints: Vec::new(),
            credentials: Ok(Credentials::None),
            ca_files: Vec::new(),
            ca_certs: Vec::new(),
            system_roots: true,
            insecure: false,
            settings: Settings {
                connect_timeout: Duration::from_secs(30),
                timeout: None,
                retries: 2,
                retry_delay: (Duration::from_millis(200), Duration::from_millis(1000)),
                backoff: Duration::from_secs(30),
            },
        }
    }

    /// Adds a server endpoint: `host:port` or `https://host:port`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// Adds several server endpoints (load-balanced, spec §13).
    pub fn endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.endpoints.extend(endpoints.into_iter().map(Into::into));
        self
    }

    fn set_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = match self.credentials {
            Ok(Credentials::None) => Ok(credentials),
            Ok(_) => Err("more than one client credential (API key or certificate) set".into()),
            Err(e) => Err(e),
        };
        self
    }

    /// Authenticates with an API key: the client presents a self-signed certificate for the
    /// key (spec §6.3), generated in memory.
    pub fn api_key(self, key: ApiKey) -> Self {
        self.set_credentials(Credentials::ApiKey(key))
    }

    /// Authenticates with a certificate chain (leaf first) and its private key.
    pub fn client_certificate(self, chain: Vec<Certificate>, key: PrivateKey) -> Self {
        self.set_credentials(Credentials::Certificate(chain, key))
    }

    /// Authenticates with a PEM certificate file and a PEM private-key file, read when the
    /// client is built. `password` decrypts an encrypted key (PKCS#8 or legacy RFC 1423); pass
    /// an empty one for plain keys. An encrypted key without password fails with
    /// [`kes_policy::Error::PasswordRequired`] inside [`Error::Credentials`].
    pub fn client_certificate_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        password: &[u8],
    ) -> Self {
        self.set_credentials(Credentials::Files {
            cert: cert.as_ref().to_owned(),
            key: key.as_ref().to_owned(),
            password: Zeroizing::new(password.to_vec()),
        })
    }

    /// Trusts the CA certificates of a PEM file (or a directory of them) in addition to the
    /// system roots.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca_files.push(path.as_ref().to_owned());
        self
    }

    /// Trusts one more CA certificate.
    pub fn ca_certificate(mut self, cert: Certificate) -> Self {
        self.ca_certs.push(cert);
        self
    }

    /// Whether the operating system's root certificates are trusted (default: yes).
    pub fn system_roots(mut self, enabled: bool) -> Self {
        self.system_roots = enabled;
        self
    }

    /// **Insecure**: accept any server certificate (`kes -k/--insecure`). The connection is
    /// still encrypted but open to an active man in the middle. For tests and dev servers.
    pub fn danger_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.insecure = accept;
        self
    }

    /// How long a TCP connect may take (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// How long one attempt may wait for a response's headers (default: no limit). Log
    /// streams are limited only until their headers arrive.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// How often a request is retried on one endpoint after a transport failure or a 503
    /// (default 2).
    pub fn retries(mut self, retries: u32) -> Self {
        self.settings.retries = retries;
        self
    }

    /// The random delay before a retry, between `min` and `max` (default 200 ms–1 s).
    pub fn retry_delay(mut self, min: Duration, max: Duration) -> Self {
        self.settings.retry_delay = (min, max.max(min));
        self
    }

    /// How long a failed endpoint is skipped (default 30 s).
    pub fn endpoint_backoff(mut self, backoff: Duration) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// Reads the credential and CA files and builds the client. Requests need a Tokio
    /// runtime.
    pub fn build(self) -> Result<Client> {
        if self.endpoints.is_empty() {
            return Err(Error::Config("no server endpoint specified".into()));
        }
        let endpoints = self
            .endpoints
            .iter()
            .map(|e| normalize(e))
            .collect::<Result<Vec<_>>>()?;
        let credentials = self.credentials.map_err(Error::Config)?;
        let client_auth = match credentials {
            Credentials::None => None,
            Credentials::ApiKey(key) => {
                let creds = key.client_certificate()?;
                Some((
                    vec![creds.certificate.to_certificate_der()],
                    creds.private_key.to_private_key_der(),
                ))
            }
            Credentials::Certificate(chain, key) => Some((
                chain.iter().map(Certificate::to_certificate_der).collect(),
                key.to_private_key_der(),
            )),
            Credentials::Files {
                cert,
                key,
                password,
            } => {
                let chain = kes_policy::read_certificates(&cert)?;
                let key = kes_policy::read_private_key(&key, &password)?;
                Some((
                    chain.iter().map(Certificate::to_certificate_der).collect(),
                    key.to_private_key_der(),
                ))
            }
        };
        let mut extra_roots: Vec<_> = self
            .ca_certs
            .iter()
            .map(Certificate::to_certificate_der)
            .collect();
        for path in &self.ca_files {
            extra_roots.extend(
                kes_policy::read_cert_pool(path)?
                    .iter()
                    .map(Certificate::to_certificate_der),
            );
        }
        let tls = client_config(TlsSettings {
            system_roots: self.system_roots,
            extra_roots,
            insecure: self.insecure,
            client_auth,
        })?;
        Ok(Client {
            transport: Arc::new(Transport::new(endpoints, tls, self.settings)),
        })
    }
}

/// A KES client. Cheap to clone (shared connection pool); safe to use from many tasks.
///
/// Every method maps to one v1 API (spec §4.4); errors the server sends are
/// [`Error::Api`] and compare equal to KES's sentinels.
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.transport.endpoints())
            .finish_non_exhaustive()
    }
}

/// A data encryption key from [`Client::generate_key`]: the plaintext key and the same key
/// encrypted with the named KES key.
pub type Dek = GenerateKeyResponse;

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The endpoints, normalized (`https://host:port`).
    pub fn endpoints(&self) -> Vec<String> {
        self.transport.endpoints()
    }

    // -- server ---------------------------------------------------------------------------

    /// `GET /version`.
    pub async fn version(&self) -> Result<VersionResponse> {
        self.get_json("/version", MAX_VERSION_RESPONSE).await
    }

    /// `GET /v1/ready`: `Ok` when the server and its keystore are ready.
    pub async fn ready(&self) -> Result<()> {
        self.call(Request::get("/v1/ready".into())).await.map(drop)
    }

    /// `GET /v1/status`.
    ///
    /// A status with `keystore_unreachable` is returned as it is (the Go SDK rejects it
    /// unless `keystore_unavailable` is also set); check the flags.
    pub async fn status(&self) -> Result<StatusResponse> {
        self.get_json("/v1/status", MAX_RESPONSE).await
    }

    /// `GET /v1/metrics`, parsed (spec §10.3).
    pub async fn metrics(&self) -> Result<Metrics> {
        let mut req = Request::get("/v1/metrics".into());
        req.accept = Some("text/plain");
        let body = self.call_body(req, MAX_RESPONSE).await?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| Error::InvalidResponse("metrics are not UTF-8 text".into()))?;
        Metrics::parse_text(text)
    }

    /// `GET /v1/api`: the server's routes.
    pub async fn apis(&self) -> Result<Vec<ApiDescription>> {
        self.get_json("/v1/api", MAX_RESPONSE).await
    }

    // -- keys -----------------------------------------------------------------------------

    /// `POST /v1/key/create/<name>`: a new key; [`Sentinel::KeyExists`](crate::Sentinel) if
    /// the name is taken.
    pub async fn create_key(&self, name: &str) -> Result<()> {
        self.post(api_path("/v1/key/create/", name), None).await
    }

    /// `POST /v1/key/import/<name>`: imports 32 bytes of key material.
    pub async fn import_key(&self, name: &str, key: &[u8], algorithm: KeyAlgorithm) -> Result<()> {
        let body = ImportKeyRequest {
            key: SecretBytes::from_slice(key),
            cipher: algorithm.as_str().to_owned(),
            ..Default::default()
        };
        self.post(api_path("/v1/key/import/", name), Some(encode(&body)?))
            .await
    }

    /// `GET /v1/key/describe/<name>`.
    pub async fn describe_key(&self, name: &str) -> Result<DescribeKeyResponse> {
        self.get_json(&api_path("/v1/key/describe/", name), MAX_RESPONSE)
            .await
    }

    /// `DELETE /v1/key/delete/<name>`.
    pub async fn delete_key(&self, name: &str) -> Result<()> {
        let mut req = Request::get(api_path("/v1/key/delete/", name));
        req.method = Method::DELETE;
        self.call(req).await.map(drop)
    }

    /// `GET /v1/key/list/<prefix>`: one page of key names starting with `prefix` (`*` or
    /// empty: all).
    pub async fn list_keys(&self, prefix: &str) -> Result<ListPage> {
        self.list(ListKind::Keys, prefix).await
    }

    /// Every key name starting with `prefix`, following `continue_at`.
    pub fn keys(&self, prefix: &str) -> ListIter {
        ListIter::new(self.clone(), ListKind::Keys, prefix)
    }

    /// `POST /v1/key/generate/<name>`: a new data key, in plaintext and encrypted with the
    /// named key under `context` (associated data; may be empty).
    pub async fn generate_key(&self, name: &str, context: &[u8]) -> Result<Dek> {
        let body = GenerateKeyRequest {
            context: context.to_vec(),
            ..Default::default()
        };
        self.post_json(api_path("/v1/key/generate/", name), &body, MAX_RESPONSE)
            .await
    }

    /// `POST /v1/key/encrypt/<name>`: encrypts `plaintext` under `context`.
    pub async fn encrypt(&self, name: &str, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let body = EncryptKeyRequest {
            plaintext: SecretBytes::from_slice(plaintext),
            context: context.to_vec(),
            ..Default::default()
        };
        let resp: EncryptKeyResponse = self
            .post_json(api_path("/v1/key/encrypt/", name), &body, MAX_RESPONSE)
            .await?;
        Ok(resp.ciphertext)
    }

    /// `POST /v1/key/decrypt/<name>`: decrypts `ciphertext` under `context`;
    /// [`Sentinel::Decrypt`](crate::Sentinel) when it is not authentic.
    pub async fn decrypt(
        &self,
        name: &str,
        ciphertext: &[u8],
        context: &[u8],
    ) -> Result<SecretBytes> {
        let body = DecryptKeyRequest {
            ciphertext: ciphertext.to_vec(),
            context: context.to_vec(),
            ..Default::default()
        };
        let resp: DecryptKeyResponse = self
            .post_json(api_path("/v1/key/decrypt/", name), &body, MAX_RESPONSE)
            .await?;
        Ok(resp.plaintext)
    }

    /// `PUT /v1/key/hmac/<name>`: HMAC-SHA256 of `message` with the key's HMAC key.
    pub async fn hmac(&self, name: &str, message: &[u8]) -> Result<SecretBytes> {
        let body = HmacRequest {
            message: message.to_vec(),
            ..Default::default()
        };
        let req = Request {
            method: Method::PUT,
            path: api_path("/v1/key/hmac/", name),
            body: Some(encode(&body)?),
            json: false,
            accept: None,
        };
        let bytes = self.call_body(req, MAX_HMAC_RESPONSE).await?;
        let resp: HmacResponse = decode(&bytes)?;
        Ok(resp.hmac)
    }

    // -- policies -------------------------------------------------------------------------

    /// `GET /v1/policy/describe/<name>`.
    pub async fn describe_policy(&self, name: &str) -> Result<DescribePolicyResponse> {
        self.get_json(&api_path("/v1/policy/describe/", name), MAX_RESPONSE)
            .await
    }

    /// `GET /v1/policy/read/<name>`: the policy with its allow and deny patterns.
    pub async fn get_policy(&self, name: &str) -> Result<ReadPolicyResponse> {
        self.get_json(&api_path("/v1/policy/read/", name), MAX_RESPONSE)
            .await
    }

    /// `GET /v1/policy/list/<prefix>`: one page of policy names.
    pub async fn list_policies(&self, prefix: &str) -> Result<ListPage> {
        self.list(ListKind::Policies, prefix).await
    }

    /// Every policy name starting with `prefix`.
    pub fn policies(&self, prefix: &str) -> ListIter {
        ListIter::new(self.clone(), ListKind::Policies, prefix)
    }

    // -- identities -----------------------------------------------------------------------

    /// `GET /v1/identity/describe/<identity>`.
    pub async fn describe_identity(&self, identity: &str) -> Result<DescribeIdentityResponse> {
        self.get_json(&api_path("/v1/identity/describe/", identity), MAX_RESPONSE)
            .await
    }

    /// `GET /v1/identity/self/describe`: the caller's identity, role and policy.
    pub async fn describe_self(&self) -> Result<SelfDescribeIdentityResponse> {
        self.get_json("/v1/identity/self/describe", MAX_RESPONSE)
            .await
    }

    /// `GET /v1/identity/list/<prefix>`: one page of identities.
    pub async fn list_identities(&self, prefix: &str) -> Result<ListPage> {
        self.list(ListKind::Identities, prefix).await
    }

    /// Every identity starting with `prefix`.
    pub fn identities(&self, prefix: &str) -> ListIter {
        ListIter::new(self.clone(), ListKind::Identities, prefix)
    }

    // -- logs -----------------------------------------------------------------------------

    /// `GET /v1/log/audit`: audit events as they happen.
    pub async fn audit_log(&self) -> Result<LogStream<AuditLogEvent>> {
        let resp = self.call(Request::get("/v1/log/audit".into())).await?;
        Ok(LogStream::new(resp.into_body()))
    }

    /// `GET /v1/log/error`: error log records as they happen.
    pub async fn error_log(&self) -> Result<LogStream<ErrorLogEvent>> {
        let resp = self.call(Request::get("/v1/log/error".into())).await?;
        Ok(LogStream::new(resp.into_body()))
    }

    // -- plumbing -------------------------------------------------------------------------

    pub(crate) async fn list(&self, kind: ListKind, prefix: &str) -> Result<ListPage> {
        let req = Request::get(api_path(kind.api(), prefix));
        let resp = self.call(req).await?;
        let ndjson = content_type(&resp).is_some_and(|ct| ct.starts_with("application/x-ndjson"));
        let body = read_body(resp, MAX_LIST_RESPONSE).await?;
        if ndjson {
            return crate::list::parse_ndjson(kind, &body);
        }
        Ok(match kind {
            ListKind::Keys => {
                let r: ListKeysResponse = decode(&body)?;
                ListPage {
                    names: r.names,
                    continue_at: r.continue_at,
                }
            }
            ListKind::Policies => {
                let r: ListPoliciesResponse = decode(&body)?;
                ListPage {
                    names: r.names,
                    continue_at: r.continue_at,
                }
            }
            ListKind::Identities => {
                let r: ListIdentitiesResponse = decode(&body)?;
                ListPage {
                    names: r.identities,
                    continue_at: r.continue_at,
                }
            }
        })
    }

    async fn post(&self, path: String, body: Option<Bytes>) -> Result<()> {
        let req = Request {
            method: Method::POST,
            path,
            json: body.is_some(),
            body,
            accept: None,
        };
        self.call(req).await.map(drop)
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: String,
        body: &B,
        limit: usize,
    ) -> Result<T> {
        let req = Request {
            method: Method::POST,
            path,
            body: Some(encode(body)?),
            json: true,
            accept: None,
        };
        let bytes = self.call_body(req, limit).await?;
        decode(&bytes)
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str, limit: usize) -> Result<T> {
        let bytes = self.call_body(Request::get(path.to_owned()), limit).await?;
        decode(&bytes)
    }

    /// Sends and checks the status; the body is left unread.
    async fn call(&self, req: Request) -> Result<hyper::Response<Incoming>> {
        let resp = self.transport.send(&req).await?;
        let status = resp.status();
        if status.as_u16() >= 400 {
            let ct = content_type(&resp).map(str::to_owned);
            let body = read_truncated(resp, kes_types::api_error::MAX_ERROR_BODY).await?;
            let err = ApiError::from_response(status.as_u16(), ct.as_deref(), &body)
                .map_err(|e| Error::InvalidResponse(format!("error response: {e}")))?;
            return Err(Error::from(err));
        }
        Ok(resp)
    }

    /// Sends, checks the status and reads a body that must come with a 200.
    async fn call_body(&self, req: Request, limit: usize) -> Result<Bytes> {
        let resp = self.call(req).await?;
        if resp.status() != StatusCode::OK {
            return Err(Error::InvalidResponse(format!(
                "unexpected status {}",
                resp.status()
            )));
        }
        read_body(resp, limit).await
    }
}

fn content_type(resp: &hyper::Response<Incoming>) -> Option<&str> {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes> {
    kes_types::json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::Config(format!("cannot encode request: {e}")))
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    kes_types::json::from_slice(body).map_err(|e| Error::InvalidResponse(e.to_string()))
}

/// Reads a body of at most `limit` bytes; a larger one is an error.
async fn read_body(resp: hyper::Response<Incoming>, limit: usize) -> Result<Bytes> {
    let limited = http_body_util::Limited::new(resp.into_body(), limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::InvalidResponse(
            format!("response body larger than {limit} bytes"),
        )),
        Err(e) => Err(Error::Connection(format!(
            "reading response: {}",
            crate::transport::error_chain(e.as_ref())
        ))),
    }
}

/// Reads at most `limit` bytes of a body and drops the rest (error bodies, as the Go SDK).
async fn read_truncated(resp: hyper::Response<Incoming>, limit: usize) -> Result<Vec<u8>> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while out.len() < limit {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let take = data.len().min(limit - out.len());
                    out.extend_from_slice(data.get(..take).unwrap_or_default());
                }
            }
            Some(Err(e)) => {
                return Err(Error::Connection(format!(
                    "reading response: {}",
                    crate::transport::error_chain(&e)
                )));
            }
        }
    }
    Ok(out)
}
