//! Retries and endpoint back-off against scripted TLS servers: a 503 is retried with the
//! request body replayed; a 502 endpoint is skipped for the back-off period; a 501 is an
//! answer, not a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kes_client::{ApiKey, Client};
use kes_testpeers::Pki;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What a scripted server answers to the n-th request (0-based) with the body it got.
type Script = Arc<dyn Fn(usize, &[u8]) -> (u16, String) + Send + Sync>;

/// Starts a TLS server on loopback that answers with `script`; returns its address and the
/// request counter.
async fn scripted(pki: &Pki, script: Script) -> (SocketAddr, Arc<AtomicUsize>) {
    let certs = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, script, counter) = (acceptor.clone(), script.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (script, counter) = (script.clone(), counter.clone());
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let (status, text) = script(n, &body);
                        let resp = Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(text)))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, count)
}

fn builder(pki: &Pki) -> kes_client::ClientBuilder {
    Client::builder()
        .api_key(ApiKey::generate().unwrap())
        .ca_file(&pki.ca_cert)
        .retry_delay(Duration::from_millis(10), Duration::from_millis(20))
}

const DEK: &str =
    r#"{"plaintext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","ciphertext":"AQID"}"#;

#[tokio::test]
async fn a_503_is_retried_with_the_body_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path()).unwrap();
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let (addr, count) = scripted(
        &pki,
        Arc::new(move |n, body| {
            seen.lock().unwrap().push(body.to_vec());
            if n < 2 {
                (503, r#"{"message":"busy"}"#.into())
            } else {
                (200, DEK.into())
            }
        }),
    )
    .await;
    let client = builder(&pki).endpoint(addr.to_string()).build().unwrap();
    let dek = client.generate_key("k", b"ctx").await.unwrap();
    assert_eq!(dek.ciphertext, [1, 2, 3]);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let bodies = bodies.lock().unwrap().clone();
    assert!(
        bodies.iter().all(|b| b == b"{\"context\":\"Y3R4\"}\n"),
        "{bodies:?}"
    );

    // Three 503s in a row exhaust the two retries: the caller sees the 503.
    let (addr, count) =
        scripted(&pki, Arc::new(|_, _| (503, r#"{"message":"busy"}"#.into()))).await;
    let client = builder(&pki).endpoint(addr.to_string()).build().unwrap();
    let err = client.generate_key("k", b"").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.to_string(), "busy");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_failing_endpoint_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path()).unwrap();
    let (bad, bad_count) = scripted(
        &pki,
        Arc::new(|_, _| (502, r#"{"message":"failed to read key"}"#.into())),
    )
    .await;
    let (good, good_count) = scripted(&pki, Arc::new(|_, _| (200, DEK.into()))).await;
    // "localhost" is localhost-class and first: the bad endpoint is the preferred one.
    let client = builder(&pki)
        .endpoints([
            format!("localhost:{}", bad.port()),
            format!("127.0.0.1:{}", good.port()),
        ])
        .build()
        .unwrap();
    for _ in 0..20 {
        client.generate_key("k", b"").await.unwrap();
    }
    assert_eq!(good_count.load(Ordering::SeqCst), 20);
    // One request hit the bad endpoint, then it was skipped.
    assert_eq!(bad_count.load(Ordering::SeqCst), 1);

    // After the back-off, a single probe uses it again.
    let client = builder(&pki)
        .endpoints([
            format!("localhost:{}", bad.port()),
            format!("127.0.0.1:{}", good.port()),
        ])
        .endpoint_backoff(Duration::from_millis(200))
        .build()
        .unwrap();
    bad_count.store(0, Ordering::SeqCst);
    client.generate_key("k", b"").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.generate_key("k", b"").await.unwrap();
    client.generate_key("k", b"").await.unwrap();
    assert_eq!(bad_count.load(Ordering::SeqCst), 2);

    // Every endpoint failing: the last answer is the error.
    let client = builder(&pki)
        .endpoints([bad.to_string(), format!("localhost:{}", bad.port())])
        .build()
        .unwrap();
    let err = client.generate_key("k", b"").await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.to_string(), "failed to read key");
}

#[tokio::test]
async fn a_501_is_an_answer_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path()).unwrap();
    let (addr, count) = scripted(
        &pki,
        Arc::new(|_, _| (501, r#"{"message":"not implemented"}"#.into())),
    )
    .await;
    let (other, other_count) = scripted(&pki, Arc::new(|_, _| (200, DEK.into()))).await;
    let client = builder(&pki)
        .endpoints([
            format!("localhost:{}", addr.port()),
            format!("127.0.0.1:{}", other.port()),
        ])
        .build()
        .unwrap();
    for _ in 0..3 {
        let err = client.generate_key("k", b"").await.unwrap_err();
        assert_eq!(err.status(), Some(501));
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(other_count.load(Ordering::SeqCst), 0);
}
