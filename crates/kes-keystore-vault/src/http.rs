//! The HTTP layer: a vaultrs [`VaultClient`] over a reqwest client with our own rustls
//! configuration, and one raw request function with bounded timeouts and retries.
//!
//! vaultrs' typed endpoints deserialize into structs that require fields RustyVault and
//! other Vault-API servers omit (`request_id`, `accessor`, `entity_id`, …), and they cannot
//! express KV v1 with field name = key name or the `LIST` verb with a fallback. So every call
//! goes through vaultrs' transport (its client and the rustify HTTP client inside it) as a raw
//! request, and [`crate::wire`] parses the answers leniently.
//!
//! TLS is rustls with the *ring* provider: `tls.ca` (a file or a directory of PEM files)
//! replaces the system roots like the Go Vault SDK does, `tls.cert`/`tls.key` are the client
//! certificate, `VAULT_SKIP_VERIFY` turns verification off. TLS session resumption is off
//! (RustyVault with client certificates rejects resumed sessions), and so is connection
//! reuse, as in KES (a fresh connection per request).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request};
use kes_keystore::Error as StoreError;
use rustify::client::Client as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use secrecy::{ExposeSecret, SecretString};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use zeroize::Zeroizing;

use crate::config::{VaultConfig, is_dir};
use crate::wire;
use crate::{Error, Result};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The first wait between two attempts (doubles each time).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Upper bound for establishing a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One request to the Vault API.
pub(crate) struct ApiRequest {
    /// The HTTP method (`LIST` included).
    pub(crate) method: Method,
    /// The path after `/v1/`, already percent-encoded.
    pub(crate) path: String,
    /// The query string without `?` (empty = none).
    pub(crate) query: &'static str,
    /// `X-Vault-Token`, if any.
    pub(crate) token: Option<SecretString>,
    /// `X-Vault-Namespace`, if any.
    pub(crate) namespace: Option<String>,
    /// A JSON body (zeroized after the call).
    pub(crate) body: Option<Zeroizing<Vec<u8>>>,
}

impl ApiRequest {
    /// A request without token, namespace or body.
    pub(crate) fn new(method: Method, path: String) -> Self {
        ApiRequest {
            method,
            path,
            query: "",
            token: None,
            namespace: None,
            body: None,
        }
    }
}

/// A response: status and body (zeroized on drop: it may hold key material).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

impl Reply {
    /// `true` for 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error text of a non-2xx answer (`{"errors":[..]}` or `{"error":".."}` parsed).
    pub(crate) fn error_message(&self) -> String {
        wire::error_message(self.status, &self.body)
    }

    /// `true` for a 503 that says the server is sealed.
    pub(crate) fn is_sealed(&self) -> bool {
        self.status == 503 && self.error_message().to_ascii_lowercase().contains("sealed")
    }
}

/// The HTTP transport to one Vault server.
pub(crate) struct Transport {
    client: VaultClient,
    base: String,
    timeout: Duration,
    max_retries: u32,
}

impl Transport {
    /// Builds the client for `config` (which has been validated).
    pub(crate) fn new(config: &VaultConfig) -> Result<Self> {
        let base = config.endpoint.trim_end_matches('/').to_owned();
        let tls = tls_config(config)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(config.timeout))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        // vaultrs' settings builder panics on an invalid URL; `validate` checked it, and we
        // parse it again here so a caller that skipped validation gets an error instead.
        reqwest::Url::parse(&base)
            .map_err(|e| Error::Config(format!("invalid vault endpoint '{base}': {e}")))?;
        let settings = VaultClientSettingsBuilder::default()
            .address(&base)
            .token("")
            .ca_certs(Vec::new())
            .identity(None)
            .timeout(Some(config.timeout))
            .verify(!config.tls_skip_verify)
            .namespace(None)
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let client = VaultClient {
            http: rustify::clients::reqwest::Client::new(&base, http),
            middle: vaultrs::api::EndpointMiddleware {
                token: String::new(),
                version: "v1".to_owned(),
                wrap: None,
                namespace: None,
            },
            settings,
        };
        Ok(Transport {
            client,
            base,
            timeout: config.timeout,
            max_retries: config.max_retries,
        })
    }

    /// Sends `req`, retrying connection failures, timeouts and retryable 5xx answers up to
    /// `max_retries` times (with `retry`), each attempt bounded by `timeout` (or the
    /// configured timeout). Any HTTP answer is `Ok`; only transport failures are `Err`
    /// (always [`StoreError::Unreachable`]).
    pub(crate) async fn send(
        &self,
        req: &ApiRequest,
        retry: bool,
        timeout: Option<Duration>,
    ) -> Result<Reply, StoreError> {
        let attempts = 1 + if retry { self.max_retries } else { 0 };
        let timeout = timeout.unwrap_or(self.timeout);
        let mut backoff = FIRST_BACKOFF;
        let mut last = StoreError::unreachable("vault: no request was sent");
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            let request = self.build(req)?;
            // reqwest enforces the timeout too; this bounds anything around it as well.
            let sent = tokio::time::timeout(
                timeout + Duration::from_millis(500),
                self.client.http.send(request),
            )
            .await;
            match sent {
                Err(_) => {
                    last = StoreError::unreachable(format!(
                        "vault: {} {}: no answer within {timeout:?}",
                        req.method,
                        self.redacted_url(req)
                    ));
                }
                Ok(Err(e)) => {
                    last = StoreError::unreachable(format!("vault: {}", describe(&e)));
                }
                Ok(Ok(response)) => {
                    let reply = Reply {
                        status: response.status().as_u16(),
                        body: Zeroizing::new(response.into_body()),
                    };
                    if attempt + 1 < attempts && is_retryable(&reply) {
                        last = StoreError::other(format!("vault: {}", reply.error_message()));
                        continue;
                    }
                    return Ok(reply);
                }
            }
        }
        Err(last)
    }

    fn build(&self, req: &ApiRequest) -> Result<Request<Vec<u8>>, StoreError> {
        let mut uri = format!("{}/v1/{}", self.base, req.path);
        if !req.query.is_empty() {
            uri.push('?');
            uri.push_str(req.query);
        }
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(uri)
            .header("X-Vault-Request", "true");
        if let Some(token) = &req.token {
            let mut value = HeaderValue::from_str(token.expose_secret())
                .map_err(|_| StoreError::other("vault: the token is not a valid header value"))?;
            value.set_sensitive(true);
            builder = builder.header("X-Vault-Token", value);
        }
        if let Some(ns) = &req.namespace {
            let value = HeaderValue::from_str(ns).map_err(|_| {
                StoreError::other(format!("vault: invalid namespace '{}'", ns.escape_debug()))
            })?;
            builder = builder.header("X-Vault-Namespace", value);
        }
        let body = match &req.body {
            Some(body) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                body.to_vec()
            }
            None => Vec::new(),
        };
        builder
            .body(body)
            .map_err(|e| StoreError::other(format!("vault: invalid request: {e}")))
    }

    fn redacted_url(&self, req: &ApiRequest) -> String {
        format!("{}/v1/{}", self.base, req.path)
    }
}

