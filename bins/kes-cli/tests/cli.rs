//! The real `kes-cli` binary against a real `kes-server` on loopback: every command, human
//! and `--json` output on pipes, environment precedence, bad flags, missing credentials,
//! unreachable servers, policy denials, and the vectors for `identity of` and `key import` +
//! `key decrypt`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../crates/kes-client/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, Server};
use serde_json::Value;

/// The outcome of one `kes-cli` run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs `kes-cli` with exactly the given environment (plus PATH), stdin and stdout piped.
fn kes(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kes-cli"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run kes-cli");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The environment of an admin: server, API key, and the test CA as the trusted roots.
struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(server: &Server, fx: &Fixture, key: &kes_policy::ApiKey) -> Self {
        Env {
            vars: vec![
                ("KES_SERVER".into(), server.endpoint.clone()),
                ("KES_API_KEY".into(), key.expose_secret().to_string()),
                ("SSL_CERT_FILE".into(), fx.pki.ca_cert.display().to_string()),
            ],
        }
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn run(&self, args: &[&str]) -> Run {
        kes(args, &self.pairs())
    }
}

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn vectors(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(data(name)).unwrap()).unwrap()
}

#[test]
fn key_commands_human_and_json() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));
    let env = Env::new(&server, &fx, &fx.admin);

    env.run(&["key", "create", "my-key", "other-key"]).ok();
    let r = env.run(&["key", "create", "my-key"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "Error: failed to create key \"my-key\": key already exists\n"
    );
    assert!(r.stdout.is_empty());

    // info
    let r = env.run(&["key", "info", "my-key"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Name        my-key");
    assert!(lines[1].starts_with("Algorithm   "), "{lines:?}");
    assert!(lines[2].starts_with("Date        20"), "{lines:?}");
    assert_eq!(lines[3], format!("Owner       {}", fx.admin.identity()));
    let info = env.run(&["key", "info", "my-key", "--json"]).ok().json();
    assert_eq!(info["name"], "my-key");
    assert_eq!(info["created_by"], fx.admin.identity().as_str());
    let r = env.run(&["key", "info", "nope"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (1, "Error: failed to describe keys: key does not exist\n")
    );

    // ls: table (pipes get no colors) and JSON (once, no table after it)
    let r = env.run(&["key", "ls"]).ok();
    assert_eq!(r.stdout, "Key\nmy-key\nother-key\n");
    let r = env.run(&["key", "ls", "my*", "--json"]).ok();
    assert_eq!(r.stdout, "[\"my-key\"]\n");
    let r = env.run(&["ls", "--json"]).ok();
    assert_eq!(r.stdout, "[\"my-key\",\"other-key\"]\n");
    let r = env.run(&["ls"]).ok();
    assert_eq!(r.stdout, "Key\nmy-key\nother-key\n");
    // --color always underlines the header even on a pipe
    let r = env.run(&["key", "ls", "--color", "always"]).ok();
    assert!(r.stdout.starts_with("\x1b[4mKey\x1b[0m\n"), "{r:?}");

    // dek -> decrypt (pipe output is KES's compact JSON, no newline)
    let ctx = "YnVja2V0L29iamVjdA=="; // "bucket/object"
    let dek = env.run(&["key", "dek", "my-key", ctx]).ok();
    assert!(!dek.stdout.ends_with('\n'));
    assert!(dek.stdout.starts_with("{\"plaintext\":\""), "{dek:?}");
    let dek = dek.json();
    let plaintext = dek["plaintext"].as_str().unwrap();
    let ciphertext = dek["ciphertext"].as_str().unwrap();
    let r = env.run(&["key", "decrypt", "my-key", ciphertext, ctx]).ok();
    assert_eq!(r.stdout, format!("{{\"plaintext\":\"{plaintext}\"}}"));
    let r = env.run(&["key", "decrypt", "my-key", ciphertext]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "Error: failed to decrypt ciphertext: decryption failed: ciphertext is not authentic\n"
        )
    );
    let r = env.run(&["key", "decrypt", "my-key", "not base64!"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("Error: invalid ciphertext: "), "{r:?}");

    // encrypt -> decrypt
    let ct = env
        .run(&["key", "encrypt", "my-key", "Hello World"])
        .ok()
        .json();
    let ct = ct["ciphertext"].as_str().unwrap();
    let pt = env.run(&["key", "decrypt", "my-key", ct]).ok().json();
    assert_eq!(pt["plaintext"], "SGVsbG8gV29ybGQ=");

    // hmac: deterministic per key
    let a = env.run(&["key", "hmac", "my-key", "msg"]).ok().json();
    let b = env.run(&["key", "hmac", "my-key", "msg"]).ok().json();
    assert_eq!(a, b);
    assert_eq!(a["hmac"].as_str().unwrap().len(), 44);

    // rm
    env.run(&["key", "rm", "other-key"]).ok();
    let r = env.run(&["key", "rm", "other-key"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "Error: failed to remove key \"other-key\": key does not exist\n"
        )
    );
    assert_eq!(env.run(&["ls", "--json"]).ok().stdout, "[\"my-key\"]\n");
}

#[test]
fn import_and_decrypt_vectors() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));
    let env = Env::new(&server, &fx, &fx.admin);
    let v = vectors("secret_key_decrypt.json");
    let mut checked = 0;
    for vector in v["vectors"].as_array().unwrap() {
        // `key import` imports AES256 keys (as `kes key import` does).
        if vector["key_type"] != "AES256" {
            continue;
        }
        let name = format!("vector-{}", vector["index"]);
        env.run(&["key", "import", &name, vector["key_b64"].as_str().unwrap()])
            .ok();
        let mut args = vec![
            "key",
            "decrypt",
            name.as_str(),
            vector["ciphertext_b64"].as_str().unwrap(),
        ];
        let ad = vector["associated_data_b64"].as_str().unwrap();
        if !ad.is_empty() {
            args.push(ad);
        }
        let r = env.run(&args);
        if vector["should_fail"].as_bool().unwrap() {
            assert_eq!(r.code, 1, "{vector}: {r:?}");
            assert!(
                r.stderr
                    .contains("decryption failed: ciphertext is not authentic"),
                "{r:?}"
            );
        } else {
            let out = r.ok().json();
            assert_eq!(out["plaintext"], vector["plaintext_b64"], "{vector}");
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} AES256 vectors");

    let r = env.run(&["key", "import", "bad", "!!"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("Error: invalid key: "), "{r:?}");
    let r = env.run(&["key", "import", "short", "AAAA"]);
    assert_eq!(
        r.stderr,
        "Error: failed to import \"short\": invalid key size for 'AES256'\n"
    );
}

#[test]
fn identity_of_agrees_with_the_vectors() {
    let v = vectors("api_keys.json");
    for vector in v["identity_vectors"].as_array().unwrap() {
        let key = vector["api_key"].as_str().unwrap();
        let r = kes(&["identity", "of", key], &[]).ok();
        assert_eq!(r.stdout, vector["expected_identity"].as_str().unwrap());
        let r = kes(&["identity", key], &[]).ok();
        assert_eq!(r.stdout, vector["expected_identity"].as_str().unwrap());
        let r = kes(&["identity", "of", key, "--json"], &[]).ok().json();
        assert_eq!(r["identity"], vector["expected_identity"]);
    }
    let v = vectors("certificate_identity.json");
    for vector in v["vectors"].as_array().unwrap() {
        let file = data(vector["file"].as_str().unwrap());
        let r = kes(&["identity", "of", file.to_str().unwrap()], &[]).ok();
        assert_eq!(r.stdout, vector["expected_identity"].as_str().unwrap());
    }
    // A PEM private key (Ed25519) gives the equivalent API key.
    let r = kes(&["identity", data("certs/root.key").to_str().unwrap()], &[]).ok();
    assert_eq!(
        r.stdout,
        "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc"
    );
    let r = kes(
        &[
            "identity",
            "of",
            "kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW",
        ],
        &[],
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "Error: kes: invalid API key: unsupported type\n");
}

#[test]
fn identity_new_and_bare_identity() {
    // No arguments on a pipe: only the API key.
    let r = kes(&["identity"], &[]).ok();
    let key: kes_policy::ApiKey = r.stdout.parse().unwrap();
    let r = kes(&["identity", "--json"], &[]).ok().json();
    let key2: kes_policy::ApiKey = r["api_key"].as_str().unwrap().parse().unwrap();
    assert_eq!(r["identity"], key2.identity().as_str());
    assert_ne!(key, key2);

    let dir = tempfile::tempdir().unwrap();
    let (k, c) = (dir.path().join("c.key"), dir.path().join("c.crt"));
    let (ks, cs) = (k.to_str().unwrap(), c.to_str().unwrap());
    let r = kes(
        &[
            "identity",
            "new",
            "--key",
            ks,
            "--cert",
            cs,
            "--ip",
            "127.0.0.1",
            "--dns",
            "app.local",
            "my-app",
        ],
        &[],
    )
    .ok();
    assert!(r.stdout.contains("Your API key:"), "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("The generated TLS certificate is stored at: {cs}"))
    );
    let cert = &kes_policy::read_certificates(&c).unwrap()[0];
    assert_eq!(cert.common_name().as_deref(), Some("my-app"));
    assert_eq!(cert.dns_names(), ["app.local"]);
    let key = kes_policy::read_private_key(&k, b"").unwrap();
    assert_eq!(key.identity().unwrap(), cert.identity());
    let of = kes(&["identity", "of", cs], &[]).ok();
    assert_eq!(of.stdout, cert.identity().as_str());
    // Existing files are kept without -f.
    let r = kes(&["identity", "new", "--key", ks, "--cert", cs], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{r:?}");
    kes(&["identity", "new", "--key", ks, "--cert", cs, "-f"], &[]).ok();
    // Certificate options without files are errors.
    let r = kes(&["identity", "new", "--ip", "127.0.0.1"], &[]);
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn policy_identity_status_metric_log() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));
    let env = Env::new(&server, &fx, &fx.admin);

    // policy
    assert_eq!(env.run(&["policy", "ls"]).ok().stdout, "Policy\napp\n");
    assert_eq!(env.run(&["ls", "-p", "--json"]).ok().stdout, "[\"app\"]\n");
    let info = env.run(&["policy", "info", "app", "--json"]).ok().json();
    assert_eq!(info["name"], "app");
    let r = env.run(&["policy", "info", "app"]).ok();
    assert!(
        r.stdout.starts_with("Name        app\nDate        "),
        "{r:?}"
    );
    let show = env.run(&["policy", "show", "app"]).ok().json();
    assert!(
        show["allow"]["/v1/key/generate/app-*"].is_object(),
        "{show}"
    );
    assert!(
        show["deny"]["/v1/key/decrypt/app-secret*"].is_object(),
        "{show}"
    );
    let r = env.run(&["policy", "show", "nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.ends_with("policy does not exist\n"), "{r:?}");

    // identity info / ls
    let me = env.run(&["identity", "info", "--json"]).ok().json();
    assert_eq!(me["identity"], fx.admin.identity().as_str());
    assert_eq!(me["admin"], true);
    let r = env.run(&["identity", "info"]).ok();
    assert!(r.stdout.contains("Admin"), "{r:?}");
    let app = fx.app.identity();
    let r = env.run(&["identity", "info", app.as_str()]).ok();
    assert!(r.stdout.contains("Policy      app"), "{r:?}");
    let ids = env.run(&["identity", "ls", "--json"]).ok().json();
    assert!(ids.as_array().unwrap().contains(&Value::from(app.as_str())));
    let r = env.run(&["ls", "-i"]).ok();
    assert!(r.stdout.starts_with("Identity\n"), "{r:?}");

    // status: JSON on a pipe (the SDK's State shape)
    let st = env.run(&["status"]).ok().json();
    assert!(st["num_cpu"].as_u64().unwrap() >= 1, "{st}");
    assert!(st["uptime"].is_number());
    let apis = env.run(&["status", "--api", "--json"]).ok().json();
    assert!(
        apis.as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "/v1/key/create/"),
        "{apis}"
    );

    // metric --json: one snapshot
    let m = env.run(&["metric", "--json"]).ok().json();
    assert!(m["kes_http_request_success"].as_u64().unwrap() > 0, "{m}");
    // without a terminal: one human snapshot
    let r = env.run(&["metric"]).ok();
    assert!(r.stdout.contains("Requests"), "{r:?}");

    // log --audit --json: stream, cause a request, read one event
    let mut child = Command::new(env!("CARGO_BIN_EXE_kes-cli"))
        .args(["log", "--audit", "--json"])
        .env_clear()
        .envs(env.pairs())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        env.run(&["key", "ls"]).ok();
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = reader.join().unwrap();
    let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert!(
        event["request"]["path"]
            .as_str()
            .unwrap()
            .starts_with("/v1/"),
        "{event}"
    );

    let r = env.run(&["log", "--audit", "--error"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("Error: "), "{r:?}");
}

#[test]
fn environment_precedence_and_credentials() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));
    let key = fx.admin.expose_secret().to_string();
    let ca = fx.pki.ca_cert.display().to_string();
    let dead = format!("127.0.0.1:{}", common::free_port());
    let good = server.endpoint.as_str();

    // MINIO_KES_SERVER wins over KES_SERVER, which wins over MINIO_KMS_KES_ENDPOINT.
    let base = [
        ("KES_API_KEY", key.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
    ];
    fn with<'a>(
        base: &[(&'a str, &'a str)],
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        all
    }
    kes(
        &["ls"],
        &with(&base, &[("MINIO_KES_SERVER", good), ("KES_SERVER", &dead)]),
    )
    .ok();
    assert_eq!(
        kes(
            &["ls"],
            &with(&base, &[("MINIO_KES_SERVER", &dead), ("KES_SERVER", good)])
        )
        .code,
        1
    );
    kes(
        &["ls"],
        &with(
            &base,
            &[("KES_SERVER", good), ("MINIO_KMS_KES_ENDPOINT", &dead)],
        ),
    )
    .ok();
    kes(&["ls"], &with(&base, &[("MINIO_KMS_KES_ENDPOINT", good)])).ok();
    // `ls -s` wins over the environment; http:// is replaced by https://.
    kes(
        &["ls", "-s", &format!("http://{good}")],
        &with(&base, &[("MINIO_KES_SERVER", &dead)]),
    )
    .ok();
    // Comma-separated endpoints: a dead one does not fail the command.
    kes(
        &["ls"],
        &with(&base, &[("KES_SERVER", &format!("{dead},{good}"))]),
    )
    .ok();

    // API key precedence: MINIO_KES_API_KEY > KES_API_KEY > MINIO_KMS_KES_API_KEY; -a wins.
    let app = fx.app.expose_secret().to_string();
    let env = [
        ("KES_SERVER", good),
        ("SSL_CERT_FILE", ca.as_str()),
        ("MINIO_KES_API_KEY", app.as_str()),
        ("KES_API_KEY", key.as_str()),
    ];
    assert_eq!(kes(&["ls"], &env).code, 1, "the app key may not list");
    kes(&["ls", "-a", &key], &env).ok();

    // Missing or conflicting credentials: the exact messages.
    let server_only = [("KES_SERVER", good)];
    for (extra, message) in [
        (
            vec![],
            "no API key specified. Consider setting MINIO_KES_API_KEY",
        ),
        (
            vec![("KES_CLIENT_KEY", "k.pem")],
            "no certificate file specified. Consider setting MINIO_KES_CERT_FILE",
        ),
        (
            vec![("MINIO_KES_CERT_FILE", "c.pem")],
            "no private key file specified. Consider setting MINIO_KES_KEY_FILE",
        ),
        (
            vec![
                ("KES_API_KEY", key.as_str()),
                ("MINIO_KES_KEY_FILE", "k.pem"),
            ],
            "API key and private key file cannot be used at the same time",
        ),
        (
            vec![("KES_API_KEY", key.as_str()), ("KES_CLIENT_CERT", "c.pem")],
            "API key and certificate file cannot be used at the same time",
        ),
    ] {
        let mut all: Vec<(&str, &str)> = server_only.to_vec();
        all.extend(extra);
        let r = kes(&["key", "ls"], &all);
        assert_eq!(
            (r.code, r.stderr.clone()),
            (1, format!("Error: {message}\n"))
        );
    }

    // Certificate + key files (the CA-signed client certificate is unknown: 403).
    let files = [
        ("KES_SERVER", good),
        ("SSL_CERT_FILE", ca.as_str()),
        ("KES_CLIENT_CERT", fx.pki.client_cert.to_str().unwrap()),
        ("KES_CLIENT_KEY", fx.pki.client_key.to_str().unwrap()),
    ];
    let r = kes(&["key", "ls"], &files);
    assert_eq!(
        r.stderr,
        "Error: failed to list keys: not authorized: insufficient permissions\n"
    );

    // Without the CA the server is not trusted, unless -k.
    let untrusted = [("KES_SERVER", good), ("KES_API_KEY", key.as_str())];
    let r = kes(&["key", "ls"], &untrusted);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("kes: connection error: "), "{r:?}");
    kes(&["key", "ls", "-k"], &untrusted).ok();
    kes(&["key", "ls", "--insecure"], &untrusted).ok();
}

