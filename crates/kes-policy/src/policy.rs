//! Policies: allow/deny patterns over request paths, and the identity → policy assignment
//! (spec §3).
//!
//! A request is decided on its **percent-decoded URL path** (for example
//! `/v1/key/generate/my-key`): the admin identity is always allowed; any other identity needs
//! a policy; a matching deny pattern rejects; otherwise a matching allow pattern accepts;
//! otherwise the request is rejected (an empty policy denies everything).
//!
//! ```
//! use kes_policy::{Decision, Identity, Pattern, Policy, PolicySet};
//!
//! let policy = Policy::new(["/v1/key/generate/my-app*"], ["/v1/key/generate/my-app-internal*"]);
//! assert!(policy.allows("/v1/key/generate/my-app-1"));
//! assert!(!policy.allows("/v1/key/generate/my-app-internal"));
//!
//! let app: Identity = "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6".parse()?;
//! let mut set = PolicySet::new();
//! set.insert("my-app", policy, [app.clone()])?;
//! assert_eq!(
//!     set.authorize(&app, None, "/v1/key/generate/my-app-1"),
//!     Decision::Allowed { policy: "my-app" }
//! );
//! assert!(!set.authorize(&app, None, "/v1/key/delete/my-app-1").is_allowed());
//! # Ok::<(), kes_policy::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::{Error, Identity, glob, names};

/// How a [`Pattern`] is compared with a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Matcher {
    /// The current KES matcher (since 2023-10-24): an empty pattern never matches; a pattern
    /// whose last byte is `*` matches every path that starts with the rest of the pattern
    /// (the `*` crosses `/`); any other pattern must equal the path. A `*` anywhere else, `?`
    /// and `[` are literals.
    #[default]
    Current,
    /// The matcher of KES releases up to 2023-10-03: Go's `path.Match`, where `*` does not
    /// cross `/`, `?` and `[...]` are wildcards, and a malformed pattern never matches. Use it
    /// to give configuration files from that era their original meaning.
    Legacy,
}

/// One allow or deny rule of a [`Policy`].
///
/// Patterns are not validated (spec §3.1): any string is accepted and compared as described
/// by its [`Matcher`].
///
/// ```
/// use kes_policy::Pattern;
/// assert!(Pattern::new("/v1/key/*").matches("/v1/key/create/my-key"));
/// assert!(!Pattern::legacy("/v1/key/*").matches("/v1/key/create/my-key"));
/// assert!(Pattern::legacy("/v1/key/*/my-key").matches("/v1/key/create/my-key"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: String,
    matcher: Matcher,
}

impl Pattern {
    /// A pattern evaluated with the current matcher.
    pub fn new(text: impl Into<String>) -> Self {
        Self::with_matcher(text, Matcher::Current)
    }

    /// A pattern evaluated with the legacy `path.Match` matcher.
    pub fn legacy(text: impl Into<String>) -> Self {
        Self::with_matcher(text, Matcher::Legacy)
    }

    /// A pattern evaluated with the given matcher.
    pub fn with_matcher(text: impl Into<String>, matcher: Matcher) -> Self {
        Self {
            text: text.into(),
            matcher,
        }
    }

    /// The pattern text as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The matcher this pattern uses.
    pub fn matcher(&self) -> Matcher {
        self.matcher
    }

    /// Reports whether `path` (a percent-decoded URL path) matches this pattern.
    pub fn matches(&self, path: &str) -> bool {
        match self.matcher {
            Matcher::Current => current_match(&self.text, path),
            Matcher::Legacy => glob::path_match(self.text.as_bytes(), path.as_bytes()) == Ok(true),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The current matcher (kms-go `match`).
fn current_match(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        _ if pattern.is_empty() => false,
        Some(prefix) => path.as_bytes().starts_with(prefix.as_bytes()),
        None => pattern == path,
    }
}

/// An allow list and a deny list of [`Pattern`]s.
///
/// Equality compares the pattern lists as written (order included); use
/// [`Policy::is_subset`] for a semantic comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Paths this policy allows unless a deny pattern matches.
    pub allow: Vec<Pattern>,
    /// Paths this policy always denies.
    pub deny: Vec<Pattern>,
}

impl Policy {
    /// A policy whose patterns all use the current matcher.
    ///
    /// ```
    /// let p = kes_policy::Policy::new(["/v1/status"], [] as [&str; 0]);
    /// assert!(p.allows("/v1/status"));
    /// ```
    pub fn new<A, D>(allow: A, deny: D) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        D: IntoIterator,
        D::Item: Into<String>,
    {
        Self::with_matcher(allow, deny, Matcher::Current)
    }

