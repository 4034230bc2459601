//! `--dev` (spec §12.2): a fresh admin API key, a self-signed server certificate and an
//! in-memory keystore, plus the files a client needs, so `curl` works right away.
//!
//! The files are written to a private temporary directory (mode 0700) that is removed when
//! the server stops: `admin.crt` and `admin.key` (the API key's client certificate and key,
//! what the KES SDK derives from the key) and `server.crt` (to verify the server with).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use kes_policy::{ApiKey, TlsCredentials};

use crate::Error;

/// The generated dev-mode material.
#[derive(Debug)]
pub struct DevCredentials {
    /// The admin API key (`kes:v1:…`).
    pub api_key: ApiKey,
    /// The server certificate and key.
    pub server: TlsCredentials,
    dir: tempfile::TempDir,
}

impl DevCredentials {
    /// Generates the API key and the server certificate for a server that listens on `addr`,
    /// and writes the client files.
    ///
    /// # Errors
    /// Key generation or file writing failed.
    pub fn generate(addr: SocketAddr) -> Result<Self, Error> {
        let api_key = kes_policy::dev_admin_api_key().map_err(Error::Dev)?;
        let server = kes_policy::dev_server_certificate(
            &certificate_ips(addr.ip()),
            time::OffsetDateTime::now_utc(),
        )
        .map_err(Error::Dev)?;
        let client = api_key.client_certificate().map_err(Error::Dev)?;
        let dir = tempfile::Builder::new()
            .prefix("kes-dev-")
            .tempdir()
            .map_err(|e| Error::io("failed to create the dev-mode directory", e))?;
        let this = Self {
            api_key,
            server,
            dir,
        };
        kes_policy::write_certificate_file(this.client_cert(), &client.certificate, false)
            .map_err(Error::Dev)?;
        kes_policy::write_private_key_file(this.client_key(), &client.private_key, None, false)
            .map_err(Error::Dev)?;
        kes_policy::write_certificate_file(this.server_cert(), &this.server.certificate, false)
            .map_err(Error::Dev)?;
        Ok(this)
    }

    /// The directory holding the client files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The admin's client certificate (PEM).
    pub fn client_cert(&self) -> PathBuf {
        self.dir.path().join("admin.crt")
    }

    /// The admin's client private key (PEM, mode 0600).
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("admin.key")
    }

    /// The server's self-signed certificate (PEM), for `curl --cacert`.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }
}

/// IP SANs for the dev certificate: the listen IP, or for a wildcard address the host's
/// primary addresses (loopback is always added by kes-policy).
fn certificate_ips(listen: IpAddr) -> Vec<IpAddr> {
    if !listen.is_unspecified() {
        return vec![listen];
    }
    primary_ips()
}

/// The addresses the host would use for outgoing IPv4 and IPv6 traffic. Connecting a UDP
/// socket only asks the routing table; no packet is sent. Hosts without a route get none.
pub(crate) fn primary_ips() -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for (bind, target) in [("0.0.0.0:0", "192.0.2.1:9"), ("[::]:0", "[2001:db8::1]:9")] {
        let ip = UdpSocket::bind(bind)
            .and_then(|s| s.connect(target).map(|()| s))
            .and_then(|s| s.local_addr())
            .map(|a| a.ip());
        if let Ok(ip) = ip {
            if !ip.is_unspecified() && !ip.is_loopback() && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_usable_client_files() {
        let dev = DevCredentials::generate("127.0.0.1:7373".parse().unwrap()).unwrap();
        let cert = kes_policy::read_certificates(dev.client_cert()).unwrap();
        let key = kes_policy::read_private_key(dev.client_key(), b"").unwrap();
        assert_eq!(cert[0].identity(), dev.api_key.identity());
        assert_eq!(key.identity().unwrap(), dev.api_key.identity());
        let server = kes_policy::read_certificates(dev.server_cert()).unwrap();
        assert!(
            server[0]
                .ip_addresses()
                .contains(&"127.0.0.1".parse().unwrap())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dev.client_key())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
        let dir = dev.dir().to_owned();
        drop(dev);
        assert!(!dir.exists());
    }
}
