//! The shared KES vectors (copied into `tests/data/`) and the OpenSSL-generated fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use kes_policy::{
    ApiKey, Certificate, Error, Identity, KeyAlgorithm, Matcher, Pattern, Policy, names,
    parse_certificates, read_cert_pool, read_certificates, read_private_key,
};
use serde_json::Value;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(data(rel)).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn policy(v: &Value) -> Policy {
    Policy::new(strings(&v["allow"]), strings(&v["deny"]))
}

#[test]
fn api_key_identities() {
    let v = json("api_keys.json");
    let cases = v["identity_vectors"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let key = ApiKey::parse(case["api_key"].as_str().unwrap()).unwrap();
        assert_eq!(
            key.expose_secret().as_str(),
            case["api_key"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(key.public_key()),
            case["public_key_hex"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(key.spki_der()),
            case["spki_der_hex"].as_str().unwrap()
        );
        let want = case["expected_identity"].as_str().unwrap();
        assert_eq!(key.identity().as_str(), want);
        assert_eq!(Identity::from(&key).as_str(), want);
        // The seed round-trips through PKCS#8.
        let pkcs8 = key.private_key_pkcs8_der();
        assert_eq!(
            hex::encode(&pkcs8[16..]),
            case["seed_hex"].as_str().unwrap()
        );
        assert_eq!(ApiKey::from_ed25519_pkcs8(&pkcs8).unwrap(), key);
        // API key -> certificate -> identity equals API key -> identity.
        let tls = key.client_certificate().unwrap();
        assert_eq!(tls.certificate.identity().as_str(), want);
        assert_eq!(
            Identity::of_certificate_der(tls.certificate.as_der())
                .unwrap()
                .as_str(),
            want
        );
    }
}

#[test]
fn api_key_parsing() {
    let v = json("api_keys.json");
    for case in v["parse_vectors"].as_array().unwrap() {
        let s = case["string"].as_str().unwrap();
        let parsed = ApiKey::parse(s);
        if case["should_fail"].as_bool().unwrap() {
            assert!(parsed.is_err(), "{s} should fail");
        } else {
            assert_eq!(
                parsed.unwrap().expose_secret().as_str(),
                case["reformat"].as_str().unwrap()
            );
        }
    }
}

#[test]
fn certificate_identities() {
    let v = json("certificate_identity.json");
    for case in v["vectors"].as_array().unwrap() {
        let pem = std::fs::read_to_string(data(case["file"].as_str().unwrap())).unwrap();
        let cert = Certificate::from_pem(&pem).unwrap();
        let want = case["expected_identity"].as_str().unwrap();
        assert_eq!(cert.identity().as_str(), want);
        assert_eq!(Identity::of_certificate_pem(&pem).unwrap().as_str(), want);
        assert_eq!(
            kes_policy::client_identity(&[cert.as_der()])
                .unwrap()
                .as_str(),
            want
        );
        let whole = ring::digest::digest(&ring::digest::SHA256, cert.as_der());
        assert_eq!(
            hex::encode(whole),
            case["sha256_of_whole_cert_der_NOT_the_identity"]
                .as_str()
                .unwrap()
        );
        assert_ne!(hex::encode(whole), want);
        let cn = case["subject"]
            .as_str()
            .unwrap()
            .strip_prefix("CN=")
            .unwrap();
        assert_eq!(cert.common_name().as_deref(), Some(cn));
    }
}

#[test]
fn root_key_is_the_play_api_key() {
    // certs/root.key holds the same Ed25519 key as the API key of api_keys.json's play entry.
    let key = read_private_key(data("certs/root.key"), b"").unwrap();
    let api_key = ApiKey::from_ed25519_pkcs8(key.expose_pkcs8_der()).unwrap();
    assert_eq!(
        api_key.expose_secret().as_str(),
        "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc"
    );
    let cert = &read_certificates(data("certs/root.cert")).unwrap()[0];
    assert_eq!(cert.identity(), api_key.identity());
    assert_eq!(key.identity().unwrap(), cert.identity());
}

#[test]
fn server_test_certificate() {
    let cert = &read_certificates(data("certs/server_test_srv_cert.pem")).unwrap()[0];
    cert.check_server_san().unwrap();
    assert_eq!(cert.dns_names(), vec!["localhost".to_owned()]);
    assert_eq!(cert.ip_addresses().len(), 2);
    let key = read_private_key(data("certs/server_test_srv_key.pem"), b"").unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
    assert_eq!(key.identity().unwrap(), cert.identity());
    // The API-key certificate has no SAN, so it cannot serve as a server certificate.
    let root = &read_certificates(data("certs/root.cert")).unwrap()[0];
    assert!(matches!(root.check_server_san(), Err(Error::MissingSan)));
}

#[test]
fn leaf_selection_ignores_ca_certificates() {
    let leaf = read_certificates(data("certs/root.cert"))
        .unwrap()
        .remove(0);
    let other = read_certificates(data("certs/proxy_test_client_cert.pem"))
        .unwrap()
        .remove(0);
    // A CA certificate (BasicConstraints CA=true).
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let ca = Certificate::from_der(ca.der()).unwrap();
    assert!(ca.is_ca());

    let id = kes_policy::client_identity(&[ca.as_der(), leaf.as_der()]).unwrap();
    assert_eq!(id, leaf.identity());
    let err = kes_policy::client_identity(&[leaf.as_der(), other.as_der()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tls: received more than one client certificate"
    );
    let err = kes_policy::client_identity(&[ca.as_der()]).unwrap_err();
    assert_eq!(err.to_string(), "tls: client certificate is required");
}

#[test]
fn policy_verify() {
    let v = json("policy.json");
    let mut n = 0;
    for case in v["verify_vectors"].as_array().unwrap() {
        let p = policy(&case["policy"]);
        for (path, want) in case["requests"].as_object().unwrap() {
            assert_eq!(p.allows(path), want.as_bool().unwrap(), "{path} {case}");
            assert_eq!(p.verify(path).is_ok(), want.as_bool().unwrap());
            n += 1;
        }
    }
    assert_eq!(n, 13);
}

#[test]
fn policy_is_subset() {
    let v = json("policy.json");
    let cases = v["is_subset_vectors"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let a = policy(&case["a"]);
        let b = policy(&case["b"]);
        let want = case["is_subset"].as_bool().unwrap();
        assert_eq!(a.is_subset(&b), want, "{case}");
        if want {
            assert_eq!(
                b.is_subset(&a),
                case["is_equal"].as_bool().unwrap(),
                "{case}"
            );
        }
    }
}

#[test]
fn matcher_semantics() {
    let v = json("policy.json");
    let cases = v["matcher_semantics_derived"]["vectors"]
        .as_array()
        .unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let pattern = case["pattern"].as_str().unwrap();
        let path = case["path"].as_str().unwrap();
        assert_eq!(
            Pattern::new(pattern).matches(path),
            case["current_match"].as_bool().unwrap(),
            "current {case}"
        );
        assert_eq!(
            Pattern::with_matcher(pattern, Matcher::Legacy).matches(path),
            case["legacy_path_match"].as_bool().unwrap(),
            "legacy {case}"
        );
    }
}

#[test]
fn name_rules() {
    let v = json("names.json");
    for case in v["valid_name"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["extra_name_vectors_derived"].as_array().unwrap())
    {
        let name = case["name"].as_str().unwrap();
        let want = case["valid"].as_bool().unwrap();
        assert_eq!(names::is_valid_name(name), want, "{name:?}");
        assert_eq!(kes_policy::validate_key_name(name).is_ok(), want);
        assert_eq!(kes_policy::validate_policy_name(name).is_ok(), want);
        assert_eq!(kes_policy::validate_identity(name).is_ok(), want);
        assert_eq!(name.parse::<Identity>().is_ok(), want);
    }
    for case in v["valid_pattern"].as_array().unwrap() {
        let pattern = case["pattern"].as_str().unwrap();
        let want = case["valid"].as_bool().unwrap();
        assert_eq!(names::is_valid_pattern(pattern), want, "{pattern:?}");
        assert_eq!(kes_policy::validate_pattern(pattern).is_ok(), want);
    }
    for case in v["fs_key_name"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        assert_eq!(
            names::is_valid_fs_key_name(name),
            case["valid"].as_bool().unwrap(),
            "{name:?}"
        );
    }
}

#[test]
fn tls_pem_files() {
    let v = json("tls_pem_files.json");
    for case in v["read_private_key"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let password = case["password"].as_str().unwrap();
        let got = read_private_key(data(file), password.as_bytes());
        assert_eq!(
            got.is_err(),
            case["should_fail"].as_bool().unwrap(),
            "{case} {got:?}"
        );
        if let Ok(key) = got {
            assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
        }
    }
    // The two key files hold different keys, and the error kinds are the right ones.
    let plain = read_private_key(data("pem/privatekeys_plaintext.pem"), b"").unwrap();
    let enc = read_private_key(data("pem/privatekeys_encrypted.pem"), b"correct_password").unwrap();
    assert_ne!(plain, enc);
    assert!(matches!(
        read_private_key(data("pem/privatekeys_encrypted.pem"), b""),
        Err(Error::PasswordRequired)
    ));
    assert!(matches!(
        read_private_key(data("pem/privatekeys_encrypted.pem"), b"incorrect_password"),
        Err(Error::IncorrectPassword)
    ));

    for case in v["read_certificate"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let got = read_certificates(data(file));
        assert_eq!(
            got.is_err(),
            case["should_fail"].as_bool().unwrap(),
            "{case} {got:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    for f in [
        "certificates_single.pem",
        "certificates_with_whitespaces.pem",
        "certificates_with_privatekey.pem",
    ] {
        std::fs::copy(data(&format!("pem/{f}")), dir.path().join(f)).unwrap();
    }
    for case in v["cert_pool"].as_array().unwrap() {
        let path = case["path"].as_str().unwrap();
        let path = if path.starts_with('<') {
            dir.path().to_owned()
        } else {
            data(path)
        };
        let got = read_cert_pool(&path);
        assert_eq!(
            got.is_err(),
            case["should_fail"].as_bool().unwrap(),
            "{case} {got:?}"
        );
    }
    // Without the bad file, the directory is a valid pool of two certificates.
    std::fs::remove_file(dir.path().join("certificates_with_privatekey.pem")).unwrap();
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    assert_eq!(read_cert_pool(dir.path()).unwrap().len(), 2);
}

#[test]
fn certificate_file_with_a_key_names_the_block() {
    // The upstream fixture also has a malformed END line; a well-formed key block is
    // rejected for its type.
    let mut pem = std::fs::read(data("certs/root.key")).unwrap();
    pem.extend(std::fs::read(data("certs/root.cert")).unwrap());
    let err = parse_certificates(&pem).unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedPemBlock { found, .. } if found == "PRIVATE KEY"),
        "{err}"
    );
    // A private-key file may hold certificates, though.
    let key = kes_policy::parse_private_key(&pem, b"").unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);

    // `kes identity <FILE>` looks at the first certificate or key block.
    use kes_policy::{PemItem, first_pem_item};
    assert_eq!(first_pem_item(&pem, b"").unwrap(), PemItem::PrivateKey(key));
    let mut reversed = std::fs::read(data("certs/root.cert")).unwrap();
    reversed.extend(std::fs::read(data("certs/root.key")).unwrap());
    let PemItem::Certificate(cert) = first_pem_item(&reversed, b"").unwrap() else {
        panic!("expected the certificate first");
    };
    assert_eq!(
        cert.identity().as_str(),
        "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
    );
    assert!(first_pem_item(b"-----BEGIN X-----\n-----END X-----\n", b"").is_err());
}

