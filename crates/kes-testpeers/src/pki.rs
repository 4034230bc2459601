//! Throwaway PKI for TLS tests: a CA, a server certificate and a client certificate.
//!
//! Every file is PEM: certificates as `CERTIFICATE`, private keys as PKCS#8 (ECDSA P-256).
//! The server certificate is valid for `127.0.0.1`, `::1` and `localhost`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Result};

/// Paths of the generated PEM files.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate (trust anchor for both sides).
    pub ca_cert: PathBuf,
    /// The server certificate, signed by the CA.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// The client certificate, signed by the CA (for mTLS).
    pub client_cert: PathBuf,
    /// The client's private key.
    pub client_key: PathBuf,
}

impl Pki {
    /// Generates a fresh CA, server and client certificate into `dir` (which must exist).
    pub fn generate(dir: &Path) -> Result<Self> {
        let pki = |e: rcgen::Error| Error::Pki(e.to_string());

        let ca_key = KeyPair::generate().map_err(pki)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "kes-rs test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(pki)?;

        let server_key = KeyPair::generate().map_err(pki)?;
        let mut server = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(pki)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "kes-rs test server");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server
            .signed_by(&server_key, &ca_cert, &ca_key)
            .map_err(pki)?;

        let client_key = KeyPair::generate().map_err(pki)?;
        let mut client = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
        client
            .distinguished_name
            .push(DnType::CommonName, "kes-rs test client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client
            .signed_by(&client_key, &ca_cert, &ca_key)
            .map_err(pki)?;

        let out = Pki {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        };
        write(&out.ca_cert, &ca_cert.pem())?;
        write(&out.server_cert, &server_cert.pem())?;
        write(&out.server_key, &server_key.serialize_pem())?;
        write(&out.client_cert, &client_cert.pem())?;
        write(&out.client_key, &client_key.serialize_pem())?;
        Ok(out)
    }

    /// A rustls client configuration that trusts the CA and presents the client certificate.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        let pem = |path: &Path, e: rustls::pki_types::pem::Error| {
            Error::Pki(format!("{}: {e}", path.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in
            CertificateDer::pem_file_iter(&self.ca_cert).map_err(|e| pem(&self.ca_cert, e))?
        {
            let cert = cert.map_err(|e| pem(&self.ca_cert, e))?;
            roots.add(cert).map_err(|e| Error::Pki(e.to_string()))?;
        }
        let chain = CertificateDer::pem_file_iter(&self.client_cert)
            .map_err(|e| pem(&self.client_cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem(&self.client_cert, e))?;
        let key =
            PrivateKeyDer::from_pem_file(&self.client_key).map_err(|e| pem(&self.client_key, e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Pki(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::Pki(e.to_string()))?;
        // RustyVault (OpenSSL, client certificates required) answers a TLS 1.3 resumption
        // attempt with an `internal_error` alert; every connection does a full handshake.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Arc::new(config))
    }
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| Error::io(format!("failed to write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_usable_files() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        for path in [&pki.ca_cert, &pki.server_cert, &pki.client_cert] {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{text}");
        }
        let key = std::fs::read_to_string(&pki.client_key).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        pki.client_config().unwrap();
    }
}
