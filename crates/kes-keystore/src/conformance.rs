//! The shared keystore conformance suite (feature `conformance`).
//!
//! Every store — memory, filesystem, sealed filesystem, Vault, … — runs the same cases:
//!
//! ```
//! use kes_keystore::MemKeyStore;
//! use kes_keystore::conformance::{Options, run_all};
//!
//! # async fn demo() {
//! let report = run_all(&MemKeyStore::new(), &Options::default()).await;
//! assert!(report.is_ok(), "{report}");
//! # }
//! ```
//!
//! The suite is runtime-free: its futures run on whatever executor the caller uses. Cases only
//! touch names that start with [`Options::namespace`] and delete what they create, so a shared
//! store (a Vault used by other tests) can run it too. Every name the suite uses is a valid
//! §4.1 key name.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use crate::{DEFAULT_LIST_LIMIT, Error, KeyStore};

/// Settings for a conformance run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Prefix of every name the suite creates (default `"conformance-"`). Must be a valid
    /// name start and at most 40 bytes.
    pub namespace: String,
    /// `true` if deleting a missing key is [`Error::NotFound`] (memory, filesystem); `false`
    /// for stores that report success (Vault). Default `true`.
    pub delete_reports_missing: bool,
    /// How many keys the bulk case creates (default 1100, more than one default list page).
    pub bulk_keys: usize,
    /// How many concurrent creates of one name race (default 16).
    pub racers: usize,
    /// Race the concurrent creates on OS threads (each driving its future with a minimal
    /// executor) instead of interleaving them on the caller's task. Only for stores whose
    /// futures need no runtime (memory, filesystem). Default `false`.
    pub threads: bool,
    /// The largest value the store holds, in bytes, for stores with a limit (Azure Key
    /// Vault: 25 KiB). `None` (default): the `value_alphabet` case stores a
    /// [`LARGE_VALUE_LEN`]-byte value. `Some(max)`: it stores a value of exactly `max` bytes
    /// instead, and checks that a value one byte longer is refused with
    /// [`Error::InvalidValue`] and leaves nothing behind.
    pub max_value_len: Option<usize>,
}

/// The length of `value_alphabet`'s large value without [`Options::max_value_len`] (64 KiB).
pub const LARGE_VALUE_LEN: usize = 64 * 1024;

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "conformance-".to_owned(),
            delete_reports_missing: true,
            bulk_keys: 1100,
            racers: 16,
            threads: false,
            max_value_len: None,
        }
    }
}

/// The outcome of a run: which cases passed and why the others failed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Names of the cases that passed.
    pub passed: Vec<&'static str>,
    /// Names of the cases that failed, with the reason.
    pub failed: Vec<(&'static str, String)>,
}

impl Report {
    /// `true` when no case failed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed",
            self.passed.len(),
            self.failed.len()
        )?;
        for (case, reason) in &self.failed {
            write!(f, "\n  {case}: {reason}")?;
        }
        Ok(())
    }
}

type CaseFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
type CaseFn = for<'a> fn(&'a dyn KeyStore, &'a Options) -> CaseFuture<'a>;

/// Every case, by name, in the order [`run_all`] runs them.
pub const CASES: &[&str] = &[
    "status_and_describe",
    "create_get_delete",
    "get_missing",
    "create_is_create_only",
    "list_sorted_prefix",
    "list_continuation",
    "bulk_keys",
    "concurrent_create_one_wins",
    "value_alphabet",
    "names_at_length_limit",
];

fn case_fn(name: &str) -> Option<CaseFn> {
    Some(match name {
        "status_and_describe" => |s, o| Box::pin(status_and_describe(s, o)),
        "create_get_delete" => |s, o| Box::pin(create_get_delete(s, o)),
        "get_missing" => |s, o| Box::pin(get_missing(s, o)),
        "create_is_create_only" => |s, o| Box::pin(create_is_create_only(s, o)),
        "list_sorted_prefix" => |s, o| Box::pin(list_sorted_prefix(s, o)),
        "list_continuation" => |s, o| Box::pin(list_continuation(s, o)),
        "bulk_keys" => |s, o| Box::pin(bulk_keys(s, o)),
        "concurrent_create_one_wins" => |s, o| Box::pin(concurrent_create_one_wins(s, o)),
        "value_alphabet" => |s, o| Box::pin(value_alphabet(s, o)),
        "names_at_length_limit" => |s, o| Box::pin(names_at_length_limit(s, o)),
        _ => return None,
    })
}

