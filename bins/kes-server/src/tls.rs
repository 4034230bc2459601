//! TLS (spec §1.1): the rustls server configuration with the ring provider, TLS 1.2 and 1.3,
//! ALPN `h2` and `http/1.1`, and KES's four client-certificate modes.
//!
//! * [`ClientAuth::RequireAny`] (default, `tls.auth: off`): a client certificate is required
//!   but its chain is not verified, so self-signed, expired and API-key certificates work.
//!   [`AcceptAnyClientCert`] still checks the handshake signature (CertificateVerify) with the
//!   provider's algorithms: the client must hold the certificate's private key.
//! * [`ClientAuth::RequireAndVerify`] (`tls.auth: on`): rustls' `WebPkiClientVerifier` against
//!   the system roots plus `tls.ca` (validity period and the clientAuth usage are enforced).
//! * [`ClientAuth::Request`] / [`ClientAuth::VerifyIfGiven`]: the same with the certificate
//!   optional, when some route has `skip_auth: true`; certificate-less clients then get HTTP
//!   errors from kes-core instead of a handshake failure.
//!
//! Sessions resume with TLS 1.3 tickets and TLS 1.2 tickets or session IDs; rustls stores the
//! client's certificate chain in the resumption state, so a resumed connection has the same
//! identity as the full handshake it came from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use kes_core::ForwardedCertVerifier;
pub use kes_core::config::ClientAuth;
use kes_policy::{Certificate, parse_certificates, parse_private_key, read_cert_pool};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::Error;

/// ALPN protocols the server offers, in preference order.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Size of the server-side TLS session cache (TLS 1.2 session IDs).
const SESSION_CACHE_SIZE: usize = 4096;

