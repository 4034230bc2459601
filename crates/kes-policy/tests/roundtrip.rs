//! Round trips: generate → write files → read back → same identity and key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_policy::{
    ApiKey, CertificateOptions, Identity, KeyAlgorithm, KeyEncryption, NewIdentityOptions,
    new_identity, read_certificates, read_private_key, write_certificate_file,
    write_private_key_file,
};

fn algorithms() -> Vec<KeyAlgorithm> {
    let mut v = vec![
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];
    if cfg!(feature = "rsa") {
        v.push(KeyAlgorithm::Rsa);
    }
    v
}

#[test]
fn new_identity_files_read_back() {
    let dir = tempfile::tempdir().unwrap();
    // A small scrypt cost keeps the debug-build test fast; the format is the same.
    let encryptions = [
        None,
        Some(KeyEncryption::Pkcs8Scrypt { log_n: 8 }),
        Some(KeyEncryption::LegacyPemAes256Cbc),
    ];
    for alg in algorithms() {
        let options = NewIdentityOptions {
            algorithm: alg,
            certificate: CertificateOptions {
                subject: Some("round-trip".into()),
                dns_names: vec!["localhost".into()],
                ip_addresses: vec!["127.0.0.1".parse().unwrap()],
                ..CertificateOptions::default()
            },
        };
        let id = new_identity(&options).unwrap();
        assert_eq!(id.api_key.is_some(), alg == KeyAlgorithm::Ed25519);
        if let Some(api_key) = &id.api_key {
            assert_eq!(api_key.identity(), id.identity);
        }
        for (i, enc) in encryptions.iter().enumerate() {
            let key_path = dir.path().join(format!("{alg:?}-{i}.key"));
            let cert_path = dir.path().join(format!("{alg:?}-{i}.cert"));
            let password: &[u8] = if enc.is_some() { b"correct horse" } else { b"" };
            write_private_key_file(
                &key_path,
                &id.credentials.private_key,
                enc.map(|e| (password, e)),
                false,
            )
            .unwrap();
            write_certificate_file(&cert_path, &id.credentials.certificate, false).unwrap();

            let key = read_private_key(&key_path, password).unwrap();
            let certs = read_certificates(&cert_path).unwrap();
            assert_eq!(certs.len(), 1);
            assert_eq!(key, id.credentials.private_key, "{alg:?} {enc:?}");
            assert_eq!(key.algorithm(), alg);
            assert_eq!(certs[0].identity(), id.identity);
            assert_eq!(key.identity().unwrap(), id.identity);
            assert_eq!(certs[0].common_name().as_deref(), Some("round-trip"));
            certs[0].check_server_san().unwrap();
            if enc.is_some() {
                assert!(read_private_key(&key_path, b"").is_err());
                assert!(read_private_key(&key_path, b"incorrect").is_err());
            }
        }
    }
}

#[test]
fn api_key_certificate_identity() {
    for _ in 0..8 {
        let key = ApiKey::generate().unwrap();
        let tls = key.client_certificate().unwrap();
        assert_eq!(tls.certificate.identity(), key.identity());
        assert_eq!(Identity::from(&key), key.identity());
        assert_eq!(tls.private_key.identity().unwrap(), key.identity());
        // The key file of the certificate gives back the same API key.
        let pem = tls.private_key.to_pem();
        let read = kes_policy::parse_private_key(pem.as_bytes(), b"").unwrap();
        assert_eq!(
            ApiKey::from_ed25519_pkcs8(read.expose_pkcs8_der()).unwrap(),
            key
        );
        // And the certificate re-parses from its PEM.
        let cert = &kes_policy::parse_certificates(tls.certificate.to_pem().as_bytes()).unwrap()[0];
        assert_eq!(cert, &tls.certificate);
    }
}

#[test]
fn default_scrypt_encryption_reads_back() {
    let key = kes_policy::PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let pem = key
        .to_encrypted_pem(b"pw", KeyEncryption::default())
        .unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert_eq!(
        kes_policy::parse_private_key(pem.as_bytes(), b"pw").unwrap(),
        key
    );
}
