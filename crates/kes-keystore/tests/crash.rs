//! Crash test for the filesystem store: a child process creates keys and is killed (SIGKILL)
//! at random points, 200 times; afterwards no key may be partial.
//!
//! Runs without the libtest harness: the same binary is the parent (no environment variable)
//! or the child (`KES_CRASH_CHILD_DIR` set). Each value is self-describing
//! (`<len>:<body>:<checksum>`), so a truncated or mixed file is detected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kes_keystore::{Error, FsKeyStore, KeyStore};

const RUNS: usize = 200;
const CHILD_ENV: &str = "KES_CRASH_CHILD_DIR";
const SEED_ENV: &str = "KES_CRASH_CHILD_SEED";
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// xorshift64*: enough randomness for kill delays and value sizes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn checksum(body: &[u8]) -> u64 {
    body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn make_value(rng: &mut Rng) -> Vec<u8> {
    // 1 KiB .. 256 KiB, so a kill often lands inside a write or fsync.
    let len = 1024 + rng.below(255 * 1024) as usize;
    let body: Vec<u8> = (0..len).map(|_| ALPHABET[rng.below(64) as usize]).collect();
    let mut value = format!("{len}:").into_bytes();
    value.extend_from_slice(&body);
    value.extend_from_slice(format!(":{:016x}", checksum(&body)).as_bytes());
    value
}

fn is_complete(value: &[u8]) -> bool {
    let text = match std::str::from_utf8(value) {
        Ok(t) => t,
        Err(_) => return false,
    };
    let Some((len, rest)) = text.split_once(':') else {
        return false;
    };
    let Ok(len) = len.parse::<usize>() else {
        return false;
    };
    if rest.len() != len + 17 {
        return false;
    }
    let (body, sum) = rest.split_at(len);
    sum == format!(":{:016x}", checksum(body.as_bytes()))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().unwrap();
    }
    RT.with(|rt| rt.block_on(f))
}

fn child(dir: &Path, seed: u64) -> ! {
    let store = FsKeyStore::open(dir).unwrap();
    let mut rng = Rng::new(seed);
    let run = seed;
    for i in 0.. {
        let value = make_value(&mut rng);
        let name = format!("k-{run}-{i}");
        match block_on(store.create(&name, &value)) {
            Ok(()) | Err(Error::Exists) => {}
            Err(e) => {
                eprintln!("child: create failed: {e}");
                std::process::exit(3);
            }
        }
    }
    unreachable!()
}

/// Checks every key not checked before (a key file never changes once it is visible).
fn verify(dir: &Path, checked: &mut HashSet<String>) -> (usize, usize) {
    let store = FsKeyStore::open(dir).unwrap();
    let names = block_on(store.list_all("")).unwrap();
    for name in &names {
        assert!(!name.starts_with(".kes-"), "temp file listed: {name}");
        if !checked.insert(name.clone()) {
            continue;
        }
        let value = block_on(store.get(name)).unwrap();
        assert!(
            is_complete(&value),
            "partial key '{name}' ({} bytes)",
            value.len()
        );
    }
    let temps = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".kes-tmp.")
        })
        .count();
    (names.len(), temps)
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let seed = std::env::var(SEED_ENV).unwrap().parse().unwrap();
        child(Path::new(&dir), seed);
    }
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        // `cargo test -- --list` / nextest discovery: one test, never ignored.
        if !args.iter().any(|a| a == "--ignored") {
            println!("crash_test: test");
        }
        return;
    }

    let started = Instant::now();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kes-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash test: seed {seed}, {RUNS} runs in {}", dir.display());
    let mut rng = Rng::new(seed);
    let (mut killed, mut runs_with_temp) = (0, 0);
    let mut checked = HashSet::new();

    for run in 0..RUNS {
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, &dir)
            .env(SEED_ENV, (seed ^ (run as u64 + 1) << 20).to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(500 + rng.below(20_000)));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        child.kill().unwrap_or_default();
        let status = child.wait().unwrap();
        assert!(
            status.code() != Some(3),
            "child failed on its own (run {run})"
        );

        let (_, temps) = verify(&dir, &mut checked);
        if temps > 0 {
            runs_with_temp += 1;
        }
    }

    // Stale temp files are cleaned up and never visible.
    let store = FsKeyStore::open(&dir).unwrap();
    store.remove_stale_temp_files(Duration::ZERO).unwrap();
    let (keys, temps) = verify(&dir, &mut HashSet::new());
    assert_eq!(temps, 0);
    let _ = std::fs::remove_dir_all(&dir);

    // The test must have exercised something: children were killed while writing.
    assert!(
        killed >= RUNS / 2,
        "only {killed} of {RUNS} children were still running when killed"
    );
    assert!(keys > 0, "no key was ever created");
    println!(
        "crash test: {RUNS} runs, {killed} killed mid-run, {keys} complete keys, {runs_with_temp} runs left a temp file, no partial key ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
    println!("1 passed, 0 failed");
}
