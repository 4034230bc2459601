//! Test support: the real `kes-server` binary on loopback.
//!
//! The binary is built once per test process with `cargo build -p kes-server` into the same
//! target directory (a no-op when `cargo test --workspace` built it already). Each
//! [`Server`] gets a free port, a config file, a TLS certificate from a throwaway CA and an fs
//! keystore directory, and is killed on drop.
//!
//! Shared by the kes-client and kes-cli tests (`#[path]`-included).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kes_policy::{ApiKey, Identity};
use kes_testpeers::Pki;

/// Path of the `kes-server` binary, built on first use.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target profile directory")
            .to_owned();
        let bin = profile_dir.join("kes-server");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "kes-server", "--bin", "kes-server"])
            .current_dir(&root)
            .stdin(Stdio::null());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let output = cmd.output().expect("run cargo build -p kes-server");
        if !output.status.success() && bin.exists() {
            // Another crate of the workspace is mid-edit; the last good binary still works.
            eprintln!(
                "warning: cargo build -p kes-server failed; using the existing {}",
                bin.display()
            );
        } else if !output.status.success() {
            panic!(
                "cargo build -p kes-server failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

/// A free loopback port (bound and released; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The material every server of a test shares: a CA, the server certificate, the admin
/// and an application identity.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub admin: ApiKey,
    pub app: ApiKey,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        Fixture {
            dir,
            pki,
            admin: ApiKey::generate().unwrap(),
            app: ApiKey::generate().unwrap(),
        }
    }

    /// A fresh keystore directory under the fixture's directory.
    pub fn keys_dir(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The identity of the test CA's client certificate.
    pub fn client_cert_identity(&self) -> Identity {
        let pem = std::fs::read(&self.pki.client_cert).unwrap();
        kes_policy::parse_certificates(&pem).unwrap()[0].identity()
    }

    /// A server configuration: the fixture's admin, the `app` policy for the app key
    /// (generate/decrypt/describe of `app-*` keys, nothing else), an fs keystore.
    pub fn config(&self, port: u16, keys: &Path) -> String {
        let mut yaml = String::new();
        writeln!(yaml, "version: v1").unwrap();
        writeln!(yaml, "address: 127.0.0.1:{port}").unwrap();
        writeln!(yaml, "admin:\n  identity: {}", self.admin.identity()).unwrap();
        writeln!(
            yaml,
            "tls:\n  key: {}\n  cert: {}",
            self.pki.server_key.display(),
            self.pki.server_cert.display()
        )
        .unwrap();
        writeln!(
            yaml,
            "policy:\n  app:\n    allow:\n    - /v1/key/generate/app-*\n    - /v1/key/decrypt/app-*\n    - /v1/key/describe/app-*\n    - /v1/identity/self/describe\n    deny:\n    - /v1/key/decrypt/app-secret*\n    identities:\n    - {}",
            self.app.identity()
        )
        .unwrap();
        writeln!(yaml, "keystore:\n  fs:\n    path: {}", keys.display()).unwrap();
        yaml
    }
}

/// A running `kes-server`, killed on drop.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub endpoint: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts a server with the fixture's config over the keystore directory `keys`.
    pub fn start(fixture: &Fixture, keys: &Path) -> Server {
        let port = free_port();
        let config = fixture.dir.path().join(format!("config-{port}.yml"));
        std::fs::write(&config, fixture.config(port, keys)).unwrap();
        Self::start_with_config(&config, port, fixture.dir.path())
    }

    /// Starts a server with a config file that listens on `port`.
    pub fn start_with_config(config: &Path, port: u16, log_dir: &Path) -> Server {
        let log = log_dir.join(format!("server-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(server_binary())
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start kes-server");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut server = Server {
            child: Some(child),
            addr,
            endpoint: format!("127.0.0.1:{port}"),
            log,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "kes-server exited with {status}:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    );
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "kes-server did not listen on {} within 30 s:\n{}",
                    self.addr,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
