//! Sending requests: endpoint selection, per-endpoint back-off, retries and redirects
//! (spec §13).
//!
//! * One endpoint: every request goes there, with the retries below.
//! * Several endpoints: the first *localhost-class* endpoint (`localhost`, a loopback
//!   address, or an address of a local interface; host names resolved with a 2 s limit) is
//!   tried first; then one round-robin pass over all endpoints starts at a random index. A
//!   transport error or a 5xx answer other than 501 puts an endpoint into a back-off (30 s by
//!   default); afterwards a single probe request may use it again, and a success ends the
//!   back-off. If the pass could not send anything because every endpoint was backing off,
//!   one more pass ignores the back-offs.
//! * Per endpoint, a request is retried up to twice (default) after a random 200–1000 ms
//!   delay when the connection failed mid-way, timed out, or the server answered 503. The
//!   request body is replayed. A refused connection is not retried on the same endpoint: it
//!   fails fast and the next endpoint is used.
//! * Redirects to the same endpoint are followed (up to 10), as Go's HTTP client does.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::endpoint::{host_of, is_local};
use crate::error::{Error, Result};

/// How many redirects are followed.
const MAX_REDIRECTS: usize = 10;

/// One request, replayable.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// The escaped path, starting with `/`.
    pub(crate) path: String,
    pub(crate) body: Option<Bytes>,
    /// Send `Content-Type: application/json` with the body.
    pub(crate) json: bool,
    pub(crate) accept: Option<&'static str>,
}

impl Request {
    pub(crate) fn get(path: String) -> Self {
        Request {
            method: Method::GET,
            path,
            body: None,
            json: false,
            accept: None,
        }
    }
}

/// Transport settings.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) retry_delay: (Duration, Duration),
    pub(crate) backoff: Duration,
}

struct Endpoint {
    url: String,
    host: String,
    /// `Some(t)`: backing off until `t`.
    offline_until: Mutex<Option<Instant>>,
}

pub(crate) struct Transport {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoints: Vec<Endpoint>,
    prefer: tokio::sync::OnceCell<Option<usize>>,
    settings: Settings,
    rng: Rng,
}

/// Why one attempt failed without an HTTP answer.
struct Failure {
    message: String,
    retryable: bool,
}

