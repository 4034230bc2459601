//! moto (`moto_server` from the `moto[server]` Python package): a real AWS-API server
//! (Secrets Manager, KMS, IAM, STS) on a free loopback port, one per test.
//!
//! The binary is `$KES_PEERS_DIR/venv/bin/moto_server`; `.ci/peers-moto.sh` installs it (see
//! [`binary`]). [`Moto::start_with_auth`] arms moto's signature checking
//! (`INITIAL_NO_AUTH_ACTION_COUNT`): its first three calls create an IAM user with an
//! allow-all policy and an access key, and every request after that must be signed with that
//! key. [`Moto::start`] runs without signature checking (any credentials pass).
//!
//! Calls block the calling thread (moto is another process, so this is fine inside an async
//! test too). Dropping the value kills the server and removes its directory.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

use crate::http;
use crate::{Error, Result, peers_dir};

/// The region every test uses (the SigV4 signing region of the harness's own calls).
pub const REGION: &str = "us-east-1";

/// How long a started server may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The access key moto accepts without signature checking.
const ANY_KEY: &str = "testing";

/// Returns the path of `moto_server`: `$KES_PEERS_DIR/venv/bin/moto_server`.
///
/// Fails with a message naming the path and the install command (`bash .ci/peers-moto.sh`)
/// when it is missing; callers must not skip on that error.
pub fn binary() -> Result<PathBuf> {
    let bin = peers_dir().join("venv").join("bin").join("moto_server");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(Error::Start(format!(
            "moto_server is required for the AWS keystore tests and was not found at {}; \
             install it with `bash .ci/peers-moto.sh` (a virtualenv in $KES_PEERS_DIR/venv \
             with moto[server])",
            bin.display()
        )))
    }
}

