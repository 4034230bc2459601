//! The TLS handshake matrix (spec §1.1, §2.1) against the real binary: which client
//! certificates are accepted in which mode, which identity the server computes for them, and
//! that resumed sessions keep it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{ClientId, Http, KesProcess, Setup, client_config, connect, once};
use kes_policy::{CertificateOptions, KeyAlgorithm};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::ClientConfig;

/// A server whose `clients` policy lists `ids` (and allows listing keys).
fn server_with(setup: &Setup, ids: &[&ClientId], tls_extra: &str, extra: &str) -> KesProcess {
    let mut yaml =
        String::from("policy:\n  clients:\n    allow:\n    - /v1/key/list/*\n    identities:\n");
    for id in ids {
        yaml.push_str(&format!("    - {}\n", id.identity));
    }
    yaml.push_str(extra);
    let config = setup.config(tls_extra, &yaml);
    KesProcess::start(&["--config", config.to_str().unwrap()])
}

/// The identity the server reports for a client (self-describe), or the status it answers.
async fn identity_of(server: &KesProcess, config: Arc<ClientConfig>) -> Result<String, u16> {
    let resp = once(server.addr, config, "GET", "/v1/identity/self/describe", "")
        .await
        .unwrap_or_else(|e| panic!("handshake or request failed: {e}"));
    if resp.status != 200 {
        return Err(resp.status);
    }
    Ok(resp.json()["identity"].as_str().unwrap().to_owned())
}

/// The connection must fail in the TLS layer (no HTTP response at all), and the server must
/// log the handshake error with `reason`.
async fn assert_rejected(server: &KesProcess, config: Arc<ClientConfig>, reason: &str) {
    let before = server.count_stderr(reason);
    if let Ok(resp) = once(server.addr, config, "GET", "/version", "").await {
        panic!(
            "{reason}: expected a handshake failure, got HTTP {}",
            resp.status
        );
    }
    assert!(
        server.wait_stderr(reason, before + 1, std::time::Duration::from_secs(10)),
        "server did not log '{reason}': {:#?}",
        server.stderr()
    );
}

