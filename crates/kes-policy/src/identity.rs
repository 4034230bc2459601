//! Identities and X.509 certificates (spec §2.1).
//!
//! An identity is the lowercase hex SHA-256 of the DER `SubjectPublicKeyInfo` of the client's
//! leaf certificate — never of the whole certificate — so re-issuing a certificate for the
//! same key keeps the identity.
//!
//! ```
//! use kes_policy::{Certificate, Identity};
//!
//! let pem = "-----BEGIN CERTIFICATE-----
//! MIIBKDCB26ADAgECAhB6vebGMUfKnmBKyqoApRSOMAUGAytlcDAbMRkwFwYDVQQD
//! DBByb290QHBsYXkubWluLmlvMB4XDTIwMDQzMDE1MjIyNVoXDTI1MDQyOTE1MjIy
//! NVowGzEZMBcGA1UEAwwQcm9vdEBwbGF5Lm1pbi5pbzAqMAUGAytlcAMhALzn735W
//! fmSH/ghKs+4iPWziZMmWdiWr/sqvqeW+WwSxozUwMzAOBgNVHQ8BAf8EBAMCB4Aw
//! EwYDVR0lBAwwCgYIKwYBBQUHAwIwDAYDVR0TAQH/BAIwADAFBgMrZXADQQDZOrGK
//! b2ATkDlu2pTcP3LyhSBDpYh7V4TvjRkBTRgjkacCzwFLm+mh+7US8V4dBpIDsJ4u
//! uWoF0y6vbLVGIlkG
//! -----END CERTIFICATE-----";
//! let id = Identity::of_certificate_pem(pem)?;
//! assert_eq!(id.as_str(), "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22");
//! assert_eq!(Certificate::from_pem(pem)?.identity(), id);
//! # Ok::<(), kes_policy::Error>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use ring::digest;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

use crate::{Error, names, pem};

/// Who a client is: the lowercase hex SHA-256 of its certificate's public key (spec §2.1), or
/// an identity string from the configuration.
///
/// Construction guarantees the name rule of §4.1 (1–80 bytes of `0-9A-Za-z_-`, …), so an
/// `Identity` is never empty. Identities compare as exact strings: an identity configured in
/// upper-case hex never equals a computed one.
///
/// Cloning is cheap (a shared string): the server clones the connection's identity into every
/// request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity(Arc<str>);

impl Identity {
    /// The identity of the SubjectPublicKeyInfo `spki_der` (not validated; any bytes hash).
    ///
    /// ```
    /// let spki = hex::decode(
    ///     "302a300506032b657003210097c655cdfa5829dcbf4d1e791f125ea552f0342cce061bf1d9976c5f7f7cafa7",
    /// ).unwrap();
    /// assert_eq!(
    ///     kes_policy::Identity::of_spki_der(&spki).as_str(),
    ///     "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6"
    /// );
    /// ```
    pub fn of_spki_der(spki_der: &[u8]) -> Self {
        Self(hex::encode(digest::digest(&digest::SHA256, spki_der)).into())
    }

    /// The identity of a DER X.509 certificate.
    pub fn of_certificate_der(der: &[u8]) -> Result<Self, Error> {
        Ok(Certificate::from_der(der)?.identity())
    }

    /// The identity of the first certificate of a PEM text (see [`Certificate::from_pem`]).
    pub fn of_certificate_pem(pem: &str) -> Result<Self, Error> {
        Ok(Certificate::from_pem(pem)?.identity())
    }

    /// The identity string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reports whether the identity is a SHA-256 digest as KES computes them: exactly 64
    /// lowercase hex digits.
    pub fn is_sha256_hex(&self) -> bool {
        self.0.len() == 64
            && self
                .0
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// Reports whether the string decodes as hex (either case, even length) — the test
    /// upstream uses to tell a real admin identity from a placeholder such as `disabled`
    /// (spec §2.3).
    pub fn is_hex(&self) -> bool {
        hex::decode(self.0.as_bytes()).is_ok()
    }
}

impl FromStr for Identity {
    type Err = Error;

    /// Parses an identity, enforcing the name rule (error message
    /// `identity '<id>' is empty, too long or contains invalid characters`).
    fn from_str(s: &str) -> Result<Self, Error> {
        names::validate_identity(s)?;
        Ok(Self(s.into()))
    }
}

impl TryFrom<String> for Identity {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        names::validate_identity(&s)?;
        Ok(Self(s.into()))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Identity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Identity> for String {
    fn from(id: Identity) -> Self {
        String::from(&*id.0)
    }
}

/// A parsed, well-formed DER X.509 certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    spki: Vec<u8>,
    is_ca: bool,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("identity", &self.identity().as_str())
            .field("is_ca", &self.is_ca)
            .finish()
    }
}

fn parse(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, Error> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Error::InvalidCertificate(
            "trailing data after certificate".into(),
        )),
        Err(e) => Err(Error::InvalidCertificate(e.to_string())),
    }
}