impl Transport {
    pub(crate) fn new(
        endpoints: Vec<String>,
        tls: rustls::ClientConfig,
        settings: Settings,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(30)));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_all_versions()
            .wrap_connector(http);
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(100)
            .build(https);
        Transport {
            http: client,
            endpoints: endpoints
                .into_iter()
                .map(|url| Endpoint {
                    host: host_of(&url),
                    url,
                    offline_until: Mutex::new(None),
                })
                .collect(),
            prefer: tokio::sync::OnceCell::new(),
            settings,
            rng: Rng::new(),
        }
    }

    pub(crate) fn endpoints(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.url.clone()).collect()
    }

    /// Sends `req` to one of the endpoints (see the module docs). Any HTTP answer is returned,
    /// error statuses included; only transport failures are errors.
    pub(crate) async fn send(&self, req: &Request) -> Result<hyper::Response<Incoming>> {
        let n = self.endpoints.len();
        if n == 1 {
            return self.send_with_retry(0, req).await;
        }
        if n == 0 {
            return Err(Error::Config("no server endpoint".into()));
        }

        let mut last: Option<Result<hyper::Response<Incoming>>> = None;
        let mut sent = false;
        if let Some(p) = self.preferred().await {
            if self.claim(p) {
                sent = true;
                match self.attempt(p, req).await {
                    Ok(resp) => return Ok(resp),
                    Err(outcome) => last = Some(outcome),
                }
            }
        }
        let start = self.rng.below(n);
        for i in 0..n {
            let idx = (start + i) % n;
            if !self.claim(idx) {
                continue;
            }
            sent = true;
            match self.attempt(idx, req).await {
                Ok(resp) => return Ok(resp),
                Err(outcome) => last = Some(outcome),
            }
        }
        if !sent {
            for i in 0..n {
                let idx = (start + i) % n;
                match self.attempt(idx, req).await {
                    Ok(resp) => return Ok(resp),
                    Err(outcome) => last = Some(outcome),
                }
            }
        }
        last.unwrap_or_else(|| Err(Error::Connection("no server available".into())))
    }

    /// One endpoint with retries. `Ok` for a usable answer; `Err` carries the outcome (an
    /// error, or a 5xx answer) after the endpoint was put into back-off.
    async fn attempt(
        &self,
        idx: usize,
        req: &Request,
    ) -> std::result::Result<hyper::Response<Incoming>, Result<hyper::Response<Incoming>>> {
        match self.send_with_retry(idx, req).await {
            Ok(resp) if is_server_failure(resp.status()) => {
                self.mark_offline(idx);
                Err(Ok(resp))
            }
            Ok(resp) => {
                self.mark_online(idx);
                Ok(resp)
            }
            Err(e) => {
                self.mark_offline(idx);
                Err(Err(e))
            }
        }
    }

    async fn preferred(&self) -> Option<usize> {
        *self
            .prefer
            .get_or_init(|| async {
                for (i, e) in self.endpoints.iter().enumerate() {
                    if is_local(&e.host).await {
                        return Some(i);
                    }
                }
                None
            })
            .await
    }

    /// Whether the endpoint may be used now; claims the single probe after a back-off.
    fn claim(&self, idx: usize) -> bool {
        let Some(e) = self.endpoints.get(idx) else {
            return false;
        };
        let mut until = e.offline_until.lock().unwrap_or_else(|p| p.into_inner());
        match *until {
            None => true,
            Some(t) if Instant::now() < t => false,
            Some(_) => {
                *until = Some(Instant::now() + self.settings.backoff);
                true
            }
        }
    }

    fn mark_offline(&self, idx: usize) {
        if let Some(e) = self.endpoints.get(idx) {
            *e.offline_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + self.settings.backoff);
        }
    }

    fn mark_online(&self, idx: usize) {
        if let Some(e) = self.endpoints.get(idx) {
            *e.offline_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    async fn send_with_retry(
        &self,
        idx: usize,
        req: &Request,
    ) -> Result<hyper::Response<Incoming>> {
        let endpoint = self
            .endpoints
            .get(idx)
            .ok_or_else(|| Error::Config("no server endpoint".into()))?;
        let mut attempt = 0;
        loop {
            let retries_left = attempt < self.settings.retries;
            match self.send_once(endpoint, req).await {
                Ok(resp) if resp.status() == StatusCode::SERVICE_UNAVAILABLE && retries_left => {}
                Ok(resp) => return Ok(resp),
                Err(f) if f.retryable && retries_left => {}
                Err(f) => return Err(Error::Connection(f.message)),
            }
            attempt += 1;
            let (min, max) = self.settings.retry_delay;
            let spread = max.saturating_sub(min).as_millis() as u64;
            let jitter = if spread == 0 {
                0
            } else {
                self.rng.next() % (spread + 1)
            };
            tokio::time::sleep(min + Duration::from_millis(jitter)).await;
        }
    }

    async fn send_once(
        &self,
        endpoint: &Endpoint,
        req: &Request,
    ) -> std::result::Result<hyper::Response<Incoming>, Failure> {
        let mut path = req.path.clone();
        for _ in 0..=MAX_REDIRECTS {
            let url = format!("{}{}", endpoint.url, path);
            let mut builder = hyper::Request::builder()
                .method(req.method.clone())
                .uri(&url);
            if let Some(accept) = req.accept {
                builder = builder.header(header::ACCEPT, HeaderValue::from_static(accept));
            }
            if req.body.is_some() && req.json {
                builder = builder.header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            let body = Full::new(req.body.clone().unwrap_or_default());
            let request = builder.body(body).map_err(|e| Failure {
                message: format!("{} {url}: {e}", req.method),
                retryable: false,
            })?;
            let future = self.http.request(request);
            let result = match self.settings.timeout {
                Some(limit) => match tokio::time::timeout(limit, future).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(Failure {
                            message: format!("{} {url}: no response within {limit:?}", req.method),
                            retryable: true,
                        });
                    }
                },
                None => future.await,
            };
            let resp = result.map_err(|e| Failure {
                message: format!("{} {url}: {}", req.method, error_chain(&e)),
                retryable: is_retryable(&e),
            })?;
            if !resp.status().is_redirection() || resp.status() == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let Some(location) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(resp);
            };
            path = redirect_path(&endpoint.url, location).ok_or_else(|| Failure {
                message: format!(
                    "{} {url}: redirect to '{location}' not followed",
                    req.method
                ),
                retryable: false,
            })?;
        }
        Err(Failure {
            message: format!(
                "{} {}: stopped after {MAX_REDIRECTS} redirects",
                req.method, req.path
            ),
            retryable: false,
        })
    }
}

/// 5xx answers other than 501 put an endpoint into back-off.
fn is_server_failure(status: StatusCode) -> bool {
    status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
}

/// The path of a redirect target on the same endpoint.
fn redirect_path(base: &str, location: &str) -> Option<String> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Some(location.to_owned());
    }
    let rest = location.strip_prefix(base)?;
    if rest.is_empty() {
        Some("/".into())
    } else if rest.starts_with('/') {
        Some(rest.to_owned())
    } else {
        None
    }
}

/// A refused connection fails fast; every other transport failure may be retried.
fn is_retryable(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            ) {
                return false;
            }
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            // A certificate the client rejects stays rejected.
            if matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            ) {
                return false;
            }
        }
        source = s.source();
    }
    true
}

/// `a: b: c` from an error and its sources, without repeats.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Cheap randomness for jitter and the round-robin start (not for secrets).
struct Rng {
    state: RandomState,
    counter: AtomicU64,
}

impl Rng {
    fn new() -> Self {
        Rng {
            state: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        let mut h = self.state.build_hasher();
        h.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        h.finish()
    }

    fn below(&self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_endpoint() {
        let base = "https://127.0.0.1:7373";
        assert_eq!(
            redirect_path(base, "/v1/key/list/").as_deref(),
            Some("/v1/key/list/")
        );
        assert_eq!(
            redirect_path(base, "https://127.0.0.1:7373/v1/x").as_deref(),
            Some("/v1/x")
        );
        assert_eq!(redirect_path(base, "https://evil.example/v1/x"), None);
        assert_eq!(redirect_path(base, "//evil.example/v1/x"), None);
        assert_eq!(redirect_path(base, "https://127.0.0.1:73730/x"), None);
    }

    #[test]
    fn server_failures() {
        assert!(is_server_failure(StatusCode::BAD_GATEWAY));
        assert!(is_server_failure(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_server_failure(StatusCode::NOT_IMPLEMENTED));
        assert!(!is_server_failure(StatusCode::NOT_FOUND));
    }

    #[test]
    fn rng_spreads() {
        let rng = Rng::new();
        let mut seen = [false; 3];
        for _ in 0..200 {
            seen[rng.below(3)] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(rng.below(0), 0);
    }
}
