//! The start-up banner, laid out like KES's (spec §12.2): version, runtime, license, the
//! keystore, the API endpoints, the admin identity, where the logs go and the memory lock.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use kes_core::Level;

use crate::mlock::MlockStatus;

/// What the banner shows.
#[derive(Debug, Clone)]
pub struct Banner<'a> {
    /// The keystore line, e.g. `In Memory`.
    pub keystore: String,
    /// The address the server listens on.
    pub addr: SocketAddr,
    /// The admin identity; `None` when admin access is disabled.
    pub admin: Option<String>,
    /// The dev-mode API key and client files.
    pub dev: Option<DevBanner<'a>>,
    /// `log.error`.
    pub error_level: Level,
    /// `log.audit`.
    pub audit_level: Level,
    /// The memory lock.
    pub mlock: &'a MlockStatus,
}

/// The dev-mode part of the banner.
#[derive(Debug, Clone)]
pub struct DevBanner<'a> {
    /// The admin API key.
    pub api_key: &'a str,
    /// The admin's client certificate file.
    pub client_cert: &'a Path,
    /// The admin's client key file.
    pub client_key: &'a Path,
    /// The server certificate file.
    pub server_cert: &'a Path,
}

/// The version line's value.
pub fn version() -> String {
    let mut v = env!("CARGO_PKG_VERSION").to_owned();
    if let Some(commit) = option_env!("KES_BUILD_COMMIT") {
        let _ = write!(v, "  commit={commit}");
    }
    v
}

/// The URLs a client can reach the server at: the listen address, or for a wildcard address
/// loopback plus the host's primary addresses.
pub fn endpoints(addr: SocketAddr) -> Vec<String> {
    let ip = addr.ip();
    let mut ips: Vec<IpAddr> = Vec::new();
    if ip.is_unspecified() {
        match ip {
            IpAddr::V4(_) => ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            IpAddr::V6(_) => ips.push(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        }
        for other in crate::dev::primary_ips() {
            if ip.is_ipv6() || other.is_ipv4() {
                ips.push(other);
            }
        }
    } else {
        ips.push(ip);
    }
    ips.into_iter()
        .map(|ip| format!("https://{}", SocketAddr::new(ip, addr.port())))
        .collect()
}

impl Banner<'_> {
    /// The banner text (several lines, no trailing newline).
    pub fn render(&self) -> String {
        const W: usize = 12;
        let mut s = String::new();
        let line = |s: &mut String, key: &str, value: &str| {
            let _ = writeln!(s, "{key:<W$}{value}");
        };
        line(&mut s, "Version", &format!("kes-server {}", version()));
        line(
            &mut s,
            "Runtime",
            &format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        );
        line(&mut s, "License", "Apache-2.0 OR MIT");
        line(&mut s, "Copyright", "kes-rs developers");
        s.push('\n');
        line(&mut s, "KMS", &self.keystore);
        for (i, url) in endpoints(self.addr).iter().enumerate() {
            line(&mut s, if i == 0 { "API" } else { "" }, &format!("· {url}"));
        }
        s.push('\n');
        line(&mut s, "Docs", env!("CARGO_PKG_REPOSITORY"));
        s.push('\n');
        if let Some(dev) = &self.dev {
            line(&mut s, "API Key", dev.api_key);
        }
        line(
            &mut s,
            "Admin",
            self.admin.as_deref().unwrap_or("<disabled>"),
        );
        if let Some(dev) = &self.dev {
            line(
                &mut s,
                "Client",
                &format!("cert={}", dev.client_cert.display()),
            );
            line(&mut s, "", &format!("key={}", dev.client_key.display()));
            line(&mut s, "", &format!("ca={}", dev.server_cert.display()));
        }
        line(
            &mut s,
            "Logs",
            &format!("error=stderr level={}", level_name(self.error_level)),
        );
        line(
            &mut s,
            "",
            &format!("audit=stdout level={}", level_name(self.audit_level)),
        );
        line(&mut s, "MLock", &self.mlock.to_string());
        if let Some(dev) = &self.dev {
            let url = endpoints(self.addr).into_iter().next().unwrap_or_default();
            s.push('\n');
            let _ = writeln!(s, "Try it (create a key, then a data key):");
            for route in ["/v1/key/create/my-key", "/v1/key/generate/my-key"] {
                let _ = writeln!(
                    s,
                    "    curl --cacert {} --cert {} --key {} -X POST {url}{route}",
                    dev.server_cert.display(),
                    dev.client_cert.display(),
                    dev.client_key.display(),
                );
            }
        }
        while s.ends_with('\n') {
            s.pop();
        }
        s
    }
}

fn level_name(level: Level) -> String {
    if level >= Level::OFF {
        "OFF".to_owned()
    } else {
        level.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_kes_layout() {
        let mlock = MlockStatus::Locked;
        let banner = Banner {
            keystore: "Filesystem: /var/lib/kes".into(),
            addr: "127.0.0.1:7373".parse().unwrap(),
            admin: None,
            dev: None,
            error_level: Level::INFO,
            audit_level: Level::OFF,
            mlock: &mlock,
        }
        .render();
        let lines: Vec<&str> = banner.lines().collect();
        assert!(lines[0].starts_with("Version     kes-server "), "{banner}");
        assert!(lines.contains(&"KMS         Filesystem: /var/lib/kes"));
        assert!(lines.contains(&"API         · https://127.0.0.1:7373"));
        assert!(lines.contains(&"Admin       <disabled>"));
        assert!(lines.contains(&"Logs        error=stderr level=INFO"));
        assert!(lines.contains(&"            audit=stdout level=OFF"));
        assert!(lines.contains(&"MLock       enabled"));
        assert!(!banner.contains("API Key"));
    }

    #[test]
    fn dev_banner_shows_key_files_and_curl() {
        let mlock = MlockStatus::Failed("Operation not permitted".into());
        let banner = Banner {
            keystore: "In Memory".into(),
            addr: "127.0.0.1:7000".parse().unwrap(),
            admin: Some("ab".repeat(32)),
            dev: Some(DevBanner {
                api_key: "kes:v1:KEY",
                client_cert: Path::new("/tmp/d/admin.crt"),
                client_key: Path::new("/tmp/d/admin.key"),
                server_cert: Path::new("/tmp/d/server.crt"),
            }),
            error_level: Level::WARN,
            audit_level: Level::INFO,
            mlock: &mlock,
        }
        .render();
        assert!(banner.contains("API Key     kes:v1:KEY\n"), "{banner}");
        assert!(banner.contains("MLock       disabled (Operation not permitted)"));
        assert!(banner.contains(
            "curl --cacert /tmp/d/server.crt --cert /tmp/d/admin.crt --key /tmp/d/admin.key -X POST https://127.0.0.1:7000/v1/key/create/my-key"
        ));
    }

    #[test]
    fn wildcard_address_lists_loopback_first() {
        let urls = endpoints("0.0.0.0:7373".parse().unwrap());
        assert_eq!(urls[0], "https://127.0.0.1:7373");
        assert!(urls.iter().all(|u| !u.contains('[')), "{urls:?}");
    }
}