impl Certificate {
    /// Parses a DER certificate (the whole input must be one certificate).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let cert = parse(der)?;
        Ok(Self {
            der: der.to_vec(),
            spki: cert.tbs_certificate.subject_pki.raw.to_vec(),
            is_ca: cert.is_ca(),
        })
    }

    /// Parses the first certificate of a PEM text. The text may contain only `CERTIFICATE`
    /// blocks (see [`crate::parse_certificates`]).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        pem::parse_certificates(pem.as_bytes())?
            .into_iter()
            .next()
            .ok_or(Error::NoCertificate)
    }

    /// The DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The DER bytes as a rustls-pki-types certificate.
    pub fn to_certificate_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.der.clone())
    }

    /// The certificate as one PEM `CERTIFICATE` block.
    pub fn to_pem(&self) -> String {
        pem::encode("CERTIFICATE", &[], &self.der)
    }

    /// The DER SubjectPublicKeyInfo, byte for byte as it appears in the certificate.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The identity of this certificate: hex SHA-256 of [`Certificate::spki_der`].
    pub fn identity(&self) -> Identity {
        Identity::of_spki_der(self.spki_der())
    }

    /// Reports whether BasicConstraints marks this certificate as a CA (such certificates are
    /// ignored when selecting the client's leaf).
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// The DNS names of the SubjectAlternativeName extension.
    pub fn dns_names(&self) -> Vec<String> {
        self.general_names(|n| match n {
            GeneralName::DNSName(s) => Some((*s).to_owned()),
            _ => None,
        })
    }

    /// The IP addresses of the SubjectAlternativeName extension.
    pub fn ip_addresses(&self) -> Vec<IpAddr> {
        self.general_names(|n| match n {
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                _ => None,
            },
            _ => None,
        })
    }

    fn general_names<T>(&self, f: impl Fn(&GeneralName<'_>) -> Option<T>) -> Vec<T> {
        let Ok(cert) = parse(&self.der) else {
            return Vec::new();
        };
        match cert.subject_alternative_name() {
            Ok(Some(san)) => san.value.general_names.iter().filter_map(f).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks the server-certificate rule of §1.1: at least one DNS or IP SAN, else
    /// `invalid TLS certificate: certificate does not contain any DNS or IP address as SAN`.
    pub fn check_server_san(&self) -> Result<(), Error> {
        if self.dns_names().is_empty() && self.ip_addresses().is_empty() {
            Err(Error::MissingSan)
        } else {
            Ok(())
        }
    }

    /// The subject's common name, if it has one that is a string.
    pub fn common_name(&self) -> Option<String> {
        let cert = parse(&self.der).ok()?;
        let cn = cert.subject().iter_common_name().next()?;
        cn.as_str().ok().map(str::to_owned)
    }

    /// The end of the validity period.
    pub fn not_after(&self) -> Option<OffsetDateTime> {
        parse(&self.der)
            .ok()
            .map(|c| c.validity().not_after.to_datetime())
    }

    /// The start of the validity period.
    pub fn not_before(&self) -> Option<OffsetDateTime> {
        parse(&self.der)
            .ok()
            .map(|c| c.validity().not_before.to_datetime())
    }
}

/// Computes the identity of a TLS client from the certificate list it sent (spec §2.1):
/// certificates whose BasicConstraints say CA are ignored and exactly one must remain.
///
/// Errors: no certificate left → [`Error::ClientCertificateRequired`]
/// (`tls: client certificate is required`); more than one →
/// [`Error::TooManyClientCertificates`] (`tls: received more than one client certificate`);
/// an unparsable certificate → [`Error::InvalidCertificate`].
///
/// ```
/// use kes_policy::{client_identity, Error};
/// assert!(matches!(client_identity::<&[u8]>(&[]), Err(Error::ClientCertificateRequired)));
/// ```
pub fn client_identity<C: AsRef<[u8]>>(chain: &[C]) -> Result<Identity, Error> {
    let mut leaf = None;
    for der in chain {
        let cert = Certificate::from_der(der.as_ref())?;
        if cert.is_ca() {
            continue;
        }
        if leaf.is_some() {
            return Err(Error::TooManyClientCertificates);
        }
        leaf = Some(cert);
    }
    leaf.map(|c| c.identity())
        .ok_or(Error::ClientCertificateRequired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_parse_and_hex() {
        let id: Identity = "ABCDEF".parse().unwrap();
        assert!(id.is_hex());
        assert!(!id.is_sha256_hex());
        let d: Identity = "disabled".parse().unwrap();
        assert!(!d.is_hex());
        assert!("".parse::<Identity>().is_err());
        assert!(Identity::try_from("a b".to_owned()).is_err());
        let computed = Identity::of_spki_der(b"x");
        assert!(computed.is_sha256_hex());
        assert_eq!(computed.as_str().len(), 64);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(Certificate::from_der(b"").is_err());
        assert!(Certificate::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(client_identity(&[b"junk".as_slice()]).is_err());
    }
}
