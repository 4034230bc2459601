//! Which server to talk to and with which credentials: flags and environment variables with
//! the precedence of `kes` (spec §12.1).

use std::io::IsTerminal;

use anyhow::{Result, anyhow, bail};
use kes_client::{ApiKey, Client, ClientBuilder};

use crate::cli::ConnArgs;

/// Server endpoints, first set wins.
pub(crate) const SERVER_VARS: [&str; 3] =
    ["MINIO_KES_SERVER", "KES_SERVER", "MINIO_KMS_KES_ENDPOINT"];
/// API key.
pub(crate) const API_KEY_VARS: [&str; 3] =
    ["MINIO_KES_API_KEY", "KES_API_KEY", "MINIO_KMS_KES_API_KEY"];
/// Client private key file.
pub(crate) const KEY_FILE_VARS: [&str; 3] = [
    "MINIO_KES_KEY_FILE",
    "KES_CLIENT_KEY",
    "MINIO_KES_CLIENT_KEY",
];
/// Client certificate file.
pub(crate) const CERT_FILE_VARS: [&str; 3] = [
    "MINIO_KES_CERT_FILE",
    "KES_CLIENT_CERT",
    "MINIO_KES_CLIENT_CERT",
];

/// The default server.
pub(crate) const DEFAULT_SERVER: &str = "127.0.0.1:7373";

/// Looks up environment variables (the process environment; tests inject their own).
pub(crate) type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

fn first(env: Env<'_>, vars: &[&str]) -> Option<String> {
    vars.iter()
        .find_map(|v| env(v).filter(|value| !value.trim().is_empty()))
}

/// The endpoints: comma-separated, each trimmed, `http://` stripped and `https://` added.
pub(crate) fn endpoints(flag: Option<&str>, env: Env<'_>) -> Vec<String> {
    let list = flag
        .map(str::to_owned)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| first(env, &SERVER_VARS))
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = e.strip_prefix("http://").unwrap_or(e);
            if e.starts_with("https://") {
                e.to_owned()
            } else {
                format!("https://{e}")
            }
        })
        .collect()
}

/// What authenticates the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// An API key (`kes:v1:…`).
    ApiKey(String),
    /// A certificate and private-key file.
    Files {
        /// The certificate file.
        cert: String,
        /// The private-key file.
        key: String,
    },
}

/// Chooses the credentials (spec §12.1) and reports the exact `kes` messages.
pub(crate) fn auth(flag: Option<&str>, env: Env<'_>) -> Result<Auth> {
    let api_key = flag
        .map(str::to_owned)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| first(env, &API_KEY_VARS));
    let key_file = first(env, &KEY_FILE_VARS);
    let cert_file = first(env, &CERT_FILE_VARS);
    match (api_key, key_file, cert_file) {
        (Some(_), Some(_), _) => {
            bail!("API key and private key file cannot be used at the same time")
        }
        (Some(_), None, Some(_)) => {
            bail!("API key and certificate file cannot be used at the same time")
        }
        (Some(key), None, None) => Ok(Auth::ApiKey(key.trim().to_owned())),
        (None, Some(key), Some(cert)) => Ok(Auth::Files { cert, key }),
        (None, Some(_), None) => {
            bail!("no certificate file specified. Consider setting MINIO_KES_CERT_FILE")
        }
        (None, None, Some(_)) => {
            bail!("no private key file specified. Consider setting MINIO_KES_KEY_FILE")
        }
        (None, None, None) => bail!("no API key specified. Consider setting MINIO_KES_API_KEY"),
    }
}

/// Builds a client from flags and environment.
pub(crate) fn client(
    conn: &ConnArgs,
    server: Option<&str>,
    api_key: Option<&str>,
    env: Env<'_>,
) -> Result<Client> {
    let builder = ClientBuilder::new().endpoints(endpoints(server, env));
    with_auth(builder, conn, api_key, env)?
        .build()
        .map_err(|e| anyhow!("{e}"))
}

