//! Small helpers the REST backends share: endpoint URLs, JSON bodies, error texts, and a
//! bearer-style token cache.

use std::time::{Duration, Instant};

use http::{HeaderValue, Method};
use kes_keystore::Error as StoreError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use zeroize::Zeroizing;

use crate::transport::{HttpClient, HttpRequest, HttpResponse};
use crate::{Error, Result};

/// Characters percent-encoded in a URL path segment (all but RFC 3986 unreserved ones).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `value` as one percent-encoded URL path segment.
pub(crate) fn segment(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// The endpoint as a base URL without a trailing `/` (`https://` added to a bare host).
pub(crate) fn base_url(what: &str, endpoint: &str) -> Result<String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let url = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::Config(format!("{what}: invalid endpoint '{endpoint}': {e}")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(url),
        _ => Err(Error::Config(format!(
            "{what}: invalid endpoint '{endpoint}': expected a host or an http(s) URL"
        ))),
    }
}

/// Serializes `value` into a zeroizing buffer.
pub(crate) fn json<T: serde::Serialize>(
    what: &str,
    value: &T,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(|e| StoreError::other(format!("{what}: {e}")))
}

/// Parses a JSON answer.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    response: &HttpResponse,
) -> Result<T, StoreError> {
    serde_json::from_slice(&response.body)
        .map_err(|e| StoreError::other(format!("{what}: invalid answer: {e}")))
}

/// A status probe: one GET of `url`; any HTTP answer is reachable.
pub(crate) async fn probe(
    http: &HttpClient,
    what: &str,
    url: &str,
) -> Result<Duration, StoreError> {
    const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
    let started = Instant::now();
    let probe = http.send_once(what, HttpRequest::new(Method::GET, url));
    match tokio::time::timeout(STATUS_TIMEOUT, probe).await {
        Err(_) => Err(StoreError::unreachable(format!(
            "{what}: {url}: no answer within {STATUS_TIMEOUT:?}"
        ))),
        Ok(Err(e)) => Err(e),
        Ok(Ok(_)) => Ok(started.elapsed()),
    }
}

/// An access token and when to renew it.
#[derive(Clone)]
pub(crate) struct Token {
    /// The header value (marked sensitive).
    pub(crate) value: HeaderValue,
    /// When to renew it (half its lifetime).
    pub(crate) renew_at: Instant,
    /// When it expires.
    pub(crate) expires_at: Instant,
}

impl Token {
    /// A token valid for `lifetime` from now (renewed half-way).
    pub(crate) fn new(what: &str, value: &str, lifetime: Duration) -> Result<Self, StoreError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            StoreError::other(format!("{what}: the token is not a valid header value"))
        })?;
        value.set_sensitive(true);
        let now = Instant::now();
        Ok(Token {
            value,
            renew_at: now + lifetime / 2,
            expires_at: now + lifetime,
        })
    }

    /// `true` while the token has not reached its renewal time.
    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        now < self.renew_at
    }

    /// `true` while the token has not expired.
    pub(crate) fn is_valid(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_segments() {
        assert_eq!(
            base_url("x", "kms.example.net:443/").unwrap(),
            "https://kms.example.net:443"
        );
        assert_eq!(
            base_url("x", "http://127.0.0.1:1").unwrap(),
            "http://127.0.0.1:1"
        );
        assert!(base_url("x", "ftp://h").is_err());
        assert_eq!(segment("my-key_1.a~"), "my-key_1.a~");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn token_times() {
        let t = Token::new("x", "jwt", Duration::from_secs(10)).unwrap();
        let now = Instant::now();
        assert!(t.is_fresh(now));
        assert!(!t.is_fresh(now + Duration::from_secs(6)));
        assert!(t.is_valid(now + Duration::from_secs(6)));
        assert!(!t.is_valid(now + Duration::from_secs(11)));
        assert!(t.value.is_sensitive());
        assert!(Token::new("x", "bad\nvalue", Duration::from_secs(1)).is_err());
    }
}
