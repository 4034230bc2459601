//! Test helpers: running the `sse-demo` binary, and a real `kes-server --dev` on loopback
//! driven with the real `kes-cli`.
//!
//! The server and CLI binaries are taken from the same target directory as `sse-demo`
//! (`cargo test --workspace` builds them); when missing they are built once with
//! `cargo build -p kes-server -p kes-cli`. `SSE_DEMO_TEST_KES_SERVER` and
//! `SSE_DEMO_TEST_KES_CLI` override the paths.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

/// Environment variables that choose a KMS; cleared for every child process so the
/// developer's environment cannot change a test.
pub const KMS_VARS: [&str; 17] = [
    "MINIO_KES_SERVER",
    "KES_SERVER",
    "MINIO_KMS_KES_ENDPOINT",
    "MINIO_KES_API_KEY",
    "KES_API_KEY",
    "MINIO_KMS_KES_API_KEY",
    "MINIO_KES_KEY_FILE",
    "KES_CLIENT_KEY",
    "MINIO_KES_CLIENT_KEY",
    "MINIO_KES_CERT_FILE",
    "KES_CLIENT_CERT",
    "MINIO_KES_CLIENT_CERT",
    "MINIO_KMS_KES_KEY_NAME",
    "MINIO_KMS_SECRET_KEY",
    "MINIO_KMS_SECRET_KEY_FILE",
    "MINIO_KMS_MASTER_KEY",
    "SSE_DEMO_STORE",
];

/// MinIO's documented example static key (sse-envelope-derived.json).
pub const STATIC_KEY: &str = "my-minio-key:OSMM+vkKUTCvQs9YL/CVMIMt43HFhkUpqJxTmGl6rYw=";

/// The `sse-demo` binary with a clean environment and `--store store`.
pub fn sse_demo(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sse-demo"));
    for v in KMS_VARS {
        cmd.env_remove(v);
    }
    cmd.arg("--store").arg(store);
    cmd
}

/// Runs a command, feeding `stdin`.
pub fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    {
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.to_vec();
        std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
    }
    child.wait_with_output().expect("wait")
}

/// Runs a command that must succeed; returns stdout.
#[track_caller]
pub fn ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.stdin(Stdio::null()).output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a command that must fail; returns stderr.
#[track_caller]
pub fn fails(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("run");
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should fail:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "{cmd:?} panicked instead of failing cleanly: {stderr}"
    );
    stderr
}

/// Deterministic test data: byte i = (i * 31 + seed) mod 251.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) * 31 % 251) as u8 ^ seed)
        .collect()
}

static BUILD: Mutex<()> = Mutex::new(());

/// A workspace binary next to `sse-demo` (built once if missing).
pub fn workspace_bin(name: &str) -> PathBuf {
    let var = format!("SSE_DEMO_TEST_{}", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var) {
        return PathBuf::from(p);
    }
    let own = Path::new(env!("CARGO_BIN_EXE_sse-demo"));
    let dir = own.parent().expect("target dir");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "kes-server", "-p", "kes-cli"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p kes-server -p kes-cli failed"
        );
    }
    assert!(
        path.exists(),
        "{} not found (set {var} to its path)",
        path.display()
    );
    path
}

/// A `kes-server --dev` on 127.0.0.1 with a random port. Killed on drop.
pub struct Kes {
    child: Child,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The admin API key.
    pub api_key: String,
    /// The server certificate (to verify it with `--kes-ca`).
    pub ca: PathBuf,
}

impl Kes {
    /// Starts the server and waits for its banner.
    pub fn start() -> Self {
        let bin = workspace_bin("kes-server");
        let mut child = Command::new(bin)
            .args(["--dev", "--addr", "127.0.0.1:0"])
            .env("KES_SERVER_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kes-server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout (the audit log goes there) so the server never blocks.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let (mut url, mut api_key, mut ca) = (None, None, None);
        while url.is_none() || api_key.is_none() || ca.is_none() {
            let line = match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = child.kill();
                    panic!("kes-server did not print its banner: {e}");
                }
            };
            let value = |prefix: &str| line.strip_prefix(prefix).map(|v| v.trim().to_owned());
            if let Some(v) = value("API Key") {
                api_key = Some(v);
            } else if let Some(v) = value("API") {
                url = Some(v.trim_start_matches('·').trim().to_owned());
            } else if let Some(v) = line.trim().strip_prefix("ca=") {
                ca = Some(PathBuf::from(v));
            }
        }
        let kes = Self {
            child,
            url: url.unwrap_or_default(),
            api_key: api_key.unwrap_or_default(),
            ca: ca.unwrap_or_default(),
        };
        // Wait until it answers.
        for _ in 0..100 {
            if kes.cli(&["status"]).status.success() {
                return kes;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kes-server at {} does not answer", kes.url);
    }

    /// Runs `kes-cli` against this server (`-k`: the dev certificate is self-signed).
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(workspace_bin("kes-cli"));
        for v in KMS_VARS {
            cmd.env_remove(v);
        }
        let mut all: Vec<&str> = args.to_vec();
        all.push("-k");
        cmd.args(all)
            .env("KES_SERVER", &self.url)
            .env("KES_API_KEY", &self.api_key)
            .stdin(Stdio::null())
            .output()
            .expect("run kes-cli")
    }

    /// `kes-cli` that must succeed.
    #[track_caller]
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "kes-cli {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `sse-demo` pointed at this server (verified with its certificate), SSE-S3 default
    /// key `default_key`.
    pub fn sse_demo(&self, store: &Path, default_key: &str) -> Command {
        let mut cmd = sse_demo(store);
        cmd.arg("--kes")
            .arg(&self.url)
            .arg("--kes-ca")
            .arg(&self.ca)
            .env("KES_API_KEY", &self.api_key)
            .env("MINIO_KMS_KES_KEY_NAME", default_key);
        cmd
    }
}

impl Drop for Kes {
    fn drop(&mut self) {
        kes_testpeers::stop(&mut self.child, Duration::from_secs(5));
    }
}
