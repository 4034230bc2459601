//! moto (`moto_server` from the `moto[server]` Python package): a real AWS-API server
//! (Secrets Manager, KMS, IAM, STS) on a free loopback port, one per test.
//!
//! The binary is `$KES_PEERS_DIR/venv/bin/moto_server` (`.ci/peers-moto.sh` installs it).
//! [`Moto::start_with_auth`] arms moto's signature checking (`INITIAL_NO_AUTH_ACTION_COUNT`):
//! its first three calls create an IAM user with an allow-all policy and an access key, and
//! every request after that must be signed with that key.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue, Method};
use kes_keystore_aws::AwsConfig;
use kes_keystore_cloud::transport::{ClientOptions, HttpClient, HttpRequest, RetryPolicy};
use serde_json::Value;
use zeroize::Zeroizing;

/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// A running moto server (killed on drop).
pub struct Moto {
    child: Child,
    pub addr: SocketAddr,
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    http: HttpClient,
    dir: tempfile::TempDir,
}

/// The path of `moto_server`, or a panic that says how to install it.
pub fn binary() -> PathBuf {
    let bin = kes_testpeers::peers_dir()
        .join("venv")
        .join("bin")
        .join("moto_server");
    if !bin.exists() {
        panic!(
            "moto_server is required for the AWS keystore tests and was not found at {}; \
             install it with `bash .ci/peers-moto.sh` (a virtualenv in $KES_PEERS_DIR/venv with moto[server])",
            bin.display()
        );
    }
    bin
}

impl Moto {
    /// moto without signature checking (any credentials pass): access key `testing`.
    pub async fn start() -> Moto {
        Moto::spawn(None).await
    }

    /// moto with signature checking on, and an IAM user whose key is in
    /// `access_key`/`secret_key`.
    pub async fn start_with_auth() -> Moto {
        let mut moto = Moto::spawn(Some(3)).await;
        let (status, body) = moto
            .query("iam", "Action=CreateUser&UserName=kes&Version=2010-05-08")
            .await;
        assert_eq!(status, 200, "CreateUser: {body}");
        let policy = percent_encoding::utf8_percent_encode(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let (status, body) = moto
            .query(
                "iam",
                &format!("Action=PutUserPolicy&UserName=kes&PolicyName=all&PolicyDocument={policy}&Version=2010-05-08"),
            )
            .await;
        assert_eq!(status, 200, "PutUserPolicy: {body}");
        let (status, body) = moto
            .query(
                "iam",
                "Action=CreateAccessKey&UserName=kes&Version=2010-05-08",
            )
            .await;
        assert_eq!(status, 200, "CreateAccessKey: {body}");
        moto.access_key = tag(&body, "AccessKeyId");
        moto.secret_key = tag(&body, "SecretAccessKey");
        moto
    }

    async fn spawn(no_auth_actions: Option<u32>) -> Moto {
        let bin = binary();
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = std::fs::File::create(dir.path().join("moto.log")).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(n) = no_auth_actions {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("moto.log")).unwrap_or_default();
                panic!("moto_server exited ({status}) before listening:\n{log}");
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("moto_server did not listen on {addr} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let http = HttpClient::new(ClientOptions {
            retry: RetryPolicy::none(),
            ..ClientOptions::default()
        })
        .unwrap();
        Moto {
            child,
            addr,
            url: format!("http://{addr}"),
            access_key: "testing".to_owned(),
            secret_key: "testing".to_owned(),
            http,
            dir,
        }
    }

    /// A keystore config for this server with its static credentials.
    pub fn config(&self) -> AwsConfig {
        let mut config = AwsConfig::new(self.url.clone(), REGION);
        config.set_credentials(&self.access_key, &self.secret_key, "");
        config.max_attempts = 3;
        config
    }

    /// A signed JSON 1.1 call (`target` like `secretsmanager.DescribeSecret`).
    pub async fn json(&self, service: &str, target: &str, body: Value) -> (u16, Value) {
        let body = serde_json::to_vec(&body).unwrap();
        let (status, text) = self
            .signed(
                service,
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target),
                ],
                body,
            )
            .await;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// A signed Query-protocol call (IAM): form-encoded `params`.
    pub async fn query(&self, service: &str, params: &str) -> (u16, String) {
        self.signed(
            service,
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            params.as_bytes().to_vec(),
        )
        .await
    }

    async fn signed(
        &self,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let url = format!("{}/", self.url);
        let identity = aws_credential_types::Credentials::new(
            self.access_key.clone(),
            self.secret_key.clone(),
            None,
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = HttpRequest::new(Method::POST, url);
        for (k, v) in headers.iter().copied().chain(instructions.headers()) {
            request.headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        request.body = Zeroizing::new(body);
        let response = self.http.send_once("moto", request).await.unwrap();
        (
            response.status,
            String::from_utf8_lossy(&response.body).into_owned(),
        )
    }

    /// Kills the server now (for unreachable tests).
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

/// The text of `<name>…</name>` in `xml` (panics if missing: harness only).
pub fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    xml[start..end].to_owned()
}