/// A running moto server (killed on drop).
pub struct Moto {
    child: Child,
    addr: SocketAddr,
    url: String,
    access_key: String,
    secret_key: String,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Moto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moto")
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl Moto {
    /// moto without signature checking (any credentials pass); [`Moto::access_key`] and
    /// [`Moto::secret_key`] are `testing`.
    pub fn start() -> Result<Moto> {
        Moto::spawn(None)
    }

    /// moto with signature checking on, and an IAM user (allow-all policy) whose key is
    /// [`Moto::access_key`] / [`Moto::secret_key`].
    pub fn start_with_auth() -> Result<Moto> {
        let mut moto = Moto::spawn(Some(3))?;
        moto.iam("Action=CreateUser&UserName=kes&Version=2010-05-08")?;
        let policy = percent_encoding::utf8_percent_encode(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        moto.iam(&format!(
            "Action=PutUserPolicy&UserName=kes&PolicyName=all&PolicyDocument={policy}&Version=2010-05-08"
        ))?;
        let body = moto.iam("Action=CreateAccessKey&UserName=kes&Version=2010-05-08")?;
        moto.access_key = tag(&body, "AccessKeyId")?;
        moto.secret_key = tag(&body, "SecretAccessKey")?;
        Ok(moto)
    }

    fn spawn(no_auth_actions: Option<u32>) -> Result<Moto> {
        let bin = binary()?;
        let dir = tempfile::tempdir()
            .map_err(|e| Error::io("failed to create a directory for moto", e))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::io("failed to find a free port", e))?
            .port();
        let log_path = dir.path().join("moto.log");
        let log = File::create(&log_path)
            .map_err(|e| Error::io(format!("failed to create {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("failed to duplicate the log file handle", e))?;
        let mut cmd = Command::new(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(n) = no_auth_actions {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("failed to start {}", bin.display()), e))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut moto = Moto {
            child,
            addr,
            url: format!("http://{addr}"),
            access_key: ANY_KEY.to_owned(),
            secret_key: ANY_KEY.to_owned(),
            dir,
        };
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(Error::Start(format!(
                    "moto_server exited ({status}) before listening:\n{}",
                    moto.log()
                )));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::Start(format!(
                    "moto_server did not listen on {addr} within {READY_TIMEOUT:?}:\n{}",
                    moto.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, `http://127.0.0.1:<port>` (a keystore's `endpoint`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The access key to sign with (`testing` without signature checking).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key to sign with (`testing` without signature checking).
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// A signed JSON 1.1 call (`target` like `secretsmanager.DescribeSecret`) of `service`
    /// (`secretsmanager`, `kms`): the status and the answer (a JSON string when it is not
    /// JSON).
    pub fn json(&self, service: &str, target: &str, body: &Value) -> Result<(u16, Value)> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Api(e.to_string()))?;
        let (status, text) = self.signed(
            service,
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", target),
            ],
            &body,
        )?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// A signed Query-protocol call (IAM, STS): form-encoded `params`; the status and the
    /// XML answer.
    pub fn query(&self, service: &str, params: &str) -> Result<(u16, String)> {
        self.signed(
            service,
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            params.as_bytes(),
        )
    }

    /// An IAM call that must succeed; its answer.
    fn iam(&self, params: &str) -> Result<String> {
        let (status, body) = self.query("iam", params)?;
        if status == 200 {
            Ok(body)
        } else {
            Err(Error::Api(format!(
                "moto IAM call '{params}' answered {status}: {body}"
            )))
        }
    }

    fn signed(
        &self,
        service: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, String)> {
        let url = format!("{}/", self.url);
        let sign_err = |e: &dyn std::fmt::Display| Error::Api(format!("SigV4 signing: {e}"));
        let identity = aws_credential_types::Credentials::new(
            self.access_key.clone(),
            self.secret_key.clone(),
            None,
            None,
            "kes-testpeers",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| sign_err(&e))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| sign_err(&e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| sign_err(&e))?
            .into_parts();
        let all: Vec<(&str, &str)> = headers
            .iter()
            .copied()
            .chain(instructions.headers())
            .collect();
        let response = http::send(self.addr, None, "POST", "/", &all, body)
            .map_err(|e| Error::io(format!("moto call to {}", self.url), e))?;
        Ok((response.status, response.body))
    }

    /// Kills the server now (for tests of an unreachable endpoint).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The text of `<name>…</name>` in `xml`.
///
/// # Errors
/// [`Error::Api`] when the element is missing.
pub fn tag(xml: &str, name: &str) -> Result<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.split_once(open.as_str())
        .and_then(|(_, rest)| rest.split_once(close.as_str()))
        .map(|(text, _)| text.to_owned())
        .ok_or_else(|| Error::Api(format!("no <{name}> in {xml}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_finds_the_element_text() {
        let xml = "<R><AccessKeyId>AKIA1</AccessKeyId><SecretAccessKey>s/k+</SecretAccessKey></R>";
        assert_eq!(tag(xml, "AccessKeyId").unwrap(), "AKIA1");
        assert_eq!(tag(xml, "SecretAccessKey").unwrap(), "s/k+");
        assert!(tag(xml, "Missing").is_err());
        assert!(tag("<A>open", "A").is_err());
    }

    #[test]
    fn signature_checking_accepts_the_users_key_only() {
        let mut moto = Moto::start_with_auth().unwrap();
        assert_ne!(moto.access_key(), ANY_KEY);
        assert_eq!(moto.url(), format!("http://{}", moto.addr()));
        let list = serde_json::json!({});
        let (status, body) = moto
            .json("secretsmanager", "secretsmanager.ListSecrets", &list)
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body["SecretList"].is_array(), "{body}");
        moto.secret_key = "not-the-secret-key".to_owned();
        let (status, body) = moto
            .json("secretsmanager", "secretsmanager.ListSecrets", &list)
            .unwrap();
        assert_ne!(status, 200, "{body}");
        assert!(body.to_string().contains("Signature"), "{body}");
        moto.kill();
        assert!(
            moto.json("secretsmanager", "secretsmanager.ListSecrets", &list)
                .is_err()
        );
    }
}
