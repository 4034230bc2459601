//! Generating identities and certificates (spec §6.3, §6.4, and the dev-mode material of
//! §12.2), and writing them to files.
//!
//! ```
//! use kes_policy::{NewIdentityOptions, new_identity, parse_certificates, parse_private_key};
//!
//! let mut options = NewIdentityOptions::default();
//! options.certificate.subject = Some("my-app".into());
//! options.certificate.dns_names = vec!["app.example.com".into()];
//! let id = new_identity(&options)?;
//! assert!(id.api_key.is_some()); // Ed25519 by default: the key is also an API key
//!
//! // Write the PEM texts, read them back: same identity.
//! let cert_pem = id.credentials.certificate.to_pem();
//! let key_pem = id.credentials.private_key.to_pem();
//! let cert = &parse_certificates(cert_pem.as_bytes())?[0];
//! let key = parse_private_key(key_pem.as_bytes(), b"")?;
//! assert_eq!(cert.identity(), id.identity);
//! assert_eq!(key.identity()?, id.identity);
//! # Ok::<(), kes_policy::Error>(())
//! ```

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::private_key::random_bytes;
use crate::{ApiKey, Certificate, Error, Identity, KeyAlgorithm, KeyEncryption, PrivateKey};

/// Validity of an API-key client certificate (spec §6.3).
pub const API_KEY_CERT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);
/// Default validity of `kes identity new` certificates (`--expiry`, 720 h).
pub const DEFAULT_IDENTITY_VALIDITY: Duration = Duration::from_secs(720 * 3600);
/// Validity of the dev-mode server certificate (90 days).
pub const DEV_SERVER_CERT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// A certificate together with its private key: what a TLS client or server presents.
#[derive(Debug, Clone)]
pub struct TlsCredentials {
    /// The (leaf) certificate.
    pub certificate: Certificate,
    /// The certificate's private key.
    pub private_key: PrivateKey,
}

/// What goes into a self-signed certificate.
///
/// Every certificate gets KeyUsage digitalSignature (critical), BasicConstraints CA=false
/// (critical) and a random 128-bit serial; its issuer equals its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateOptions {
    /// The subject common name; `None` uses the key's identity.
    pub subject: Option<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// Start of validity; `None` means now.
    pub not_before: Option<OffsetDateTime>,
    /// Length of validity from `not_before`.
    pub validity: Duration,
    /// Add the clientAuth extended key usage.
    pub client_auth: bool,
    /// Add the serverAuth extended key usage.
    pub server_auth: bool,
}

impl Default for CertificateOptions {
    /// The options of `kes identity new --key/--cert` (spec §6.4): CN = identity, no SANs,
    /// 720 h from now, clientAuth and serverAuth.
    fn default() -> Self {
        Self {
            subject: None,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            not_before: None,
            validity: DEFAULT_IDENTITY_VALIDITY,
            client_auth: true,
            server_auth: true,
        }
    }
}

impl CertificateOptions {
    /// The options of an API-key client certificate (spec §6.3): CN = identity, 90 days
    /// from now, clientAuth only.
    pub fn api_key_client() -> Self {
        Self {
            validity: API_KEY_CERT_VALIDITY,
            server_auth: false,
            ..Self::default()
        }
    }
}

/// What [`new_identity`] generates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewIdentityOptions {
    /// The key algorithm (Ed25519 by default).
    pub algorithm: KeyAlgorithm,
    /// The certificate to issue for the key.
    pub certificate: CertificateOptions,
}

/// A freshly generated identity.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewIdentity {
    /// The self-signed certificate and its private key.
    pub credentials: TlsCredentials,
    /// The identity of the certificate (and key).
    pub identity: Identity,
    /// For Ed25519 keys, the equivalent API key.
    pub api_key: Option<ApiKey>,
}

