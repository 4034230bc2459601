//! The periodic re-read of the TLS files as the timer runs it (not [`Instance::refresh_tls`]
//! called by hand): an instance on loopback with a 300 ms interval and real certificate files
//! serves a replaced certificate to new connections while open ones keep working, and keeps
//! serving the previous certificate when the files turn broken, reporting the error on
//! stderr. Nothing here calls the refresh itself before the checks; changes are polled for
//! with a generous deadline rather than timed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{BoxError, ClientId, Http, Setup, connect};
use kes_policy::TlsCredentials;
use kes_server::cli::{Mode, Options};
use kes_server::{Error, Instance};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// The re-read interval the tests run with.
const INTERVAL: Duration = Duration::from_millis(300);
/// How long a change may take to show up (many intervals; the machine may be busy).
const DEADLINE: Duration = Duration::from_secs(10);

/// Set for the child process of [`broken_files_keep_the_previous_certificate`].
const CHILD_ENV: &str = "KES_TEST_TLS_REFRESH_CHILD";
/// The child's stderr line after it broke the certificate file.
const BROKEN_MARKER: &str = "tls_refresh child: certificate file broken";
/// What the timer writes to stderr when the files cannot be used (instance.rs).
const REFRESH_ERROR: &str = "Failed to reload TLS configuration:";

fn options(setup: &Setup) -> Options {
    Options {
        mode: Mode::Config(setup.config("", "")),
        addr: Some("127.0.0.1:0".parse().unwrap()),
        ignored: Vec::new(),
    }
}

async fn start(setup: &Setup, interval: Duration) -> Instance {
    Instance::builder(&options(setup))
        .tls_refresh_interval(interval)
        .start()
        .await
        .unwrap()
}