/// Runs every case in [`CASES`] against `store`.
pub async fn run_all(store: &dyn KeyStore, options: &Options) -> Report {
    let mut report = Report::default();
    for &case in CASES {
        match run_case(store, options, case).await {
            Ok(()) => report.passed.push(case),
            Err(reason) => report.failed.push((case, reason)),
        }
    }
    report
}

/// Runs the case named `case` (one of [`CASES`]).
pub async fn run_case(store: &dyn KeyStore, options: &Options, case: &str) -> Result<(), String> {
    match case_fn(case) {
        Some(f) => f(store, options).await,
        None => Err(format!("no conformance case named '{case}'")),
    }
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn fail<T>(what: &str, e: Error) -> Result<T, String> {
    Err(format!("{what}: unexpected error: {e}"))
}

async fn cleanup(store: &dyn KeyStore, names: &[String]) {
    for name in names {
        // Best effort: the case's verdict is already decided.
        let _ = store.delete(name).await;
    }
}

async fn status_and_describe(store: &dyn KeyStore, _: &Options) -> Result<(), String> {
    ensure!(!store.describe().is_empty(), "describe() is empty");
    if let Err(e) = store.status().await {
        return fail("status", e);
    }
    Ok(())
}

async fn create_get_delete(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    let name = format!("{}cgd", o.namespace);
    let value = b"{\"bytes\":\"J8qmOyEV2ce2yoAC+5t0Y7CSP/hTMppL7XHpAnyc+0E=\"}";
    let result = async {
        if let Err(e) = store.create(&name, value).await {
            return fail("create", e);
        }
        match store.get(&name).await {
            Ok(got) => ensure!(got.as_slice() == value, "get returned a different value"),
            Err(e) => return fail("get", e),
        }
        if let Err(e) = store.delete(&name).await {
            return fail("delete", e);
        }
        match store.get(&name).await {
            Err(Error::NotFound) => {}
            Ok(_) => return Err("get after delete found the key".into()),
            Err(e) => return fail("get after delete", e),
        }
        match store.delete(&name).await {
            Err(Error::NotFound) => {}
            Ok(()) => ensure!(
                !o.delete_reports_missing,
                "delete of a missing key succeeded (expected key-not-found)"
            ),
            Err(e) => return fail("second delete", e),
        }
        // The name is free again.
        if let Err(e) = store.create(&name, b"again").await {
            return fail("re-create after delete", e);
        }
        Ok(())
    }
    .await;
    cleanup(store, &[name]).await;
    result
}

async fn get_missing(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    let name = format!("{}never-created", o.namespace);
    match store.get(&name).await {
        Err(Error::NotFound) => Ok(()),
        Ok(_) => Err("get of a missing key returned a value".into()),
        Err(e) => fail("get of a missing key", e),
    }
}

async fn create_is_create_only(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    let name = format!("{}exists", o.namespace);
    let result = async {
        if let Err(e) = store.create(&name, b"first").await {
            return fail("create", e);
        }
        match store.create(&name, b"second").await {
            Err(Error::Exists) => {}
            Ok(()) => return Err("second create of the same name succeeded".into()),
            Err(e) => return fail("second create", e),
        }
        match store.get(&name).await {
            Ok(v) => ensure!(
                v.as_slice() == b"first",
                "second create overwrote the value"
            ),
            Err(e) => return fail("get", e),
        }
        Ok(())
    }
    .await;
    cleanup(store, &[name]).await;
    result
}

async fn create_all(store: &dyn KeyStore, names: &[String]) -> Result<(), String> {
    for name in names {
        if let Err(e) = store.create(name, b"v").await {
            return fail(&format!("create '{name}'"), e);
        }
    }
    Ok(())
}

async fn list_sorted_prefix(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    let ns = format!("{}ls-", o.namespace);
    // Created out of order; includes names that are prefixes of each other.
    let suffixes = ["b", "a", "ab", "B", "a-1", "_x", "0", "ba", "a_"];
    let names: Vec<String> = suffixes.iter().map(|s| format!("{ns}{s}")).collect();
    let result = async {
        create_all(store, &names).await?;
        let mut sorted = names.clone();
        sorted.sort();
        let page = match store.list(&ns, "", 0).await {
            Ok(page) => page,
            Err(e) => return fail("list", e),
        };
        ensure!(
            page.names == sorted,
            "list({ns:?}) = {:?}, want {sorted:?}",
            page.names
        );
        ensure!(
            page.continue_at.is_empty(),
            "continue_at = {:?} at the end",
            page.continue_at
        );

        let prefix = format!("{ns}a");
        let want: Vec<&String> = sorted.iter().filter(|n| n.starts_with(&prefix)).collect();
        match store.list(&prefix, "", 0).await {
            Ok(page) => ensure!(
                page.names.iter().collect::<Vec<_>>() == want,
                "list({prefix:?}) = {:?}, want {want:?}",
                page.names
            ),
            Err(e) => return fail("list with a narrower prefix", e),
        }
        match store.list(&format!("{ns}zz"), "", 0).await {
            Ok(page) => ensure!(
                page.names.is_empty() && page.continue_at.is_empty(),
                "a prefix without matches listed {:?}",
                page.names
            ),
            Err(e) => return fail("list without matches", e),
        }
        match store.list_all("").await {
            Ok(all) => {
                ensure!(
                    sorted.iter().all(|n| all.contains(n)),
                    "list of everything misses some of our names"
                );
                ensure!(
                    all.windows(2).all(|w| w[0] < w[1]),
                    "list of everything is not sorted"
                );
            }
            Err(e) => return fail("list everything", e),
        }
        Ok(())
    }
    .await;
    cleanup(store, &names).await;
    result
}

async fn list_continuation(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    let ns = format!("{}lc-", o.namespace);
    let names: Vec<String> = (0..25).rev().map(|i| format!("{ns}{i:02}")).collect();
    let result = async {
        create_all(store, &names).await?;
        let mut want = names.clone();
        want.sort();
        let mut seen = Vec::new();
        let mut cursor = String::new();
        for _ in 0..=names.len() {
            let page = match store.list(&ns, &cursor, 7).await {
                Ok(page) => page,
                Err(e) => return fail("list page", e),
            };
            ensure!(
                page.names.len() <= 7,
                "page of {} names for n = 7",
                page.names.len()
            );
            seen.extend(page.names);
            if page.continue_at.is_empty() {
                break;
            }
            ensure!(page.continue_at > cursor, "continue_at did not advance");
            cursor = page.continue_at;
        }
        ensure!(seen == want, "pages joined = {seen:?}, want {want:?}");
        Ok(())
    }
    .await;
    cleanup(store, &names).await;
    result
}

async fn bulk_keys(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    let ns = format!("{}bulk-", o.namespace);
    let names: Vec<String> = (0..o.bulk_keys).map(|i| format!("{ns}{i:05}")).collect();
    let result = async {
        create_all(store, &names).await?;
        match store.list_all(&ns).await {
            Ok(all) => ensure!(
                all == names,
                "list_all returned {} names, want {} in order",
                all.len(),
                names.len()
            ),
            Err(e) => return fail("list_all", e),
        }
        let page = match store.list(&ns, "", 0).await {
            Ok(page) => page,
            Err(e) => return fail("list", e),
        };
        let cap = DEFAULT_LIST_LIMIT.min(names.len());
        ensure!(
            page.names.len() == cap,
            "default page has {} names, want {cap}",
            page.names.len()
        );
        let next = names.get(cap).cloned().unwrap_or_default();
        ensure!(
            page.continue_at == next,
            "continue_at = {:?}, want {next:?}",
            page.continue_at
        );
        for name in [names.first(), names.last()].into_iter().flatten() {
            if let Err(e) = store.get(name).await {
                return fail(&format!("get '{name}'"), e);
            }
        }
        Ok(())
    }
    .await;
    cleanup(store, &names).await;
    result
}

async fn concurrent_create_one_wins(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    let name = format!("{}race", o.namespace);
    let values: Vec<String> = (0..o.racers.max(2)).map(|i| format!("value-{i}")).collect();
    let results: Vec<Result<(), Error>> = if o.threads {
        std::thread::scope(|scope| {
            let handles: Vec<_> = values
                .iter()
                .map(|v| scope.spawn(|| block_on(store.create(&name, v.as_bytes()))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::other("create panicked")))
                })
                .collect()
        })
    } else {
        join_all(
            values
                .iter()
                .map(|v| store.create(&name, v.as_bytes()))
                .collect(),
        )
        .await
    };
    let result = async {
        let mut winner = None;
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(()) => {
                    ensure!(
                        winner.is_none(),
                        "more than one concurrent create succeeded"
                    );
                    winner = Some(i);
                }
                Err(Error::Exists) => {}
                Err(e) => return fail("concurrent create", e.clone()),
            }
        }
        let Some(winner) = winner else {
            return Err("no concurrent create succeeded".into());
        };
        match store.get(&name).await {
            Ok(v) => ensure!(
                values
                    .get(winner)
                    .is_some_and(|w| v.as_slice() == w.as_bytes()),
                "stored value is not the winner's"
            ),
            Err(e) => return fail("get", e),
        }
        Ok(())
    }
    .await;
    cleanup(store, &[name]).await;
    result
}

