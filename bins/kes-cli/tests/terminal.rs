//! Terminal versus pipe output of the real `kes-cli` binary (spec §12.2).
//!
//! On a terminal `identity of`, bare `identity`, `key encrypt`, `key decrypt` and `key dek`
//! print human forms; on a pipe they print the bare value or compact JSON. The terminal runs
//! go through a real pseudo-terminal made by util-linux `script`
//! (`script -qec "<command>" /dev/null`); the crypto commands talk to one real
//! `kes-server --dev` on loopback, started once for this file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../crates/kes-client/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_policy::ApiKey;

/// util-linux `script`, which runs a command under a fresh pseudo-terminal.
const SCRIPT: &str = "/usr/bin/script";

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
        assert!(self.stderr.is_empty(), "{self:#?}");
        self
    }
}

/// Quotes one argument for `sh -c`.
fn sh_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// The environment both kinds of run get: nothing but PATH, NO_COLOR (plain labels) and
/// the given pairs.
fn base_command(program: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// Runs `kes-cli` with stdout on a pipe.
fn pipe(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = base_command(env!("CARGO_BIN_EXE_kes-cli"), env)
        .args(args)
        .output()
        .expect("run kes-cli");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `kes-cli` with stdout (and stderr) on a pseudo-terminal made by `script`; `\r` is
/// removed from the captured terminal output.
fn tty(args: &[&str], env: &[(&str, &str)]) -> Run {
    assert!(
        Path::new(SCRIPT).exists(),
        "{SCRIPT} (util-linux `script`) is required to run kes-cli under a pseudo-terminal; \
         install util-linux (Debian: `apt-get install bsdutils`)"
    );
    let mut line = sh_quote(env!("CARGO_BIN_EXE_kes-cli"));
    for arg in args {
        line.push(' ');
        line.push_str(&sh_quote(arg));
    }
    let out = base_command(SCRIPT, env)
        .env("SHELL", "/bin/sh")
        .env("TERM", "dumb")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .unwrap_or_else(|e| panic!("failed to run {SCRIPT}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).replace('\r', ""),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `kes-server --dev` on loopback, stopped (SIGTERM, then SIGKILL) on drop.
struct DevServer {
    child: Child,
    _dir: tempfile::TempDir,
    endpoint: String,
    api_key: String,
}

impl DevServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let log: PathBuf = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(common::server_binary())
            .args(["--dev", "--addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start kes-server --dev");
        let deadline = Instant::now() + Duration::from_secs(30);
        let api_key = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("API Key"))
                .map(|v| v.trim().to_owned());
            let listening =
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && key.is_some();
            if listening {
                break key.unwrap();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("kes-server --dev exited with {status}:\n{text}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kes-server --dev not ready on port {port} within 30 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(api_key.starts_with("kes:v1:"), "banner API key {api_key:?}");
        DevServer {
            child,
            _dir: dir,
            endpoint: format!("127.0.0.1:{port}"),
            api_key,
        }
    }

    /// The client environment for this server (`-k` is passed per command: the dev
    /// certificate is self-signed).
    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("KES_SERVER", self.endpoint.as_str()),
            ("KES_API_KEY", self.api_key.as_str()),
        ]
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        kes_testpeers::stop(&mut self.child, Duration::from_secs(5));
    }
}

/// The value after `prefix` and before `suffix`, or a failure showing the whole run.
#[track_caller]
fn between<'a>(run: &'a Run, prefix: &str, suffix: &str) -> &'a str {
    run.stdout
        .strip_prefix(prefix)
        .and_then(|s| s.strip_suffix(suffix))
        .unwrap_or_else(|| panic!("expected {prefix:?}<value>{suffix:?}: {run:#?}"))
}

/// `text` without ANSI SGR escapes (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Asserts `value` is standard base64 and returns its bytes.
#[track_caller]
fn b64(value: &str) -> Vec<u8> {
    B64.decode(value)
        .unwrap_or_else(|e| panic!("{value:?} is not base64: {e}"))
}

#[test]
fn identity_commands_on_terminal_and_pipe() {
    let key = ApiKey::generate().unwrap();
    let secret = key.expose_secret().to_string();
    let id = key.identity();

    // identity of KEY: `Identity: <id>` on a terminal, the bare identity on a pipe.
    let r = tty(&["identity", "of", &secret], &[]).ok();
    assert_eq!(r.stdout, format!("Identity: {}\n", id.as_str()), "{r:#?}");
    let r = pipe(&["identity", "of", &secret], &[]).ok();
    assert_eq!(r.stdout, id.as_str());
    // `identity KEY` is the same.
    let r = tty(&["identity", &secret], &[]).ok();
    assert_eq!(r.stdout, format!("Identity: {}\n", id.as_str()), "{r:#?}");
    // --json wins on a terminal too.
    let r = tty(&["identity", "of", &secret, "--json"], &[]).ok();
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert_eq!(v["identity"], id.as_str());

    // With colors allowed (NO_COLOR empty) the label is styled; without the escapes the
    // line is the same.
    let r = tty(&["identity", "of", &secret], &[("NO_COLOR", "")]).ok();
    assert!(r.stdout.contains('\x1b'), "no color on a terminal: {r:#?}");
    assert_eq!(
        strip_ansi(&r.stdout),
        format!("Identity: {}\n", id.as_str()),
        "{r:#?}"
    );

    // identity (no args): key, identity and a hint on a terminal; only the key on a pipe.
    let r = tty(&["identity"], &[]).ok();
    assert!(r.stdout.contains("Your API key:"), "{r:#?}");
    assert!(r.stdout.contains("Your Identity:"), "{r:#?}");
    let new_key: ApiKey = r
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("kes:v1:"))
        .unwrap_or_else(|| panic!("no API key in {r:#?}"))
        .parse()
        .unwrap();
    assert!(
        r.stdout
            .lines()
            .any(|l| l.trim() == new_key.identity().as_str()),
        "identity of the new key missing: {r:#?}"
    );
    assert!(
        r.stdout
            .contains(&format!("identity of {}", new_key.expose_secret().as_str())),
        "hint missing: {r:#?}"
    );
    let r = pipe(&["identity"], &[]).ok();
    let piped: ApiKey = r.stdout.parse().unwrap();
    assert_eq!(r.stdout, piped.expose_secret().as_str());
}

