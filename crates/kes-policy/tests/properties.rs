//! Property tests: matcher semantics, deny-first evaluation, and no panic on any input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_policy::{ApiKey, Certificate, Identity, Matcher, Pattern, Policy, names};
use proptest::prelude::*;

/// Paths over a small alphabet so that random patterns and paths often relate.
fn path() -> impl Strategy<Value = String> {
    "[ab/*?\\[\\]-]{0,12}"
}

/// An independent model of Go's `path.Match` for patterns over `a b / * ?` only.
fn glob_model(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => {
            let mut i = 0;
            loop {
                if glob_model(rest, &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some(('?', rest)) => s.first().is_some_and(|&c| c != '/') && glob_model(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob_model(rest, &s[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A non-empty pattern without `*` matches exactly one path: itself.
    #[test]
    fn exact_pattern_matches_only_itself(p in "[ab/?\\[-]{1,10}", q in path()) {
        let pattern = Pattern::new(p.clone());
        prop_assert!(pattern.matches(&p));
        prop_assert_eq!(pattern.matches(&q), q == p);
    }

    /// A trailing `*` is a byte-prefix match that crosses `/`.
    #[test]
    fn trailing_star_is_prefix(prefix in path(), q in path(), suffix in path()) {
        let pattern = Pattern::new(format!("{prefix}*"));
        prop_assert_eq!(pattern.matches(&q), q.starts_with(&prefix));
        let extended = prefix.clone() + &suffix;
        prop_assert!(pattern.matches(&extended));
    }

    /// The empty pattern never matches.
    #[test]
    fn empty_pattern_never_matches(q in path()) {
        prop_assert!(!Pattern::new("").matches(&q));
        prop_assert!(!Pattern::legacy("").matches(&q) || q.is_empty());
    }

    /// Deny always wins, whatever the allow list, for both matchers.
    #[test]
    fn deny_always_wins(
        allow in prop::collection::vec(path(), 0..4),
        deny in prop::collection::vec(path(), 0..4),
        q in path(),
        legacy in any::<bool>(),
    ) {
        let matcher = if legacy { Matcher::Legacy } else { Matcher::Current };
        let policy = Policy::with_matcher(allow.clone(), deny.clone(), matcher);
        let denied = policy.deny.iter().any(|d| d.matches(&q));
        let allowed = policy.allow.iter().any(|a| a.matches(&q));
        prop_assert_eq!(policy.allows(&q), !denied && allowed);

        // Adding the path itself (or "*") as a deny pattern always denies it.
        let mut with_deny = policy.clone();
        with_deny.deny.push(Pattern::with_matcher(q.clone(), Matcher::Current));
        prop_assert!(q.is_empty() || !with_deny.allows(&q));
        with_deny.deny.push(Pattern::new("*"));
        prop_assert!(!with_deny.allows(&q));
        // Allowing everything does not override a deny.
        with_deny.allow.push(Pattern::new("*"));
        prop_assert!(!with_deny.allows(&q));
    }

    /// The legacy matcher agrees with a simple model of `path.Match` on patterns without
    /// character classes or escapes.
    #[test]
    fn legacy_matches_model(p in "[ab/*?]{0,8}", q in "[ab/]{0,8}") {
        let pc: Vec<char> = p.chars().collect();
        let qc: Vec<char> = q.chars().collect();
        prop_assert_eq!(Pattern::legacy(p.clone()).matches(&q), glob_model(&pc, &qc), "{} {}", p, q);
    }

    /// A legacy `*` never crosses `/`.
    #[test]
    fn legacy_star_stops_at_slash(a in "[ab]{0,4}", b in "[ab]{0,4}") {
        let pattern = Pattern::legacy("/v1/*");
        let one = format!("/v1/{a}");
        let two = format!("/v1/{a}/{b}");
        prop_assert!(pattern.matches(&one));
        prop_assert!(!pattern.matches(&two));
    }

    /// A policy without empty patterns is a subset of itself; the empty policy is a subset of
    /// every policy.
    #[test]
    fn is_subset_reflexive(
        allow in prop::collection::vec("[ab/]{1,6}\\*?", 0..4),
        deny in prop::collection::vec("[ab/]{1,6}\\*?", 0..4),
    ) {
        let p = Policy::new(allow, deny);
        prop_assert!(p.is_subset(&p));
        prop_assert!(Policy::default().is_subset(&p));
    }

    /// Valid names are valid patterns, and names never contain a `*`.
    #[test]
    fn names_are_patterns(s in "[a-zA-Z0-9_*.-]{0,82}") {
        if names::is_valid_name(&s) {
            prop_assert!(names::is_valid_pattern(&s));
            prop_assert!(s.parse::<Identity>().is_ok());
        }
        if names::is_valid_pattern(&s) && s.len() > 1 {
            prop_assert!(!s[..s.len() - 1].contains('*'));
        }
    }

    /// No parser panics on arbitrary text or bytes.
    #[test]
    fn parsers_do_not_panic(s in "\\PC{0,100}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = ApiKey::parse(&s);
        let _ = s.parse::<Identity>();
        let _ = names::is_valid_name(&s);
        let _ = names::is_valid_pattern(&s);
        let _ = Pattern::legacy(s.clone()).matches(&s);
        let _ = Certificate::from_der(&bytes);
        let _ = kes_policy::client_identity(&[&bytes]);
        let _ = kes_policy::parse_certificates(&bytes);
        let _ = kes_policy::parse_private_key(&bytes, b"pw");
        let _ = kes_policy::PrivateKey::from_pkcs8_der(&bytes);
        let _ = kes_policy::PrivateKey::from_sec1_der(&bytes);
        let _ = kes_policy::PrivateKey::from_pkcs1_der(&bytes);
        let _ = ApiKey::from_ed25519_pkcs8(&bytes);
    }

    /// PEM framing around arbitrary bytes, with every key label and legacy-encryption headers,
    /// never panics.
    #[test]
    fn pem_wrapped_garbage_does_not_panic(
        body in prop::collection::vec(any::<u8>(), 0..200),
        label in prop::sample::select(vec![
            "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
            "CERTIFICATE", "OTHER",
        ]),
        headers in prop::sample::select(vec![
            "",
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n",
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-CBC,0011223344556677\n\n",
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC,zz\n\n",
            "Proc-Type: 4,ENCRYPTED\n\n",
        ]),
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
        let pem = format!("-----BEGIN {label}-----\n{headers}{b64}\n-----END {label}-----\n");
        let _ = kes_policy::parse_private_key(pem.as_bytes(), b"");
        let _ = kes_policy::parse_private_key(pem.as_bytes(), b"password");
        let _ = kes_policy::parse_certificates(pem.as_bytes());
    }
}

#[test]
fn legacy_malformed_patterns_never_match() {
    for p in ["[", "a[", "[-]", "\\", "/v1/key/[x-]"] {
        for q in ["", "a", "[", "/v1/key/x", "-"] {
            assert!(!Pattern::legacy(p).matches(q), "{p} {q}");
        }
    }
}
