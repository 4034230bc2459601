//! The HTTP transport every cloud and HSM keystore uses: reqwest over rustls (*ring*).
//!
//! * TLS: a CA file or a directory of PEM files replaces the system roots (the `tls.ca` field
//!   of the HSM backends, `AWS_CA_BUNDLE`); without one the platform verifier is used.
//! * Every attempt is bounded by [`ClientOptions::timeout`], connecting by
//!   [`ClientOptions::connect_timeout`]. Transport failures are
//!   [`kes_keystore::Error::Unreachable`].
//! * [`HttpClient::send`] retries what its caller's classifier calls retryable (connection
//!   failures and timeouts always) with exponential backoff and jitter ([`RetryPolicy`]),
//!   honouring a server's `Retry-After` up to [`RetryPolicy::max_delay`]. The request is
//!   rebuilt for every attempt, so signatures and tokens stay current.
//! * Request and response bodies live in zeroizing buffers: they may hold key material. (The
//!   HTTP stack may copy small bodies into its own buffers; those are not zeroized.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method};
use kes_keystore::Error as StoreError;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound for establishing a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response body accepted (anything larger is an error, not an allocation).
pub const MAX_RESPONSE_BODY: usize = 16 << 20;

/// How often and how long to wait between attempts.
///
/// The wait before retry `n` (1-based) is drawn from `[d/2, d]` with
/// `d = min(max_delay, base_delay · 2^(n-1))` ("equal jitter"): concurrent clients that were
/// throttled together spread out, and every retry still waits at least half its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retries).
    pub max_attempts: u32,
    /// The first backoff step.
    pub base_delay: Duration,
    /// The longest wait between two attempts (also caps a server's `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 200 ms first step, at most 5 s between attempts.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The upper bound `d` of the wait before retry `retry` (1-based), before jitter.
    pub fn step(&self, retry: u32) -> Duration {
        let shift = retry.saturating_sub(1).min(20);
        self.base_delay
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The wait before retry `retry` (1-based) given a uniformly random `random`:
    /// `d/2 + (random mod (d/2 + 1))` in milliseconds, `d` = [`RetryPolicy::step`].
    pub fn backoff_with(&self, retry: u32, random: u64) -> Duration {
        let step = u64::try_from(self.step(retry).as_millis()).unwrap_or(u64::MAX);
        let half = step / 2;
        let jitter = random % (step - half + 1);
        Duration::from_millis(half + jitter)
    }

    /// The wait before retry `retry` (1-based), with fresh randomness.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_with(retry, random_u64())
    }
}

/// A random `u64` from the system's CSPRNG (0 if it fails, which only loses the jitter).
pub(crate) fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    match SystemRandom::new().fill(&mut buf) {
        Ok(()) => u64::from_le_bytes(buf),
        Err(_) => 0,
    }
}

/// Random bytes from the system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| StoreError::other("the system random number generator failed"))?;
    Ok(buf)
}

/// How a client is built.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Bound for one attempt (connect, send, read the whole answer).
    pub timeout: Duration,
    /// Bound for establishing a connection.
    pub connect_timeout: Duration,
    /// A PEM file, or a directory of PEM files, with the CA certificates to trust instead
    /// of the system roots.
    pub ca: Option<PathBuf>,
    /// Retries of [`HttpClient::send`].
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            ca: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// One request. The body is zeroized when the request is dropped.
#[derive(Debug)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The full URL, already percent-encoded.
    pub url: String,
    /// Headers (mark secrets with [`http::HeaderValue::set_sensitive`]).
    pub headers: HeaderMap,
    /// The body (empty = none).
    pub body: Zeroizing<Vec<u8>>,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Zeroizing::new(Vec::new()),
        }
    }

    /// Sets a header (replacing an earlier value of the same name).
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(mut self, body: Zeroizing<Vec<u8>>) -> Self {
        self.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        self.body = body;
        self
    }
}

/// An answer: status, headers and body (zeroized on drop: it may hold key material).
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    /// `true` for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as (lossy) UTF-8, at most 512 characters, for error messages of answers that
    /// carry no key material (error answers).
    pub fn error_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(512) {
            Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
            None => text.to_owned(),
        }
    }

    /// The `Retry-After` header in seconds, if present and numeric.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
        value.trim().parse::<u64>().ok().map(Duration::from_secs)
    }
}

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Return it to the caller.
    Done,
    /// Try again after the policy's backoff (or the answer's `Retry-After`, capped).
    Retry,
}