/// Replaces a file by renaming a complete new one over it, so the timer never reads half a
/// file.
fn replace(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Writes a new key and certificate over the setup's files.
fn install(setup: &Setup, pair: &TlsCredentials) {
    replace(&setup.server_key, pair.private_key.to_pem().as_bytes());
    replace(&setup.server_cert, pair.certificate.to_pem().as_bytes());
}

fn der_of_file(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

/// A client trusting exactly `trusted`, presenting `id`, offering `http`, without
/// resumption (every connection is a full handshake with the server's certificate).
fn client(trusted: &[&CertificateDer<'static>], id: &ClientId, http: Http) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots.add((*cert).clone()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(common::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
        .unwrap();
    config.alpn_protocols = match http {
        Http::H1 => vec![b"http/1.1".to_vec()],
        Http::H2 => vec![b"h2".to_vec()],
    };
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The certificate a new TLS connection is served.
async fn served_cert(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<CertificateDer<'static>, BoxError> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (_, session) = tls.get_ref();
    let chain = session.peer_certificates().ok_or("no server certificate")?;
    Ok(chain
        .first()
        .ok_or("empty server certificate chain")?
        .clone())
}

/// Polls new connections until they are served `want`; returns the last certificate seen.
async fn wait_for_cert(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    want: &CertificateDer<'static>,
) -> Result<(), String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let seen = served_cert(addr, config.clone()).await;
        match &seen {
            Ok(cert) if cert == want => return Ok(()),
            _ if Instant::now() >= deadline => {
                let seen = match seen {
                    Ok(cert) => format!("another certificate ({} bytes of DER)", cert.len()),
                    Err(e) => format!("an error: {e}"),
                };
                return Err(format!(
                    "new connections not served the expected certificate within {DEADLINE:?}; \
                     the last one got {seen}"
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_switches_to_new_files_and_keeps_open_connections() {
    let setup = Setup::new();
    let old = der_of_file(&setup.server_cert);
    let new_pair = common::server_credentials();
    let new = new_pair.certificate.to_certificate_der();
    assert_ne!(old, new);

    let instance = start(&setup, INTERVAL).await;
    let addr = instance.local_addr();
    let either = client(&[&old, &new], &setup.admin, Http::H1);
    assert_eq!(served_cert(addr, either.clone()).await.unwrap(), old);

    // Keep-alive connections opened on the old certificate, over both HTTP versions.
    let mut open_h1 = connect(addr, client(&[&old], &setup.admin, Http::H1))
        .await
        .unwrap();
    let mut open_h2 = connect(addr, client(&[&old], &setup.admin, Http::H2))
        .await
        .unwrap();
    assert_eq!(open_h1.call("GET", "/version", "").await.status, 200);
    assert_eq!(open_h2.call("GET", "/version", "").await.status, 200);

    install(&setup, &new_pair);
    wait_for_cert(addr, &either, &new).await.unwrap();

    // New connections: the new certificate with its key (a client trusting only the new
    // certificate gets through the handshake and a request; one trusting only the old one
    // no longer does).
    let r = common::once(
        addr,
        client(&[&new], &setup.admin, Http::H2),
        "GET",
        "/version",
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        served_cert(addr, client(&[&old], &setup.admin, Http::H1))
            .await
            .is_err(),
        "a client trusting only the old certificate still got through"
    );
    // The connections opened before the switch still answer.
    assert_eq!(open_h1.call("GET", "/version", "").await.status, 200);
    assert_eq!(open_h2.call("GET", "/version", "").await.status, 200);
    // Nothing else changed since: the timer keeps the new configuration.
    assert!(!instance.refresh_tls().await.unwrap());

    drop((open_h1, open_h2));
    instance.shutdown(Duration::from_secs(5)).await;
}

/// The controls for the test above: with the default interval (15 minutes), and with the
/// timer turned off (`Duration::ZERO`), the same change is not picked up by itself, only by an
/// explicit refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_and_zero_intervals_do_not_reread_within_seconds() {
    let default = Setup::new();
    let off = Setup::new();
    let instances = [
        Instance::builder(&options(&default)).start().await.unwrap(),
        start(&off, Duration::ZERO).await,
    ];
    let mut certs = Vec::new();
    for setup in [&default, &off] {
        let old = der_of_file(&setup.server_cert);
        let new_pair = common::server_credentials();
        let new = new_pair.certificate.to_certificate_der();
        install(setup, &new_pair);
        let either = client(&[&old, &new], &setup.admin, Http::H1);
        certs.push((old, new, either));
    }
    // Ten of the short intervals the other tests use.
    tokio::time::sleep(INTERVAL * 10).await;
    for (instance, (old, new, either)) in instances.iter().zip(&certs) {
        let addr = instance.local_addr();
        assert_eq!(&served_cert(addr, either.clone()).await.unwrap(), old);
        assert!(instance.refresh_tls().await.unwrap());
        assert_eq!(&served_cert(addr, either.clone()).await.unwrap(), new);
    }
    for instance in instances {
        instance.shutdown(Duration::from_secs(5)).await;
    }
}

/// Broken files: the timer reports the error on stderr and the previous certificate stays.
///
/// The error goes to the process's stderr, so the scenario runs in a child process (this
/// test binary running [`broken_files_child`]) whose stderr is read here. The child breaks
/// the certificate file, says so on stderr and waits; once the timer's error line has
/// appeared after that, this test tells the child (on its stdin) to check that new
/// connections still get the previous certificate.
#[test]
fn broken_files_keep_the_previous_certificate() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "broken_files_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(line);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut out);
        out
    });

    let mut seen = Vec::new();
    let mut wait_for = |needle: &str, timeout: Duration| -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    };
    // Start-up includes key generation and the keystore: generous.
    let marker = wait_for(BROKEN_MARKER, Duration::from_secs(60));
    let error = marker
        .is_some()
        .then(|| wait_for(REFRESH_ERROR, DEADLINE))
        .flatten();
    let _ = writeln!(stdin, "go");
    drop(stdin);

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout_reader.join().unwrap();
    stderr_reader.join().unwrap();
    seen.extend(lines.try_iter());
    let stderr = seen.join("\n");

    assert!(
        marker.is_some(),
        "the child never broke the file\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let error = error.unwrap_or_else(|| {
        panic!(
            "no '{REFRESH_ERROR}' line within {DEADLINE:?} of breaking the file\nstderr:\n{stderr}"
        )
    });
    assert!(
        error.contains("certificate") && error.contains("server.crt"),
        "the error does not name the certificate file: {error}"
    );
    assert!(error.contains("keeping the current one"), "{error}");
    assert!(
        status.success(),
        "the child's checks failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The filter matched the child test and it ran (an empty match also exits 0).
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child test did not run\nstdout:\n{stdout}"
    );
}

/// The child side of [`broken_files_keep_the_previous_certificate`]. Run by itself (without
/// the parent's stdin) it waits five intervals instead of for the parent's go-ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs as the child process of broken_files_keep_the_previous_certificate"]
async fn broken_files_child() {
    let setup = Setup::new();
    let old = der_of_file(&setup.server_cert);
    let instance = start(&setup, INTERVAL).await;
    let addr = instance.local_addr();
    let mut open = connect(addr, client(&[&old], &setup.admin, Http::H2))
        .await
        .unwrap();
    assert_eq!(open.call("GET", "/version", "").await.status, 200);

    replace(&setup.server_cert, b"not a certificate\n");
    eprintln!("{BROKEN_MARKER}");
    if std::env::var_os(CHILD_ENV).is_some() {
        let go = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(60), go)
            .await
            .expect("no go-ahead from the parent")
            .unwrap()
            .unwrap();
        assert_eq!(line.trim(), "go");
    } else {
        tokio::time::sleep(INTERVAL * 5).await;
    }

    // The timer has failed at least once by now: new connections still get the previous
    // certificate and are served with it.
    assert_eq!(
        served_cert(addr, client(&[&old], &setup.admin, Http::H1))
            .await
            .unwrap(),
        old
    );
    let r = common::once(
        addr,
        client(&[&old], &setup.admin, Http::H1),
        "GET",
        "/version",
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(open.call("GET", "/version", "").await.status, 200);
    // The same read by hand returns the error the timer printed.
    let err = instance.refresh_tls().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TlsFile {
                what: "certificate",
                ..
            }
        ),
        "{err}"
    );

    // Valid files again: the timer, still running, picks them up.
    let new_pair = common::server_credentials();
    let new = new_pair.certificate.to_certificate_der();
    install(&setup, &new_pair);
    wait_for_cert(addr, &client(&[&old, &new], &setup.admin, Http::H1), &new)
        .await
        .unwrap();
    assert_eq!(open.call("GET", "/version", "").await.status, 200);

    drop(open);
    instance.shutdown(Duration::from_secs(5)).await;
}