/// The crypto provider every TLS object of the server uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's certificate chain and the private key of its leaf.
pub struct ServerCredentials {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for ServerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCredentials")
            .field("chain", &self.chain.len())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl ServerCredentials {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key, decrypting the key
    /// with `password` when it is encrypted (PKCS#8 or legacy RFC 1423).
    ///
    /// # Errors
    /// Unreadable or malformed files, a wrong password, a leaf without a DNS or IP SAN, or a
    /// key that does not belong to the leaf.
    pub fn load(cert: &Path, key: &Path, password: &[u8]) -> Result<Self, Error> {
        let cert_pem = read(cert, "certificate")?;
        let key_pem = zeroize::Zeroizing::new(read(key, "private key")?);
        Self::from_pem(&cert_pem, &key_pem, password, cert, key)
    }

    fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        password: &[u8],
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, Error> {
        let chain = parse_certificates(cert_pem).map_err(|source| Error::TlsFile {
            what: "certificate",
            path: cert_path.to_owned(),
            source,
        })?;
        let key = parse_private_key(key_pem, password).map_err(|source| Error::TlsFile {
            what: "private key",
            path: key_path.to_owned(),
            source,
        })?;
        Self::new(&chain, &key)
    }

    /// Credentials from parsed certificates (leaf first) and a private key.
    ///
    /// # Errors
    /// An empty chain, a leaf without a DNS or IP SAN, or a key that does not belong to the
    /// leaf.
    pub fn new(chain: &[Certificate], key: &kes_policy::PrivateKey) -> Result<Self, Error> {
        let leaf = chain
            .first()
            .ok_or_else(|| Error::Tls("invalid TLS certificate: no certificate found".into()))?;
        leaf.check_server_san()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let key_identity = key
            .identity()
            .map_err(|e| Error::Tls(format!("invalid TLS private key: {e}")))?;
        if key_identity != leaf.identity() {
            return Err(Error::Tls(
                "invalid TLS config: the private key does not belong to the certificate".into(),
            ));
        }
        Ok(Self {
            chain: chain.iter().map(Certificate::to_certificate_der).collect(),
            key: key.to_private_key_der(),
        })
    }

    /// Credentials from generated material (dev mode).
    ///
    /// # Errors
    /// As [`ServerCredentials::new`].
    pub fn from_generated(tls: &kes_policy::TlsCredentials) -> Result<Self, Error> {
        Self::new(std::slice::from_ref(&tls.certificate), &tls.private_key)
    }
}

/// Everything the rustls server configuration is built from.
#[derive(Debug)]
pub struct TlsOptions {
    /// The server certificate and key.
    pub credentials: ServerCredentials,
    /// How client certificates are treated.
    pub client_auth: ClientAuth,
    /// Extra trust anchors (`tls.ca`) on top of the system roots, for `tls.auth: on`.
    pub ca: Vec<CertificateDer<'static>>,
}

/// Builds the server configuration: TLS 1.3 and 1.2, ALPN `h2` + `http/1.1`, the client
/// verifier for `client_auth`, session tickets and a session cache for resumption.
///
/// # Errors
/// A key rustls cannot use, or no trust anchors for a verifying mode.
pub fn server_config(options: &TlsOptions) -> Result<Arc<ServerConfig>, Error> {
    let provider = provider();
    let verifier = client_cert_verifier(options.client_auth, &options.ca, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(format!("invalid TLS config: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            options.credentials.chain.clone(),
            options.credentials.key.clone_key(),
        )
        .map_err(|e| Error::Tls(format!("invalid TLS config: {e}")))?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    config.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| Error::Tls(format!("failed to create TLS session ticketer: {e}")))?;
    Ok(Arc::new(config))
}

/// The client-certificate verifier for `mode`.
///
/// # Errors
/// For the verifying modes: no usable trust anchor (no system roots and no `tls.ca`).
pub fn client_cert_verifier(
    mode: ClientAuth,
    ca: &[CertificateDer<'static>],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let algorithms = provider.signature_verification_algorithms;
    match mode {
        ClientAuth::RequireAny => Ok(Arc::new(AcceptAnyClientCert::new(algorithms, true))),
        ClientAuth::Request => Ok(Arc::new(AcceptAnyClientCert::new(algorithms, false))),
        ClientAuth::RequireAndVerify | ClientAuth::VerifyIfGiven => {
            let builder =
                WebPkiClientVerifier::builder_with_provider(trust_anchors(ca)?, provider.clone());
            let builder = if mode == ClientAuth::VerifyIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| Error::Tls(format!("invalid TLS config: {e}")))
        }
    }
}

/// The system roots plus `ca`.
fn trust_anchors(ca: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, Error> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!("system root certificates: {e}");
    }
    roots.add_parsable_certificates(native.certs);
    for cert in ca {
        roots
            .add(cert.clone())
            .map_err(|e| Error::Tls(format!("invalid TLS config: unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Tls(
            "invalid TLS config: 'tls.auth: on' needs trust anchors, but there are no system root certificates and no 'tls.ca'".into(),
        ));
    }
    Ok(Arc::new(roots))
}

/// Verifies certificates forwarded by TLS proxies (`tls.proxy` with `tls.auth: on`) against
/// the system roots plus `ca`.
///
/// # Errors
/// No usable trust anchor.
pub fn forwarded_cert_verifier(
    ca: &[CertificateDer<'static>],
) -> Result<Arc<dyn ForwardedCertVerifier>, Error> {
    let verifier = WebPkiClientVerifier::builder_with_provider(trust_anchors(ca)?, provider())
        .build()
        .map_err(|e| Error::Tls(format!("invalid TLS config: {e}")))?;
    Ok(Arc::new(WebPkiForwarded(verifier)))
}

struct WebPkiForwarded(Arc<dyn ClientCertVerifier>);

impl ForwardedCertVerifier for WebPkiForwarded {
    fn verify(&self, cert_der: &[u8], now: SystemTime) -> bool {
        let Ok(since_epoch) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        self.0
            .verify_client_cert(
                &CertificateDer::from(cert_der),
                &[],
                UnixTime::since_unix_epoch(since_epoch),
            )
            .is_ok()
    }
}

/// KES's default client-certificate policy (Go `RequireAnyClientCert`): any certificate chain
/// is accepted without verification, but the handshake signature must verify against the
/// leaf's public key (proof of possession), with the provider's algorithms (Ed25519, ECDSA
/// P-256/P-384, RSA PKCS#1 and PSS).
///
/// The CertificateRequest names no certificate authorities, so clients that choose their
/// certificate by issuer still offer self-signed ones.
#[derive(Debug)]
pub struct AcceptAnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
    mandatory: bool,
}

impl AcceptAnyClientCert {
    /// A verifier that requires (`mandatory`) or only requests a certificate.
    pub fn new(algorithms: WebPkiSupportedAlgorithms, mandatory: bool) -> Self {
        Self {
            algorithms,
            mandatory,
        }
    }
}

impl ClientCertVerifier for AcceptAnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS section of a configuration file: which files to read and how to treat clients.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// `tls.cert`.
    pub cert: PathBuf,
    /// `tls.key`.
    pub key: PathBuf,
    /// `tls.password`.
    pub password: Option<kes_core::config::SecretText>,
    /// `tls.ca`: a file or a directory.
    pub ca: Option<PathBuf>,
    /// The handshake mode (relaxed by `skip_auth` routes).
    pub client_auth: ClientAuth,
}

/// A digest of the TLS files' contents and the mode: equal fingerprints mean the same
/// server configuration.
pub type Fingerprint = [u8; 32];

impl TlsFiles {
    /// The TLS settings of a configuration.
    pub fn from_config(tls: &kes_core::config::TlsConfig) -> Self {
        Self {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            password: tls.password.clone(),
            ca: tls.ca.clone(),
            client_auth: tls.client_auth,
        }
    }

