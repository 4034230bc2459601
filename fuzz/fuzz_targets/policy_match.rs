//! Policy pattern matching, current and legacy (`path.Match`) matchers: no input may panic,
//! and the current matcher keeps its exact/prefix semantics.
//!
//! Input: `pattern \0 path` (the first NUL byte separates them; both lossily UTF-8).

#![no_main]

use kes_policy::{Matcher, Pattern, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (pattern, path) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let pattern = String::from_utf8_lossy(pattern).into_owned();
    let path = String::from_utf8_lossy(path).into_owned();

    let current = Pattern::new(pattern.clone());
    let matched = current.matches(&path);
    if pattern.is_empty() {
        assert!(!matched);
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        assert_eq!(matched, path.starts_with(prefix));
    } else {
        assert_eq!(matched, pattern == path);
    }

    let legacy = Pattern::legacy(pattern.clone());
    let legacy_matched = legacy.matches(&path);
    if !pattern.contains(['*', '?', '[', '\\']) {
        assert_eq!(legacy_matched, pattern == path);
    }

    // Deny wins over an allow-everything rule, for both matchers.
    for matcher in [Matcher::Current, Matcher::Legacy] {
        let policy = Policy::with_matcher(["*"], [pattern.as_str()], matcher);
        let denied = Pattern::with_matcher(pattern.clone(), matcher).matches(&path);
        let allowed = Pattern::with_matcher("*", matcher).matches(&path);
        assert_eq!(policy.allows(&path), allowed && !denied);
    }
});