    /// A policy whose patterns all use `matcher`.
    ///
    /// ```
    /// use kes_policy::{Matcher, Policy};
    /// let p = Policy::with_matcher(["/v1/key/*"], [] as [&str; 0], Matcher::Legacy);
    /// assert!(!p.allows("/v1/key/create/k"));
    /// ```
    pub fn with_matcher<A, D>(allow: A, deny: D, matcher: Matcher) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        D: IntoIterator,
        D::Item: Into<String>,
    {
        let to_patterns = |v: Vec<String>| {
            v.into_iter()
                .map(|p| Pattern::with_matcher(p, matcher))
                .collect()
        };
        Self {
            allow: to_patterns(allow.into_iter().map(Into::into).collect()),
            deny: to_patterns(deny.into_iter().map(Into::into).collect()),
        }
    }

    /// Reports whether the policy allows `path`: no deny pattern matches and some allow
    /// pattern does (spec §3.2).
    pub fn allows(&self, path: &str) -> bool {
        !self.deny.iter().any(|p| p.matches(path)) && self.allow.iter().any(|p| p.matches(path))
    }

    /// Like [`Policy::allows`] but with KES's error: `Err(Error::NotAllowed)` when denied.
    ///
    /// ```
    /// let p = kes_policy::Policy::default();
    /// assert_eq!(
    ///     p.verify("/v1/status").unwrap_err().to_string(),
    ///     "not authorized: insufficient permissions"
    /// );
    /// ```
    pub fn verify(&self, path: &str) -> Result<(), Error> {
        if self.allows(path) {
            Ok(())
        } else {
            Err(Error::NotAllowed)
        }
    }

    /// Reports whether `self` grants at most what `other` grants (the SDK's `IsSubset`,
    /// spec §3.4): every allow pattern `a` of `self` is matched (as a path) by some allow
    /// pattern of `other`, and every deny pattern `d` of `other` that `a` matches is matched
    /// by some deny pattern of `self`.
    ///
    /// ```
    /// use kes_policy::Policy;
    /// let small = Policy::new(["/v1/key/create/my-key"], [] as [&str; 0]);
    /// let big = Policy::new(["/v1/key/create/*"], [] as [&str; 0]);
    /// assert!(small.is_subset(&big));
    /// assert!(!big.is_subset(&small));
    /// ```
    pub fn is_subset(&self, other: &Policy) -> bool {
        self.allow.iter().all(|a| {
            other.allow.iter().any(|b| b.matches(a.as_str()))
                && other
                    .deny
                    .iter()
                    .filter(|d| a.matches(d.as_str()))
                    .all(|d| self.deny.iter().any(|own| own.matches(d.as_str())))
        })
    }
}

/// The outcome of [`PolicySet::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision<'a> {
    /// The identity is the admin; policies are not consulted.
    Admin,
    /// The identity's policy allows the path.
    Allowed {
        /// The name of the policy that allowed the request.
        policy: &'a str,
    },
    /// The identity has no policy ("access denied: identity not found").
    NoPolicy,
    /// The identity's policy rejects the path ("access denied: rejected by policy").
    Denied {
        /// The name of the policy that rejected the request.
        policy: &'a str,
    },
}

impl Decision<'_> {
    /// Reports whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Admin | Self::Allowed { .. })
    }

    /// `Ok(())` if allowed, else [`Error::NotAllowed`] (403
    /// `not authorized: insufficient permissions`).
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_allowed() {
            Ok(())
        } else {
            Err(Error::NotAllowed)
        }
    }
}

/// Named policies and the identities assigned to them; each identity belongs to at most one
/// policy (spec §3.1).
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: BTreeMap<String, Policy>,
    assignments: HashMap<Identity, String>,
}