/// Adds the credentials and TLS flags to a builder.
pub(crate) fn with_auth(
    builder: ClientBuilder,
    conn: &ConnArgs,
    api_key: Option<&str>,
    env: Env<'_>,
) -> Result<ClientBuilder> {
    let builder = builder.danger_accept_invalid_certificates(conn.insecure);
    Ok(match auth(api_key, env)? {
        Auth::ApiKey(key) => {
            let key: ApiKey = key.parse().map_err(|e| anyhow!("{e}"))?;
            builder.api_key(key)
        }
        Auth::Files { cert, key } => {
            let chain = kes_policy::read_certificates(&cert).map_err(|e| anyhow!("{e}"))?;
            let private_key = read_private_key(&key)?;
            builder.client_certificate(chain, private_key)
        }
    })
}

/// Reads a private key; an encrypted one asks for its password on the terminal.
fn read_private_key(path: &str) -> Result<kes_policy::PrivateKey> {
    match kes_policy::read_private_key(path, b"") {
        Err(kes_policy::Error::PasswordRequired) => {}
        other => return other.map_err(|e| anyhow!("{e}")),
    }
    if !std::io::stdin().is_terminal() {
        bail!("private key '{path}' is encrypted: a password is required (no terminal to ask)");
    }
    let password = crate::output::read_password("Enter password for private key: ")?;
    match kes_policy::read_private_key(path, password.as_bytes()) {
        Err(kes_policy::Error::IncorrectPassword) => bail!("incorrect password"),
        other => other.map_err(|e| anyhow!("{e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn server_precedence() {
        let none = env_of(&[]);
        assert_eq!(endpoints(None, &none), ["https://127.0.0.1:7373"]);
        let env = env_of(&[
            ("MINIO_KMS_KES_ENDPOINT", "c:1"),
            ("KES_SERVER", "b:1"),
            ("MINIO_KES_SERVER", ""),
        ]);
        assert_eq!(endpoints(None, &env), ["https://b:1"]);
        assert_eq!(endpoints(Some("a:1"), &env), ["https://a:1"]);
        assert_eq!(
            endpoints(Some(" http://x:1 , https://y:2,,z "), &none),
            ["https://x:1", "https://y:2", "https://z"]
        );
    }

    #[test]
    fn credential_rules() {
        let msg = |r: Result<Auth>| r.unwrap_err().to_string();
        assert_eq!(
            msg(auth(None, &env_of(&[]))),
            "no API key specified. Consider setting MINIO_KES_API_KEY"
        );
        assert_eq!(
            msg(auth(None, &env_of(&[("KES_CLIENT_KEY", "k")]))),
            "no certificate file specified. Consider setting MINIO_KES_CERT_FILE"
        );
        assert_eq!(
            msg(auth(None, &env_of(&[("MINIO_KES_CLIENT_CERT", "c")]))),
            "no private key file specified. Consider setting MINIO_KES_KEY_FILE"
        );
        assert_eq!(
            msg(auth(
                None,
                &env_of(&[("KES_API_KEY", "a"), ("MINIO_KES_KEY_FILE", "k")])
            )),
            "API key and private key file cannot be used at the same time"
        );
        assert_eq!(
            msg(auth(
                None,
                &env_of(&[("KES_API_KEY", "a"), ("KES_CLIENT_CERT", "c")])
            )),
            "API key and certificate file cannot be used at the same time"
        );
        let env = env_of(&[
            ("MINIO_KMS_KES_API_KEY", "third"),
            ("KES_API_KEY", "second"),
        ]);
        assert_eq!(auth(None, &env).unwrap(), Auth::ApiKey("second".into()));
        assert_eq!(
            auth(Some("flag"), &env).unwrap(),
            Auth::ApiKey("flag".into())
        );
        let env = env_of(&[("KES_CLIENT_KEY", "k"), ("KES_CLIENT_CERT", "c")]);
        assert_eq!(
            auth(None, &env).unwrap(),
            Auth::Files {
                cert: "c".into(),
                key: "k".into()
            }
        );
    }
}