fn expired_options() -> CertificateOptions {
    CertificateOptions {
        not_before: Some(time::macros::datetime!(2001-01-01 0:00 UTC)),
        validity: std::time::Duration::from_secs(86400),
        ..CertificateOptions::api_key_client()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_self_signed_certificate_with_its_identity() {
    let setup = Setup::new();
    let ed25519 = ClientId::self_signed(KeyAlgorithm::Ed25519);
    let p256 = ClientId::self_signed(KeyAlgorithm::EcdsaP256);
    let p384 = ClientId::self_signed(KeyAlgorithm::EcdsaP384);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let rsa = ClientId::from_pem_files(&data.join("rsa-client.crt"), &data.join("rsa-client.key"));
    let expired = ClientId::self_signed_with(KeyAlgorithm::EcdsaP256, expired_options());
    let (_, api_key) = ClientId::api_key();
    let all = [&ed25519, &p256, &p384, &rsa, &expired, &api_key];
    let server = server_with(&setup, &all, "", "");

    for (name, id) in [
        ("Ed25519", &ed25519),
        ("ECDSA P-256", &p256),
        ("ECDSA P-384", &p384),
        ("RSA", &rsa),
        ("expired", &expired),
        ("API key", &api_key),
    ] {
        for http in [Http::H1, Http::H2] {
            let got = identity_of(&server, setup.client(Some(id), http)).await;
            assert_eq!(
                got.as_deref(),
                Ok(id.identity.as_str()),
                "{name} over {http:?}"
            );
        }
        // The identity is SHA-256 of the SubjectPublicKeyInfo, as kes-policy computes it.
        let cert = kes_policy::Certificate::from_der(&id.chain[0]).unwrap();
        assert_eq!(cert.identity().to_string(), id.identity);
        let mut c = connect(server.addr, setup.client(Some(id), Http::H1))
            .await
            .unwrap();
        assert_eq!(
            c.call("GET", "/v1/key/list/*", "").await.status,
            200,
            "{name}"
        );
    }

    // An unknown identity completes the handshake and is refused by policy.
    let stranger = ClientId::self_signed(KeyAlgorithm::Ed25519);
    let mut c = connect(server.addr, setup.client(Some(&stranger), Http::H1))
        .await
        .unwrap();
    let r = c.call("GET", "/v1/key/list/*", "").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "not authorized: insufficient permissions"
    );
    assert_eq!(
        identity_of(&server, setup.client(Some(&stranger), Http::H1)).await,
        Err(404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_or_wrong_key_fails_the_handshake() {
    let setup = Setup::new();
    let server = server_with(&setup, &[], "", "");
    for http in [Http::H1, Http::H2] {
        assert_rejected(
            &server,
            setup.client(None, http),
            "peer sent no certificates",
        )
        .await;
    }
    // A certificate presented with a key that is not its own: the CertificateVerify
    // signature does not verify.
    let a = ClientId::self_signed(KeyAlgorithm::Ed25519);
    let b = ClientId::self_signed(KeyAlgorithm::Ed25519);
    assert_rejected(
        &server,
        common::mismatched_client_config(&setup.server_cert, &setup.admin, &b),
        "BadSignature",
    )
    .await;
    assert_rejected(
        &server,
        common::mismatched_client_config(&setup.server_cert, &a, &b),
        "BadSignature",
    )
    .await;
    let p = ClientId::self_signed(KeyAlgorithm::EcdsaP256);
    let q = ClientId::self_signed(KeyAlgorithm::EcdsaP256);
    assert_rejected(
        &server,
        common::mismatched_client_config(&setup.server_cert, &p, &q),
        "BadSignature",
    )
    .await;
    // The same client with its own key works.
    let mut c = connect(server.addr, setup.client(Some(&setup.admin), Http::H1))
        .await
        .unwrap();
    assert_eq!(c.call("GET", "/version", "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_auth_makes_certificates_optional() {
    let setup = Setup::new();
    let server = server_with(
        &setup,
        &[],
        "",
        "api:\n  /v1/status:\n    skip_auth: true\n",
    );
    for http in [Http::H1, Http::H2] {
        let mut c = connect(server.addr, setup.client(None, http))
            .await
            .unwrap();
        assert_eq!(c.call("GET", "/version", "").await.status, 200);
        let r = c.call("GET", "/v1/status", "").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = c.call("GET", "/v1/key/list/*", "").await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["message"], "tls: client certificate is required");
        assert_eq!(
            c.call("GET", "/v1/identity/self/describe", "").await.status,
            404
        );
    }
    // Clients with certificates are still identified.
    let r = once(
        server.addr,
        setup.client(Some(&setup.admin), Http::H1),
        "GET",
        "/v1/key/list/*",
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_carrying_a_ca_or_two_leaves() {
    let setup = Setup::new();
    let pki = TestCa::new();
    let leaf = pki.client("leaf", false);
    let other = pki.client("other", false);
    let server = server_with(&setup, &[&leaf], "", "");
    // leaf + CA: the CA certificate is ignored.
    let with_ca = ClientId {
        chain: vec![leaf.chain[0].clone(), pki.cert_der.clone()],
        ..leaf.clone()
    };
    assert_eq!(
        identity_of(&server, setup.client(Some(&with_ca), Http::H1)).await,
        Ok(leaf.identity.clone())
    );
    // Two non-CA certificates.
    let two = ClientId {
        chain: vec![leaf.chain[0].clone(), other.chain[0].clone()],
        ..leaf.clone()
    };
    let r = once(
        server.addr,
        setup.client(Some(&two), Http::H2),
        "GET",
        "/v1/key/list/*",
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "tls: received more than one client certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_verifies_the_chain() {
    let setup = Setup::new();
    let pki = TestCa::new();
    let ca_file = setup.path("client-ca.pem");
    std::fs::write(&ca_file, &pki.cert_pem).unwrap();
    let valid = pki.client("valid", false);
    let expired = pki.client("expired", true);
    let self_signed = ClientId::self_signed(KeyAlgorithm::EcdsaP256);
    let server = server_with(
        &setup,
        &[&valid, &expired, &self_signed],
        &format!("  auth: on\n  ca: {}\n", ca_file.display()),
        "",
    );
    for http in [Http::H1, Http::H2] {
        assert_eq!(
            identity_of(&server, setup.client(Some(&valid), http)).await,
            Ok(valid.identity.clone())
        );
        assert_rejected(
            &server,
            setup.client(Some(&expired), http),
            "certificate expired",
        )
        .await;
        assert_rejected(
            &server,
            setup.client(Some(&self_signed), http),
            "UnknownIssuer",
        )
        .await;
        assert_rejected(
            &server,
            setup.client(None, http),
            "peer sent no certificates",
        )
        .await;
    }

    // With auth off the same expired certificate is fine.
    let setup2 = Setup::new();
    let server2 = server_with(&setup2, &[&expired], "  auth: off\n", "");
    assert_eq!(
        identity_of(&server2, setup2.client(Some(&expired), Http::H1)).await,
        Ok(expired.identity.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_sessions_keep_the_identity() {
    let setup = Setup::new();
    let client = ClientId::self_signed(KeyAlgorithm::EcdsaP256);
    let server = server_with(&setup, &[&client], "", "");
    for (name, version) in [
        ("TLS 1.3", &rustls::version::TLS13),
        ("TLS 1.2", &rustls::version::TLS12),
    ] {
        for http in [Http::H1, Http::H2] {
            let config = common::client_config_versions(
                &setup.server_cert,
                Some(&client),
                http,
                true,
                &[version],
            );
            let mut first = connect(server.addr, config.clone()).await.unwrap();
            assert!(!first.resumed);
            let r = first.call("GET", "/v1/identity/self/describe", "").await;
            assert_eq!(r.json()["identity"], client.identity.as_str());
            drop(first);

            let mut second = connect(server.addr, config.clone()).await.unwrap();
            assert!(second.resumed, "{name} over {http:?}: session not resumed");
            let r = second.call("GET", "/v1/identity/self/describe", "").await;
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(r.json()["identity"], client.identity.as_str(), "{name}");
            let r = second.call("GET", "/v1/key/list/*", "").await;
            assert_eq!(r.status, 200, "{name}");
        }
    }
    // Without resumption every connection is a full handshake.
    let config = client_config(&setup.server_cert, Some(&client), Http::H1, false);
    drop(connect(server.addr, config.clone()).await.unwrap());
    assert!(!connect(server.addr, config).await.unwrap().resumed);
}

/// A CA that issues client certificates (clientAuth), for `tls.auth: on`.
struct TestCa {
    key: KeyPair,
    cert: rcgen::Certificate,
    cert_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "kes-rs test client CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
            cert,
        }
    }

    fn client(&self, name: &str, expired: bool) -> ClientId {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.is_ca = IsCa::ExplicitNoCa;
        if expired {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 2, 1);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let der = cert.der().clone();
        ClientId {
            identity: kes_policy::Certificate::from_der(&der)
                .unwrap()
                .identity()
                .to_string(),
            chain: vec![der],
            key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }
}
