//! Request routing with Go `http.ServeMux` semantics (spec §1.3).
//!
//! KES registers its routes on a Go 1.22+ `ServeMux` without methods. That mux:
//! - cleans the *escaped* path (`//`, `/./`, `/../`) and redirects (301) when cleaning changed it;
//! - splits the escaped path at `/` and percent-decodes each segment on its own, so `%2F` never
//!   separates segments;
//! - matches routes ending in `/` as prefixes and all others exactly;
//! - redirects a request for a prefix route without its trailing slash to the slashed path;
//! - answers everything else with `404 page not found`.
//!
//! This module reproduces exactly that, as pure functions over the raw request path.

use std::borrow::Cow;

/// How a raw request path resolves against a route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution<'a> {
    /// A route matched. `index` points into the table; `path` is the fully percent-decoded
    /// request path (Go `URL.Path`), used for policy evaluation; `resource` is the part of it
    /// after the route prefix. Both are lossy UTF-8 (decoded bytes need not be UTF-8; such
    /// names and patterns are invalid anyway).
    Route {
        /// Index of the matched route in the table passed to [`resolve`].
        index: usize,
        /// The percent-decoded path.
        path: Cow<'a, str>,
        /// The percent-decoded resource.
        resource: Cow<'a, str>,
    },
    /// `301 Moved Permanently` to this location (already escaped, query appended).
    Redirect(String),
    /// The path is not a valid request target (bad percent-escape): Go's HTTP server answers
    /// `400 Bad Request` before the mux sees the request.
    BadRequest,
    /// No route: `404 page not found`.
    NotFound,
}

/// Resolves `raw_path` (escaped, without query) against route patterns.
///
/// `patterns[i]` is a route path such as `/v1/status` (exact) or `/v1/key/create/` (prefix).
pub(crate) fn resolve<'a>(
    patterns: &[&str],
    raw_path: &'a str,
    query: Option<&str>,
) -> Resolution<'a> {
    if let Some(r) = fast_path(patterns, raw_path) {
        return r;
    }
    resolve_slow(patterns, raw_path, query)
}

/// The general algorithm (any path).
fn resolve_slow<'a>(patterns: &[&str], raw_path: &'a str, query: Option<&str>) -> Resolution<'a> {
    if !raw_path.starts_with('/') || !valid_escapes(raw_path) {
        return Resolution::BadRequest;
    }
    let cleaned = clean_path(raw_path);

    // Trailing-slash redirect: checked on the cleaned path before the clean-path redirect.
    let matched = match_path(patterns, &cleaned);
    if matched.is_none() && !cleaned.ends_with('/') {
        let slashed = format!("{cleaned}/");
        if let Some(i) = match_path(patterns, &slashed) {
            if is_exact_prefix_match(patterns.get(i).copied().unwrap_or(""), &slashed) {
                // Go builds `URL{Path: cleanPath(r.URL.Path) + "/"}`: the decoded path,
                // re-escaped by `URL.String()`.
                let decoded = percent_decode(raw_path.as_bytes());
                let decoded_clean = clean_path_bytes(&decoded);
                let mut location = escape_path(&decoded_clean);
                location.push('/');
                return Resolution::Redirect(redirect_location(&location, query));
            }
        }
    }
    if cleaned != raw_path {
        // Go assigns the cleaned *escaped* path to `URL.Path` and escapes it again.
        let location = escape_path(cleaned.as_bytes());
        return Resolution::Redirect(redirect_location(&location, query));
    }
    let Some(index) = matched else {
        return Resolution::NotFound;
    };
    let path = percent_decode(raw_path.as_bytes());
    let pattern = patterns.get(index).copied().unwrap_or("");
    // The decoded segments equal the pattern's, so the decoded path starts with the pattern.
    let resource_start = if pattern.ends_with('/') && path.starts_with(pattern.as_bytes()) {
        pattern.len()
    } else {
        path.len()
    };
    let resource = String::from_utf8_lossy(path.get(resource_start..).unwrap_or(&[])).into_owned();
    Resolution::Route {
        index,
        path: Cow::Owned(String::from_utf8_lossy(&path).into_owned()),
        resource: Cow::Owned(resource),
    }
}

/// The common case without allocation: a clean path without `%` escapes. Its segments are
/// literal, so a prefix route matches iff the path starts with the route path, and an exact
/// route iff the path equals it. Anything else (no match, escapes, unclean) takes the general
/// path, which also decides redirects and 404s.
fn fast_path<'a>(patterns: &[&str], raw: &'a str) -> Option<Resolution<'a>> {
    if !raw.starts_with('/') || raw.contains('%') || !is_clean(raw) {
        return None;
    }
    let mut best: Option<(usize, usize)> = None;
    let bytes = raw.as_bytes();
    for (i, p) in patterns.iter().enumerate() {
        if p.ends_with('/') {
            // A prefix route can only match where the path has a `/` at the route's last
            // byte; checking that one byte first skips the comparison for almost every route.
            if bytes.get(p.len().wrapping_sub(1)) == Some(&b'/')
                && raw.starts_with(p)
                && best.is_none_or(|(_, len)| p.len() > len)
            {
                best = Some((i, p.len()));
            }
        } else if raw == *p {
            return Some(Resolution::Route {
                index: i,
                path: Cow::Borrowed(raw),
                resource: Cow::Borrowed(""),
            });
        }
    }
    best.map(|(index, len)| Resolution::Route {
        index,
        path: Cow::Borrowed(raw),
        resource: Cow::Borrowed(raw.get(len..).unwrap_or("")),
    })
}

