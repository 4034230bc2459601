//! The AWS keystore against a real AWS-API server: moto on loopback, with signature checking
//! on where credentials matter.
//!
//! These tests need `$KES_PEERS_DIR/venv/bin/moto_server` (`bash .ci/peers-moto.sh`); when it
//! is missing they fail with a message saying so. They are never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kes_keystore::conformance::{Options, run_all};
use kes_keystore::{Error as StoreError, KeyStore};
use kes_keystore_aws::{AwsConfig, AwsKeyStore, CredentialSource, Error};
use serde_json::json;
use support::moto::{Moto, MotoConfig, REGION};
use support::{FakeRequest, FakeResponse, serve};

fn no_env() -> impl Fn(&str) -> Option<String> {
    |_: &str| None
}

/// Secrets Manager answers a forced delete of an unknown name with success, so a delete of a
/// missing key is not reported (as with Vault).
fn aws_options() -> Options {
    Options {
        delete_reports_missing: false,
        ..Options::default()
    }
}

async fn connect(config: AwsConfig) -> AwsKeyStore {
    AwsKeyStore::connect_with_env(config, &no_env())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_with_signature_checking() {
    let moto = Moto::start_with_auth().unwrap();
    let store = connect(moto.config()).await;
    assert_eq!(store.credential_source(), CredentialSource::Static);
    assert_eq!(
        store.describe(),
        format!("AWS SecretsManager: {}", moto.url())
    );
    let report = run_all(&store, &aws_options()).await;
    assert!(report.is_ok(), "{report}\nmoto log:\n{}", moto.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_clear_error() {
    let moto = Moto::start_with_auth().unwrap();

    // A known access key with the wrong secret: the signature does not match.
    let mut config = moto.config();
    config.set_credentials(moto.access_key(), "not-the-secret-key", "");
    let err = AwsKeyStore::connect_with_env(config, &no_env())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert!(text.contains("credentials were rejected"), "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");

    // An unknown access key.
    let mut config = moto.config();
    config.set_credentials("AKIAIOSFODNN7EXAMPLE", "whatever", "");
    let text = AwsKeyStore::connect_with_env(config, &no_env())
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("InvalidClientTokenId"), "{text}");
    assert!(text.contains("static credentials"), "{text}");

    // The right key works, and a request signed with a wrong key after connecting fails
    // with the same clear error (not "not found").
    let good = connect(moto.config()).await;
    good.create("signed-key", b"v").await.unwrap();
    let (status, _) = moto
        .json(
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            &json!({"SecretId": "signed-key"}),
        )
        .unwrap();
    assert_eq!(status, 200, "the harness signs with the same key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_encrypted_secret() {
    let moto = Moto::start_with_auth().unwrap();
    let (status, key) = moto
        .json(
            "kms",
            "TrentService.CreateKey",
            &json!({"Description": "kes-rs test key"}),
        )
        .unwrap();
    assert_eq!(status, 200, "{key}");
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();

    let mut config = moto.config();
    config.kms_key = key_id.clone();
    let store = connect(config).await;
    store.create("kms-key", b"encrypted value").await.unwrap();
    assert_eq!(
        store.get("kms-key").await.unwrap().as_slice(),
        b"encrypted value"
    );
    let (status, described) = moto
        .json(
            "secretsmanager",
            "secretsmanager.DescribeSecret",
            &json!({"SecretId": "kms-key"}),
        )
        .unwrap();
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["KmsKeyId"], json!(key_id), "{described}");

    // Without kmskey, no KmsKeyId is sent (the account default key).
    let plain = connect(moto.config()).await;
    plain.create("default-key", b"v").await.unwrap();
    let (_, described) = moto
        .json(
            "secretsmanager",
            "secretsmanager.DescribeSecret",
            &json!({"SecretId": "default-key"}),
        )
        .unwrap();
    assert_ne!(described["KmsKeyId"], json!(key_id), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_500_secrets() {
    let moto = Moto::start().unwrap();
    let store = Arc::new(connect(moto.config()).await);
    // Secrets that are not KES keys are listed too (as KES), but not under our prefix.
    store.create("other-secret", b"x").await.unwrap();
    let mut tasks = Vec::new();
    for chunk in 0..10 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let name = format!("page-{:03}", chunk * 50 + i);
                store.create(&name, name.as_bytes()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 500 names need at least five ListSecrets pages of 100.
    let all = store.list_all("page-").await.unwrap();
    let expected: Vec<String> = (0..500).map(|i| format!("page-{i:03}")).collect();
    assert_eq!(all, expected);
    assert_eq!(store.list_all("").await.unwrap().len(), 501);

    // The cursor pages through them in order.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = store.list("page-", &cursor, 128).await.unwrap();
        assert!(page.names.len() <= 128);
        seen.extend(page.names);
        if page.continue_at.is_empty() {
            break;
        }
        cursor = page.continue_at;
    }
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kes_layout_both_ways() {
    let moto = Moto::start().unwrap();
    let store = connect(moto.config()).await;
    let value = r#"{"bytes":"Mn6T2nTFuvjLiaZpjOtlHkjn8p/a3+ZMh27cNvdzmZY="}"#;

    // What KES wrote (SecretString = value), we read.
    let (status, _) = moto
        .json(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            &json!({"Name": "written-by-kes", "SecretString": value}),
        )
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        store.get("written-by-kes").await.unwrap().as_slice(),
        value.as_bytes()
    );

    // What we write is a SecretString under the key name.
    store
        .create("written-by-us", value.as_bytes())
        .await
        .unwrap();
    let (_, got) = moto
        .json(
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            &json!({"SecretId": "written-by-us"}),
        )
        .unwrap();
    assert_eq!(got["SecretString"], json!(value));
    assert_eq!(got["Name"], json!("written-by-us"));

    // A SecretBinary secret is read too (KES falls back to it).
    let (status, _) = moto
        .json(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            &json!({"Name": "binary", "SecretBinary": "AAEC/w=="}),
        )
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        store.get("binary").await.unwrap().as_slice(),
        &[0u8, 1, 2, 255]
    );
    // Non-UTF-8 values are stored as SecretBinary and come back unchanged.
    store.create("bytes", &[0xff, 0xfe, 0]).await.unwrap();
    assert_eq!(
        store.get("bytes").await.unwrap().as_slice(),
        &[0xff, 0xfe, 0]
    );

    // Delete is final (no recovery window): the name can be reused at once.
    store.delete("written-by-us").await.unwrap();
    assert!(matches!(
        store.get("written-by-us").await,
        Err(StoreError::NotFound)
    ));
    store.delete("written-by-us").await.unwrap();
    store.create("written-by-us", b"again").await.unwrap();

    // A secret scheduled for deletion (with a recovery window) reads as missing.
    let (status, _) = moto
        .json(
            "secretsmanager",
            "secretsmanager.DeleteSecret",
            &json!({"SecretId": "written-by-kes", "RecoveryWindowInDays": 7}),
        )
        .unwrap();
    assert_eq!(status, 200);
    let got = store.get("written-by-kes").await;
    assert!(
        matches!(got, Err(StoreError::NotFound)),
        "{:?}",
        got.map(|_| ())
    );

    // Names Secrets Manager cannot hold.
    assert!(matches!(
        store.create("has space", b"v").await,
        Err(StoreError::InvalidName(_))
    ));
    assert!(matches!(
        store.get("has space").await,
        Err(StoreError::NotFound)
    ));
}

/// A proxy in front of moto that answers the first `throttle` Secrets Manager calls with
/// `ThrottlingException` (as AWS does: HTTP 400, JSON body) and forwards everything else.
async fn throttling_proxy(
    moto_url: String,
    throttle: usize,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let throttled = Arc::new(AtomicUsize::new(0));
    let forwarded = Arc::new(AtomicUsize::new(0));
    let client = kes_keystore_cloud::transport::HttpClient::new(Default::default()).unwrap();
    let (t, f) = (Arc::clone(&throttled), Arc::clone(&forwarded));
    let addr = serve(move |req: FakeRequest| {
        let (t, f, client, moto_url) = (
            Arc::clone(&t),
            Arc::clone(&f),
            client.clone(),
            moto_url.clone(),
        );
        async move {
            if req.headers.contains_key("x-amz-target") && t.load(Ordering::SeqCst) < throttle {
                t.fetch_add(1, Ordering::SeqCst);
                return FakeResponse::new(
                    400,
                    r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                )
                .header("Content-Type", "application/x-amz-json-1.1");
            }
            f.fetch_add(1, Ordering::SeqCst);
            let method = http::Method::from_bytes(req.method.as_bytes()).unwrap();
            let mut forward = kes_keystore_cloud::transport::HttpRequest::new(
                method,
                format!("{moto_url}{}", req.path),
            );
            for (k, v) in &req.headers {
                if k == "content-length" || k == "connection" {
                    continue;
                }
                forward.headers.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                );
            }
            forward.body = zeroize::Zeroizing::new(req.body);
            match client.send_once("proxy", forward).await {
                Ok(r) => FakeResponse::new(r.status, r.body.to_vec())
                    .header("Content-Type", "application/x-amz-json-1.1"),
                Err(e) => FakeResponse::new(502, e.to_string()),
            }
        }
    })
    .await;
    (format!("http://{addr}"), throttled, forwarded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_backs_off_and_succeeds() {
    let moto = Moto::start_with_auth().unwrap();
    // The Host header the signature covers is the proxy's; moto checks it as it arrives.
    let (url, throttled, _) = throttling_proxy(moto.url().to_owned(), 3).await;
    let mut config = moto.config();
    config.endpoint = url.clone();
    config.max_attempts = 5;
    let started = Instant::now();
    // connect's credential check is throttled three times, then goes through.
    let store = connect(config).await;
    assert_eq!(throttled.load(Ordering::SeqCst), 3);
    // Equal jitter from 200 ms: at least 100 + 200 + 400 ms of backoff.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "no backoff: {:?}",
        started.elapsed()
    );
    store.create("after-throttling", b"v").await.unwrap();

    // When the throttling outlasts the attempts, the error says so.
    let (url, throttled, forwarded) = throttling_proxy(moto.url().to_owned(), usize::MAX).await;
    let mut config = moto.config();
    config.endpoint = url;
    config.max_attempts = 2;
    let text = AwsKeyStore::connect_with_env(config.clone(), &no_env())
        .await
        .map(|_| ())
        .err()
        .map(|e| e.to_string());
    // connect only warns about a throttled credential check (the store may still work) ...
    assert_eq!(text, None);
    let store = connect(config).await;
    let err = store.get("after-throttling").await.unwrap_err();
    assert!(
        err.to_string().contains("ThrottlingException") && err.to_string().contains("2 attempts"),
        "{err}"
    );
    assert!(throttled.load(Ordering::SeqCst) >= 6);
    // ... and only the unsigned status probes went through.
    assert_eq!(forwarded.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint() {
    let mut moto = Moto::start().unwrap();
    let store = connect(moto.config()).await;
    assert!(store.status().await.is_ok());
    moto.kill();
    let err = store.status().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    let err = store.get("k").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");

    // Connecting to a closed port fails at startup, as KES does.
    let err = AwsKeyStore::connect_with_env(moto.config(), &no_env())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Connect(e) if e.is_unreachable()),
        "{err:?}"
    );
    // An invalid config is reported before any network use.
    let err = AwsKeyStore::connect_with_env(AwsConfig::new("", REGION), &no_env())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid AWS secretsmanager keystore: no endpoint specified"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_credentials() {
    let moto = Moto::start_with_auth().unwrap();
    let mut config = moto.config();
    config.credentials = None;
    let env: HashMap<String, String> = [
        ("AWS_ACCESS_KEY_ID", moto.access_key()),
        ("AWS_SECRET_ACCESS_KEY", moto.secret_key()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let store = AwsKeyStore::connect_with_env(config, &|k: &str| env.get(k).cloned())
        .await
        .unwrap();
    assert_eq!(store.credential_source(), CredentialSource::Environment);
    store.create("env-key", b"v").await.unwrap();
    assert_eq!(store.get("env-key").await.unwrap().as_slice(), b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_through_sts() {
    let moto = Moto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n").unwrap();
    let mut config = moto.config();
    config.credentials = None;
    let env: HashMap<String, String> = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/kes"),
        ("AWS_ROLE_SESSION_NAME", "kes-test"),
        ("AWS_ENDPOINT_URL_STS", moto.url()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let store = AwsKeyStore::connect_with_env(config.clone(), &|k: &str| env.get(k).cloned())
        .await
        .unwrap();
    assert_eq!(store.credential_source(), CredentialSource::WebIdentity);
    store.create("wi-key", b"v").await.unwrap();
    assert_eq!(store.get("wi-key").await.unwrap().as_slice(), b"v");

    // A missing token file is a clear startup error.
    let mut env2 = env.clone();
    env2.insert(
        "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
        "/nonexistent/token".into(),
    );
    let err = AwsKeyStore::connect_with_env(config, &|k: &str| env2.get(k).cloned())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("AWS_WEB_IDENTITY_TOKEN_FILE"),
        "{err}"
    );
}

/// A fake of the ECS container credentials endpoint (from the AWS documentation: `GET` on the
/// relative or full URI, `Authorization` header when a token is configured, a JSON document
/// with `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`). Credentials it hands out
/// live `lifetime`; every call counts.
async fn fake_container_endpoint(
    lifetime: Duration,
    key: (String, String),
) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let addr = serve(move |req: FakeRequest| {
        let c = Arc::clone(&c);
        let key = key.clone();
        async move {
            if req.method != "GET" || req.path != "/v2/credentials/kes" {
                return FakeResponse::new(404, "not found");
            }
            if req.headers.get("authorization").map(String::as_str) != Some("container-token") {
                return FakeResponse::new(401, "unauthorized");
            }
            c.fetch_add(1, Ordering::SeqCst);
            let expires = time::OffsetDateTime::now_utc() + lifetime;
            let expires = expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            FakeResponse::new(
                200,
                json!({
                    "AccessKeyId": key.0,
                    "SecretAccessKey": key.1,
                    "Token": "session-token",
                    "Expiration": expires,
                })
                .to_string(),
            )
        }
    })
    .await;
    (format!("http://{addr}/v2/credentials/kes"), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_credentials_are_refreshed_before_they_expire() {
    let moto = Moto::start().unwrap();
    let (url, calls) =
        fake_container_endpoint(Duration::from_secs(2), ("ASIATEST".into(), "secret".into())).await;
    let mut config = moto.config();
    config.credentials = None;
    let env: HashMap<String, String> = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let store = AwsKeyStore::connect_with_env(config.clone(), &|k: &str| env.get(k).cloned())
        .await
        .unwrap();
    assert_eq!(store.credential_source(), CredentialSource::Container);
    store.create("ecs-key", b"v").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "credentials are cached");
    // Half of the two-second lifetime later they are stale and fetched again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.get("ecs-key").await.unwrap().as_slice(), b"v");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Without the authorization token the endpoint refuses: a clear startup error.
    let mut env2 = env.clone();
    env2.remove("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    let err = AwsKeyStore::connect_with_env(config, &|k: &str| env2.get(k).cloned())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("container credentials: HTTP 401"),
        "{err}"
    );
}

/// A fake of the EC2 instance metadata service, IMDSv2 only (from the AWS documentation:
/// `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds`, then GETs with
/// `X-aws-ec2-metadata-token`; a GET without the token is 401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_metadata_credentials() {
    let moto = Moto::start().unwrap();
    let addr = serve(|req: FakeRequest| async move {
        match (req.method.as_str(), req.path.as_str()) {
            ("PUT", "/latest/api/token") => {
                if req
                    .headers
                    .contains_key("x-aws-ec2-metadata-token-ttl-seconds")
                {
                    FakeResponse::new(200, "imds-session-token")
                } else {
                    FakeResponse::new(400, "missing ttl")
                }
            }
            ("GET", path)
                if req
                    .headers
                    .get("x-aws-ec2-metadata-token")
                    .map(String::as_str)
                    != Some("imds-session-token") =>
            {
                FakeResponse::new(401, format!("unauthorized {path}"))
            }
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                FakeResponse::new(200, "kes-role\n")
            }
            ("GET", "/latest/meta-data/iam/security-credentials/kes-role") => FakeResponse::new(
                200,
                json!({
                    "Code": "Success",
                    "AccessKeyId": "ASIAIMDS",
                    "SecretAccessKey": "imds-secret",
                    "Token": "imds-token",
                    "Expiration": "2099-01-01T00:00:00Z",
                })
                .to_string(),
            ),
            _ => FakeResponse::new(404, "not found"),
        }
    })
    .await;
    let mut config = moto.config();
    config.credentials = None;
    let endpoint = format!("http://{addr}");
    let env = move |k: &str| (k == "AWS_EC2_METADATA_SERVICE_ENDPOINT").then(|| endpoint.clone());
    let store = AwsKeyStore::connect_with_env(config, &env).await.unwrap();
    assert_eq!(
        store.credential_source(),
        CredentialSource::InstanceMetadata
    );
    store.create("imds-key", b"v").await.unwrap();
    assert_eq!(store.get("imds-key").await.unwrap().as_slice(), b"v");
}
