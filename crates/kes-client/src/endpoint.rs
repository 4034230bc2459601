//! Endpoints and request URLs, built as the Go SDK builds them (spec §13,
//! `client_endpoint.json`).
//!
//! * [`normalize`]: an endpoint as given by a user (`host:port`, `https://host:port/`, with
//!   whitespace) to its canonical `https://host:port` form.
//! * [`join_url`]: base URL + path elements: one trailing `/` and surrounding whitespace
//!   trimmed from the base, then Go's `path.Join` of the elements.
//! * [`path_escape`]: Go's `url.PathEscape` for API arguments (`*` becomes `%2A`).

use std::net::IpAddr;
use std::time::Duration;

use crate::error::{Error, Result};

/// Turns a user-supplied endpoint into `https://host[:port]`: surrounding whitespace and one
/// trailing `/` are removed and `https://` is added when no scheme is given. Any scheme other
/// than `https` is an error: KES speaks TLS only.
pub fn normalize(endpoint: &str) -> Result<String> {
    let e = endpoint.trim();
    let rest = match e.split_once("://") {
        Some((scheme, _)) if !scheme.eq_ignore_ascii_case("https") => {
            return Err(Error::Config(format!(
                "invalid server endpoint '{e}': scheme must be https"
            )));
        }
        Some((_, rest)) => rest,
        None => e,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(Error::Config(format!(
            "invalid server endpoint '{e}': no host"
        )));
    }
    let url = format!("https://{rest}");
    let uri: http::Uri = url
        .parse()
        .map_err(|err| Error::Config(format!("invalid server endpoint '{e}': {err}")))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::Config(format!(
            "invalid server endpoint '{e}': no host"
        )));
    }
    Ok(url)
}

/// The host of a normalized endpoint, without brackets for IPv6 literals.
pub(crate) fn host_of(endpoint: &str) -> String {
    endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()))
        .unwrap_or_default()
}

/// Joins a base URL and path elements like the Go SDK's `endpoint()`: surrounding whitespace
/// and one trailing `/` are trimmed from `base`; the elements are joined with Go's
/// `path.Join` and appended, with a `/` in between unless the joined path starts with one.
pub fn join_url(base: &str, elements: &[&str]) -> String {
    let base = base.trim();
    let base = base.strip_suffix('/').unwrap_or(base);
    let path = path_join(elements);
    if path.is_empty() {
        return base.to_owned();
    }
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// Go's `path.Join`: the non-empty elements joined with `/`, then [`path_clean`]ed; empty when
/// every element is empty.
pub fn path_join(elements: &[&str]) -> String {
    let parts: Vec<&str> = elements.iter().copied().filter(|e| !e.is_empty()).collect();
    if parts.is_empty() {
        return String::new();
    }
    path_clean(&parts.join("/"))
}

/// Go's `path.Clean`: collapses repeated slashes, removes `.` elements and resolves `..`
/// lexically; `""` becomes `"."`.
pub fn path_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|p| *p != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `url.PathEscape`: every byte except `A-Z a-z 0-9 - _ . ~` and `$ & + : = @` is
/// percent-encoded (upper-case hex), so `/`, `*`, `?`, `;`, `,` and spaces are escaped.
pub fn path_escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b':' | b'=' | b'@'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The request path of an API: `api` joined with the escaped argument (Go SDK `join`). An
/// empty argument yields the API path without its trailing slash, which a KES server
/// answers with a redirect that the client follows.
pub(crate) fn api_path(api: &str, argument: &str) -> String {
    path_join(&[api, &path_escape(argument)])
}

/// Whether `host` is "localhost-class" (spec §13): `localhost`, a loopback address, or an
/// address of a local network interface (checked by binding a UDP socket to it); host names
/// are resolved with a 2 s limit.
pub(crate) async fn is_local(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return is_local_ip(ip);
    }
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(Duration::from_secs(2), lookup).await {
        Ok(Ok(mut addrs)) => addrs.any(|a| is_local_ip(a.ip())),
        _ => false,
    }
}

fn is_local_ip(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_endpoints() {
        assert_eq!(
            normalize(" 127.0.0.1:7373/ ").unwrap(),
            "https://127.0.0.1:7373"
        );
        assert_eq!(
            normalize("https://play.min.io:7373").unwrap(),
            "https://play.min.io:7373"
        );
        assert_eq!(normalize("[::1]:7373").unwrap(), "https://[::1]:7373");
        assert!(normalize("http://127.0.0.1:7373").is_err());
        assert!(normalize("  ").is_err());
        assert!(normalize("https://").is_err());
        assert_eq!(host_of("https://[::1]:7373"), "::1");
        assert_eq!(host_of("https://localhost:7373"), "localhost");
    }

    #[test]
    fn cleans_like_go() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("a//b", "a/b"),
            ("/a/./b/", "/a/b"),
            ("/a/../..", "/"),
            ("a/../..", ".."),
            ("/v1/key/list/", "/v1/key/list"),
        ] {
            assert_eq!(path_clean(input), want, "{input}");
        }
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(path_escape("my-key*"), "my-key%2A");
        assert_eq!(path_escape("a/b c?d;e,f"), "a%2Fb%20c%3Fd%3Be%2Cf");
        assert_eq!(path_escape("$&+:=@~._-"), "$&+:=@~._-");
        assert_eq!(path_escape("ü"), "%C3%BC");
        assert_eq!(api_path("/v1/key/list/", ""), "/v1/key/list");
        assert_eq!(api_path("/v1/key/list/", "*"), "/v1/key/list/%2A");
    }

    #[tokio::test]
    async fn localhost_class() {
        assert!(is_local("localhost").await);
        assert!(is_local("127.0.0.1").await);
        assert!(is_local("::1").await);
        // TEST-NET-1 is never a local address.
        assert!(!is_local("192.0.2.1").await);
    }
}