    /// Reads the files and returns the options plus their [`Fingerprint`].
    ///
    /// # Errors
    /// As [`ServerCredentials::load`], and an unreadable `tls.ca`.
    pub fn load(&self) -> Result<(TlsOptions, Fingerprint), Error> {
        let cert_pem = read(&self.cert, "certificate")?;
        let key_pem = zeroize::Zeroizing::new(read(&self.key, "private key")?);
        let password = self
            .password
            .as_ref()
            .map_or(&[][..], |p| p.expose_secret().as_bytes());
        let credentials =
            ServerCredentials::from_pem(&cert_pem, &key_pem, password, &self.cert, &self.key)?;
        let ca = match &self.ca {
            None => Vec::new(),
            Some(path) => read_cert_pool(path)
                .map_err(|source| Error::TlsFile {
                    what: "CA",
                    path: path.clone(),
                    source,
                })?
                .iter()
                .map(Certificate::to_certificate_der)
                .collect(),
        };
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [&cert_pem[..], &key_pem[..]] {
            digest.update(&(part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        for cert in &ca {
            digest.update(&(cert.len() as u64).to_be_bytes());
            digest.update(cert);
        }
        digest.update(format!("{:?}", self.client_auth).as_bytes());
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(digest.finish().as_ref());
        Ok((
            TlsOptions {
                credentials,
                client_auth: self.client_auth,
                ca,
            },
            fingerprint,
        ))
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::TlsFile {
        what,
        path: path.to_owned(),
        source: kes_policy::Error::InvalidPem(format!("cannot read file: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kes_policy::{CertificateOptions, KeyAlgorithm, PrivateKey, self_signed};

    fn creds(dns: &[&str]) -> kes_policy::TlsCredentials {
        let options = CertificateOptions {
            dns_names: dns.iter().map(|s| (*s).to_owned()).collect(),
            ..CertificateOptions::default()
        };
        self_signed(
            PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
            &options,
        )
        .unwrap()
    }

    #[test]
    fn server_certificate_needs_a_san() {
        let err = ServerCredentials::from_generated(&creds(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TLS certificate: certificate does not contain any DNS or IP address as SAN"
        );
        ServerCredentials::from_generated(&creds(&["localhost"])).unwrap();
    }

    #[test]
    fn key_must_belong_to_the_certificate() {
        let a = creds(&["localhost"]);
        let b = creds(&["localhost"]);
        let err = ServerCredentials::new(&[a.certificate], &b.private_key).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn config_offers_h2_and_http11_with_every_mode() {
        for mode in [ClientAuth::RequireAny, ClientAuth::Request] {
            let config = server_config(&TlsOptions {
                credentials: ServerCredentials::from_generated(&creds(&["localhost"])).unwrap(),
                client_auth: mode,
                ca: Vec::new(),
            })
            .unwrap();
            assert_eq!(
                config.alpn_protocols,
                [b"h2".to_vec(), b"http/1.1".to_vec()]
            );
            assert!(config.ticketer.enabled());
        }
    }

    #[test]
    fn any_client_cert_mode_checks_nothing_but_the_signature() {
        let v = AcceptAnyClientCert::new(provider().signature_verification_algorithms, true);
        assert!(v.client_auth_mandatory());
        assert!(v.root_hint_subjects().is_empty());
        let schemes = v.supported_verify_schemes();
        for s in [
            SignatureScheme::ED25519,
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ] {
            assert!(schemes.contains(&s), "{s:?}");
        }
        // Any chain is "accepted"; the handshake tests show that the signature still counts.
        let junk = CertificateDer::from(vec![1u8, 2, 3]);
        assert!(v.verify_client_cert(&junk, &[], UnixTime::now()).is_ok());
        assert!(
            !AcceptAnyClientCert::new(provider().signature_verification_algorithms, false)
                .client_auth_mandatory()
        );
    }

    #[test]
    fn forwarded_certificates_are_chain_verified() {
        use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key).unwrap();

        let verifier = forwarded_cert_verifier(&[ca.der().clone()]).unwrap();
        let now = SystemTime::now();
        assert!(verifier.verify(leaf.der(), now));
        assert!(!verifier.verify(ca.der(), now));
        let stranger = creds(&["localhost"]);
        assert!(!verifier.verify(stranger.certificate.as_der(), now));
        assert!(!verifier.verify(b"junk", now));
        // rcgen certificates are valid until 4096.
        let later = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100_000_000_000);
        assert!(!verifier.verify(leaf.der(), later));
    }

    #[test]
    fn fingerprint_follows_file_contents() {
        let dir = tempfile::tempdir().unwrap();
        let c = creds(&["localhost"]);
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        std::fs::write(&cert, c.certificate.to_pem()).unwrap();
        std::fs::write(&key, c.private_key.to_pem().as_bytes()).unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            password: None,
            ca: None,
            client_auth: ClientAuth::RequireAny,
        };
        let (_, a) = files.load().unwrap();
        let (_, b) = files.load().unwrap();
        assert_eq!(a, b);
        let c2 = creds(&["localhost"]);
        std::fs::write(&cert, c2.certificate.to_pem()).unwrap();
        std::fs::write(&key, c2.private_key.to_pem().as_bytes()).unwrap();
        let (_, c) = files.load().unwrap();
        assert_ne!(a, c);
        let mut other_mode = files.clone();
        other_mode.client_auth = ClientAuth::Request;
        assert_ne!(other_mode.load().unwrap().1, c);
    }
}
