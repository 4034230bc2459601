//! The server library in-process, with shortened connection timeouts: idle connections close,
//! busy ones (log streams) do not, and the periodic TLS re-read switches certificates only
//! when the files changed and keeps the old ones when the new files are broken.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Http, Setup, connect};
use kes_policy::{CertificateOptions, KeyAlgorithm, PrivateKey};
use kes_server::cli::{Mode, Options};
use kes_server::mlock::MlockStatus;
use kes_server::serve::HttpSettings;
use kes_server::{Error, Instance};

async fn start(setup: &Setup, settings: HttpSettings) -> Instance {
    let config = setup.config("", "");
    let options = Options {
        mode: Mode::Config(config),
        addr: Some("127.0.0.1:0".parse().unwrap()),
        ignored: Vec::new(),
    };
    Instance::start(&options, settings, MlockStatus::Unsupported)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_busy_ones_stay() {
    let setup = Setup::new();
    let settings = HttpSettings {
        idle_timeout: Duration::from_millis(1500),
        ..HttpSettings::default()
    };
    let instance = start(&setup, settings).await;
    let addr = instance.local_addr();

    for http in [Http::H1, Http::H2] {
        let mut c = connect(addr, setup.client(Some(&setup.admin), http))
            .await
            .unwrap();
        assert_eq!(c.call("GET", "/version", "").await.status, 200);
        tokio::time::sleep(Duration::from_millis(900)).await;
        // Activity resets the idle timer.
        assert_eq!(c.call("GET", "/version", "").await.status, 200, "{http:?}");
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert!(
            c.send("GET", "/version", "").await.is_err(),
            "{http:?}: still open"
        );
    }

    // A log stream is a request in flight: its connection is never idle.
    let mut logs = connect(addr, setup.client(Some(&setup.admin), Http::H1))
        .await
        .unwrap();
    let stream = logs
        .send_streaming("GET", "/v1/log/audit", "")
        .await
        .unwrap();
    let mut body = stream.into_body();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut c = connect(addr, setup.client(Some(&setup.admin), Http::H2))
        .await
        .unwrap();
    assert_eq!(c.call("POST", "/v1/key/create/k", "").await.status, 200);
    use http_body_util::BodyExt as _;
    let mut seen = String::new();
    while !seen.contains("/v1/key/create/k") {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap_or_else(|_| panic!("no event; got {seen}"))
            .expect("stream still open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
    }

    drop((c, logs, body));
    instance.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_files_are_reread_when_they_change() {
    let setup = Setup::new();
    let instance = start(&setup, HttpSettings::default()).await;
    let addr = instance.local_addr();
    assert!(!instance.refresh_tls().await.unwrap(), "unchanged files");

    // Broken files: an error, and the old certificate keeps working.
    let old_cert = std::fs::read(&setup.server_cert).unwrap();
    let old_ca = setup.path("old.crt");
    std::fs::write(&old_ca, &old_cert).unwrap();
    std::fs::write(&setup.server_cert, "not a certificate").unwrap();
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
    let r = common::once(
        addr,
        common::client_config(&old_ca, Some(&setup.admin), Http::H1, false),
        "GET",
        "/version",
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);

    // New files: new connections get the new certificate; open ones stay.
    let mut open = connect(
        addr,
        common::client_config(&old_ca, Some(&setup.admin), Http::H2, false),
    )
    .await
    .unwrap();
    let options = CertificateOptions {
        dns_names: vec!["localhost".into()],
        ..CertificateOptions::default()
    };
    let new = kes_policy::self_signed(
        PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap(),
        &options,
    )
    .unwrap();
    std::fs::write(&setup.server_cert, new.certificate.to_pem()).unwrap();
    std::fs::write(&setup.server_key, new.private_key.to_pem().as_bytes()).unwrap();
    assert!(instance.refresh_tls().await.unwrap());
    assert!(!instance.refresh_tls().await.unwrap());
    let fresh = setup.client(Some(&setup.admin), Http::H1);
    assert_eq!(
        common::once(addr, fresh, "GET", "/version", "")
            .await
            .unwrap()
            .status,
        200
    );
    let stale = common::client_config(&old_ca, Some(&setup.admin), Http::H1, false);
    assert!(
        common::once(addr, stale, "GET", "/version", "")
            .await
            .is_err()
    );
    assert_eq!(open.call("GET", "/version", "").await.status, 200);

    // The whole-config reload also works in-process and reports errors.
    assert!(instance.reload().await.is_ok());
    std::fs::write(setup.path("config.yml"), "admin: [").unwrap();
    assert!(matches!(instance.reload().await, Err(Error::Core(_))));
    assert_eq!(open.call("GET", "/version", "").await.status, 200);
    drop(open);
    instance.shutdown(Duration::from_secs(5)).await;
}