impl PolicySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the policy `name` and assigns `identities` to it.
    ///
    /// Fails (leaving the set unchanged) if `name` violates the name rule, is already in the
    /// set, or if one of `identities` already belongs to another policy; the last error names
    /// the identity and both policies. Assigning the same identity twice to one policy is not
    /// an error.
    ///
    /// ```
    /// use kes_policy::{Identity, Policy, PolicySet};
    /// let id: Identity = "my-app".parse()?;
    /// let mut set = PolicySet::new();
    /// set.insert("a", Policy::default(), [id.clone()])?;
    /// let err = set.insert("b", Policy::default(), [id]).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "cannot assign policy 'b' to 'my-app': identity already has a policy ('a')"
    /// );
    /// # Ok::<(), kes_policy::Error>(())
    /// ```
    pub fn insert(
        &mut self,
        name: &str,
        policy: Policy,
        identities: impl IntoIterator<Item = Identity>,
    ) -> Result<(), Error> {
        names::validate_policy_name(name)?;
        if self.policies.contains_key(name) {
            return Err(Error::DuplicatePolicy(name.to_owned()));
        }
        let mut new: Vec<Identity> = Vec::new();
        for identity in identities {
            if let Some(existing) = self.assignments.get(&identity) {
                return Err(Error::IdentityAlreadyAssigned {
                    identity: identity.to_string(),
                    policy: name.to_owned(),
                    existing: existing.clone(),
                });
            }
            if !new.contains(&identity) {
                new.push(identity);
            }
        }
        for identity in new {
            self.assignments.insert(identity, name.to_owned());
        }
        self.policies.insert(name.to_owned(), policy);
        Ok(())
    }

    /// The policy called `name`.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// The name and policy assigned to `identity`.
    pub fn policy_of(&self, identity: &Identity) -> Option<(&str, &Policy)> {
        let name = self.assignments.get(identity)?;
        let policy = self.policies.get(name)?;
        Some((name.as_str(), policy))
    }

    /// All policies, sorted by name.
    pub fn policies(&self) -> impl Iterator<Item = (&str, &Policy)> {
        self.policies.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// All assigned identities with their policy name, sorted by identity.
    pub fn identities(&self) -> impl Iterator<Item = (&Identity, &str)> {
        let mut v: Vec<_> = self
            .assignments
            .iter()
            .map(|(i, n)| (i, n.as_str()))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }

    /// The number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Reports whether the set holds no policy.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Decides a request by `identity` for the percent-decoded `path` (spec §2.2): the admin
    /// (if any; `None` when admin access is disabled) bypasses policies; an identity without
    /// a policy is denied; otherwise its policy decides.
    pub fn authorize(
        &self,
        identity: &Identity,
        admin: Option<&Identity>,
        path: &str,
    ) -> Decision<'_> {
        if admin == Some(identity) {
            return Decision::Admin;
        }
        match self.policy_of(identity) {
            None => Decision::NoPolicy,
            Some((policy, p)) if p.allows(path) => Decision::Allowed { policy },
            Some((policy, _)) => Decision::Denied { policy },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_matcher_edges() {
        assert!(!current_match("", ""));
        assert!(!current_match("", "/v1/status"));
        assert!(current_match("*", ""));
        assert!(current_match("*", "/anything/at/all"));
        assert!(current_match("/v1/*/x", "/v1/*/x"));
        assert!(!current_match("/v1/*/x", "/v1/a/x"));
        assert!(!current_match("/v1/key/create/my*", "/v1/key/create/"));
        assert!(current_match("/v1/key/list/**", "/v1/key/list/*x"));
        assert!(!current_match("/v1/key/list/**", "/v1/key/list/x"));
        assert!(!current_match("/v1/status?", "/v1/status1"));
    }

    #[test]
    fn admin_bypasses_and_unknown_denied() {
        let admin: Identity = "admin".parse().unwrap();
        let other: Identity = "other".parse().unwrap();
        let set = PolicySet::new();
        assert_eq!(
            set.authorize(&admin, Some(&admin), "/v1/key/delete/x"),
            Decision::Admin
        );
        assert_eq!(
            set.authorize(&other, Some(&admin), "/v1/status"),
            Decision::NoPolicy
        );
        assert_eq!(
            set.authorize(&other, None, "/v1/status"),
            Decision::NoPolicy
        );
        assert!(Decision::NoPolicy.into_result().is_err());
    }

    #[test]
    fn insert_is_atomic() {
        let a: Identity = "a".parse().unwrap();
        let b: Identity = "b".parse().unwrap();
        let mut set = PolicySet::new();
        set.insert("p1", Policy::default(), [a.clone()]).unwrap();
        assert!(
            set.insert("p2", Policy::default(), [b.clone(), a.clone()])
                .is_err()
        );
        assert!(set.policy_of(&b).is_none());
        assert!(set.get("p2").is_none());
        assert!(matches!(
            set.insert("p1", Policy::default(), []),
            Err(Error::DuplicatePolicy(_))
        ));
        assert!(matches!(
            set.insert("p.1", Policy::default(), []),
            Err(Error::InvalidPolicyName(_))
        ));
        set.insert("p2", Policy::default(), [b.clone(), b.clone()])
            .unwrap();
        assert_eq!(set.identities().count(), 2);
        assert_eq!(set.len(), 2);
    }
}
