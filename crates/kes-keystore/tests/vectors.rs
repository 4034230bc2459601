//! Vector tests: the §8.2 list helper and KES-format compatibility of the stores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::{KeyAlgorithm, KeyVersion};
use kes_keystore::{FsKeyStore, KeyStore, MemKeyStore, list_page};

use common::{TempDir, vectors};

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keystore_list_vectors() {
    let v = vectors("keystore_list.json");
    let cases = v["vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for (i, case) in cases.iter().enumerate() {
        let names = strings(&case["names"]);
        let prefix = case["prefix"].as_str().unwrap();
        let n = usize::try_from(case["n"].as_i64().unwrap().max(0)).unwrap();
        let want = strings(&case["list"]);
        let want_next = case["continue_at"].as_str().unwrap();

        let page = list_page(names.clone(), prefix, "", n);
        assert_eq!(
            (page.names.as_slice(), page.continue_at.as_str()),
            (want.as_slice(), want_next),
            "helper, vector {i}"
        );

        let mem = MemKeyStore::new();
        let dir = TempDir::new("list-vectors");
        let fs_store = FsKeyStore::open(dir.path()).unwrap();
        for store in [&mem as &dyn KeyStore, &fs_store] {
            for name in &names {
                store.create(name, b"v").await.unwrap();
            }
            let page = store.list(prefix, "", n).await.unwrap();
            assert_eq!(page.names, want, "{} vector {i}", store.describe());
            assert_eq!(
                page.continue_at,
                want_next,
                "{} vector {i}",
                store.describe()
            );
        }
    }
}

fn key_type(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::Aes256 => "AES256",
        KeyAlgorithm::ChaCha20 => "ChaCha20",
    }
}

/// A directory written in KES's format (values from parse_key_version.json, incl. the
/// canonical protobuf encoding) is read by the plain and the sealed store, and every value
/// parses with the §7.4 rules to the expected key.
#[tokio::test]
async fn kes_directory_is_readable() {
    let v = vectors("parse_key_version.json");
    let dir = TempDir::new("kes-dir");
    let mut expected = Vec::new();
    for (i, case) in v["vectors"].as_array().unwrap().iter().enumerate() {
        if case["should_fail"].as_bool().unwrap() {
            continue;
        }
        let name = format!("json-{i}");
        fs::write(dir.path().join(&name), case["raw"].as_str().unwrap()).unwrap();
        expected.push((
            name,
            case["expect"]["key_type"].as_str().unwrap().to_owned(),
            case["expect"]["key_b64"].as_str().unwrap().to_owned(),
            false,
        ));
    }
    let enc = &v["encode_vectors"][0];
    fs::write(dir.path().join("proto-0"), enc["encoded"].as_str().unwrap()).unwrap();
    expected.push((
        "proto-0".into(),
        enc["key_type"].as_str().unwrap().into(),
        enc["key_b64"].as_str().unwrap().into(),
        true,
    ));
    assert_eq!(expected.len(), 4);

    let plain = FsKeyStore::open(dir.path()).unwrap();
    let names: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(plain.list_all("").await.unwrap(), sorted);
    for (name, ty, key_b64, has_hmac) in &expected {
        let raw = plain.get(name).await.unwrap();
        let key = KeyVersion::parse(&raw).unwrap();
        assert_eq!(key_type(key.algorithm()), ty, "{name}");
        assert_eq!(B64.encode(key.key.as_bytes()), *key_b64, "{name}");
        assert_eq!(key.hmac.is_some(), *has_hmac, "{name}");
    }

    let sealed = FsKeyStore::open_sealed(dir.path(), &[3; 32]).unwrap();
    for (name, _, key_b64, _) in &expected {
        let key = KeyVersion::parse(&sealed.get(name).await.unwrap()).unwrap();
        assert_eq!(B64.encode(key.key.as_bytes()), *key_b64, "{name}");
    }
}

/// Keys stored in KES's JSON format (as KES v0.20 wrote them) are read back through the store
/// and decrypt upstream's ciphertext vectors.
#[tokio::test]
async fn kes_keys_decrypt_their_vectors() {
    let v = vectors("secret_key_decrypt.json");
    let dir = TempDir::new("kes-decrypt");
    let store = FsKeyStore::open(dir.path()).unwrap();
    let mut checked = 0;
    for case in v["vectors"].as_array().unwrap() {
        if case["should_fail"].as_bool().unwrap() {
            continue;
        }
        let index = case["index"].as_u64().unwrap();
        let algorithm = match case["key_type"].as_str().unwrap() {
            "AES256" => "AES256-GCM_SHA256",
            "ChaCha20" => "XCHACHA20-POLY1305",
            other => panic!("unknown key type {other}"),
        };
        let value = format!(
            "{{\"bytes\":\"{}\",\"algorithm\":\"{algorithm}\",\"created_at\":\"2022-07-01T00:00:00Z\",\"created_by\":\"\"}}",
            case["key_b64"].as_str().unwrap()
        );
        let name = format!("dec-{index}");
        fs::write(dir.path().join(&name), value).unwrap();

        let key = KeyVersion::parse(&store.get(&name).await.unwrap()).unwrap();
        let ciphertext = B64
            .decode(case["ciphertext_b64"].as_str().unwrap())
            .unwrap();
        let aad = B64
            .decode(case["associated_data_b64"].as_str().unwrap())
            .unwrap();
        let plaintext = key.decrypt(&ciphertext, &aad).unwrap();
        assert_eq!(
            B64.encode(plaintext.as_slice()),
            case["plaintext_b64"].as_str().unwrap(),
            "vector {index}"
        );
        checked += 1;
    }
    let ok = v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["should_fail"].as_bool().unwrap())
        .count();
    assert!(ok > 0);
    assert_eq!(checked, ok);
}

/// What we write parses with the §7.4 rules: a key generated and encoded the way the server
/// does, stored through the plain store, is on disk exactly as KES would store it.
#[tokio::test]
async fn keys_we_write_parse_as_kes_keys() {
    let dir = TempDir::new("we-write");
    let store = FsKeyStore::open(dir.path()).unwrap();
    for (i, alg) in [KeyAlgorithm::Aes256, KeyAlgorithm::ChaCha20]
        .into_iter()
        .enumerate()
    {
        let created_at =
            time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + i as i64).unwrap();
        let key = KeyVersion::generate(
            alg,
            created_at,
            "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22",
        )
        .unwrap();
        let encoded = key.encode().unwrap();
        let name = format!("ours-{i}");
        store.create(&name, encoded.as_bytes()).await.unwrap();

        let raw = fs::read(dir.path().join(&name)).unwrap();
        assert!(
            raw.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b)),
            "standard base64"
        );
        let parsed = KeyVersion::parse(&raw).unwrap();
        assert_eq!(parsed, key);
        assert!(parsed.hmac.is_some());
        assert_eq!(parsed.created_at, created_at);
    }
    // Through the cache's parser too.
    let raw = store.get("ours-0").await.unwrap();
    assert!(kes_keystore::parse_key_version("ours-0", &raw).is_ok());
    assert!(matches!(
        kes_keystore::parse_key_version("bad", b"\"bytes\":\"AAAA\"}"),
        Err(kes_keystore::Error::InvalidValue { .. })
    ));
}
