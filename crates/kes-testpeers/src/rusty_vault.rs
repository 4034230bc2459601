//! RustyVault (`rusty_vault` 0.2.1, binary `rvault`): a Vault-API server for tests.
//!
//! [`RustyVault::start`] finds the binary (see [`binary`]), writes a config into a fresh
//! temporary directory, starts the server on a free loopback port, initialises it with one
//! unseal key share, unseals it, mounts a KV (v1) engine at [`RustyVault::KV_MOUNT`] and
//! enables the AppRole auth method at `approle`. Dropping the value kills the server and
//! removes its directory.
//!
//! What RustyVault lacks compared with HashiCorp Vault (KV v2, namespaces, Kubernetes auth,
//! transit, `sys/health`, `auth/token/renew-self`, `GET ?list=true`, ACL enforcement) has to be
//! tested some other way.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fs4::FileExt;
use serde_json::{Value, json};

use crate::http::{self, Response};
use crate::{Error, Pki, Result, peers_dir};

/// The RustyVault release the tests are written against.
pub const VERSION: &str = "0.2.1";

/// How long a started server may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Returns the path of `rvault`, building it first if it is missing.
///
/// Looks for `$KES_PEERS_DIR/rv/bin/rvault`. When it is missing, runs
/// `cargo install rusty_vault --version 0.2.1 --locked --root $KES_PEERS_DIR/rv` while holding
/// an exclusive lock on `$KES_PEERS_DIR/rv.lock`, so parallel tests build it once (the build
/// takes several minutes). Fails with a message naming the path and the command when the
/// binary cannot be provided; callers must not skip on that error.
pub fn binary() -> Result<PathBuf> {
    let root = peers_dir().join("rv");
    let bin = root.join("bin").join("rvault");
    if is_executable(&bin) {
        return Ok(bin);
    }

    std::fs::create_dir_all(peers_dir())
        .map_err(|e| Error::io(format!("failed to create {}", peers_dir().display()), e))?;
    let lock_path = peers_dir().join("rv.lock");
    let lock = File::create(&lock_path)
        .map_err(|e| Error::io(format!("failed to open {}", lock_path.display()), e))?;
    FileExt::lock(&lock)
        .map_err(|e| Error::io(format!("failed to lock {}", lock_path.display()), e))?;
    // Another test may have built it while we waited for the lock.
    if is_executable(&bin) {
        return Ok(bin);
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "install",
            "rusty_vault",
            "--version",
            VERSION,
            "--locked",
            "--root",
        ])
        .arg(&root)
        .stdin(Stdio::null())
        .output();
    // The lock is released when `lock` is dropped (also on every early return).
    let how = format!(
        "RustyVault ({}) is missing and `cargo install rusty_vault --version {VERSION} --locked \
         --root {}` failed",
        bin.display(),
        root.display()
    );
    match output {
        Ok(out) if out.status.success() && is_executable(&bin) => Ok(bin),
        Ok(out) => Err(Error::Build(format!(
            "{how} ({}): {}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 20)
        ))),
        Err(e) => Err(Error::Build(format!("{how}: {e}"))),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A role's AppRole credentials.
#[derive(Debug, Clone)]
pub struct AppRoleCredentials {
    /// The role ID (`role_id`).
    pub role_id: String,
    /// A fresh secret ID (`secret_id`).
    pub secret_id: String,
}

/// A running RustyVault server, killed on drop.
#[derive(Debug)]
pub struct RustyVault {
    dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    child: Option<Child>,
    root_token: String,
    unseal_key: String,
}

impl RustyVault {
    /// The KV (v1) mount that [`RustyVault::start`] creates.
    pub const KV_MOUNT: &'static str = "kes-kv";

    /// Starts a plain-HTTP server, ready for use (initialised, unsealed, `kes-kv` mounted,
    /// AppRole enabled).
    pub fn start() -> Result<Self> {
        Self::launch(None)
    }

    /// Starts a TLS server that presents `pki.server_cert` and requires a client certificate
    /// signed by `pki.ca_cert` (mTLS). The harness itself uses `pki.client_cert`.
    pub fn start_tls(pki: &Pki) -> Result<Self> {
        Self::launch(Some(pki))
    }

    fn launch(pki: Option<&Pki>) -> Result<Self> {
        let bin = binary()?;
        let dir = tempfile::Builder::new()
            .prefix("kes-rv-")
            .tempdir()
            .map_err(|e| Error::io("failed to create a temporary directory", e))?;
        let addr = free_port()?;
        let root = dir.path();
        let listener = match pki {
            None => "  tls_disable = true\n".to_owned(),
            Some(pki) => format!(
                "  tls_disable = false\n  tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n  \
                 tls_client_ca_file = \"{}\"\n  tls_disable_client_certs = false\n  \
                 tls_require_and_verify_client_cert = true\n",
                pki.server_cert.display(),
                pki.server_key.display(),
                pki.ca_cert.display()
            ),
        };
        let scheme = if pki.is_some() { "https" } else { "http" };
        let config_text = format!(
            "storage \"file\" {{\n  path = \"{data}\"\n}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n{listener}}}\n\
             api_addr = \"{scheme}://{addr}\"\nlog_level = \"info\"\npid_file = \"{pid}\"\nwork_dir = \"{work}\"\n",
            data = root.join("data").display(),
            pid = root.join("rv.pid").display(),
            work = root.display(),
        );
        let config = root.join("rv.hcl");
        std::fs::write(&config, config_text)
            .map_err(|e| Error::io(format!("failed to write {}", config.display()), e))?;
        let tls = pki.map(Pki::client_config).transpose()?;

        let mut rv = RustyVault {
            log: root.join("rvault.log"),
            dir,
            config,
            addr,
            tls,
            child: None,
            root_token: String::new(),
            unseal_key: String::new(),
        };
        rv.spawn(&bin)?;

        let init = rv.expect_json(
            "PUT",
            "/v1/sys/init",
            None,
            Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
        )?;
        rv.unseal_key = init["keys"][0]
            .as_str()
            .ok_or_else(|| Error::Api(format!("sys/init returned no key: {init}")))?
            .to_owned();
        rv.root_token = init["root_token"]
            .as_str()
            .ok_or_else(|| Error::Api(format!("sys/init returned no root token: {init}")))?
            .to_owned();
        rv.unseal()?;
        rv.mount_kv(Self::KV_MOUNT)?;
        rv.root_call(
            "POST",
            "/v1/sys/auth/approle",
            Some(&json!({"type": "approle"})),
            &[204, 200],
        )?;
        Ok(rv)
    }

    fn spawn(&mut self, bin: &Path) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("failed to open {}", self.log.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io("failed to duplicate the log file", e))?;
        let child = Command::new(bin)
            .arg("server")
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| Error::io(format!("failed to start {}", bin.display()), e))?;
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(Error::Start(format!(
                        "rvault exited during startup ({status}); log:\n{}",
                        self.log_tail()
                    )));
                }
            }
            if let Ok(r) = self.call("GET", "/v1/sys/init", None, None) {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(Error::Start(format!(
                    "rvault did not answer on {} within {READY_TIMEOUT:?}; log:\n{}",
                    self.addr,
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 30)
    }

    /// The API address, e.g. `http://127.0.0.1:41234` (or `https://…` for [`Self::start_tls`]).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The root token from initialisation.
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// The single unseal key share from initialisation.
    pub fn unseal_key(&self) -> &str {
        &self.unseal_key
    }

    /// The server's temporary directory (config, data, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends a request with `token` (if any) and returns `(status, body)`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, String)> {
        let r = self.call(method, path, token, body)?;
        Ok((r.status, r.body))
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Response> {
        let body = body.map(Value::to_string);
        http::request(
            self.addr,
            self.tls.as_ref(),
            method,
            path,
            token,
            body.as_deref(),
        )
        .map_err(|e| Error::io(format!("{method} {} failed", self.endpoint() + path), e))
    }

    /// Sends a request with the root token and fails unless the status is one of `ok`.
    pub fn root_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        ok: &[u16],
    ) -> Result<String> {
        let r = self.call(method, path, Some(&self.root_token), body)?;
        if ok.contains(&r.status) {
            Ok(r.body)
        } else {
            Err(Error::Api(format!(
                "{method} {path}: unexpected status {}: {}",
                r.status, r.body
            )))
        }
    }

    fn expect_json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let r = self.call(method, path, token, body)?;
        if r.status != 200 {
            return Err(Error::Api(format!(
                "{method} {path}: unexpected status {}: {}",
                r.status, r.body
            )));
        }
        serde_json::from_str(&r.body)
            .map_err(|e| Error::Api(format!("{method} {path}: invalid JSON ({e}): {}", r.body)))
    }

    /// Mounts a KV (v1) engine at `path`.
    pub fn mount_kv(&self, path: &str) -> Result<()> {
        self.root_call(
            "POST",
            &format!("/v1/sys/mounts/{path}"),
            Some(&json!({"type": "kv"})),
            &[204, 200],
        )
        .map(drop)
    }

    /// Creates (or replaces) the AppRole role `name` whose tokens live `token_ttl_secs` seconds
    /// (0 = the server default), and returns its role ID and a fresh secret ID.
    pub fn approle(&self, name: &str, token_ttl_secs: u64) -> Result<AppRoleCredentials> {
        let mut role = json!({"token_policies": ["default"]});
        if token_ttl_secs > 0 {
            role["token_ttl"] = json!(format!("{token_ttl_secs}s"));
            role["token_max_ttl"] = json!(format!("{}s", token_ttl_secs * 100));
        }
        let base = format!("/v1/auth/approle/role/{name}");
        self.root_call("POST", &base, Some(&role), &[204, 200])?;
        let role_id = self.expect_json(
            "GET",
            &format!("{base}/role-id"),
            Some(&self.root_token),
            None,
        )?;
        let secret_id = self.expect_json(
            "POST",
            &format!("{base}/secret-id"),
            Some(&self.root_token),
            None,
        )?;
        let field = |v: &Value, f: &str| {
            v["data"][f]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::Api(format!("AppRole answer without {f}: {v}")))
        };
        Ok(AppRoleCredentials {
            role_id: field(&role_id, "role_id")?,
            secret_id: field(&secret_id, "secret_id")?,
        })
    }

    /// Seals the server (`PUT sys/seal`); every API call then answers 503 until unsealed.
    pub fn seal(&self) -> Result<()> {
        self.root_call("PUT", "/v1/sys/seal", None, &[204, 200])
            .map(drop)
    }

    /// Unseals the server with the unseal key.
    pub fn unseal(&self) -> Result<()> {
        let v = self.expect_json(
            "PUT",
            "/v1/sys/unseal",
            None,
            Some(&json!({"key": self.unseal_key})),
        )?;
        if v["sealed"] == json!(false) {
            Ok(())
        } else {
            Err(Error::Api(format!("still sealed after unseal: {v}")))
        }
    }

    /// `true` while the server reports itself sealed (`GET sys/seal-status`).
    pub fn is_sealed(&self) -> Result<bool> {
        let v = self.expect_json("GET", "/v1/sys/seal-status", None, None)?;
        v["sealed"]
            .as_bool()
            .ok_or_else(|| Error::Api(format!("seal-status without `sealed`: {v}")))
    }

    /// Stops the server process (SIGKILL); its data stays. See [`Self::restart`].
    pub fn stop(&mut self) {
        self.kill();
    }

    /// `true` while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts the server again on the same port with the same data (after [`Self::stop`], or
    /// kills it first). Like Vault, it comes back **sealed**: call [`Self::unseal`].
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let bin = binary()?;
        // The port was ours a moment ago; a short wait covers a slow socket release.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn(&bin) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RustyVault {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Picks a free loopback port (bind to port 0, read it, release it).
fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("failed to bind a loopback port", e))?;
    listener
        .local_addr()
        .map_err(|e| Error::io("failed to read the bound port", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn starts_seals_and_restarts() {
        let mut rv = RustyVault::start().unwrap();
        assert!(rv.endpoint().starts_with("http://127.0.0.1:"));
        assert!(!rv.is_sealed().unwrap());
        let creds = rv.approle("harness-role", 30).unwrap();
        assert!(!creds.role_id.is_empty() && !creds.secret_id.is_empty());

        rv.root_call("PUT", "/v1/kes-kv/k", Some(&json!({"k": "v"})), &[204, 200])
            .unwrap();
        rv.seal().unwrap();
        assert!(rv.is_sealed().unwrap());
        let (status, _) = rv
            .request("GET", "/v1/kes-kv/k", Some(rv.root_token()), None)
            .unwrap();
        assert_eq!(status, 503);
        rv.unseal().unwrap();

        rv.stop();
        assert!(!rv.is_running());
        assert!(rv.request("GET", "/v1/sys/init", None, None).is_err());
        rv.restart().unwrap();
        assert!(rv.is_sealed().unwrap());
        rv.unseal().unwrap();
        let body = rv.root_call("GET", "/v1/kes-kv/k", None, &[200]).unwrap();
        assert!(body.contains("\"k\":\"v\""), "{body}");
    }

    #[test]
    fn starts_with_mutual_tls() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        let rv = RustyVault::start_tls(&pki).unwrap();
        assert!(rv.endpoint().starts_with("https://127.0.0.1:"));
        assert!(!rv.is_sealed().unwrap());
    }
}
