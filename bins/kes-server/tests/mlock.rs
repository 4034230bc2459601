//! Best-effort `mlockall` in the real binary: with `CAP_IPC_LOCK` dropped and a zero
//! `RLIMIT_MEMLOCK` (util-linux `setpriv` and `prlimit`) the kernel refuses, and `kes-server
//! --dev` still starts and serves, warns on stderr and shows the lock as disabled in the
//! banner; without the restriction (the tests run as root, as `.ci/run` does) the lock
//! succeeds and there is no warning.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{BIN, ClientId, Http};

/// What `lib.rs` prints when `mlockall` fails.
const WARNING: &str = "failed to lock memory (mlockall)";
/// The wrapper that takes the memory lock away: no `CAP_IPC_LOCK` (bounding and inheritable
/// sets, so the exec'd server does not get it back as root) and a zero memlock limit.
const RESTRICTED: &[&str] = &[
    "prlimit",
    "--memlock=0:0",
    "setpriv",
    "--bounding-set",
    "-ipc_lock",
    "--inh-caps",
    "-ipc_lock",
];
/// `CAP_IPC_LOCK`'s bit in the capability sets.
const CAP_IPC_LOCK: u32 = 14;

/// The tools the restriction needs; a missing one fails the test rather than skipping it.
fn require_util_linux() {
    for tool in ["prlimit", "setpriv"] {
        match Command::new(tool).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`{tool} --version` failed ({}): this test needs util-linux's {tool}",
                out.status
            ),
            Err(e) => panic!(
                "`{tool}` not found ({e}): this test needs util-linux's {tool} \
                 (apt-get install util-linux)"
            ),
        }
    }
}

/// Whether this process has `CAP_IPC_LOCK` in its effective set.
fn has_ipc_lock() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("no CapEff line in /proc/self/status")
        .trim();
    u64::from_str_radix(hex, 16).unwrap() & (1 << CAP_IPC_LOCK) != 0
}

/// Kills the process if a check panics before it was stopped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// One run of `kes-server --dev`: its output and the status of `GET /version` with the
/// printed API key.
struct Run {
    stdout: Vec<String>,
    stderr: String,
    version_status: u16,
}

impl Run {
    /// The value of a banner line, e.g. `MLock`.
    fn banner_value(&self, key: &str) -> String {
        self.stdout
            .iter()
            .find_map(|l| {
                let rest = l.strip_prefix(key)?;
                rest.starts_with(' ').then(|| rest.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no banner line '{key}' in\n{}", self.stdout.join("\n")))
    }
}

/// Runs `wrapper… kes-server --dev` until it serves, asks it for `/version` over mTLS with the
/// admin API key from the banner, stops it with SIGTERM and collects its output.
async fn run_dev(wrapper: &[&str]) -> Run {
    let mut argv: Vec<&str> = wrapper.to_vec();
    argv.extend([BIN, "--dev", "--addr", "127.0.0.1:0"]);
    let mut child = Guard(
        Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}")),
    );
    let (tx, stdout_lines) = mpsc::channel::<String>();
    let stdout = child.0.stdout.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let stderr = child.0.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });

    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines.iter().any(|l: &String| l.contains("Server is up")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match stdout_lines.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.0.kill();
                let stderr = stderr_reader.join().unwrap();
                panic!(
                    "{argv:?} did not start ({:?})\nstdout:\n{}\nstderr:\n{stderr}",
                    child.0.try_wait(),
                    lines.join("\n")
                );
            }
        }
    }
    let partial = Run {
        stdout: lines,
        stderr: String::new(),
        version_status: 0,
    };
    let addr = partial
        .stdout
        .iter()
        .filter(|l| l.starts_with("API "))
        .find_map(|l| l.split_once("https://"))
        .expect("banner has an API endpoint")
        .1
        .parse()
        .unwrap();
    let key = kes_policy::ApiKey::parse(&partial.banner_value("API Key")).unwrap();
    let ca = partial
        .stdout
        .iter()
        .find_map(|l| l.trim().strip_prefix("ca="))
        .expect("banner names the server certificate")
        .to_owned();
    let id = ClientId::from_credentials(&key.client_certificate().unwrap());
    let config = common::client_config(Path::new(&ca), Some(&id), Http::H1, false);
    let version = common::once(addr, config, "GET", "/version", "")
        .await
        .unwrap_or_else(|e| panic!("GET /version failed: {e}"));

    let kill = Command::new("kill")
        .args(["-s", "TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "kes-server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    stdout_reader.join().unwrap();
    let mut stdout = partial.stdout;
    stdout.extend(stdout_lines.try_iter());
    let stderr = stderr_reader.join().unwrap();
    assert!(
        status.success(),
        "kes-server exited with {status}\nstderr:\n{stderr}"
    );
    Run {
        stdout,
        stderr,
        version_status: version.status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_mlockall_warns_and_serves() {
    require_util_linux();
    let run = run_dev(RESTRICTED).await;
    assert_eq!(run.version_status, 200);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains(WARNING))
        .unwrap_or_else(|| panic!("no '{WARNING}' warning on stderr:\n{}", run.stderr));
    assert!(warning.contains("CAP_IPC_LOCK"), "{warning}");
    let mlock = run.banner_value("MLock");
    assert!(mlock.starts_with("disabled ("), "banner says MLock {mlock}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permitted_mlockall_does_not_warn() {
    assert!(
        has_ipc_lock(),
        "this test needs CAP_IPC_LOCK (run it as root, as .ci/run does) so that mlockall \
         succeeds"
    );
    let run = run_dev(&[]).await;
    assert_eq!(run.version_status, 200);
    assert!(
        !run.stderr.contains(WARNING),
        "unexpected warning:\n{}",
        run.stderr
    );
    assert_eq!(run.banner_value("MLock"), "enabled");
}