#[test]
fn key_commands_on_terminal_and_pipe() {
    let server = DevServer::start();
    let env = server.env();
    pipe(&["key", "create", "-k", "tty-key"], &env).ok();
    let message = "Hello World";
    let message_b64 = B64.encode(message);

    // encrypt: `\nciphertext: <b64>\n` on a terminal, `{"ciphertext":"<b64>"}` on a pipe.
    let enc_tty = tty(&["key", "encrypt", "-k", "tty-key", message], &env).ok();
    let ct_tty = between(&enc_tty, "\nciphertext: ", "\n").to_owned();
    b64(&ct_tty);
    let enc_pipe = pipe(&["key", "encrypt", "-k", "tty-key", message], &env).ok();
    let ct_pipe = between(&enc_pipe, "{\"ciphertext\":\"", "\"}").to_owned();
    b64(&ct_pipe);
    // --json wins on a terminal.
    let r = tty(
        &["key", "encrypt", "-k", "--json", "tty-key", message],
        &env,
    )
    .ok();
    b64(between(&r, "{\"ciphertext\":\"", "\"}"));

    // decrypt: `\nplaintext: <b64>\n` on a terminal, `{"plaintext":"<b64>"}` on a pipe; both
    // ciphertexts open to the message.
    for ct in [&ct_tty, &ct_pipe] {
        let r = tty(&["key", "decrypt", "-k", "tty-key", ct], &env).ok();
        assert_eq!(r.stdout, format!("\nplaintext: {message_b64}\n"), "{r:#?}");
        let r = pipe(&["key", "decrypt", "-k", "tty-key", ct], &env).ok();
        assert_eq!(r.stdout, format!("{{\"plaintext\":\"{message_b64}\"}}"));
    }

    // dek: `\nplaintext:  <b64>\nciphertext: <b64>\n` on a terminal (labels aligned), the
    // JSON object on a pipe; each data key decrypts back to its plaintext.
    let ctx = B64.encode("bucket/object");
    let r = tty(&["key", "dek", "-k", "tty-key", &ctx], &env).ok();
    let body = between(&r, "\nplaintext:  ", "\n");
    let (pt, ct) = body
        .split_once("\nciphertext: ")
        .unwrap_or_else(|| panic!("no ciphertext line: {r:#?}"));
    assert_eq!(b64(pt).len(), 32);
    b64(ct);
    let back = pipe(&["key", "decrypt", "-k", "tty-key", ct, &ctx], &env).ok();
    assert_eq!(back.stdout, format!("{{\"plaintext\":\"{pt}\"}}"));

    let r = pipe(&["key", "dek", "-k", "tty-key", &ctx], &env).ok();
    let body = between(&r, "{\"plaintext\":\"", "\"}");
    let (pt, ct) = body
        .split_once("\",\"ciphertext\":\"")
        .unwrap_or_else(|| panic!("not the dek JSON: {r:#?}"));
    assert_eq!(b64(pt).len(), 32);
    let back = tty(&["key", "decrypt", "-k", "tty-key", ct, &ctx], &env).ok();
    assert_eq!(back.stdout, format!("\nplaintext: {pt}\n"), "{back:#?}");

    // Errors still go to the terminal's stream and fail the command.
    let r = tty(&["key", "decrypt", "-k", "tty-key", &ct_tty, &ctx], &env);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stdout.contains("not authentic"), "{r:#?}");
}
