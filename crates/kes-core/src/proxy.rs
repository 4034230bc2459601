//! TLS proxies (spec §2.4): a trusted proxy terminates TLS and forwards the real client's
//! certificate in a header; the client IP comes from `X-Forwarded-For`.
//!
//! Upstream KES parsed `tls.proxy` but stopped honouring it in 2023-10; this crate implements
//! the behaviour of KES up to 2023-10-03.

use std::net::IpAddr;

use kes_policy::Certificate;
use kes_types::ApiError;

use crate::http::Request;

/// The forwarded client certificate from header `header` (case-insensitive): present exactly
/// once, `url.QueryEscape`d PEM of one certificate.
pub(crate) fn forwarded_certificate(req: &Request, header: &str) -> Result<Certificate, ApiError> {
    let mut values = req.header_values(header);
    let Some(value) = values.next() else {
        return Err(ApiError::from_static(
            400,
            "no client certificate is present",
        ));
    };
    if values.next().is_some() {
        return Err(ApiError::from_static(
            400,
            "too many client certificates are present",
        ));
    }
    let invalid = || ApiError::from_static(400, "invalid client certificate");
    let pem = query_unescape(value).ok_or_else(invalid)?;
    let pem = String::from_utf8(pem).map_err(|_| invalid())?;
    Certificate::from_pem(&pem).map_err(|_| invalid())
}

/// The client IP from the first `X-Forwarded-For` element (optionally with `:port`), unless it
/// is `unknown` or not an IP address.
pub(crate) fn forwarded_for(req: &Request) -> Option<IpAddr> {
    let value = req.header_values("x-forwarded-for").next()?;
    let first = value.split(',').next()?.trim();
    if first.is_empty() || first.eq_ignore_ascii_case("unknown") {
        return None;
    }
    if let Ok(ip) = first.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = first.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    // `host:port` with a bare IPv4 host, or a bracketed IPv6 without port.
    let host = first
        .rsplit_once(':')
        .map_or(first, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.parse().ok()
}

/// Go `url.QueryUnescape`: `+` is a space, `%XX` a byte; a malformed escape is an error.
fn query_unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let h = b.get(i + 1).and_then(|c| (*c as char).to_digit(16))?;
                let l = b.get(i + 2).and_then(|c| (*c as char).to_digit(16))?;
                out.push(u8::try_from(h * 16 + l).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_unescape_like_go() {
        assert_eq!(query_unescape("a+b%20c%2F").unwrap(), b"a b c/");
        assert!(query_unescape("%A-").is_none());
        assert!(query_unescape("%").is_none());
        assert!(query_unescape("%zz").is_none());
    }

    #[test]
    fn forwarded_for_first_element() {
        let r = |v: &str| Request::new("GET", "/").with_header("X-Forwarded-For", v);
        assert_eq!(
            forwarded_for(&r("1.2.3.4")),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            forwarded_for(&r("1.2.3.4:555, 5.6.7.8")),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(forwarded_for(&r("[::1]:80")), Some("::1".parse().unwrap()));
        assert_eq!(forwarded_for(&r("::1")), Some("::1".parse().unwrap()));
        assert_eq!(forwarded_for(&r("unknown")), None);
        assert_eq!(forwarded_for(&r("")), None);
        assert_eq!(forwarded_for(&r("example.com")), None);
        assert_eq!(forwarded_for(&Request::new("GET", "/")), None);
    }
}
