//! Test support: the real `kes-server` binary on loopback, real certificates, and a client on
//! hyper + rustls that speaks HTTP/1.1 or HTTP/2.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kes_policy::{ApiKey, CertificateOptions, KeyAlgorithm, PrivateKey, TlsCredentials};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub const BIN: &str = env!("CARGO_BIN_EXE_kes-server");

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ---- identities ------------------------------------------------------------------------------

/// A client certificate chain, its private key and its KES identity.
#[derive(Debug)]
pub struct ClientId {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub identity: String,
}

impl Clone for ClientId {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            identity: self.identity.clone(),
        }
    }
}

impl ClientId {
    pub fn from_credentials(tls: &TlsCredentials) -> Self {
        Self {
            chain: vec![tls.certificate.to_certificate_der()],
            key: tls.private_key.to_private_key_der(),
            identity: tls.certificate.identity().to_string(),
        }
    }

    /// A fresh API key and the client certificate the SDK derives from it.
    pub fn api_key() -> (ApiKey, Self) {
        let key = ApiKey::generate().unwrap();
        let id = Self::from_credentials(&key.client_certificate().unwrap());
        assert_eq!(id.identity, key.identity().to_string());
        (key, id)
    }

    /// A self-signed client certificate for a fresh key of `algorithm`.
    pub fn self_signed(algorithm: KeyAlgorithm) -> Self {
        Self::self_signed_with(algorithm, CertificateOptions::api_key_client())
    }

    pub fn self_signed_with(algorithm: KeyAlgorithm, options: CertificateOptions) -> Self {
        let key = PrivateKey::generate(algorithm).unwrap();
        Self::from_credentials(&kes_policy::self_signed(key, &options).unwrap())
    }

    pub fn from_pem_files(cert: &Path, key: &Path) -> Self {
        let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let identity = kes_policy::Certificate::from_der(&chain[0])
            .unwrap()
            .identity()
            .to_string();
        Self {
            chain,
            key: PrivateKeyDer::from_pem_file(key).unwrap(),
            identity,
        }
    }
}

// ---- server material and configs -------------------------------------------------------------

/// A temporary directory with a server certificate for `127.0.0.1`/`localhost` and an admin.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub admin: ClientId,
    pub admin_key: ApiKey,
}

impl Setup {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = server_credentials();
        let server_cert = dir.path().join("server.crt");
        let server_key = dir.path().join("server.key");
        std::fs::write(&server_cert, server.certificate.to_pem()).unwrap();
        std::fs::write(&server_key, server.private_key.to_pem().as_bytes()).unwrap();
        let (admin_key, admin) = ClientId::api_key();
        Self {
            dir,
            server_cert,
            server_key,
            admin,
            admin_key,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A complete config: loopback with a free port, this setup's admin and TLS files, a
    /// filesystem keystore in the directory, plus `extra` (top-level YAML sections other than
    /// `address`, `admin`, `tls`, `keystore`) and `tls_extra` (more `tls:` fields, indented by
    /// two spaces).
    pub fn yaml(&self, tls_extra: &str, extra: &str) -> String {
        format!(
            "address: 127.0.0.1:0\nadmin:\n  identity: {admin}\ntls:\n  key: {key}\n  cert: {cert}\n{tls_extra}keystore:\n  fs:\n    path: {keys}\n{extra}",
            admin = self.admin.identity,
            key = self.server_key.display(),
            cert = self.server_cert.display(),
            keys = self.path("keys").display(),
        )
    }

    /// Writes [`Setup::yaml`] to `config.yml` and returns its path.
    pub fn config(&self, tls_extra: &str, extra: &str) -> PathBuf {
        let path = self.path("config.yml");
        std::fs::write(&path, self.yaml(tls_extra, extra)).unwrap();
        path
    }

    /// A client trusting this setup's server certificate and presenting `id`.
    pub fn client(&self, id: Option<&ClientId>, http: Http) -> Arc<ClientConfig> {
        client_config(&self.server_cert, id, http, true)
    }
}

// ---- the server process ----------------------------------------------------------------------

#[derive(Default)]
struct Output {
    stdout: Vec<String>,
    stderr: Vec<String>,
    closed: usize,
}

/// A running `kes-server` process, killed on drop.
pub struct KesProcess {
    child: Child,
    pub addr: SocketAddr,
    out: Arc<(Mutex<Output>, Condvar)>,
}

impl KesProcess {
    /// Starts the binary and waits until it is up.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let (child, out) = spawn(args, env);
        let mut this = Self {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            out,
        };
        if !this.wait_stdout("=> Server is up and running...", 1, Duration::from_secs(60)) {
            let status = this.child.try_wait().unwrap();
            panic!(
                "kes-server did not start ({status:?})\nstdout:\n{}\nstderr:\n{}",
                this.stdout().join("\n"),
                this.stderr().join("\n")
            );
        }
        let line = this
            .stdout()
            .into_iter()
            .find(|l| l.starts_with("API "))
            .expect("banner has an API line");
        let url = line.rsplit(' ').next().unwrap();
        this.addr = url.trim_start_matches("https://").parse().unwrap();
        this
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.out.0.lock().unwrap().stdout.clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.out.0.lock().unwrap().stderr.clone()
    }

