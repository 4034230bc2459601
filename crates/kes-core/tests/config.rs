//! The configuration loader: every fixture of `config/` as
//! `config_expectations.json` says, `${VAR}` expansion, defaults, legacy
//! layouts, error messages, and a no-panic property test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kes_core::Error;
use kes_core::config::*;
use kes_core::events::Level;
use kes_types::Api;
use proptest::prelude::*;
use serde_json::Value;

const ADMIN: &str = "c84cc9b91ae2399b043da7eca616048d4b4200edf2ff418d8af3835911db945d";
const ID1: &str = "df7281ca3fed4ef7d06297eb7cb9d590a4edc863b4425f4762bb2afaebfd3258";
const ID2: &str = "c0ecd5962eaf937422268b80a93dde4786dc9783fb2480ddea0f3e5fe471a731";
const ID3: &str = "7ec8095a5308a535b72b35c7ccd4ce1d7c14af713acd22e2935a9d6e4fe18127";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(data_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load_with(yaml: &str, vars: &[(&str, &str)]) -> Result<Loaded, Error> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    load(yaml, &move |name: &str| vars.get(name).cloned())
}

fn expectations() -> Value {
    serde_json::from_str(&read("config/config_expectations.json")).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

/// Parses "5m", "30s", "0s", "17s" (the forms used in the expectations).
fn dur(text: &str) -> Duration {
    let (n, unit) = text.split_at(text.len() - 1);
    let n: u64 = n.parse().unwrap();
    match unit {
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(60 * n),
        _ => panic!("unit {unit}"),
    }
}

fn secret(t: &SecretText) -> &str {
    t.expose_secret()
}

fn check_tls(tls: &TlsConfig, want: &Value, file: &str) {
    assert_eq!(tls.key, PathBuf::from(s(want, "key")), "{file}");
    assert_eq!(tls.cert, PathBuf::from(s(want, "cert")), "{file}");
    if let Some(p) = want["password"].as_str() {
        assert_eq!(
            tls.password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default(),
            p
        );
    }
    if let Some(ca) = want["ca"].as_str() {
        assert_eq!(
            tls.ca
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            ca
        );
    }
    let ca = s(want, "client_auth");
    let expect = if ca.starts_with("require_any_cert") {
        ClientAuth::RequireAny
    } else if ca.starts_with("request_cert") {
        ClientAuth::Request
    } else {
        panic!("client_auth {ca}")
    };
    assert_eq!(tls.client_auth, expect, "{file}");
}

fn check_keystore(ks: &KeyStoreConfig, want: &Value, file: &str) {
    assert_eq!(ks.kind(), s(want, "type"), "{file}");
    match ks {
        KeyStoreConfig::Fs(fs) => {
            assert_eq!(fs.path, PathBuf::from(s(want, "path")));
            assert_eq!(fs.seal, None);
        }
        KeyStoreConfig::Vault(v) => {
            assert_eq!(v.endpoint, s(want, "endpoint"), "{file}");
            if want.get("engine").is_some() {
                assert_eq!(v.engine, s(want, "engine"), "{file}");
                let version = match s(want, "version") {
                    "v1" => VaultKvVersion::V1,
                    "v2" => VaultKvVersion::V2,
                    other => panic!("{other}"),
                };
                assert_eq!(v.version, version, "{file}");
                assert_eq!(v.namespace, s(want, "namespace"));
                assert_eq!(v.prefix, s(want, "prefix"));
            }
            match (&v.auth, want.get("approle"), want.get("kubernetes")) {
                (Some(VaultAuth::AppRole(a)), Some(w), None) => {
                    assert_eq!(a.engine, s(w, "engine"));
                    assert_eq!(a.id, s(w, "id"));
                    assert_eq!(secret(&a.secret), s(w, "secret"));
                    assert_eq!(a.namespace, "");
                }
                (Some(VaultAuth::Kubernetes(k)), None, Some(w)) => {
                    assert_eq!(k.engine, s(w, "engine"));
                    assert_eq!(k.role, s(w, "role"));
                    let jwt = s(w, "jwt");
                    match &k.jwt {
                        VaultJwt::Token(t) => assert_eq!(secret(t), jwt),
                        VaultJwt::File(p) => {
                            assert!(jwt.contains('/'));
                            assert_eq!(p, &PathBuf::from(jwt));
                        }
                    }
                }
                (None, None, None) => {}
                (auth, a, k) => panic!("{file}: auth {auth:?} vs {a:?}/{k:?}"),
            }
            assert_eq!(v.transit, None);
            assert_eq!(v.tls, VaultTls::default());
        }
        KeyStoreConfig::Aws(a) => {
            assert_eq!(a.endpoint, s(want, "endpoint"));
            assert_eq!(a.region, s(want, "region"));
            if want.get("kmskey").is_some() {
                assert_eq!(a.kms_key, s(want, "kmskey"));
                assert_eq!(a.access_key, s(want, "accesskey"));
                assert_eq!(secret(&a.secret_key), s(want, "secretkey"));
                assert_eq!(secret(&a.session_token), s(want, "token"));
            }
        }
        KeyStoreConfig::Gcp(g) => {
            assert_eq!(g.project_id, s(want, "project_id"));
            assert_eq!(g.endpoint, s(want, "endpoint"));
        }
        other => panic!("{file}: unexpected keystore {other:?}"),
    }
}

#[test]
fn current_fixtures_load_as_expected() {
    let exp = expectations();
    let cases = exp["current"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let file = s(case, "file");
        let want = &case["expect"];
        let loaded = load(&read(file), &no_env).unwrap_or_else(|e| panic!("{file}: {e}"));
        let c = &loaded.config;
        assert!(loaded.warnings.is_empty(), "{file}: {:?}", loaded.warnings);
        assert_eq!(c.address.to_string(), s(want, "address"), "{file}");
        assert_eq!(c.admin, s(want, "admin"), "{file}");
        assert_eq!(c.admin_disabled(), s(want, "admin") == "disabled");
        check_tls(&c.tls, &want["tls"], file);
        if let Some(cache) = want.get("cache") {
            assert_eq!(c.cache.any, dur(s(cache, "any")), "{file}");
            assert_eq!(c.cache.unused, dur(s(cache, "unused")), "{file}");
            assert_eq!(c.cache.offline, dur(s(cache, "offline")), "{file}");
        }
        if let Some(api) = want.get("api") {
            let api = api.as_object().unwrap();
            assert_eq!(c.api.len(), api.len(), "{file}");
            for (path, w) in api {
                let got = c.api[&Api::from_path(path).unwrap()];
                assert_eq!(got.timeout, Some(dur(s(w, "timeout"))), "{file} {path}");
                assert_eq!(
                    got.skip_auth,
                    w["skip_auth"].as_bool().unwrap(),
                    "{file} {path}"
                );
            }
        } else {
            assert!(c.api.is_empty(), "{file}");
        }
        assert!(c.policies.is_empty());
        assert!(c.keys.is_empty());
        check_keystore(&c.keystore, &want["keystore"], file);
        if let KeyStoreConfig::Vault(v) = &c.keystore {
            // No status block: the code default (15 s), not the sample's 10 s.
            assert_eq!(v.status_ping, VaultKeyStore::DEFAULT_STATUS_PING, "{file}");
        }
    }
}

#[test]
fn vault_jwt_file_resolves_to_the_jwt_fixture() {
    let file = "config/current/vault-k8s-with-service-account-file.yml";
    let c = load(&read(file), &no_env).unwrap().config;
    let KeyStoreConfig::Vault(v) = &c.keystore else {
        panic!()
    };
    let Some(VaultAuth::Kubernetes(k)) = &v.auth else {
        panic!()
    };
    let VaultJwt::File(path) = &k.jwt else {
        panic!("jwt must be a file path")
    };
    // Upstream resolves the path relative to its test directory; ours holds
    // the same file next to the YAML.
    let rel = path.strip_prefix("./testdata").unwrap();
    let jwt = std::fs::read_to_string(data_dir().join("config/current").join(rel)).unwrap();
    let inline = load(&read("config/current/vault-k8s.yml"), &no_env)
        .unwrap()
        .config;
    let KeyStoreConfig::Vault(v2) = &inline.keystore else {
        panic!()
    };
    let Some(VaultAuth::Kubernetes(k2)) = &v2.auth else {
        panic!()
    };
    let VaultJwt::Token(token) = &k2.jwt else {
        panic!()
    };
    assert_eq!(jwt.trim(), token.expose_secret());
}

#[test]
fn legacy_fixtures_load_with_their_v0_18_meaning() {
    let exp = expectations();
    let cases = exp["legacy"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let file = s(case, "file");
        let want = &case["kes_v0_18_interpretation"];
        let loaded = load(&read(file), &no_env).unwrap_or_else(|e| panic!("{file}: {e}"));
        let c = &loaded.config;
        assert_eq!(c.admin, s(want, "admin"), "{file}");
        check_keystore(&c.keystore, &want["keystore"], file);
        let keys: Vec<String> = want["keys"]
            .as_array()
            .map(|k| k.iter().map(|k| k.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(c.keys, keys, "{file}");
        if let Some(policies) = want["policy"].as_object() {
            assert_eq!(c.policies.len(), policies.len());
            for (name, p) in policies {
                let got = c.policies.iter().find(|x| x.name == *name).unwrap();
                let list = |k: &str| -> Vec<String> {
                    p[k].as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_owned())
                        .collect()
                };
                assert_eq!(got.allow, list("allow"), "{file} {name}");
                assert_eq!(got.deny, list("deny"), "{file} {name}");
            }
        }
        // Every policy of a legacy file keeps the legacy matcher.
        assert!(!c.policies.is_empty());
        assert!(c.policies.iter().all(|p| p.legacy), "{file}");
        // `root` is reported, and so is every other legacy field.
        let fields: Vec<&str> = loaded.warnings.iter().map(|w| w.field.as_str()).collect();
        assert!(fields.contains(&"root"), "{file}: {fields:?}");
        assert!(fields.contains(&"policy"), "{file}: {fields:?}");
        assert!(fields.contains(&"proxy"), "{file}: {fields:?}");
        assert_eq!(c.cache.any, Duration::from_secs(300));
        assert_eq!(c.cache.unused, Duration::from_secs(20));
        assert_eq!(c.log.error, Level::INFO);
        assert_eq!(c.log.audit, Level::OFF);
        assert_eq!(c.tls.key, PathBuf::from("server.key"));
        assert_eq!(c.tls.cert, PathBuf::from("server.crt"));
    }
}

#[test]
fn legacy_v0_13_details() {
    let loaded = load(&read("config/legacy/config_v0.13.0.yml"), &no_env).unwrap();
    let fields: Vec<&str> = loaded.warnings.iter().map(|w| w.field.as_str()).collect();
    for f in [
        "root",
        "proxy",
        "policy.my-app.paths",
        "policy.my-app-ops.paths",
        "policy",
        "keys",
        "keys.vault.approle.retry",
        "keys.vault.kubernetes.retry",
        "keys.vault.approle",
        "keys.vault.kubernetes",
        "keys.vault",
    ] {
        assert!(fields.contains(&f), "missing warning for {f}: {fields:?}");
    }
    let c = loaded.config;
    let KeyStoreConfig::Vault(v) = &c.keystore else {
        panic!()
    };
    assert_eq!(v.endpoint, "https://localhost:8200");
    assert_eq!(v.engine, "kv");
    assert_eq!(v.auth, None);
    assert_eq!(v.status_ping, Duration::from_secs(10));
    let app = &c.policies[0];
    assert_eq!(app.identities, vec![ID1.to_owned(), ID2.to_owned()]);
    assert_eq!(c.policies[1].identities, vec![ID3.to_owned()]);
    // Same file, only `root` renamed: still a legacy file because of `paths`.
    let renamed =
        read("config/legacy/config_v0.14.0.yml").replace("root: ", "admin:\n  identity: ");
    let loaded = load(&renamed, &no_env).unwrap();
    assert!(
        loaded
            .config
            .policies
            .iter()
            .all(|p| p.legacy && !p.allow.is_empty())
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.field == "policy.my-app.paths")
    );
}

#[test]
fn sample_configs_are_templates_and_fail_clearly() {
    // Every keystore section of the samples is an empty template.
    let err = load(&read("config/current/server-config.example.yaml"), &no_env).unwrap_err();
    assert_eq!(err.config_field(), Some("keystore.fs.path"));
    assert!(
        err.to_string()
            .starts_with("kesconf: invalid fs keystore: no path specified"),
        "{err}"
    );
    // The v0.18 sample also lists the removed `generic` (KES plugin) keystore.
    let err = load(
        &read("config/legacy/server-config.v0.18.0.example.yaml"),
        &no_env,
    )
    .unwrap_err();
    assert_eq!(err.config_field(), Some("keystore.generic"));
    // A v0.13 template: KES v0.18 would have used an in-memory store.
    let err = load(
        &read("config/legacy/server-config.v0.13.0.example.yaml"),
        &no_env,
    )
    .unwrap_err();
    assert_eq!(err.config_field(), Some("keys"));
    assert!(err.to_string().contains("in-memory"), "{err}");
    // With a path filled in, the current sample loads in full.
    let sample = read("config/current/server-config.example.yaml");
    let idx = sample.find("  vault:").unwrap();
    let filled = format!("{}  \n", &sample[..idx]).replace("path: \"\"", "path: /var/kes");
    let loaded = load(&filled, &no_env).unwrap();
    let c = loaded.config;
    assert_eq!(c.policies.len(), 2);
    assert_eq!(c.policies[0].deny.len(), 2);
    assert!(c.policies.iter().all(|p| !p.legacy));
    assert_eq!(
        c.keys,
        vec!["some-key-name".to_owned(), "another-key-name".to_owned()]
    );
    assert_eq!(c.cache.unused, Duration::from_secs(20));
    assert_eq!(c.log.audit, Level::OFF);
    assert_eq!(c.tls.proxy.cert_header, "X-Tls-Client-Cert");
    assert_eq!(
        c.api[&Api::Ready],
        ApiConfig {
            timeout: Some(Duration::from_secs(15)),
            skip_auth: false
        }
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

// ---------------------------------------------------------------------------
// Environment expansion
// ---------------------------------------------------------------------------

const BASE: &str = "admin:\n  identity: disabled\ntls:\n  key: k.pem\n  cert: c.pem\nkeystore:\n  fs:\n    path: /tmp/k\n";

#[test]
fn env_expansion_follows_kes() {
    let yaml = "address: ${ ADDR }\nadmin:\n  identity: \"${ADMIN}\"\ntls:\n  key: ${KEY}\n  cert: x${KEY}y\n  password: '  ${PW}  '\nkeystore:\n  fs:\n    path: ${DIR}\n";
    let c = load_with(
        yaml,
        &[
            ("ADDR", "127.0.0.1:7000"),
            ("ADMIN", ADMIN),
            ("KEY", " spaced "),
            ("PW", "${KEY}"),
            ("DIR", "/d"),
        ],
    )
    .unwrap()
    .config;
    assert_eq!(c.address.to_string(), "127.0.0.1:7000");
    assert_eq!(c.admin, ADMIN);
    // The value is taken as it is (not trimmed, not expanded again).
    assert_eq!(c.tls.key, PathBuf::from(" spaced "));
    assert_eq!(c.tls.password.unwrap().expose_secret(), "${KEY}");
    // No partial substitution.
    assert_eq!(c.tls.cert, PathBuf::from("x${KEY}y"));
    let KeyStoreConfig::Fs(fs) = c.keystore else {
        panic!()
    };
    assert_eq!(fs.path, PathBuf::from("/d"));
}

#[test]
fn env_is_not_expanded_in_version_patterns_and_keys() {
    let yaml = format!(
        "{BASE}policy:\n  ${{P}}:\n    allow: [\"${{A}}\"]\n    deny: [\"${{A}}\"]\n    identities: [\"${{I}}\"]\napi:\n  ${{PATH}}:\n    timeout: 1s\n"
    );
    let loaded = load_with(
        &yaml,
        &[
            ("I", ID1),
            ("A", "/v1/x"),
            ("P", "p"),
            ("PATH", "/v1/status"),
        ],
    )
    .unwrap_err();
    // The policy name `${P}` is taken literally and is not a valid name.
    assert!(
        loaded.to_string().contains("policy name '${P}'"),
        "{loaded}"
    );
    let yaml =
        format!("{BASE}policy:\n  p:\n    allow: [\"${{A}}\"]\n    identities: [\"${{I}}\"]\n");
    let c = load_with(&yaml, &[("I", ID1), ("A", "/v1/x")])
        .unwrap()
        .config;
    assert_eq!(c.policies[0].allow, vec!["${A}".to_owned()]);
    assert_eq!(c.policies[0].identities, vec![ID1.to_owned()]);
    let err = load_with(&format!("version: ${{V}}\n{BASE}"), &[("V", "v1")]).unwrap_err();
    assert_eq!(err.config_field(), Some("version"));
    assert_eq!(
        err.to_string(),
        "kesconf: invalid config version '${V}' (field 'version')"
    );
    let loaded = load_with(
        &format!("{BASE}api:\n  ${{PATH}}:\n    timeout: 1s\n"),
        &[("PATH", "/v1/status")],
    )
    .unwrap();
    assert!(loaded.config.api.is_empty());
    assert_eq!(loaded.warnings[0].field, "api.${PATH}");
}

#[test]
fn missing_variable_names_variable_and_field() {
    let err = load_with(
        &format!("{BASE}cache:\n  expiry:\n    any: ${{ NOPE }}\n"),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::MissingEnvVar { var, field } if var == "NOPE" && field == "cache.expiry.any"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "kesconf: referenced env. variable 'NOPE' in field 'cache.expiry.any' not found"
    );
    let err = load_with(
        &format!("{BASE}keys:\n  - name: a\n  - name: ${{K2}}\n"),
        &[],
    )
    .unwrap_err();
    assert_eq!(err.config_field(), Some("keys[1].name"));
    let err = load_with(
        &format!("{BASE}policy:\n  p:\n    identities: [\"${{}}\"]\n"),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::MissingEnvVar { var, field } if var.is_empty() && field == "policy.p.identities[0]")
    );
    let err = load_with(BASE.replace("/tmp/k", "${DIR}").as_str(), &[]).unwrap_err();
    assert_eq!(err.config_field(), Some("keystore.fs.path"));
}

#[test]
fn typed_values_from_env() {
    let yaml = format!(
        "{BASE}cache:\n  expiry:\n    any: ${{ANY}}\n    offline: ${{OFF}}\napi:\n  /v1/status:\n    skip_auth: ${{SKIP}}\n    timeout: ${{T}}\nlog:\n  error: ${{LVL}}\n"
    );
    for skip in ["yes", "on", "Y", "true"] {
        let c = load_with(
            &yaml,
            &[
                ("ANY", "2m"),
                ("OFF", "0"),
                ("SKIP", skip),
                ("T", "1.5s"),
                ("LVL", "warn"),
            ],
        )
        .unwrap()
        .config;
        assert_eq!(c.cache.any, Duration::from_secs(120));
        assert_eq!(c.cache.offline, Duration::ZERO);
        assert_eq!(
            c.api[&Api::Status],
            ApiConfig {
                timeout: Some(Duration::from_millis(1500)),
                skip_auth: true
            }
        );
        assert_eq!(c.log.error, Level::WARN);
        assert_eq!(c.tls.client_auth, ClientAuth::Request);
    }
    let err = load_with(
        &yaml,
        &[
            ("ANY", " 2m"),
            ("OFF", "0"),
            ("SKIP", "no"),
            ("T", "1s"),
            ("LVL", ""),
        ],
    )
    .unwrap_err();
    assert_eq!(err.config_field(), Some("cache.expiry.any"));
    let err = load_with(
        &yaml,
        &[
            ("ANY", "2m"),
            ("OFF", "0"),
            ("SKIP", "maybe"),
            ("T", "1s"),
            ("LVL", ""),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "kesconf: invalid boolean 'maybe' (field 'api./v1/status.skip_auth')"
    );
}

// ---------------------------------------------------------------------------
// Scalars, defaults
// ---------------------------------------------------------------------------

#[test]
fn scalars_keep_their_text() {
    let digits = "1234567890123456789012345678901234567890123456789012345678901234";
    let yaml = format!(
        "{BASE}policy:\n  p:\n    identities: [{digits}]\nkeys:\n  - name: 1.0\n  - name: 0x10\n  - name: true\n  - name: 1e3\n"
    );
    let c = load(&yaml, &no_env).unwrap().config;
    assert_eq!(c.keys, ["1.0", "0x10", "true", "1e3"]);
    assert_eq!(c.policies[0].identities, vec![digits.to_owned()]);
}

#[test]
fn defaults() {
    let c = load(BASE, &no_env).unwrap().config;
    assert_eq!(c.address, Address::DEFAULT);
    assert_eq!(c.address.socket_addr().to_string(), "0.0.0.0:7373");
    assert_eq!(c.cache.any, Duration::from_secs(300));
    assert_eq!(c.cache.unused, Duration::from_secs(30));
    assert_eq!(c.cache.offline, Duration::ZERO);
    assert_eq!(
        c.log,
        LogConfig {
            error: Level::INFO,
            audit: Level::INFO
        }
    );
    assert_eq!(c.tls.auth, TlsAuth::Off);
    assert_eq!(c.tls.client_auth, ClientAuth::RequireAny);
    assert_eq!(c.tls.password, None);
    assert_eq!(c.tls.ca, None);
    assert_eq!(c.tls.proxy, ProxyConfig::default());
    assert!(c.admin_disabled());
    // Zero means "default" for any/unused (as in KES), but an explicit
    // unused with no any keeps the documented any (upstream's bug is not copied).
    let c = load(
        &format!("{BASE}cache:\n  expiry:\n    any: 0s\n    unused: 10s\n"),
        &no_env,
    )
    .unwrap()
    .config;
    assert_eq!(
        (c.cache.any, c.cache.unused),
        (Duration::from_secs(300), Duration::from_secs(10))
    );
    let c = load(
        &format!("{BASE}cache:\n  expiry:\n    unused: \"0\"\n"),
        &no_env,
    )
    .unwrap()
    .config;
    assert_eq!(c.cache.unused, Duration::from_secs(30));
    // tls.auth on, relaxed by skip_auth.
    let c = load(
        &format!("{BASE}api:\n  /v1/metrics:\n    skip_auth: true\n")
            .replace("cert: c.pem", "cert: c.pem\n  auth: ON"),
        &no_env,
    )
    .unwrap()
    .config;
    assert_eq!(c.tls.auth, TlsAuth::On);
    assert_eq!(c.tls.client_auth, ClientAuth::VerifyIfGiven);
    assert_eq!(c.api[&Api::Metrics].timeout, None);
}

#[test]
fn vault_defaults_and_variants() {
    let yaml = "admin:\n  identity: disabled\ntls:\n  key: k\n  cert: c\nkeystore:\n  vault:\n    endpoint: https://v:8200\n    approle:\n      id: i\n      secret: s\n      namespace: /\n    transit:\n      key: t\n    tls:\n      key: ck\n      cert: cc\n      ca: /ca\n    status:\n      ping: 3s\n";
    let c = load(yaml, &no_env).unwrap().config;
    let KeyStoreConfig::Vault(v) = c.keystore else {
        panic!()
    };
    assert_eq!(v.engine, "kv");
    assert_eq!(v.version, VaultKvVersion::V1);
    assert_eq!(
        v.transit,
        Some(VaultTransit {
            engine: "transit".into(),
            key: "t".into()
        })
    );
    let Some(VaultAuth::AppRole(a)) = &v.auth else {
        panic!()
    };
    assert_eq!(
        (a.engine.as_str(), a.namespace.as_str(), a.id.as_str()),
        ("approle", "/", "i")
    );
    assert_eq!(v.tls.ca, Some(PathBuf::from("/ca")));
    assert_eq!(v.status_ping, Duration::from_secs(3));
    let k8s = yaml.replace(
        "approle:\n      id: i\n      secret: s\n      namespace: /",
        "kubernetes:\n      jwt: abc\n      role: r",
    );
    let c = load(&k8s, &no_env).unwrap().config;
    let KeyStoreConfig::Vault(v) = c.keystore else {
        panic!()
    };
    let Some(VaultAuth::Kubernetes(k)) = &v.auth else {
        panic!()
    };
    assert_eq!(k.engine, "kubernetes");
    assert_eq!(k.jwt, VaultJwt::Token(SecretText::new("abc".into())));
}

#[test]
fn every_keystore_parses_into_typed_structs() {
    let head = "admin:\n  identity: disabled\ntls:\n  key: k\n  cert: c\nkeystore:\n";
    let c = load(&format!("{head}  fortanix:\n    sdkms:\n      endpoint: https://f\n      group_id: g\n      credentials:\n        key: K\n      tls:\n        ca: /ca\n"), &no_env).unwrap().config;
    assert_eq!(
        c.keystore,
        KeyStoreConfig::Fortanix(FortanixKeyStore {
            endpoint: "https://f".into(),
            group_id: "g".into(),
            api_key: SecretText::new("K".into()),
            ca: Some("/ca".into()),
        })
    );
    let c = load(&format!("{head}  gemalto:\n    keysecure:\n      endpoint: https://g\n      credentials:\n        token: T\n        domain: d\n"), &no_env).unwrap().config;
    assert_eq!(
        c.keystore,
        KeyStoreConfig::Gemalto(GemaltoKeyStore {
            endpoint: "https://g".into(),
            token: SecretText::new("T".into()),
            domain: "d".into(),
            ca: None,
        })
    );
    let c = load(&format!("{head}  gcp:\n    secretmanager:\n      project_id: p\n      scopes: [a, \"\"]\n      credentials:\n        client_email: e\n        client_id: i\n        private_key_id: k\n        private_key: \"-----BEGIN\\\\n\"\n"), &no_env).unwrap().config;
    let KeyStoreConfig::Gcp(g) = &c.keystore else {
        panic!()
    };
    assert_eq!(g.scopes, ["a"]);
    assert_eq!(g.endpoint, "");
    assert_eq!(g.credentials.private_key.expose_secret(), "-----BEGIN\\n");
    assert_eq!(g.credentials.client_email, "e");
    let c = load(&format!("{head}  azure:\n    keyvault:\n      endpoint: https://a\n      credentials:\n        tenant_id: t\n        client_id: c\n        client_secret: s\n"), &no_env).unwrap().config;
    assert_eq!(
        c.keystore,
        KeyStoreConfig::Azure(AzureKeyStore {
            endpoint: "https://a".into(),
            auth: AzureAuth::ClientSecret {
                tenant_id: "t".into(),
                client_id: "c".into(),
                client_secret: SecretText::new("s".into())
            },
        })
    );
    let c = load(&format!("{head}  azure:\n    keyvault:\n      endpoint: https://a\n      managed_identity:\n        client_id: m\n"), &no_env).unwrap().config;
    let KeyStoreConfig::Azure(a) = &c.keystore else {
        panic!()
    };
    assert_eq!(
        a.auth,
        AzureAuth::ManagedIdentity {
            client_id: "m".into()
        }
    );
    let c = load(
        &format!("{head}  azure:\n    keyvault:\n      endpoint: https://a\n"),
        &no_env,
    )
    .unwrap()
    .config;
    let KeyStoreConfig::Azure(a) = &c.keystore else {
        panic!()
    };
    assert_eq!(a.auth, AzureAuth::Default);
    let c = load(&format!("{head}  entrust:\n    keycontrol:\n      endpoint: https://e\n      vault_id: v\n      box_id: b\n      credentials:\n        username: u\n        password: p\n"), &no_env).unwrap().config;
    assert_eq!(c.keystore.kind(), "entrust");
    assert_eq!(c.keystore.section(), "keystore.entrust.keycontrol");
}

#[test]
fn seal_extension() {
    let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let with = |seal: &str| {
        BASE.replace(
            "path: /tmp/k\n",
            &format!("path: /tmp/k\n    seal:\n{seal}"),
        )
    };
    let c = load(&with("      key_file: /etc/kes/master.key\n"), &no_env)
        .unwrap()
        .config;
    let KeyStoreConfig::Fs(fs) = c.keystore else {
        panic!()
    };
    assert_eq!(
        fs.seal,
        Some(SealKeySource::File("/etc/kes/master.key".into()))
    );
    let loaded = load_with(&with("      key: ${SEAL}\n"), &[("SEAL", hex_key)]).unwrap();
    assert!(loaded.warnings.is_empty());
    let KeyStoreConfig::Fs(fs) = loaded.config.keystore else {
        panic!()
    };
    let Some(SealKeySource::Key(key)) = &fs.seal else {
        panic!()
    };
    assert_eq!(key.expose_secret()[..4], [0x00, 0x11, 0x22, 0x33]);
    assert_eq!(format!("{key:?}"), "SealKey([REDACTED])");
    // Written into the file: works, with a warning.
    let loaded = load(&with(&format!("      key: {hex_key}\n")), &no_env).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].field, "keystore.fs.seal.key");
    for (seal, field, msg) in [
        (
            "      key_file: /a\n      key: x\n",
            "keystore.fs.seal",
            "either key_file or key",
        ),
        ("      key: \"\"\n", "keystore.fs.seal", "no master key"),
        (
            "      key: 0011\n",
            "keystore.fs.seal.key",
            "invalid seal key",
        ),
    ] {
        let err = load(&with(seal), &no_env).unwrap_err();
        assert_eq!(err.config_field(), Some(field), "{seal}");
        assert!(err.to_string().contains(msg), "{err}");
        assert!(!err.to_string().contains("0011"), "never echo key material");
    }
}

#[test]
fn server_options_carry_the_config() {
    let yaml = format!(
        "{BASE}policy:\n  app:\n    allow: [/v1/key/generate/app*]\n    deny: [/v1/key/generate/app-x*]\n    identities: [{ID1}]\napi:\n  /v1/status:\n    timeout: 3s\n    skip_auth: true\nkeys:\n  - name: k1\nlog:\n  audit: off\ntls:\n  key: k\n  cert: c\n  proxy:\n    identities: [{ID2}]\n"
    )
    .replace("tls:\n  key: k.pem\n  cert: c.pem\n", "");
    let c = load(&yaml, &no_env).unwrap().config;
    let opts = c.server_options(Arc::new(kes_keystore::MemKeyStore::new()));
    assert_eq!(opts.admin, "disabled");
    assert_eq!(opts.policies.len(), 1);
    assert_eq!(opts.policies[0].allow, ["/v1/key/generate/app*"]);
    assert_eq!(opts.policies[0].identities, [ID1]);
    assert!(!opts.policies[0].legacy);
    assert_eq!(opts.api.len(), 1);
    assert_eq!(opts.api[0].path, "/v1/status");
    assert_eq!(opts.api[0].timeout, Some(Duration::from_secs(3)));
    assert!(opts.api[0].skip_auth);
    assert_eq!(opts.keys, ["k1"]);
    assert_eq!(opts.audit_level, Level::OFF);
    assert_eq!(opts.error_level, Level::INFO);
    let proxy = opts.proxy.unwrap();
    assert_eq!(proxy.identities, [ID2]);
    assert_eq!(proxy.cert_header, "X-Tls-Client-Cert");
    assert_eq!(opts.cache, c.cache);
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let yaml = "admin:\n  identity: disabled\ntls:\n  key: k\n  cert: c\n  password: hunter2\nkeystore:\n  aws:\n    secretsmanager:\n      endpoint: e\n      region: r\n      credentials:\n        accesskey: AK\n        secretkey: topsecretkey\n        token: sessiontok\n";
    let c = load(yaml, &no_env).unwrap().config;
    let dbg = format!("{c:?}");
    for s in ["hunter2", "topsecretkey", "sessiontok"] {
        assert!(!dbg.contains(s), "{s} leaked: {dbg}");
    }
    assert!(dbg.contains("AK"));
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// (yaml, field, message prefix)
fn expect_err(yaml: &str, field: Option<&str>, prefix: &str) {
    let err = load(yaml, &no_env).unwrap_err();
    assert_eq!(err.config_field(), field, "{yaml}\n=> {err}");
    assert!(
        err.to_string().starts_with(prefix),
        "{yaml}\n=> {err}\nwant prefix: {prefix}"
    );
}

#[test]
fn error_messages_name_the_field() {
    let ks = |block: &str| {
        format!("admin:\n  identity: disabled\ntls:\n  key: k\n  cert: c\nkeystore:\n{block}")
    };
    let is_admin_msg = format!("kesconf: invalid policy 'p': identity '{ADMIN}' is already admin");
    let two_policies_msg =
        format!("kes: cannot assign policy 'b' to '{ID1}': identity already has a policy");
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        // bad duration
        (
            format!("{BASE}cache:\n  expiry:\n    any: 5x\n"),
            Some("cache.expiry.any"),
            "kesconf: invalid duration: time: unknown unit \"x\" in duration \"5x\"",
        ),
        (
            format!("{BASE}cache:\n  expiry:\n    unused: 30\n"),
            Some("cache.expiry.unused"),
            "kesconf: invalid duration '30': a number without a unit",
        ),
        (
            format!("{BASE}cache:\n  expiry:\n    offline: 0\n"),
            Some("cache.expiry.offline"),
            "kesconf: invalid duration '0'",
        ),
        (
            format!("{BASE}cache:\n  expiry:\n    any: -5m\n"),
            Some("cache.expiry.any"),
            "kesconf: invalid cache expiry '-5m0s'",
        ),
        (
            format!("{BASE}cache:\n  expiry:\n    unused: -1s\n"),
            Some("cache.expiry.unused"),
            "kesconf: invalid cache unused expiry '-1s'",
        ),
        (
            format!("{BASE}cache:\n  expiry:\n    offline: -1ms\n"),
            Some("cache.expiry.offline"),
            "kesconf: invalid offline cache expiry '-1ms'",
        ),
        (
            format!("{BASE}api:\n  /v1/status:\n    timeout: -1s\n"),
            Some("api./v1/status.timeout"),
            "kesconf: invalid timeout '-1000000000' for API '/v1/status'",
        ),
        // unknown keystore, two keystores, none
        (
            ks("  vualt:\n    endpoint: x\n"),
            Some("keystore.vualt"),
            "kesconf: invalid keystore config: unknown keystore 'vualt'",
        ),
        (
            ks(
                "  fs:\n    path: /a\n  aws:\n    secretsmanager:\n      endpoint: e\n      region: r\n",
            ),
            Some("keystore.aws"),
            "kesconf: invalid keystore config: more than once keystore specified",
        ),
        (
            ks("  fs:\n    path: /a\n  vault:\n    endpoint: \"\"\n"),
            Some("keystore.vault"),
            "kesconf: invalid keystore config: more than once keystore specified",
        ),
        (
            ks("  kes:\n    endpoint: [a]\n"),
            Some("keystore"),
            "kesconf: no keystore specified",
        ),
        (
            ks("  generic:\n    endpoint: https://p\n"),
            Some("keystore.generic"),
            "kesconf: invalid keystore config: the generic",
        ),
        (
            "admin:\n  identity: disabled\ntls:\n  key: k\n  cert: c\n".to_owned(),
            Some("keystore"),
            "kesconf: no keystore specified",
        ),
        (
            ks("  aws:\n    other: 1\n"),
            Some("keystore"),
            "kesconf: no keystore specified",
        ),
        // bad address
        (
            format!("address: localhost:7373\n{BASE}"),
            Some("address"),
            "kesconf: invalid address 'localhost:7373': the host must be an IP address",
        ),
        (
            format!("address: 0.0.0.0\n{BASE}"),
            Some("address"),
            "kesconf: invalid address '0.0.0.0': missing port",
        ),
        (
            format!("address: \":99999\"\n{BASE}"),
            Some("address"),
            "kesconf: invalid address ':99999'",
        ),
        // version, admin, tls
        (
            format!("version: v2\n{BASE}"),
            Some("version"),
            "kesconf: invalid config version 'v2'",
        ),
        (
            BASE.replace("identity: disabled", "identity: \"\""),
            Some("admin.identity"),
            "kesconf: invalid admin identity: no admin identity",
        ),
        (
            BASE.replace("  key: k.pem\n", ""),
            Some("tls.key"),
            "kesconf: invalid tls config: no private key",
        ),
        (
            BASE.replace("  cert: c.pem\n", ""),
            Some("tls.cert"),
            "kesconf: invalid tls config: no certificate",
        ),
        (
            BASE.replace("cert: c.pem", "cert: c.pem\n  auth: maybe"),
            Some("tls.auth"),
            "kesconf: invalid tls config: invalid auth 'maybe'",
        ),
        (
            format!("root: {ID1}\n{}", BASE.replace("disabled", ADMIN)),
            Some("root"),
            "kesconf: invalid admin identity: 'root' (legacy) and 'admin.identity' differ",
        ),
        // proxies and policies
        (
            BASE.replace("disabled", ADMIN).replace(
                "cert: c.pem",
                &format!("cert: c.pem\n  proxy:\n    identities: [{ADMIN}]"),
            ),
            Some("tls.proxy.identities[0]"),
            "kesconf: invalid tls proxy: identity",
        ),
        (
            BASE.replace(
                "cert: c.pem",
                "cert: c.pem\n  proxy:\n    identities: [not/valid]",
            ),
            Some("tls.proxy.identities[0]"),
            "kes: identity 'not/valid' is empty, too long or contains invalid characters",
        ),
        (
            format!(
                "{}policy:\n  p:\n    identities: [{ADMIN}]\n",
                BASE.replace("disabled", ADMIN)
            ),
            Some("policy.p.identities[0]"),
            &is_admin_msg,
        ),
        (
            format!(
                "{}policy:\n  p:\n    identities: [{ID1}]\n",
                BASE.replace(
                    "cert: c.pem",
                    &format!("cert: c.pem\n  proxy:\n    identities: [{ID1}]")
                )
            ),
            Some("policy.p.identities[0]"),
            "kesconf: invalid policy 'p': identity",
        ),
        (
            format!(
                "{BASE}policy:\n  a:\n    identities: [{ID1}]\n  b:\n    identities: [{ID1}]\n"
            ),
            Some("policy.b.identities[0]"),
            &two_policies_msg,
        ),
        (
            format!("{BASE}policy:\n  my.app:\n    allow: [x]\n"),
            Some("policy.my.app"),
            "kes: policy name 'my.app' is empty, too long or contains invalid characters",
        ),
        (
            format!("{BASE}policy:\n  p:\n    paths: [a]\n    allow: [b]\n"),
            Some("policy.p.paths"),
            "kesconf: invalid policy 'p': both 'paths' (legacy) and 'allow' are set",
        ),
        // api
        (
            format!("{BASE}api:\n  /v1/key/decrypt/:\n    skip_auth: true\n"),
            Some("api./v1/key/decrypt/.skip_auth"),
            "kesconf: invalid api config: skip_auth is not allowed for '/v1/key/decrypt/'",
        ),
        (
            format!("{BASE}api:\n  /v1/status:\n    skip_auth: 1\n"),
            Some("api./v1/status.skip_auth"),
            "kesconf: invalid boolean '1'",
        ),
        // keys
        (
            format!("{BASE}keys:\n  - name: a\n  - name: a\n"),
            Some("keys[1].name"),
            "kesconf: invalid key config: key 'a' is defined multiple times",
        ),
        (
            format!("{BASE}keys:\n  - name:\n"),
            Some("keys[0].name"),
            "kesconf: invalid key config: empty key name",
        ),
        (
            format!("{BASE}log:\n  error: loud\n"),
            Some("log.error"),
            "strconv.Atoi: parsing \"LOUD\": invalid syntax",
        ),
        (
            format!("{BASE}log:\n  audit: INFO+x\n"),
            Some("log.audit"),
            "kesconf: invalid log level suffix 'X'",
        ),
        // keystores
        (
            ks("  fs:\n    path: \"\"\n"),
            Some("keystore.fs.path"),
            "kesconf: invalid fs keystore: no path specified",
        ),
        (
            ks("  fs: {}\n"),
            Some("keystore.fs.path"),
            "kesconf: invalid fs keystore: no path specified",
        ),
        (
            ks("  vault:\n    approle:\n      id: a\n"),
            Some("keystore.vault.endpoint"),
            "kesconf: invalid vault keystore: no endpoint specified",
        ),
        (
            ks("  vault:\n    endpoint: e\n"),
            Some("keystore.vault"),
            "kesconf: invalid vault keystore: no authentication method specified",
        ),
        (
            ks(
                "  vault:\n    endpoint: e\n    approle: {id: a, secret: b}\n    kubernetes: {jwt: j}\n",
            ),
            Some("keystore.vault"),
            "kesconf: invalid vault keystore: more than one authentication method specified",
        ),
        (
            ks("  vault:\n    endpoint: e\n    approle: {secret: b}\n"),
            Some("keystore.vault.approle.id"),
            "kesconf: invalid vault keystore: invalid approle config: no approle ID specified",
        ),
        (
            ks("  vault:\n    endpoint: e\n    approle: {id: a}\n"),
            Some("keystore.vault.approle.secret"),
            "kesconf: invalid vault keystore: invalid approle config: no approle secret specified",
        ),
        (
            ks("  vault:\n    endpoint: e\n    kubernetes: {role: r}\n"),
            Some("keystore.vault.kubernetes.jwt"),
            "kesconf: invalid vault keystore: invalid kubernetes config: no JWT specified",
        ),
        (
            ks(
                "  vault:\n    endpoint: e\n    approle: {id: a, secret: b}\n    transit: {engine: t}\n",
            ),
            Some("keystore.vault.transit.key"),
            "kesconf: invalid vault keystore: invalid transit config: no key name specified",
        ),
        (
            ks("  vault:\n    endpoint: e\n    approle: {id: a, secret: b}\n    tls: {key: k}\n"),
            Some("keystore.vault.tls.cert"),
            "kesconf: invalid vault keystore: invalid tls config: no TLS certificate provided",
        ),
        (
            ks("  vault:\n    endpoint: e\n    approle: {id: a, secret: b}\n    tls: {cert: c}\n"),
            Some("keystore.vault.tls.key"),
            "kesconf: invalid vault keystore: invalid tls config: no TLS private key provided",
        ),
        (
            ks("  vault:\n    endpoint: e\n    version: v3\n    approle: {id: a, secret: b}\n"),
            Some("keystore.vault.version"),
            "kesconf: invalid vault keystore: invalid K/V engine version 'v3'",
        ),
        (
            ks(
                "  vault:\n    endpoint: e\n    approle: {id: a, secret: b}\n    status: {ping: -1s}\n",
            ),
            Some("keystore.vault.status.ping"),
            "kesconf: invalid vault keystore: invalid status ping '-1s'",
        ),
        (
            ks("  fortanix:\n    sdkms:\n      credentials: {key: k}\n"),
            Some("keystore.fortanix.sdkms.endpoint"),
            "kesconf: invalid fortanix SDKMS keystore: no endpoint specified",
        ),
        (
            ks("  fortanix:\n    sdkms:\n      endpoint: e\n"),
            Some("keystore.fortanix.sdkms.credentials.key"),
            "kesconf: invalid fortanix SDKMS keystore: no API key specified",
        ),
        (
            ks("  gemalto:\n    keysecure:\n      credentials: {token: t}\n"),
            Some("keystore.gemalto.keysecure.endpoint"),
            "kesconf: invalid gemalto keysecure keystore: no endpoint specified",
        ),
        (
            ks("  gemalto:\n    keysecure:\n      endpoint: e\n"),
            Some("keystore.gemalto.keysecure.credentials.token"),
            "kesconf: invalid gemalto keysecure keystore: no token specified",
        ),
        (
            ks("  gcp:\n    secretmanager:\n      endpoint: e\n"),
            Some("keystore.gcp.secretmanager.project_id"),
            "kesconf: invalid GCP secretmanager keystore: no project ID specified",
        ),
        (
            ks("  aws:\n    secretsmanager:\n      region: r\n"),
            Some("keystore.aws.secretsmanager.endpoint"),
            "kesconf: invalid AWS secretsmanager keystore: no endpoint specified",
        ),
        (
            ks("  aws:\n    secretsmanager:\n      endpoint: e\n"),
            Some("keystore.aws.secretsmanager.region"),
            "kesconf: invalid AWS secretsmanager keystore: no region specified",
        ),
        (
            ks("  azure:\n    keyvault:\n      credentials: {}\n"),
            Some("keystore.azure.keyvault.endpoint"),
            "kesconf: invalid Azure keyvault keystore: no endpoint specified",
        ),
        (
            ks(
                "  azure:\n    keyvault:\n      endpoint: e\n      credentials: {}\n      managed_identity: {}\n",
            ),
            Some("keystore.azure.keyvault"),
            "kesconf: invalid Azure keyvault keystore: more than one authentication method specified",
        ),
        (
            ks(
                "  azure:\n    keyvault:\n      endpoint: e\n      credentials: {client_id: c, client_secret: s}\n",
            ),
            Some("keystore.azure.keyvault.credentials.tenant_id"),
            "kesconf: invalid Azure keyvault keystore: no tenant ID specified",
        ),
        (
            ks(
                "  azure:\n    keyvault:\n      endpoint: e\n      credentials: {tenant_id: t, client_secret: s}\n",
            ),
            Some("keystore.azure.keyvault.credentials.client_id"),
            "kesconf: invalid Azure keyvault keystore: no client ID specified",
        ),
        (
            ks(
                "  azure:\n    keyvault:\n      endpoint: e\n      credentials: {tenant_id: t, client_id: c}\n",
            ),
            Some("keystore.azure.keyvault.credentials.client_secret"),
            "kesconf: invalid Azure keyvault keystore: no client secret specified",
        ),
        (
            ks("  azure:\n    keyvault:\n      endpoint: e\n      managed_identity: {}\n"),
            Some("keystore.azure.keyvault.managed_identity.client_id"),
            "kesconf: invalid Azure keyvault keystore: no client ID specified",
        ),
        (
            ks("  entrust:\n    keycontrol:\n      vault_id: v\n"),
            Some("keystore.entrust.keycontrol.endpoint"),
            "kesconf: invalid Entrust KeyControl keystore: no endpoint specified",
        ),
        (
            ks("  entrust:\n    keycontrol:\n      endpoint: e\n"),
            Some("keystore.entrust.keycontrol.vault_id"),
            "kesconf: invalid Entrust KeyControl keystore: no vault ID specified",
        ),
        (
            ks("  entrust:\n    keycontrol:\n      endpoint: e\n      vault_id: v\n"),
            Some("keystore.entrust.keycontrol.box_id"),
            "kesconf: invalid Entrust KeyControl keystore: no box ID specified",
        ),
        (
            ks(
                "  entrust:\n    keycontrol:\n      endpoint: e\n      vault_id: v\n      box_id: b\n",
            ),
            Some("keystore.entrust.keycontrol.credentials.username"),
            "kesconf: invalid Entrust KeyControl keystore: no username specified",
        ),
        (
            ks(
                "  entrust:\n    keycontrol:\n      endpoint: e\n      vault_id: v\n      box_id: b\n      credentials: {username: u}\n",
            ),
            Some("keystore.entrust.keycontrol.credentials.password"),
            "kesconf: invalid Entrust KeyControl keystore: no password specified",
        ),
        // legacy and current together
        (
            format!("{BASE}keys:\n  fs:\n    path: /b\n"),
            Some("keys"),
            "kesconf: invalid keystore config: more than once keystore specified",
        ),
    ];
    for (yaml, field, prefix) in cases {
        expect_err(&yaml, field, prefix);
    }
}

#[test]
fn yaml_errors_name_field_and_line() {
    for (yaml, contains) in [
        ("admin: [", "kesconf: "),
        ("", "the file is empty"),
        ("just text", "expected a mapping"),
        (
            "admin:\n  identity: [a, b]\n",
            "admin.identity: invalid type: sequence",
        ),
        ("keys: 5\n", "keys: invalid type"),
        (
            "policy:\n  p:\n    allow: /v1/x\n",
            "invalid type: string \"/v1/x\", expected a sequence",
        ),
        ("tls:\n  key: a\n  key: b\n", "duplicate field `key`"),
        (
            "policy:\n  p: {}\n  p: {}\n",
            "duplicate entry with key 'p'",
        ),
        ("cache:\n  expiry:\n    any: [1]\n", "line 3"),
        ("a: 1\n---\nb: 2\n", "more than one document"),
    ] {
        let err = load(yaml, &no_env).unwrap_err();
        assert!(matches!(err, Error::ConfigSyntax(_)), "{yaml}: {err:?}");
        assert!(err.to_string().contains(contains), "{yaml}: {err}");
        assert_eq!(err.config_field(), None);
    }
}

#[test]
fn ignored_fields_warn() {
    let yaml =
        format!("{BASE}api:\n  /v1/foo:\n    timeout: 1s\n  /v1/key/list:\n    timeout: 1s\n")
            .replace(
                "identity: disabled",
                &format!("identity: {}", ADMIN.to_uppercase()),
            );
    let loaded = load(&yaml, &no_env).unwrap();
    let fields: Vec<&str> = loaded.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(
        fields,
        ["admin.identity", "api./v1/foo", "api./v1/key/list"]
    );
    assert!(loaded.config.api.is_empty());
    assert!(loaded.config.admin_disabled());
    let loaded = load(
        &BASE.replace("keystore:\n", "keystore:\n  kes:\n    endpoint: [x]\n"),
        &no_env,
    )
    .unwrap();
    assert_eq!(loaded.warnings[0].field, "keystore.kes");
    assert!(
        loaded.warnings[0]
            .to_string()
            .starts_with("keystore.kes: ignored")
    );
}

#[test]
fn legacy_keystore_selection() {
    // v0.14-style file: the first configured backend wins, others are reported.
    let yaml = format!(
        "root: {ADMIN}\ntls:\n  key: k\n  cert: c\nkeystore:\n  fs:\n    path: \"\"\n  vault:\n    endpoint: https://v\n    approle:\n      id: a\n      secret: s\n      retry: 15s\n  aws:\n    secretsmanager:\n      endpoint: e\n      region: r\n"
    );
    let loaded = load(&yaml, &no_env).unwrap();
    assert_eq!(loaded.config.keystore.kind(), "vault");
    let fields: Vec<&str> = loaded.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(
        fields,
        ["root", "keystore.aws", "keystore.vault.approle.retry"]
    );
    // The same blocks in a current-layout file are an error.
    let current = yaml.replace(
        &format!("root: {ADMIN}"),
        &format!("admin:\n  identity: {ADMIN}"),
    );
    expect_err(
        &current,
        Some("keystore.fs.path"),
        "kesconf: invalid fs keystore: no path specified",
    );
}

// ---------------------------------------------------------------------------
// No panics
// ---------------------------------------------------------------------------

fn env_all(name: &str) -> Option<String> {
    (name.len() % 2 == 0).then(|| format!("v{name}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn yamlish_input_never_panics(text in "[a-z_:/\\-\\[\\]{}\"' \n#&*!|>~0-9.${}%@`,?]{0,200}") {
        let _ = load(&text, &env_all);
    }

    #[test]
    fn structured_yamlish_input_never_panics(
        lines in proptest::collection::vec(
            (0usize..4, prop::sample::select(vec![
                "admin", "identity", "tls", "key", "cert", "auth", "proxy", "identities", "keystore",
                "fs", "path", "vault", "endpoint", "approle", "kubernetes", "jwt", "cache", "expiry",
                "any", "unused", "offline", "api", "/v1/status", "skip_auth", "timeout", "policy",
                "allow", "deny", "paths", "root", "keys", "name", "seal", "log", "error", "aws",
                "secretsmanager", "region", "version", "-", "- name",
            ]),
            prop::sample::select(vec![
                "", " x", " ${X}", " ${XY}", " 5m", " -1s", " 0", " true", " yes", " [a, b]",
                " {}", " ~", " \"\"", " /tmp/k", " disabled", " v1", " 1e3", " &a", " *a", " !!int 3",
            ])),
            0..24,
        )
    ) {
        let text: String = lines
            .iter()
            .map(|(indent, key, value)| format!("{}{}:{}\n", "  ".repeat(*indent), key, value))
            .collect();
        let _ = load(&text, &env_all);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let files = [
            "config/current/fs.yml",
            "config/current/vault-k8s.yml",
            "config/current/custom-api.yml",
            "config/legacy/config_v0.13.0.yml",
            "config/current/server-config.example.yaml",
        ];
        let mut bytes = read(files[which]).into_bytes();
        for (idx, b) in edits {
            let i = idx.index(bytes.len());
            bytes[i] = b;
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = load(&text, &env_all);
    }
}
