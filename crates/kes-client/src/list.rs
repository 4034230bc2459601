//! Listing keys, policies and identities: one page ([`ListPage`]) or all of them
//! ([`ListIter`], which follows `continue_at`).
//!
//! The KES wire protocol has no cursor parameter: a page's `continue_at` (the next name) is
//! sent as the next request's prefix, as the Go SDK's `ListIter` does. Against a server that
//! pages (upstream keystores cap pages at 1024 names) that only finds names starting with
//! the cursor; kes-rs servers answer with every match in one page. The iterator never yields
//! a name twice or a name outside the requested prefix, and stops when a page brings nothing
//! new, so it cannot loop.

use std::collections::VecDeque;

use kes_types::dto::{LegacyIdentityEntry, LegacyListEntry};

use crate::client::Client;
use crate::error::{Error, Result};

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListPage {
    /// The names, sorted.
    pub names: Vec<String>,
    /// Where the next page starts; empty when this is the last page.
    pub continue_at: String,
}

/// What is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    Keys,
    Policies,
    Identities,
}

impl ListKind {
    pub(crate) fn api(self) -> &'static str {
        match self {
            ListKind::Keys => "/v1/key/list/",
            ListKind::Policies => "/v1/policy/list/",
            ListKind::Identities => "/v1/identity/list/",
        }
    }
}

/// Every name of a listing, page by page.
///
/// ```no_run
/// # async fn demo(client: kes_client::Client) -> Result<(), kes_client::Error> {
/// let mut keys = client.keys("minio-");
/// while let Some(name) = keys.next().await {
///     println!("{}", name?);
/// }
/// let all: Vec<String> = client.keys("*").collect().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ListIter {
    client: Client,
    kind: ListKind,
    prefix: String,
    next_request: Option<String>,
    buffer: VecDeque<String>,
    last: Option<String>,
}

impl ListIter {
    pub(crate) fn new(client: Client, kind: ListKind, prefix: &str) -> Self {
        ListIter {
            client,
            kind,
            prefix: prefix.strip_suffix('*').unwrap_or(prefix).to_owned(),
            next_request: Some(prefix.to_owned()),
            buffer: VecDeque::new(),
            last: None,
        }
    }

    /// The next name, `None` after the last one. After an error the iterator ends.
    pub async fn next(&mut self) -> Option<Result<String>> {
        loop {
            if let Some(name) = self.buffer.pop_front() {
                self.last = Some(name.clone());
                return Some(Ok(name));
            }
            let request = self.next_request.take()?;
            let page = match self.client.list(self.kind, &request).await {
                Ok(page) => page,
                Err(e) => return Some(Err(e)),
            };
            let before = self.buffer.len();
            for name in page.names {
                let new = self.last.as_ref().is_none_or(|last| name > *last);
                if new && name.starts_with(&self.prefix) {
                    self.buffer.push_back(name);
                }
            }
            let progressed = self.buffer.len() > before;
            if !page.continue_at.is_empty()
                && progressed
                && page.continue_at.starts_with(&self.prefix)
            {
                self.next_request = Some(page.continue_at);
            }
        }
    }

    /// Collects every remaining name.
    pub async fn collect(mut self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        while let Some(name) = self.next().await {
            names.push(name?);
        }
        Ok(names)
    }
}

/// A legacy (before 2023-10) `application/x-ndjson` listing: one object per line, an
/// `{"error":…}` line ends it with an error.
pub(crate) fn parse_ndjson(kind: ListKind, body: &[u8]) -> Result<ListPage> {
    let mut names = Vec::new();
    for line in body.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let bad = |e: kes_types::Error| Error::InvalidResponse(format!("list entry: {e}"));
        let (name, error) = match kind {
            ListKind::Identities => {
                let entry: LegacyIdentityEntry = kes_types::json::from_slice(line).map_err(bad)?;
                (entry.identity, entry.error)
            }
            _ => {
                let entry: LegacyListEntry = kes_types::json::from_slice(line).map_err(bad)?;
                (entry.name, entry.error)
            }
        };
        if !error.is_empty() {
            return Err(Error::InvalidResponse(format!("listing failed: {error}")));
        }
        names.push(name);
    }
    names.sort();
    Ok(ListPage {
        names,
        continue_at: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_ndjson() {
        let page = parse_ndjson(ListKind::Keys, b"{\"name\":\"b\"}\n{\"name\":\"a\"}\n\n").unwrap();
        assert_eq!(page.names, ["a", "b"]);
        let err = parse_ndjson(ListKind::Keys, b"{\"name\":\"a\"}\n{\"error\":\"boom\"}\n");
        assert!(err.unwrap_err().to_string().contains("boom"));
        let page = parse_ndjson(
            ListKind::Identities,
            b"{\"identity\":\"x\",\"admin\":true,\"policy\":\"\",\"created_at\":\"0001-01-01T00:00:00Z\",\"created_by\":\"\"}\n",
        )
        .unwrap();
        assert_eq!(page.names, ["x"]);
        assert!(parse_ndjson(ListKind::Keys, b"not json\n").is_err());
    }
}
