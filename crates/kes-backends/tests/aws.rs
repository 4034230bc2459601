//! `keystore.aws.secretsmanager` opened through kes-backends against a real AWS-API server
//! (moto with signature checking, `$KES_PEERS_DIR/venv/bin/moto_server`, installed by
//! `.ci/peers-moto.sh`): the section's endpoint, region, credentials and `kmskey` reach the
//! store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_core::config::{AwsKeyStore, KeyStoreConfig, SecretText};
use kes_testpeers::Moto;
use serde_json::json;

fn no_env(_: &str) -> Option<String> {
    None
}

fn section(moto: &Moto) -> AwsKeyStore {
    AwsKeyStore {
        endpoint: moto.url().to_owned(),
        region: "us-east-1".into(),
        kms_key: String::new(),
        access_key: moto.access_key().to_owned(),
        secret_key: SecretText::new(moto.secret_key().to_owned()),
        session_token: SecretText::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kms_encrypted_store_from_the_config_section() {
    let moto = Moto::start_with_auth().unwrap();
    let (status, key) = moto
        .json(
            "kms",
            "TrentService.CreateKey",
            &json!({"Description": "kes-backends"}),
        )
        .unwrap();
    assert_eq!(status, 200, "{key}");
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();

    let mut cfg = section(&moto);
    cfg.kms_key = key_id.clone();
    let store = kes_backends::open(&KeyStoreConfig::Aws(cfg), &no_env)
        .await
        .unwrap();
    assert_eq!(
        store.describe(),
        format!("AWS SecretsManager: {}", moto.url())
    );
    store.create("from-config", b"value").await.unwrap();
    assert_eq!(store.get("from-config").await.unwrap().as_slice(), b"value");
    let (status, described) = moto
        .json(
            "secretsmanager",
            "secretsmanager.DescribeSecret",
            &json!({"SecretId": "from-config"}),
        )
        .unwrap();
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["KmsKeyId"], json!(key_id), "{described}");

    // The wrong secret key from the section is a startup error.
    let mut cfg = section(&moto);
    cfg.secret_key = SecretText::new("not-the-secret-key".into());
    let err = kes_backends::open(&KeyStoreConfig::Aws(cfg), &no_env)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, kes_backends::Error::Open { backend: "aws", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
}