/// Generates a key pair and a self-signed certificate for it (`kes identity new`, §6.4).
pub fn new_identity(options: &NewIdentityOptions) -> Result<NewIdentity, Error> {
    let (private_key, api_key) = match options.algorithm {
        KeyAlgorithm::Ed25519 => {
            let api_key = ApiKey::generate()?;
            (api_key.private_key(), Some(api_key))
        }
        other => (PrivateKey::generate(other)?, None),
    };
    let credentials = self_signed(private_key, &options.certificate)?;
    Ok(NewIdentity {
        identity: credentials.certificate.identity(),
        credentials,
        api_key,
    })
}

/// Issues a self-signed certificate for `private_key`.
///
/// ```
/// use kes_policy::{CertificateOptions, KeyAlgorithm, PrivateKey, self_signed};
/// let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
/// let tls = self_signed(key.clone(), &CertificateOptions::default())?;
/// assert_eq!(tls.certificate.identity(), key.identity()?);
/// # Ok::<(), kes_policy::Error>(())
/// ```
pub fn self_signed(
    private_key: PrivateKey,
    options: &CertificateOptions,
) -> Result<TlsCredentials, Error> {
    let gen_err = |e: rcgen::Error| Error::Generation(e.to_string());
    let key_pair = rcgen::KeyPair::try_from(private_key.expose_pkcs8_der()).map_err(gen_err)?;
    let identity = Identity::of_spki_der(&key_pair.public_key_der());

    let not_before = options.not_before.unwrap_or_else(OffsetDateTime::now_utc);
    let validity = time::Duration::try_from(options.validity)
        .map_err(|_| Error::Generation("validity too long".into()))?;
    let not_after = not_before
        .checked_add(validity)
        .ok_or_else(|| Error::Generation("validity too long".into()))?;

    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        options
            .subject
            .clone()
            .unwrap_or_else(|| identity.to_string()),
    );
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    // A random serial in [0, 2^128), as upstream.
    params.serial_number = Some(SerialNumber::from_slice(&random_bytes::<16>()?));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if options.client_auth {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    if options.server_auth {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    for name in &options.dns_names {
        let name = rcgen::Ia5String::try_from(name.as_str())
            .map_err(|_| Error::Generation(format!("invalid DNS name '{name}'")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in &options.ip_addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let cert = params.self_signed(&key_pair).map_err(gen_err)?;
    Ok(TlsCredentials {
        certificate: Certificate::from_der(cert.der())?,
        private_key,
    })
}

/// The server certificate of `kes server --dev` (spec §12.2): a fresh ECDSA P-256 key,
/// CN `localhost`, DNS SAN `localhost`, the given IP SANs (the caller passes the interface
/// addresses; loopback addresses are always added), serverAuth, 90 days from `now`.
///
/// ```
/// let now = time::OffsetDateTime::now_utc();
/// let tls = kes_policy::dev_server_certificate(&["192.0.2.7".parse().unwrap()], now)?;
/// tls.certificate.check_server_san()?;
/// assert!(tls.certificate.ip_addresses().contains(&"127.0.0.1".parse().unwrap()));
/// # Ok::<(), kes_policy::Error>(())
/// ```
pub fn dev_server_certificate(
    ips: &[IpAddr],
    now: OffsetDateTime,
) -> Result<TlsCredentials, Error> {
    let mut ip_addresses: Vec<IpAddr> = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ];
    for ip in ips {
        if !ip_addresses.contains(ip) {
            ip_addresses.push(*ip);
        }
    }
    let options = CertificateOptions {
        subject: Some("localhost".into()),
        dns_names: vec!["localhost".into()],
        ip_addresses,
        not_before: Some(now),
        validity: DEV_SERVER_CERT_VALIDITY,
        client_auth: false,
        server_auth: true,
    };
    self_signed(PrivateKey::generate(KeyAlgorithm::EcdsaP256)?, &options)
}

/// The admin API key of `kes server --dev`: a fresh random API key.
pub fn dev_admin_api_key() -> Result<ApiKey, Error> {
    ApiKey::generate()
}

fn open_new(path: &Path, overwrite: bool, mode: u32) -> Result<fs::File, Error> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path).map_err(|e| Error::io(path, e))
}

fn write_file(path: &Path, bytes: &[u8], overwrite: bool, mode: u32) -> Result<(), Error> {
    let mut file = open_new(path, overwrite, mode)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Writes `key` as PEM to `path` with mode 0600, encrypted if `password` is given.
/// Refuses to replace an existing file unless `overwrite` is set.
pub fn write_private_key_file(
    path: impl AsRef<Path>,
    key: &PrivateKey,
    password: Option<(&[u8], KeyEncryption)>,
    overwrite: bool,
) -> Result<(), Error> {
    let pem = match password {
        Some((password, encryption)) => key.to_encrypted_pem(password, encryption)?,
        None => key.to_pem(),
    };
    write_file(path.as_ref(), pem.as_bytes(), overwrite, 0o600)
}

/// Writes `certificate` as PEM to `path` with mode 0644. Refuses to replace an existing file
/// unless `overwrite` is set.
pub fn write_certificate_file(
    path: impl AsRef<Path>,
    certificate: &Certificate,
    overwrite: bool,
) -> Result<(), Error> {
    write_file(
        path.as_ref(),
        certificate.to_pem().as_bytes(),
        overwrite,
        0o644,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_certificate_shape() {
        let key = ApiKey::generate().unwrap();
        let now = OffsetDateTime::now_utc();
        let tls = key.client_certificate().unwrap();
        let cert = &tls.certificate;
        assert_eq!(cert.identity(), key.identity());
        assert_eq!(cert.common_name().unwrap(), key.identity().to_string());
        assert!(!cert.is_ca());
        assert!(cert.dns_names().is_empty());
        let nb = cert.not_before().unwrap();
        let na = cert.not_after().unwrap();
        assert!((nb - now).abs() < time::Duration::minutes(1));
        assert_eq!(na - nb, time::Duration::days(90));
        assert_eq!(tls.private_key, key.private_key());
    }

    #[test]
    fn options_are_applied() {
        let nb = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let opts = CertificateOptions {
            subject: Some("my-app".into()),
            dns_names: vec!["a.example".into()],
            ip_addresses: vec!["10.1.2.3".parse().unwrap(), "::1".parse().unwrap()],
            not_before: Some(nb),
            validity: Duration::from_secs(3600),
            ..CertificateOptions::default()
        };
        let id = new_identity(&NewIdentityOptions {
            algorithm: KeyAlgorithm::EcdsaP384,
            certificate: opts,
        })
        .unwrap();
        let cert = &id.credentials.certificate;
        assert!(id.api_key.is_none());
        assert_eq!(cert.common_name().as_deref(), Some("my-app"));
        assert_eq!(cert.dns_names(), vec!["a.example".to_owned()]);
        assert_eq!(cert.ip_addresses().len(), 2);
        assert_eq!(cert.not_before(), Some(nb));
        assert_eq!(cert.not_after(), Some(nb + time::Duration::hours(1)));
        assert_eq!(
            id.credentials.private_key.algorithm(),
            KeyAlgorithm::EcdsaP384
        );
        assert_eq!(id.identity, id.credentials.private_key.identity().unwrap());
    }

    #[test]
    fn bad_dns_name_is_an_error() {
        let opts = CertificateOptions {
            dns_names: vec!["é".into()],
            ..CertificateOptions::default()
        };
        assert!(self_signed(PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap(), &opts).is_err());
    }

    #[test]
    fn dev_material() {
        let tls = dev_server_certificate(&[], OffsetDateTime::now_utc()).unwrap();
        assert_eq!(tls.certificate.dns_names(), vec!["localhost".to_owned()]);
        assert_eq!(tls.certificate.ip_addresses().len(), 2);
        assert_eq!(tls.private_key.algorithm(), KeyAlgorithm::EcdsaP256);
        assert_ne!(dev_admin_api_key().unwrap(), dev_admin_api_key().unwrap());
    }

    #[test]
    fn files_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        write_private_key_file(&path, &key, None, false).unwrap();
        assert!(write_private_key_file(&path, &key, None, false).is_err());
        write_private_key_file(&path, &key, None, true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(crate::read_private_key(&path, b"").unwrap(), key);
    }
}