async fn value_alphabet(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    // Stored values are ASCII (§7.4: JSON or base64): every printable byte, plus the
    // whitespace JSON may contain, plus a current-format (base64 protobuf) value.
    let printable: Vec<u8> = (0x20u8..=0x7e).chain(*b"\t\n\r").collect();
    let base64: Vec<u8> = (b'A'..=b'Z')
        .chain(b'a'..=b'z')
        .chain(b'0'..=b'9')
        .chain(*b"+/=")
        .collect();
    let proto = b"CiQKIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAESJAogAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQARoMCNithK0GEID67qYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy".to_vec();
    let large_len = o.max_value_len.unwrap_or(LARGE_VALUE_LEN);
    let large: Vec<u8> = base64.iter().copied().cycle().take(large_len).collect();
    let cases = [
        ("printable", printable),
        ("base64", base64),
        ("proto", proto),
        ("large", large),
    ];
    let mut names: Vec<String> = cases
        .iter()
        .map(|(n, _)| format!("{}val-{n}", o.namespace))
        .collect();
    let too_large = format!("{}val-too-large", o.namespace);
    if o.max_value_len.is_some() {
        names.push(too_large.clone());
    }
    let result = async {
        for ((_, value), name) in cases.iter().zip(&names) {
            if let Err(e) = store.create(name, value).await {
                return fail(&format!("create '{name}' ({} bytes)", value.len()), e);
            }
        }
        for ((_, value), name) in cases.iter().zip(&names) {
            match store.get(name).await {
                Ok(got) => ensure!(
                    got.as_slice() == value.as_slice(),
                    "'{name}' changed in the store"
                ),
                Err(e) => return fail(&format!("get '{name}'"), e),
            }
        }
        if let Some(max) = o.max_value_len {
            let value: Vec<u8> = b"A".repeat(max.saturating_add(1));
            match store.create(&too_large, &value).await {
                Err(Error::InvalidValue { .. }) => {}
                Ok(()) => {
                    return Err(format!(
                        "a value of {} bytes (max_value_len + 1) was accepted",
                        value.len()
                    ));
                }
                Err(e) => return fail("create of a value over max_value_len", e),
            }
            match store.get(&too_large).await {
                Err(Error::NotFound) => {}
                Ok(_) => return Err("a refused value was stored".into()),
                Err(e) => return fail("get of a refused value", e),
            }
        }
        Ok(())
    }
    .await;
    cleanup(store, &names).await;
    result
}

