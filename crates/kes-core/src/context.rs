//! Per-request context: who is calling (from the TLS layer), from where, and when.

use std::net::SocketAddr;
use std::time::SystemTime;

use kes_policy::Identity;

/// What the TLS layer learned about the client. Compute it once per connection with
/// [`Peer::from_certificates`] and clone it into every request's [`RequestContext`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peer {
    /// The connection is not TLS: `verify` routes answer 400
    /// `insecure connection: TLS is required`.
    Insecure,
    /// The client sent no non-CA certificate: `verify` routes answer 400
    /// `tls: client certificate is required`.
    NoCertificate,
    /// The client sent more than one non-CA certificate: `verify` routes answer 400
    /// `tls: received more than one client certificate`.
    TooManyCertificates,
    /// A certificate could not be parsed: `verify` routes answer 400
    /// `invalid client certificate`.
    InvalidCertificate,
    /// The identity of the single non-CA certificate (SHA-256 of its SubjectPublicKeyInfo).
    Certificate(Identity),
}

impl Peer {
    /// Leaf selection of spec §2.1 over the DER certificates the client sent: CA certificates
    /// (BasicConstraints CA=true) are ignored and exactly one must remain.
    pub fn from_certificates<C: AsRef<[u8]>>(chain: &[C]) -> Self {
        match kes_policy::client_identity(chain) {
            Ok(identity) => Self::Certificate(identity),
            Err(kes_policy::Error::ClientCertificateRequired) => Self::NoCertificate,
            Err(kes_policy::Error::TooManyClientCertificates) => Self::TooManyCertificates,
            Err(_) => Self::InvalidCertificate,
        }
    }

    /// The identity, if the peer presented exactly one usable certificate.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Self::Certificate(id) => Some(id),
            _ => None,
        }
    }
}

/// Everything about a request that is not in the HTTP message itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The client as the TLS layer saw it.
    pub peer: Peer,
    /// The client's address (for audit records).
    pub remote_addr: Option<SocketAddr>,
    /// When the request arrived. Used for key `created_at`, the key cache's clock and the
    /// response-time measurement.
    pub now: SystemTime,
}

impl RequestContext {
    /// A context for a request from `peer` at `now`.
    pub fn new(peer: Peer, remote_addr: Option<SocketAddr>, now: SystemTime) -> Self {
        Self {
            peer,
            remote_addr,
            now,
        }
    }
}
