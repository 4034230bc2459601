//! The runtime-agnostic HTTP request and response types that cross the core's boundary.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use kes_types::route::AuthMode;
use zeroize::Zeroizing;

/// An HTTP request as the shell received it.
///
/// Built once per request by the shell, so it allocates little: standard method names are
/// static, and all header fields share one buffer ([`Headers`]).
#[derive(Clone, Default)]
pub struct Request {
    /// The method, e.g. `GET` (see [`method_name`]).
    pub method: Cow<'static, str>,
    /// The request path as sent, still percent-encoded, without the query.
    pub raw_path: String,
    /// The raw query string (without `?`); only used to build redirects.
    pub query: Option<String>,
    /// Header fields in arrival order; names in any case; a repeated header is repeated.
    pub headers: Headers,
    /// The body, read up to [`RouteInfo::max_body`] + 1 bytes. The core zeroizes it after use
    /// (it may hold plaintext or key material).
    pub body: Vec<u8>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("raw_path", &self.raw_path)
            .field("query", &self.query)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Request {
    /// A request without headers, query or body.
    pub fn new(method: impl AsRef<str>, raw_path: impl Into<String>) -> Self {
        Self {
            method: method_name(method.as_ref()),
            raw_path: raw_path.into(),
            ..Self::default()
        }
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.push(name.as_ref(), value.as_ref());
        self
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.get_all(name)
    }
}

/// `method` as a static string when it is one of HTTP's standard methods (no allocation),
/// otherwise an owned copy.
pub fn method_name(method: &str) -> Cow<'static, str> {
    const STANDARD: [&str; 9] = [
        "GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    match STANDARD.iter().find(|m| **m == method) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(method.to_owned()),
    }
}

/// Header fields in arrival order, all in one buffer: one allocation per request however
/// many fields there are, and no bigger than a `Vec` inside the request's future.
///
/// Each field is stored as its name's and its value's lengths (`u32`, little-endian) followed
/// by the name and the value.
#[derive(Clone, Default)]
pub struct Headers {
    buf: Vec<u8>,
}

/// Bytes of the two lengths in front of every field.
const FIELD_PREFIX: usize = 8;

impl Headers {
    /// Room for `fields` fields whose names and values have `bytes` bytes in total.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(fields.saturating_mul(FIELD_PREFIX).saturating_add(bytes)),
        }
    }

    /// Appends a field. A name or value longer than 4 GiB is dropped (no HTTP stack sends
    /// one).
    pub fn push(&mut self, name: &str, value: &str) {
        let (Ok(n), Ok(v)) = (u32::try_from(name.len()), u32::try_from(value.len())) else {
            return;
        };
        self.buf.extend_from_slice(&n.to_le_bytes());
        self.buf.extend_from_slice(&v.to_le_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(value.as_bytes());
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields().count()
    }

    /// `true` when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        // Both were pushed as `&str`, so they are UTF-8.
        self.fields().map(|(n, v)| (utf8(n), utf8(v)))
    }

    /// Every value of field `name` (case-insensitive), in order. Only the matching values are
    /// turned back into text.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| utf8(v))
    }

    /// Every field's name and value bytes, in order.
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut rest = self.buf.as_slice();
        std::iter::from_fn(move || {
            let (n, tail) = rest.split_first_chunk::<4>()?;
            let (v, tail) = tail.split_first_chunk::<4>()?;
            let n = usize::try_from(u32::from_le_bytes(*n)).ok()?;
            let v = usize::try_from(u32::from_le_bytes(*v)).ok()?;
            let (name, tail) = tail.split_at_checked(n)?;
            let (value, tail) = tail.split_at_checked(v)?;
            rest = tail;
            Some((name, value))
        })
    }
}

/// Text that [`Headers::push`] stored from a `&str`.
fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may carry credentials (a forwarded client certificate): names only.
        f.debug_list()
            .entries(self.fields().map(|(n, _)| utf8(n)))
            .finish()
    }
}