#[test]
fn unreachable_server_and_policy_denied() {
    let fx = Fixture::new();
    let server = Server::start(&fx, &fx.keys_dir("keys"));
    let dead = format!("127.0.0.1:{}", common::free_port());
    let key = fx.admin.expose_secret().to_string();
    let start = Instant::now();
    let r = kes(
        &["key", "create", "k", "-k"],
        &[("KES_SERVER", &dead), ("KES_API_KEY", &key)],
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("Error: failed to create key \"k\": kes: connection error: "),
        "{r:?}"
    );

    let app = Env::new(&server, &fx, &fx.app);
    let r = app.run(&["key", "create", "app-x"]);
    assert_eq!(
        r.stderr,
        "Error: failed to create key \"app-x\": not authorized: insufficient permissions\n"
    );
    let admin = Env::new(&server, &fx, &fx.admin);
    admin.run(&["key", "create", "app-x"]).ok();
    // allowed for the app
    app.run(&["key", "dek", "app-x"]).ok();
}

#[test]
fn usage_errors_and_exit_codes() {
    // No command, --help: usage on stderr, exit 2.
    let r = kes(&[], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Usage:"), "{r:?}");
    assert_eq!(kes(&["--help"], &[]).code, 2);
    assert_eq!(kes(&["key"], &[]).code, 2);
    assert_eq!(kes(&["key", "ls", "-h"], &[]).code, 2);
    // Unknown command, unknown flags, wrong argument counts: Error: ..., exit 1.
    let r = kes(&["frobnicate"], &[]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "Error: \"frobnicate\" is not a kes-cli command. See 'kes-cli --help'\n"
        )
    );
    let r = kes(&["key", "ls", "--bogus"], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("Error: unexpected argument '--bogus'"),
        "{r:?}"
    );
    let r = kes(&["key", "create"], &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("Error: "), "{r:?}");
    let r = kes(&["key", "info", "a", "b"], &[]);
    assert_eq!(r.code, 1, "{r:?}");
    let r = kes(&["ls", "-i", "-p"], &[]);
    assert_eq!(r.code, 1, "{r:?}");
    let r = kes(&["key", "ls", "--color", "sometimes"], &[]);
    assert_eq!(r.code, 1, "{r:?}");
    // Never a panic or a debug dump.
    let r = kes(&["key", "ls"], &[("KES_API_KEY", "kes:v1:bogus")]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "Error: kes: invalid API key: invalid base64 encoding\n"
    );
    // -v / --version
    let r = kes(&["-v"], &[]).ok();
    assert!(r.stdout.starts_with("Version "), "{r:?}");
    // completions and the man page
    for shell in ["bash", "zsh", "fish"] {
        let r = kes(&["completion", shell], &[]).ok();
        assert!(r.stdout.contains("kes-cli"), "{shell}");
        assert!(r.stdout.contains("migrate"), "{shell}");
    }
    let r = kes(&["man"], &[]).ok();
    assert!(
        r.stdout.contains(".TH kes-cli"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
}
