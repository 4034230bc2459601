//! Go `path.Match` semantics, used by KES policies written before 2023-10 (spec §3.3).
//!
//! * `*` matches any run of bytes other than `/`;
//! * `?` matches one character (UTF-8 rune) other than `/`;
//! * `[...]` is a character class (`[^...]` negated, `a-z` ranges, `\` escapes inside);
//! * `\x` matches `x` literally.
//!
//! A malformed pattern is reported as [`BadPattern`]; Go detects some malformations only while
//! matching, and so does this port, with the same results for every input.

/// The pattern is syntactically malformed (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// Decodes one rune like Go's `utf8.DecodeRune`: invalid input yields U+FFFD with width 1;
/// empty input yields U+FFFD with width 0.
fn decode_rune(s: &[u8]) -> (char, usize) {
    if s.is_empty() {
        return (char::REPLACEMENT_CHARACTER, 0);
    }
    let prefix = s.get(..s.len().min(4)).unwrap_or(s);
    let valid = match std::str::from_utf8(prefix) {
        Ok(v) => v,
        Err(e) => prefix
            .get(..e.valid_up_to())
            .and_then(|p| std::str::from_utf8(p).ok())
            .unwrap_or(""),
    };
    match valid.chars().next() {
        Some(c) => (c, c.len_utf8()),
        None => (char::REPLACEMENT_CHARACTER, 1),
    }
}

/// Reports whether `name` matches the shell pattern `pattern` (Go `path.Match`).
pub(crate) fn path_match(pattern: &[u8], name: &[u8]) -> Result<bool, BadPattern> {
    let mut pattern = pattern;
    let mut name = name;
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it contains a `/`.
            return Ok(!name.contains(&b'/'));
        }
        // Look for a match at the current position.
        let (t, ok) = match_chunk(chunk, name)?;
        // The last chunk must consume the whole name, otherwise the star may still help.
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            // Look for a match skipping i+1 bytes; a star cannot skip a `/`.
            let mut i = 0;
            while i < name.len() && name.get(i) != Some(&b'/') {
                let rest_name = name.get(i + 1..).unwrap_or_default();
                let (t, ok) = match_chunk(chunk, rest_name)?;
                if ok && (t.is_empty() || !pattern.is_empty()) {
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Before reporting a mismatch, check that the rest of the pattern is well-formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off leading stars and the next chunk (up to the next unbracketed `*`).
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let Some((b'*', rest)) = pattern.split_first() {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while let Some(&b) = pattern.get(i) {
        match b {
            // A trailing backslash is reported by match_chunk.
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    let (chunk, rest) = pattern.split_at(i.min(pattern.len()));
    (star, chunk, rest)
}

/// Matches one chunk against the start of `s`; returns the unmatched rest of `s` and whether
/// it matched. Keeps scanning a failed chunk to report malformed syntax.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<(&'a [u8], bool), BadPattern> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = '\0';
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = s.get(n..).unwrap_or_default();
                }
                chunk = chunk.get(1..).unwrap_or_default();
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = chunk.get(1..).unwrap_or_default();
                }
                let mut matched = false;
                let mut nrange = 0usize;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = chunk.get(1..).unwrap_or_default();
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = get_esc(chunk.get(1..).unwrap_or_default())?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s.first() == Some(&b'/') {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = s.get(n..).unwrap_or_default();
                }
                chunk = chunk.get(1..).unwrap_or_default();
            }
            _ => {
                let lit = if c == b'\\' {
                    chunk = chunk.get(1..).unwrap_or_default();
                    match chunk.first() {
                        Some(&l) => l,
                        None => return Err(BadPattern),
                    }
                } else {
                    c
                };
                if !failed {
                    if s.first() != Some(&lit) {
                        failed = true;
                    }
                    s = s.get(1..).unwrap_or_default();
                }
                chunk = chunk.get(1..).unwrap_or_default();
            }
        }
    }
    if failed {
        Ok((b"", false))
    } else {
        Ok((s, true))
    }
}

/// Reads one (possibly escaped) rune of a character class.
fn get_esc(mut chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(b'\\') => {
            chunk = chunk.get(1..).unwrap_or_default();
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        Some(_) => {}
    }
    let (r, n) = decode_rune(chunk);
    let rest = chunk.get(n..).unwrap_or_default();
    if (r == char::REPLACEMENT_CHARACTER && n == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> Result<bool, BadPattern> {
        path_match(p.as_bytes(), n.as_bytes())
    }

    // The cases of Go's path.Match documentation and its test table.
    #[test]
    fn go_table() {
        let ok = |p, n, want| assert_eq!(m(p, n), Ok(want), "{p} {n}");
        let bad = |p, n| assert_eq!(m(p, n), Err(BadPattern), "{p} {n}");
        ok("abc", "abc", true);
        ok("*", "abc", true);
        ok("*c", "abc", true);
        ok("a*", "a", true);
        ok("a*", "abc", true);
        ok("a*", "ab/c", false);
        ok("a*/b", "abc/b", true);
        ok("a*/b", "a/c/b", false);
        ok("a*b*c*d*e*/f", "axbxcxdxe/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false);
        ok("a*b?c*x", "abxbbxdbxebxczzx", true);
        ok("a*b?c*x", "abxbbxdbxebxczzy", false);
        ok("ab[c]", "abc", true);
        ok("ab[b-d]", "abc", true);
        ok("ab[e-g]", "abc", false);
        ok("ab[^c]", "abc", false);
        ok("ab[^b-d]", "abc", false);
        ok("ab[^e-g]", "abc", true);
        ok("a\\*b", "a*b", true);
        ok("a\\*b", "ab", false);
        ok("a?b", "a☺b", true);
        ok("a[^a]b", "a☺b", true);
        ok("a???b", "a☺b", false);
        ok("a[^a][^a][^a]b", "a☺b", false);
        ok("[a-ζ]*", "α", true);
        ok("*[a-ζ]", "A", false);
        ok("a?b", "a/b", false);
        ok("a*b", "a/b", false);
        ok("[\\]a]", "]", true);
        ok("[\\-]", "-", true);
        ok("[x\\-]", "x", true);
        ok("[x\\-]", "-", true);
        ok("[x\\-]", "z", false);
        ok("[\\-x]", "x", true);
        ok("[\\-x]", "-", true);
        ok("[\\-x]", "a", false);
        bad("[]a]", "]");
        bad("[-]", "-");
        bad("[x-]", "x");
        bad("[x-]", "-");
        bad("[x-]", "z");
        bad("[-x]", "x");
        bad("[-x]", "-");
        bad("[-x]", "a");
        bad("\\", "a");
        bad("[a-b-c]", "a");
        bad("[", "a");
        bad("[^", "a");
        bad("[^bc", "a");
        bad("a[", "a");
        bad("a[", "ab");
        bad("a[", "x");
        bad("a/b[", "x");
    }

    #[test]
    fn star_rules() {
        assert_eq!(m("*x", "xxx"), Ok(true));
        assert_eq!(m("/v1/key/*", "/v1/key/create/my-key"), Ok(false));
        assert_eq!(m("/v1/key/*/my-key", "/v1/key/generate/my-key"), Ok(true));
    }
}
