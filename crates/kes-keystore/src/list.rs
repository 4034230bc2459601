//! The shared list helper (spec §8.2) for stores that can only enumerate all names.

use crate::ListPage;

/// The page size used when a caller asks for `n == 0` names (spec §8.2: "n ≤ 0 ⇒ ≤ 1024").
pub const DEFAULT_LIST_LIMIT: usize = 1024;

/// Builds one [`ListPage`] from an unsorted list of all names.
///
/// Sorts `names` (byte order) and drops duplicates, keeps the names that start with `prefix`
/// (empty = all) and are `>= continue_at`, returns at most `n` of them (`n == 0` ⇒
/// [`DEFAULT_LIST_LIMIT`]) and the following matching name as `continue_at` (empty at the
/// end). Unlike upstream's helper this never returns `n + 1` names (the §8.2 off-by-one).
pub fn list_page<I, S>(names: I, prefix: &str, continue_at: &str, n: usize) -> ListPage
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut all: Vec<String> = names
        .into_iter()
        .map(Into::into)
        .filter(|name| name.starts_with(prefix) && name.as_str() >= continue_at)
        .collect();
    all.sort_unstable();
    all.dedup();
    let limit = if n == 0 { DEFAULT_LIST_LIMIT } else { n };
    let continue_at = if all.len() > limit {
        all.truncate(limit + 1);
        all.pop().unwrap_or_default()
    } else {
        String::new()
    };
    ListPage {
        names: all,
        continue_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other() {
        let names: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = list_page(names.iter().cloned(), "k", &cursor, 3);
            assert!(page.names.len() <= 3);
            seen.extend(page.names);
            if page.continue_at.is_empty() {
                break;
            }
            cursor = page.continue_at;
        }
        assert_eq!(seen, names);
    }

    #[test]
    fn default_limit_applies_to_zero() {
        let names: Vec<String> = (0..1500).map(|i| format!("k{i:05}")).collect();
        let page = list_page(names.iter().cloned(), "", "", 0);
        assert_eq!(page.names.len(), DEFAULT_LIST_LIMIT);
        assert_eq!(page.continue_at, "k01024");
        let rest = list_page(names.iter().cloned(), "", &page.continue_at, 0);
        assert_eq!(rest.names.len(), 1500 - DEFAULT_LIST_LIMIT);
        assert!(rest.continue_at.is_empty());
    }

    #[test]
    fn prefix_and_exact_fit() {
        let page = list_page(["b", "a", "ab", "abc"], "ab", "", 2);
        assert_eq!(page.names, ["ab", "abc"]);
        assert!(page.continue_at.is_empty());
    }
}