async fn names_at_length_limit(store: &dyn KeyStore, o: &Options) -> Result<(), String> {
    /// The §4.1 name length limit.
    const MAX_NAME: usize = 80;
    let base = format!("{}len_", o.namespace);
    let fill = MAX_NAME.saturating_sub(base.len());
    let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
    let long: String = alphabet
        .chars()
        .cycle()
        .take(fill.saturating_sub(1))
        .collect();
    let names = vec![
        format!("{base}{long}Z"),
        format!("{base}0-Z"),
        format!("{base}_"),
    ];
    let result = async {
        ensure!(
            names.first().is_some_and(|n| n.len() == MAX_NAME),
            "namespace too long for an {MAX_NAME}-byte name"
        );
        for name in &names {
            if let Err(e) = store.create(name, name.as_bytes()).await {
                return fail(&format!("create '{name}'"), e);
            }
            match store.get(name).await {
                Ok(v) => ensure!(v.as_slice() == name.as_bytes(), "'{name}' changed"),
                Err(e) => return fail(&format!("get '{name}'"), e),
            }
        }
        match store.list(&base, "", 0).await {
            Ok(page) => {
                let mut want = names.clone();
                want.sort();
                ensure!(page.names == want, "list = {:?}, want {want:?}", page.names);
            }
            Err(e) => return fail("list", e),
        }
        for name in &names {
            if let Err(e) = store.delete(name).await {
                return fail(&format!("delete '{name}'"), e);
            }
        }
        Ok(())
    }
    .await;
    cleanup(store, &names).await;
    result
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls every future until all are done, on the caller's task; results in input order.
async fn join_all<T>(futures: Vec<BoxFuture<'_, T>>) -> Vec<T> {
    let mut slots: Vec<(BoxFuture<'_, T>, Option<T>)> =
        futures.into_iter().map(|f| (f, None)).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (future, out) in slots.iter_mut() {
            if out.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(slots.iter_mut().filter_map(|(_, out)| out.take()).collect())
        }
    })
    .await
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor for one future on the current thread (for [`Options::threads`]).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(std::sync::Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
