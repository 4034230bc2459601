//! The [`KeyStore`] trait every keystore backend implements (spec §8.1).

use std::time::Duration;

use zeroize::Zeroizing;

use crate::Result;

/// One page of a [`KeyStore::list`] answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Matching names, sorted by byte order.
    pub names: Vec<String>,
    /// The next matching name after this page (pass it back as `continue_at` to continue),
    /// or empty when there are no more names.
    pub continue_at: String,
}

/// A root keystore: where KES keeps its keys, one opaque value per name.
///
/// Values are the stored-key encoding of spec §7.4 (always ASCII); a store passes them
/// through unchanged. Names are passed through unchanged too: a store only rejects names it
/// cannot represent (e.g. the filesystem store rejects `/`, `\` and `.`); the §4.1 API name
/// rule is the server's business, so keys written by older KES versions stay reachable.
///
/// Implementations must be cancellation-safe in the usual sense: dropping a future may leave
/// an operation done or not done, never half done.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Display string for the startup banner (`KMS` line), e.g. `Filesystem: /path` or
    /// `In Memory`.
    fn describe(&self) -> String;

    /// Probes the store and returns the round-trip latency.
    ///
    /// Errors: [`Error::Unreachable`](crate::Error::Unreachable) when the store cannot be
    /// reached (network, sealed, offline: `/v1/ready` answers 504), any other variant for other
    /// failures (502).
    async fn status(&self) -> Result<Duration>;

    /// Stores `value` under `name`, create-only: an existing name fails with
    /// [`Error::Exists`](crate::Error::Exists) and is never overwritten. When two creates of
    /// the same name race, exactly one succeeds.
    async fn create(&self, name: &str, value: &[u8]) -> Result<()>;

    /// Returns the value stored under `name`, or [`Error::NotFound`](crate::Error::NotFound).
    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>>;

    /// Deletes `name`. A missing key is [`Error::NotFound`](crate::Error::NotFound) for stores
    /// that can detect it (memory, filesystem); some backends (Vault) report success.
    async fn delete(&self, name: &str) -> Result<()>;

    /// Lists names that start with `prefix` (empty = all), sorted, beginning at the first
    /// name `>= continue_at` (empty = from the start), at most `n` names (`n == 0` ⇒ at most
    /// [`DEFAULT_LIST_LIMIT`](crate::DEFAULT_LIST_LIMIT)). The returned
    /// [`ListPage::continue_at`] is the next name, empty at the end.
    ///
    /// Stores that can only produce the whole name list use [`crate::list_page`].
    async fn list(&self, prefix: &str, continue_at: &str, n: usize) -> Result<ListPage>;

    /// Lists every name that starts with `prefix`, sorted, following `continue_at` until the
    /// end. Provided in terms of [`KeyStore::list`].
    async fn list_all(&self, prefix: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.list(prefix, &cursor, 0).await?;
            names.extend(page.names);
            if page.continue_at.is_empty() {
                return Ok(names);
            }
            if page.continue_at <= cursor {
                return Err(crate::Error::other(format!(
                    "key store listing did not advance past '{cursor}'"
                )));
            }
            cursor = page.continue_at;
        }
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::Error;

    /// Always answers the same page with the same cursor.
    struct Stuck;

    #[async_trait::async_trait]
    impl KeyStore for Stuck {
        fn describe(&self) -> String {
            "Stuck".into()
        }
        async fn status(&self) -> Result<Duration> {
            Ok(Duration::ZERO)
        }
        async fn create(&self, _: &str, _: &[u8]) -> Result<()> {
            Ok(())
        }
        async fn get(&self, _: &str) -> Result<Zeroizing<Vec<u8>>> {
            Err(Error::NotFound)
        }
        async fn delete(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn list(&self, _: &str, _: &str, _: usize) -> Result<ListPage> {
            Ok(ListPage {
                names: vec!["a".into()],
                continue_at: "a".into(),
            })
        }
    }

    #[tokio::test]
    async fn list_all_fails_on_a_store_that_does_not_advance() {
        let err = Stuck.list_all("").await.unwrap_err();
        assert!(err.to_string().contains("did not advance"), "{err}");
    }

    #[tokio::test]
    async fn list_all_follows_pages() {
        let store = crate::MemKeyStore::new();
        for i in 0..2500 {
            store.create(&format!("k{i:04}"), b"v").await.unwrap();
        }
        store.create("other", b"v").await.unwrap();
        let all = store.list_all("k").await.unwrap();
        assert_eq!(all.len(), 2500);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }
}