/// `true` if Go's `cleanPath` would leave `p` (rooted) unchanged: no empty segment but a
/// trailing one, and no `.` or `..` segment. One pass over the segments.
fn is_clean(p: &str) -> bool {
    let mut segments = p.as_bytes().split(|b| *b == b'/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment == b"." || segment == b".." {
            return false;
        }
    }
    true
}

/// Go `http.Redirect`'s post-processing of a local redirect target: split the query, clean
/// the path (keeping a trailing slash), re-append the query.
fn redirect_location(escaped_path: &str, query: Option<&str>) -> String {
    let trailing = escaped_path.ends_with('/');
    let mut url = clean_path(escaped_path);
    if trailing && !url.ends_with('/') {
        url.push('/');
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    hex_escape_non_ascii(&url)
}

/// Go `hexEscapeNonASCII`: percent-encodes bytes ≥ 0x80.
fn hex_escape_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b >= 0x80 {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Whether the matched route covers `path` without any resource (Go `exactMatch`).
fn is_exact_prefix_match(pattern: &str, path: &str) -> bool {
    if !pattern.ends_with('/') {
        return true;
    }
    path.matches('/').count() == pattern.matches('/').count()
}

/// Returns the index of the route whose segments match the escaped `path`.
///
/// Exact routes win over prefix routes; among prefix routes the longest wins (Go's most
/// specific pattern).
fn match_path(patterns: &[&str], path: &str) -> Option<usize> {
    let segments: Vec<Cow<'_, [u8]>> = split_segments(path);
    let trailing = path.ends_with('/');
    let mut best: Option<(usize, usize)> = None; // (index, specificity)
    for (i, pattern) in patterns.iter().enumerate() {
        let is_prefix = pattern.ends_with('/');
        let pat_segments: Vec<&str> = pattern
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        if is_prefix {
            // Matches when the path has at least the pattern's segments plus a slash after
            // them (i.e. the remainder may be empty).
            if segments.len() < pat_segments.len() {
                continue;
            }
            if segments.len() == pat_segments.len() && !trailing {
                continue;
            }
            if pat_segments
                .iter()
                .zip(segments.iter())
                .all(|(p, s)| p.as_bytes() == s.as_ref())
            {
                let spec = pat_segments.len() * 2;
                if best.is_none_or(|(_, s)| spec > s) {
                    best = Some((i, spec));
                }
            }
        } else {
            if trailing || segments.len() != pat_segments.len() {
                continue;
            }
            if pat_segments
                .iter()
                .zip(segments.iter())
                .all(|(p, s)| p.as_bytes() == s.as_ref())
            {
                let spec = pat_segments.len() * 2 + 1;
                if best.is_none_or(|(_, s)| spec > s) {
                    best = Some((i, spec));
                }
            }
        }
    }
    best.map(|(i, _)| i)
}

/// Splits an escaped path into percent-decoded segments. A trailing slash yields no empty
/// last segment (the caller checks `ends_with('/')`).
fn split_segments(path: &str) -> Vec<Cow<'_, [u8]>> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed
        .split('/')
        .map(|s| {
            if s.contains('%') {
                Cow::Owned(percent_decode(s.as_bytes()))
            } else {
                Cow::Borrowed(s.as_bytes())
            }
        })
        .collect()
}

/// Whether every `%` starts a valid two-hex-digit escape (Go `url.PathUnescape` accepts it).
pub(crate) fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let ok = matches!((b.get(i + 1), b.get(i + 2)), (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit());
            if !ok {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Percent-decodes `s`; an invalid escape is kept literally (callers validate first).
pub(crate) fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|h| hex_val(*h)),
                s.get(i + 2).and_then(|l| hex_val(*l)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go `url.PathEscape`-like escaping used by `URL.String()` for paths (`encodePath` mode):
/// unreserved characters and `$&+,/:;=@` stay, everything else becomes `%XX`.
pub(crate) fn escape_path(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Go `net/http.cleanPath`: `path.Clean` that keeps a trailing slash.
pub(crate) fn clean_path(p: &str) -> String {
    let bytes = clean_path_bytes(p.as_bytes());
    String::from_utf8_lossy(&bytes).into_owned()
}

fn clean_path_bytes(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b"/".to_vec();
    }
    let mut with_root = Vec::with_capacity(p.len() + 1);
    if p.first() != Some(&b'/') {
        with_root.push(b'/');
    }
    with_root.extend_from_slice(p);
    let mut np = go_path_clean(&with_root);
    if p.last() == Some(&b'/') && np != b"/" {
        np.push(b'/');
    }
    np
}

/// Go `path.Clean` for a rooted path.
fn go_path_clean(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for seg in p.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    for part in parts {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[&str] = &[
        "/version",
        "/v1/status",
        "/v1/key/create/",
        "/v1/key/list/",
        "/v1/identity/describe/",
        "/v1/identity/self/describe",
    ];

    fn route(raw: &str) -> (usize, String, String) {
        let general = resolve_slow(ROUTES, raw, None);
        let fast = resolve(ROUTES, raw, None);
        assert_eq!(fast, general, "{raw}");
        match fast {
            Resolution::Route {
                index,
                path,
                resource,
            } => (index, path.into_owned(), resource.into_owned()),
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn exact_and_prefix_routes() {
        assert_eq!(route("/version").0, 0);
        assert_eq!(route("/v1/status").0, 1);
        assert_eq!(
            route("/v1/key/create/my-key"),
            (2, "/v1/key/create/my-key".into(), "my-key".into())
        );
        assert_eq!(
            route("/v1/key/create/"),
            (2, "/v1/key/create/".into(), String::new())
        );
        assert_eq!(
            route("/v1/key/create/a%2Fb"),
            (2, "/v1/key/create/a/b".into(), "a/b".into())
        );
        assert_eq!(
            route("/v1/key/list/%2A"),
            (3, "/v1/key/list/*".into(), "*".into())
        );
        assert_eq!(route("/v1/ke%79/create/x").0, 2);
        assert_eq!(route("/v1/identity/self/describe").0, 5);
    }

    #[test]
    fn not_found() {
        for raw in [
            "/",
            "/v1",
            "/v1/status/",
            "/v1%2Fkey/list/",
            "/v1/key/list%2F",
            "/v1/identity/self%2Fdescribe",
            "/v2/key/create/x",
            "/version/x",
        ] {
            assert_eq!(resolve(ROUTES, raw, None), Resolution::NotFound, "{raw}");
        }
    }

    #[test]
    fn trailing_slash_redirect() {
        assert_eq!(
            resolve(ROUTES, "/v1/key/list", None),
            Resolution::Redirect("/v1/key/list/".into())
        );
        assert_eq!(
            resolve(ROUTES, "/v1/key/list", Some("enclave=x")),
            Resolution::Redirect("/v1/key/list/?enclave=x".into())
        );
        assert_eq!(
            resolve(ROUTES, "/v1/key/li%73t", None),
            Resolution::Redirect("/v1/key/list/".into())
        );
    }

    #[test]
    fn unclean_paths_redirect() {
        assert_eq!(
            resolve(ROUTES, "/v1//status", None),
            Resolution::Redirect("/v1/status".into())
        );
        assert_eq!(
            resolve(ROUTES, "/v1/key/create/../list/", None),
            Resolution::Redirect("/v1/key/list/".into())
        );
        assert_eq!(
            resolve(ROUTES, "/v1/./status", None),
            Resolution::Redirect("/v1/status".into())
        );
        assert_eq!(
            resolve(ROUTES, "/v1/key/create/./x/", None),
            Resolution::Redirect("/v1/key/create/x/".into())
        );
    }

    #[test]
    fn bad_escapes() {
        for raw in ["/v1/key/create/%", "/v1/key/create/%zz", "/v1/%2", "x"] {
            assert_eq!(resolve(ROUTES, raw, None), Resolution::BadRequest, "{raw}");
        }
    }

    #[test]
    fn clean_path_matches_go() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/a/b/", "/a/b/"),
            ("/a/../b", "/b"),
            ("/../a", "/a"),
            ("/a/./b/.", "/a/b"),
            ("/a/b/..", "/a"),
            ("/a/b/../", "/a/"),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }

    proptest::proptest! {
        /// The fast path's test agrees with the full cleaning for every rooted path.
        #[test]
        fn is_clean_agrees_with_clean_path(rest in "[a./]{0,12}") {
            let p = format!("/{rest}");
            proptest::prop_assert_eq!(is_clean(&p), clean_path(&p) == p, "{}", p);
        }

        /// The fast path resolves every path exactly as the general algorithm does: paths
        /// built from the routes' own segments, so most of them match, nearly match, or
        /// differ from a route only in where a `/` falls.
        #[test]
        fn fast_path_agrees_with_general(
            segments in proptest::collection::vec(
                proptest::sample::select(vec![
                    "v1", "key", "create", "list", "identity", "self", "describe", "status",
                    "version", "", ".", "x", "v1/key", "%2F",
                ]),
                0..6,
            ),
            trailing in proptest::bool::ANY,
        ) {
            let mut p = format!("/{}", segments.join("/"));
            if trailing {
                p.push('/');
            }
            proptest::prop_assert_eq!(resolve(ROUTES, &p, None), resolve_slow(ROUTES, &p, None), "{}", p);
        }
    }

    #[test]
    fn escape_path_matches_go() {
        assert_eq!(escape_path(b"/v1/key/list/*"), "/v1/key/list/%2A");
        assert_eq!(escape_path(b"/a b?c"), "/a%20b%3Fc");
        assert_eq!(escape_path(b"/a:b@c=d"), "/a:b@c=d");
    }
}