/// Retry 5xx answers except 501 (not implemented) and a sealed 503 (retrying cannot help;
/// failing fast keeps requests from hanging), and 429, like the Go SDK's retry policy.
fn is_retryable(reply: &Reply) -> bool {
    match reply.status {
        429 => true,
        501 => false,
        503 => !reply.is_sealed(),
        s => (500..600).contains(&s),
    }
}

fn describe(e: &rustify::errors::ClientError) -> String {
    match e {
        rustify::errors::ClientError::RequestError {
            source,
            url,
            method,
        } => format!("{method} {url}: {source:#}"),
        other => other.to_string(),
    }
}

/// The rustls configuration for `config` (ring provider).
fn tls_config(config: &VaultConfig) -> Result<rustls::ClientConfig> {
    let tls = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?;
    let builder = if config.tls_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else if let Some(ca) = &config.tls.ca {
        builder.with_root_certificates(load_roots(ca)?)
    } else {
        let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| tls(&e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let mut client = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Error::Tls(format!("{}: {e}", cert.display())))?;
            if chain.is_empty() {
                return Err(Error::Tls(format!(
                    "{}: no certificate found",
                    cert.display()
                )));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| Error::Tls(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls(&e))?
        }
        _ => builder.with_no_client_auth(),
    };
    client.resumption = rustls::client::Resumption::disabled();
    Ok(client)
}

/// Loads the CA certificates from a PEM file or from every PEM file in a directory.
fn load_roots(path: &Path) -> Result<rustls::RootCertStore> {
    let mut files = Vec::new();
    if is_dir(path) {
        let entries =
            std::fs::read_dir(path).map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
            if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
                files.push(entry.path());
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut roots = rustls::RootCertStore::empty();
    for file in &files {
        let certs = CertificateDer::pem_file_iter(file)
            .map_err(|e| Error::Tls(format!("{}: {e}", file.display())))?;
        for cert in certs {
            // In a directory, files that are not PEM certificates are skipped.
            let Ok(cert) = cert else { continue };
            roots
                .add(cert)
                .map_err(|e| Error::Tls(format!("{}: {e}", file.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(Error::Tls(format!(
            "{}: no CA certificate found",
            path.display()
        )));
    }
    Ok(roots)
}

/// `VAULT_SKIP_VERIFY`: accepts any server certificate (signatures are still checked, so
/// the handshake itself stays sound).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: Zeroizing::new(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn retry_policy() {
        assert!(is_retryable(&reply(500, "")));
        assert!(is_retryable(&reply(502, "")));
        assert!(is_retryable(&reply(429, "")));
        assert!(is_retryable(&reply(503, r#"{"errors":["standby"]}"#)));
        assert!(!is_retryable(&reply(
            503,
            r#"{"errors":["Vault is sealed"]}"#
        )));
        assert!(!is_retryable(&reply(
            503,
            r#"{"error":"RustyVault is sealed."}"#
        )));
        assert!(!is_retryable(&reply(501, "")));
        assert!(!is_retryable(&reply(404, "")));
        assert!(!is_retryable(&reply(200, "")));
    }

    #[test]
    fn ca_directory_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_roots(dir.path()).is_err(),
            "an empty directory has no CA"
        );
        let missing = dir.path().join("missing.pem");
        assert!(load_roots(&missing).is_err());
        let pki = kes_testpeers::Pki::generate(dir.path()).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a certificate").unwrap();
        // The directory holds the CA plus server and client certificates: all are loaded.
        assert_eq!(load_roots(dir.path()).unwrap().len(), 3);
        assert_eq!(load_roots(&pki.ca_cert).unwrap().len(), 1);
    }
}