    /// The value of a banner line, e.g. `API Key`.
    pub fn banner_value(&self, key: &str) -> String {
        self.stdout()
            .into_iter()
            .find_map(|l| {
                let rest = l.strip_prefix(key)?;
                rest.starts_with(' ').then(|| rest.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no banner line '{key}'"))
    }

    fn wait(&self, stderr: bool, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut out = lock.lock().unwrap();
        loop {
            let lines = if stderr { &out.stderr } else { &out.stdout };
            if lines.iter().filter(|l| l.contains(needle)).count() >= count {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || out.closed == 2 {
                return false;
            }
            out = cv.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Waits until `count` stdout lines contain `needle`.
    pub fn wait_stdout(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        self.wait(false, needle, count, timeout)
    }

    /// Waits until `count` stderr lines contain `needle`.
    pub fn wait_stderr(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        self.wait(true, needle, count, timeout)
    }

    /// Sends a signal (`HUP`, `TERM`, `INT`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal} failed");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGHUP, then waits for the reload outcome; returns true on success.
    pub fn reload(&self) -> bool {
        let ok_before = self.count_stdout("Reloading configuration after SIGHUP signal completed");
        let err_before = self.count_stderr("Failed to reload server config");
        self.signal("HUP");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.count_stdout("Reloading configuration after SIGHUP signal completed")
                > ok_before
            {
                return true;
            }
            if self.count_stderr("Failed to reload server config") > err_before {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no reload outcome within 30 s");
    }

    pub fn count_stdout(&self, needle: &str) -> usize {
        self.stdout().iter().filter(|l| l.contains(needle)).count()
    }

    pub fn count_stderr(&self, needle: &str) -> usize {
        self.stderr().iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for KesProcess {
    fn drop(&mut self) {
        // SIGTERM first, so the server cleans up (dev mode removes its directory).
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", &self.pid().to_string()])
                .status();
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> (Child, Arc<(Mutex<Output>, Condvar)>) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = Arc::new((Mutex::new(Output::default()), Condvar::new()));
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    for (reader, is_err) in [
        (Box::new(stdout) as Box<dyn std::io::Read + Send>, false),
        (Box::new(stderr), true),
    ] {
        let out = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                let (lock, cv) = &*out;
                let mut o = lock.lock().unwrap();
                if is_err {
                    o.stderr.push(line);
                } else {
                    o.stdout.push(line);
                }
                cv.notify_all();
            }
            let (lock, cv) = &*out;
            lock.lock().unwrap().closed += 1;
            cv.notify_all();
        });
    }
    (child, out)
}

/// Runs the binary expecting it to fail at start-up; returns its status and stderr.
pub fn start_failure(args: &[&str]) -> (ExitStatus, String) {
    let (mut child, out) = spawn(args, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kes-server did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the reader threads drain.
    let (lock, cv) = &*out;
    let mut o = lock.lock().unwrap();
    while o.closed < 2 {
        o = cv.wait_timeout(o, Duration::from_secs(5)).unwrap().0;
    }
    (status, o.stderr.join("\n"))
}

// ---- the client ------------------------------------------------------------------------------

/// Which HTTP version to offer with ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    H1,
    H2,
}

pub fn roots(ca: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A client config trusting `ca`, presenting `id`, offering `http` only.
pub fn client_config(
    ca: &Path,
    id: Option<&ClientId>,
    http: Http,
    resumption: bool,
) -> Arc<ClientConfig> {
    client_config_versions(ca, id, http, resumption, rustls::DEFAULT_VERSIONS)
}

pub fn client_config_versions(
    ca: &Path,
    id: Option<&ClientId>,
    http: Http,
    resumption: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(ca));
    let mut config = match id {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    finish(&mut config, http, resumption);
    Arc::new(config)
}

/// A client that presents `chain` but signs with `key` (which does not belong to it).
pub fn mismatched_client_config(ca: &Path, chain: &ClientId, key: &ClientId) -> Arc<ClientConfig> {
    let signing = provider()
        .key_provider
        .load_private_key(key.key.clone_key())
        .unwrap();
    let certified = Arc::new(CertifiedKey::new(chain.chain.clone(), signing));
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca))
        .with_client_cert_resolver(Arc::new(Fixed(certified)));
    finish(&mut config, Http::H1, false);
    Arc::new(config)
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesClientCert for Fixed {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn finish(config: &mut ClientConfig, http: Http, resumption: bool) {
    config.alpn_protocols = match http {
        Http::H1 => vec![b"http/1.1".to_vec()],
        Http::H2 => vec![b"h2".to_vec()],
    };
    if !resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One TLS connection with HTTP on top.
pub struct Conn {
    sender: Sender,
    authority: String,
    pub version: rustls::ProtocolVersion,
    pub resumed: bool,
    pub alpn: Option<Vec<u8>>,
}

/// A complete response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Connects (TCP + TLS + HTTP handshake). With TLS 1.3 a rejected client certificate only
/// shows on the first request.
pub async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Conn, BoxError> {
    let http = if config.alpn_protocols == [b"h2".to_vec()] {
        Http::H2
    } else {
        Http::H1
    };
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let (_, session) = tls.get_ref();
    let version = session.protocol_version().unwrap();
    let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(tls);
    let sender = match http {
        Http::H1 => {
            let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(conn);
            Sender::H1(sender)
        }
        Http::H2 => {
            let (sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Sender::H2(sender)
        }
    };
    Ok(Conn {
        sender,
        authority: format!("localhost:{}", addr.port()),
        version,
        resumed,
        alpn,
    })
}

impl Conn {
    fn request(&self, method: &str, path: &str, body: Vec<u8>) -> hyper::Request<Full<Bytes>> {
        let uri = match self.sender {
            Sender::H1(_) => path.to_owned(),
            Sender::H2(_) => format!("https://{}{path}", self.authority),
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        if let Sender::H1(_) = self.sender {
            req.headers_mut()
                .insert("host", self.authority.parse().unwrap());
        }
        req
    }

    /// Sends a request and returns the response head with its streaming body.
    pub async fn send_streaming(
        &mut self,
        method: &str,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, BoxError> {
        let req = self.request(method, path, body.into());
        Ok(match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
        })
    }

    /// Sends a request and reads the whole response.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<Resp, BoxError> {
        let resp = self.send_streaming(method, path, body).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes().to_vec();
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// Like [`Conn::send`] but panics on transport errors.
    pub async fn call(&mut self, method: &str, path: &str, body: impl Into<Vec<u8>>) -> Resp {
        let path = path.to_owned();
        self.send(method, &path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

/// Connects, sends one request, returns the response.
pub async fn once(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    method: &str,
    path: &str,
    body: impl Into<Vec<u8>>,
) -> Result<Resp, BoxError> {
    connect(addr, config).await?.send(method, path, body).await
}

/// A raw TLS connection (ALPN `http/1.1`) for tests that write HTTP bytes by hand.
pub async fn raw_tls(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads until the peer closes the connection (or fails it); returns what was read.
pub async fn read_to_close<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` body from a raw stream.
pub async fn read_response<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> (u16, String) {
    use tokio::io::AsyncReadExt as _;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + len]).into_owned();
                return (status, body);
            }
        }
        let n = r.read(&mut buf).await.expect("read failed");
        assert!(n > 0, "connection closed before a full response: {text}");
        data.extend_from_slice(&buf[..n]);
    }
}

/// A fresh self-signed ECDSA P-256 server certificate for `localhost`/`127.0.0.1` and its key.
pub fn server_credentials() -> TlsCredentials {
    let options = CertificateOptions {
        subject: Some("localhost".into()),
        dns_names: vec!["localhost".into()],
        ip_addresses: vec!["127.0.0.1".parse().unwrap()],
        client_auth: false,
        server_auth: true,
        ..CertificateOptions::default()
    };
    kes_policy::self_signed(
        PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
        &options,
    )
    .unwrap()
}