/// An HTTP response.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields (lower-case names). `Content-Length` is the shell's business.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The body.
    pub body: Body,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl Response {
    /// The value of header `name` (lower-case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The full body's bytes (empty for [`Body::Empty`] and streams).
    pub fn body_bytes(&self) -> &[u8] {
        match &self.body {
            Body::Full(b) => b,
            Body::Empty | Body::Stream(_) => &[],
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub(crate) fn full(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type", Cow::Borrowed(content_type))],
            body: Body::Full(Zeroizing::new(body)),
        }
    }
}

/// A response body.
pub enum Body {
    /// No body (`Content-Length: 0`).
    Empty,
    /// A complete body. Zeroized on drop: key APIs return plaintext data keys in it.
    Full(Zeroizing<Vec<u8>>),
    /// An endless NDJSON stream (`/v1/log/error`, `/v1/log/audit`): write and flush each item;
    /// drop it when the client goes away.
    Stream(BodyStream),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Full(b) => write!(f, "Full({} bytes)", b.len()),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// A stream of body chunks (one NDJSON line each). Runtime-agnostic (`futures_core::Stream`).
pub struct BodyStream {
    inner: Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>,
}

impl BodyStream {
    pub(crate) fn new(inner: impl Stream<Item = Vec<u8>> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl Stream for BodyStream {
    type Item = Vec<u8>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// What the shell needs to know about a request before reading its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// The matched route, e.g. `/v1/key/create/`; `None` for paths that are no route (the
    /// core answers 404/301/400 without reading a body).
    pub path: Option<&'static str>,
    /// The route's method (`PUT` routes also accept `POST`).
    pub method: &'static str,
    /// Body limit in bytes. Read at most `max_body + 1` bytes: the core rejects larger bodies.
    pub max_body: u64,
    /// Deadline for writing the whole response; `None` = no deadline (log streams).
    pub timeout: Option<Duration>,
    /// Authentication mode (after `skip_auth` overrides).
    pub auth: AuthMode,
}

/// KES's `Accept` matching (`internal/headers.Accepts`): true if any `Accept` value is `*/*`,
/// equals `content_type`, or is `type/*` whose `type/` prefixes `content_type`. Values are not
/// split at commas.
pub fn accepts<'a>(accept_values: impl IntoIterator<Item = &'a str>, content_type: &str) -> bool {
    accept_values.into_iter().any(|v| {
        if v == "*/*" || v == content_type {
            return true;
        }
        match v.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('/') && prefix.len() > 1 => {
                content_type.starts_with(prefix)
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_case_and_repeats() {
        let mut h = Headers::with_capacity(3, 16);
        assert!(h.is_empty());
        h.push("Host", "kes:7373");
        h.push("x-forwarded-for", "1.2.3.4");
        h.push("", "");
        h.push("X-Forwarded-For", "é, 5.6.7.8");
        assert_eq!(h.len(), 4);
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [
                ("Host", "kes:7373"),
                ("x-forwarded-for", "1.2.3.4"),
                ("", ""),
                ("X-Forwarded-For", "é, 5.6.7.8"),
            ]
        );
        let xff: Vec<_> = h.get_all("X-FORWARDED-FOR").collect();
        assert_eq!(xff, ["1.2.3.4", "é, 5.6.7.8"]);
        assert_eq!(h.get_all("accept").count(), 0);
        // Debug shows names only: a forwarded certificate is a credential.
        let dbg = format!("{h:?}");
        assert!(dbg.contains("Host") && !dbg.contains("kes:7373"), "{dbg}");
    }

    #[test]
    fn standard_methods_are_static() {
        for m in ["GET", "PUT", "POST", "DELETE", "HEAD"] {
            assert!(matches!(method_name(m), Cow::Borrowed(s) if s == m));
        }
        assert!(matches!(method_name("get"), Cow::Owned(s) if s == "get"));
        assert!(matches!(method_name("PROPFIND"), Cow::Owned(s) if s == "PROPFIND"));
        let r = Request::new(String::from("PUT"), "/v1/key/create/k").with_header("a", "b");
        assert_eq!(r.method, "PUT");
        assert_eq!(r.header_values("A").collect::<Vec<_>>(), ["b"]);
    }
}