#[test]
fn openssl_fixtures() {
    let v = json("generated/manifest.json");
    for case in v["certificates"].as_array().unwrap() {
        let file = format!("generated/{}", case["file"].as_str().unwrap());
        let cert = &read_certificates(data(&file)).unwrap()[0];
        assert_eq!(
            cert.identity().as_str(),
            case["expected_identity"].as_str().unwrap(),
            "{file}"
        );
    }
    for case in v["private_keys"].as_array().unwrap() {
        let file = format!("generated/{}", case["file"].as_str().unwrap());
        let password = case["password"].as_str().unwrap();
        let cert_file = format!("generated/{}", case["certificate"].as_str().unwrap());
        let cert = &read_certificates(data(&cert_file)).unwrap()[0];
        let key = read_private_key(data(&file), password.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.identity().unwrap(), cert.identity(), "{file}");
        if !password.is_empty() {
            assert!(
                matches!(
                    read_private_key(data(&file), b""),
                    Err(Error::PasswordRequired)
                ),
                "{file}"
            );
            assert!(
                matches!(
                    read_private_key(data(&file), b"wrong"),
                    Err(Error::IncorrectPassword)
                ),
                "{file}"
            );
        }
        // Every algorithm re-encrypts and reads back.
        let again = key
            .to_encrypted_pem(b"pw", kes_policy::KeyEncryption::LegacyPemAes256Cbc)
            .unwrap();
        assert_eq!(
            kes_policy::parse_private_key(again.as_bytes(), b"pw").unwrap(),
            key
        );
    }
}