/// The usual classification: retry 408, 429 and 5xx except 501; everything else is done.
pub fn default_verdict(response: &HttpResponse) -> Verdict {
    match response.status {
        408 | 429 => Verdict::Retry,
        501 => Verdict::Done,
        s if (500..600).contains(&s) => Verdict::Retry,
        _ => Verdict::Done,
    }
}

/// An HTTP client with the settings of [`ClientOptions`].
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    options: ClientOptions,
}

impl HttpClient {
    /// Builds the client (reads the CA file or directory, if any).
    pub fn new(options: ClientOptions) -> Result<Self> {
        let tls = tls_config(options.ca.as_deref())?;
        let inner = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout.min(options.timeout))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(HttpClient { inner, options })
    }

    /// The options the client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Sends `request` once. Any HTTP answer is `Ok`; a transport failure or timeout is
    /// [`StoreError::Unreachable`] (prefixed with `what`).
    pub async fn send_once(
        &self,
        what: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, StoreError> {
        let timeout = self.options.timeout;
        let url = request.url.clone();
        let method = request.method.clone();
        let attempt = async {
            let HttpRequest {
                method: m,
                url: u,
                headers,
                body,
            } = request;
            let mut builder = self.inner.request(m, u.as_str()).headers(headers);
            if !body.is_empty() {
                builder = builder.body(reqwest::Body::from(bytes::Bytes::from_owner(body)));
            }
            let mut response = builder.send().await?;
            let status = response.status().as_u16();
            let headers = std::mem::take(response.headers_mut());
            let mut body = Zeroizing::new(Vec::new());
            while let Some(chunk) = response.chunk().await? {
                if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BODY {
                    return Ok(Err(StoreError::other(format!(
                        "{what}: {method} {}: the answer is larger than {MAX_RESPONSE_BODY} bytes",
                        redact(&url)
                    ))));
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Ok(HttpResponse {
                status,
                headers,
                body,
            }))
        };
        // reqwest enforces the timeout too; this also bounds anything around it.
        match tokio::time::timeout(timeout + Duration::from_millis(500), attempt).await {
            Err(_) => Err(StoreError::unreachable(format!(
                "{what}: {method} {}: no answer within {timeout:?}",
                redact(&url)
            ))),
            Ok(Err(e)) => Err(StoreError::unreachable(format!(
                "{what}: {method} {}: {}",
                redact(&url),
                describe(&e)
            ))),
            Ok(Ok(answer)) => answer,
        }
    }

    /// Sends the request `build` makes, retrying transport failures and answers that
    /// `classify` calls [`Verdict::Retry`] up to [`RetryPolicy::max_attempts`] attempts in
    /// total. Returns the last answer (also a retryable one, when the attempts ran out), or the
    /// last transport error.
    pub async fn send<B, C>(
        &self,
        what: &str,
        mut build: B,
        classify: C,
    ) -> Result<HttpResponse, StoreError>
    where
        B: FnMut() -> Result<HttpRequest, StoreError>,
        C: Fn(&HttpResponse) -> Verdict,
    {
        let policy = self.options.retry;
        let attempts = policy.max_attempts.max(1);
        let mut retry = 0u32;
        loop {
            let started = Instant::now();
            let outcome = self.send_once(what, build()?).await;
            let last = retry + 1 >= attempts;
            let wait = match &outcome {
                Ok(response) => match classify(response) {
                    Verdict::Done => return outcome,
                    Verdict::Retry if last => return outcome,
                    Verdict::Retry => {
                        let backoff = policy.backoff(retry + 1);
                        match response.retry_after() {
                            Some(after) => after.min(policy.max_delay).max(backoff),
                            None => backoff,
                        }
                    }
                },
                Err(e) if last || !e.is_unreachable() => return outcome,
                Err(_) => policy.backoff(retry + 1),
            };
            tracing::debug!(
                target: "kes_keystore_cloud",
                what,
                attempt = retry + 1,
                elapsed_ms = started.elapsed().as_millis() as u64,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

/// The URL without its query string (which may carry tokens).
fn redact(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The rustls configuration: `ca` (file or directory) or the platform verifier.
fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let config = match ca {
        Some(ca) => builder
            .with_root_certificates(load_roots(ca)?)
            .with_no_client_auth(),
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| Error::Tls(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// Loads the CA certificates from a PEM file or from every PEM file in a directory (files
/// in a directory that hold no certificate are skipped).
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore> {
    let tls = |e: &dyn std::fmt::Display| Error::Tls(format!("{}: {e}", path.display()));
    let mut files = Vec::new();
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        for entry in std::fs::read_dir(path).map_err(|e| tls(&e))? {
            let entry = entry.map_err(|e| tls(&e))?;
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
            let Ok(cert) = cert else { continue };
            roots
                .add(cert)
                .map_err(|e| Error::Tls(format!("{}: {e}", file.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(tls(&"no CA certificate found"));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        assert_eq!(p.step(1), Duration::from_millis(100));
        assert_eq!(p.step(2), Duration::from_millis(200));
        assert_eq!(p.step(4), Duration::from_millis(800));
        assert_eq!(p.step(6), Duration::from_secs(2));
        assert_eq!(p.step(u32::MAX), Duration::from_secs(2));
        // Equal jitter: within [d/2, d], both ends reachable.
        assert_eq!(p.backoff_with(2, 0), Duration::from_millis(100));
        assert_eq!(p.backoff_with(2, 100), Duration::from_millis(200));
        assert_eq!(p.backoff_with(2, 101), Duration::from_millis(100));
        for retry in 1..12 {
            let d = p.step(retry);
            for _ in 0..50 {
                let b = p.backoff(retry);
                assert!(b >= d / 2 && b <= d, "{b:?} not in [{:?}, {d:?}]", d / 2);
            }
        }
        // Fresh randomness actually varies.
        let draws: std::collections::HashSet<_> = (0..64).map(|_| p.backoff(6)).collect();
        assert!(draws.len() > 8, "jitter does not vary: {draws:?}");
    }

    #[test]
    fn default_classification() {
        let r = |status| HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: Zeroizing::new(Vec::new()),
        };
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(default_verdict(&r(s)), Verdict::Retry, "{s}");
        }
        for s in [200, 201, 204, 400, 401, 403, 404, 409, 501] {
            assert_eq!(default_verdict(&r(s)), Verdict::Done, "{s}");
        }
    }

    #[test]
    fn error_text_is_bounded_and_retry_after_parsed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("3"),
        );
        let r = HttpResponse {
            status: 429,
            headers,
            body: Zeroizing::new("é".repeat(600).into_bytes()),
        };
        assert_eq!(r.error_text().chars().count(), 513);
        assert_eq!(r.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(redact("https://h/p?token=x"), "https://h/p");
    }

    #[test]
    fn ca_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_roots(dir.path()).is_err(),
            "an empty directory has no CA"
        );
        assert!(load_roots(&dir.path().join("missing.pem")).is_err());
        let pki = kes_testpeers::Pki::generate(dir.path()).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a certificate").unwrap();
        assert_eq!(load_roots(&pki.ca_cert).unwrap().len(), 1);
        assert_eq!(load_roots(dir.path()).unwrap().len(), 3);
        assert!(
            HttpClient::new(ClientOptions {
                ca: Some(pki.ca_cert.clone()),
                ..ClientOptions::default()
            })
            .is_ok()
        );
    }

    /// A loopback server that answers 503 twice, then 200: `send` retries with backoff;
    /// a refused connection is unreachable after the attempts run out.
    #[tokio::test]
    async fn send_retries_then_succeeds_and_unreachable_is_reported() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for i in 0..3 {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = conn.read(&mut buf).await.unwrap();
                let (status, body) = if i < 2 {
                    ("503 Busy", "busy")
                } else {
                    ("200 OK", "fine")
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let client = HttpClient::new(ClientOptions {
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(50),
            },
            ..ClientOptions::default()
        })
        .unwrap();
        let url = format!("http://{addr}/x");
        let started = Instant::now();
        let response = client
            .send(
                "test",
                || Ok(HttpRequest::new(Method::GET, url.clone())),
                default_verdict,
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body.as_slice(), b"fine");
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "no backoff happened"
        );
        server.await.unwrap();

        // Nothing listens there any more.
        let err = client
            .send(
                "test",
                || Ok(HttpRequest::new(Method::GET, url.clone())),
                default_verdict,
            )
            .await
            .unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        assert!(err.to_string().starts_with("test: GET http://"), "{err}");
    }
}
