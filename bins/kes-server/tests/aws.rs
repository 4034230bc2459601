//! kes-server on AWS Secrets Manager, end to end: the real binary with a
//! `keystore.aws.secretsmanager` config against a real AWS-API server (moto with signature
//! checking, `$KES_PEERS_DIR/venv/bin/moto_server` from `.ci/peers-moto.sh`), keys created
//! and used over TLS, stored as KES stores them. Also runs `examples/configs/aws.yml`.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::{Http, KesProcess, Setup, connect};
use kes_testpeers::Moto;
use serde_json::{Value, json};

/// A KMS key in moto with the alias `alias`; its key id.
fn kms_key(moto: &Moto, alias: &str) -> String {
    let (status, key) = moto
        .json(
            "kms",
            "TrentService.CreateKey",
            &json!({"Description": "kes-server test"}),
        )
        .unwrap();
    assert_eq!(status, 200, "{key}");
    let id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let (status, body) = moto
        .json(
            "kms",
            "TrentService.CreateAlias",
            &json!({"AliasName": alias, "TargetKeyId": id}),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    id
}

fn secret(moto: &Moto, target: &str, name: &str) -> Value {
    let (status, body) = moto
        .json(
            "secretsmanager",
            &format!("secretsmanager.{target}"),
            &json!({"SecretId": name}),
        )
        .unwrap();
    assert_eq!(status, 200, "{target} {name}: {body}");
    body
}

/// Creates `name`, then generate + decrypt over HTTP/1.1 and HTTP/2.
async fn create_generate_decrypt(server: &KesProcess, setup: &Setup, name: &str) {
    for (i, http) in [Http::H1, Http::H2].into_iter().enumerate() {
        let mut c = connect(server.addr, setup.client(Some(&setup.admin), http))
            .await
            .unwrap();
        if i == 0 {
            let path = format!("/v1/key/generate/{name}");
            assert_eq!(c.call("POST", &path, "").await.status, 404);
            let r = c.call("POST", &format!("/v1/key/create/{name}"), "").await;
            assert_eq!(r.status, 200, "{}", r.text());
            let r = c.call("POST", &format!("/v1/key/create/{name}"), "").await;
            assert_eq!(r.status, 400, "create-only: {}", r.text());
        }
        let dek = c
            .call("POST", &format!("/v1/key/generate/{name}"), "")
            .await;
        assert_eq!(dek.status, 200, "{}", dek.text());
        let dek = dek.json();
        let r = c
            .call(
                "POST",
                &format!("/v1/key/decrypt/{name}"),
                json!({ "ciphertext": dek["ciphertext"] }).to_string(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["plaintext"], dek["plaintext"]);
        let r = c.call("GET", "/v1/key/list/*", "").await;
        assert_eq!(r.status, 200);
        assert!(r.text().contains(name), "{}", r.text());
        assert_eq!(c.call("GET", "/v1/ready", "").await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_in_aws_secrets_manager_over_tls() {
    let moto = Moto::start_with_auth().unwrap();
    let key_id = kms_key(&moto, "alias/kes-e2e");
    let setup = Setup::new();
    let fs = format!("  fs:\n    path: {}\n", setup.path("keys").display());
    let aws = format!(
        "  aws:\n    secretsmanager:\n      endpoint: {}\n      region: us-east-1\n      kmskey: alias/kes-e2e\n      credentials:\n        accesskey: {}\n        secretkey: {}\n",
        moto.url(),
        moto.access_key(),
        moto.secret_key()
    );
    let yaml = setup.yaml("", "").replace(&fs, &aws);
    let config = setup.path("aws.yml");
    std::fs::write(&config, yaml).unwrap();
    let server = KesProcess::start(&["--config", config.to_str().unwrap()]);
    assert_eq!(
        server.banner_value("KMS"),
        format!("AWS SecretsManager: {}", moto.url())
    );

    create_generate_decrypt(&server, &setup, "e2e-key").await;

    // Stored as KES stores it: a secret named after the key, its value the stored key
    // (base64 of the protobuf encoding), encrypted with the configured KMS key.
    let stored = secret(&moto, "GetSecretValue", "e2e-key");
    let value = stored["SecretString"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap_or_else(|e| panic!("{value}: {e}"));
    assert!(decoded.len() > 32, "{value}");
    assert!(
        decoded
            .windows(setup.admin.identity.len())
            .any(|w| w == setup.admin.identity.as_bytes()),
        "the stored key names its creator"
    );
    let described = secret(&moto, "DescribeSecret", "e2e-key");
    let kms = described["KmsKeyId"].as_str().unwrap_or_default();
    assert!(
        kms == "alias/kes-e2e" || kms.ends_with(&key_id),
        "{described}"
    );

    // Deleting through the server deletes the secret.
    let mut c = connect(server.addr, setup.client(Some(&setup.admin), Http::H2))
        .await
        .unwrap();
    assert_eq!(
        c.call("DELETE", "/v1/key/delete/e2e-key", "").await.status,
        200
    );
    let (status, body) = moto
        .json(
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            &json!({"SecretId": "e2e-key"}),
        )
        .unwrap();
    assert_ne!(status, 200, "{body}");
    assert_eq!(body["__type"], "ResourceNotFoundException", "{body}");
}

/// `examples/configs/aws.yml`, pointed at moto, starts and serves keys with the access key
/// from the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_example_config_runs() {
    let moto = Moto::start_with_auth().unwrap();
    kms_key(&moto, "alias/kes");
    let setup = Setup::new();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs/aws.yml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("0.0.0.0:7373", "127.0.0.1:0")
        .replace("/etc/kes/server.key", setup.server_key.to_str().unwrap())
        .replace("/etc/kes/server.crt", setup.server_cert.to_str().unwrap())
        .replace("secretsmanager.us-east-2.amazonaws.com", moto.url())
        .replace("region: us-east-2", "region: us-east-1");
    let config = setup.path("aws.yml");
    std::fs::write(&config, text).unwrap();
    let server = KesProcess::start_with_env(
        &["--config", config.to_str().unwrap()],
        &[
            ("KES_ADMIN_IDENTITY", setup.admin.identity.as_str()),
            ("AWS_ACCESS_KEY_ID", moto.access_key()),
            ("AWS_SECRET_ACCESS_KEY", moto.secret_key()),
        ],
    );
    create_generate_decrypt(&server, &setup, "minio-key").await;
    secret(&moto, "GetSecretValue", "minio-key");
}
