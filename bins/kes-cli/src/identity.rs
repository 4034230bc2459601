//! `identity`, `identity new|of|info|ls` (spec §6.4, §12.2).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use kes_client::{ApiKey, Identity};
use kes_policy::{CertificateOptions, KeyEncryption, NewIdentityOptions};
use serde::Serialize;

use crate::cli::{IdentityArgs, IdentityCommand, IdentityNewArgs};
use crate::conn::{Env, client};
use crate::output::{Out, format_date, parse_duration};

/// `identity …`.
pub(crate) async fn identity(args: IdentityArgs, env: Env<'_>) -> Result<()> {
    match args.command {
        None => match args.value {
            None => new_api_key(&Out::new(&args.out)),
            Some(value) => inspect(&Out::new(&args.out), &value),
        },
        Some(IdentityCommand::New(new)) => identity_new(new),
        Some(IdentityCommand::Of { value, out }) => {
            let out = Out::new(&out);
            let identity = identity_of(&value)?;
            print_value(&out, "Identity", "identity", identity.as_str())
        }
        Some(IdentityCommand::Info {
            identity,
            conn,
            out,
        }) => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            match identity {
                Some(id) => {
                    let info = client
                        .describe_identity(&id)
                        .await
                        .context("failed to describe identity")?;
                    if out.json {
                        return out.json_line(&info);
                    }
                    let mut rows = vec![("Identity", id.clone())];
                    rows.push(("Created At", format_date(&info.created_at)));
                    rows.push(("Role", role(info.admin)));
                    if !info.created_by.is_empty() {
                        rows.push(("Created By", info.created_by.clone()));
                    }
                    if !info.policy.is_empty() {
                        rows.push(("Policy", info.policy.clone()));
                    }
                    out.write(&table(&out, &rows, &[], &[]))
                }
                None => {
                    let info = client
                        .describe_self()
                        .await
                        .context("failed to describe identity")?;
                    if out.json {
                        return out.json_line(&info);
                    }
                    let mut rows = vec![("Identity", info.identity.clone())];
                    rows.push(("Created At", format_date(&info.created_at)));
                    rows.push(("Role", role(info.admin)));
                    if !info.created_by.is_empty() {
                        rows.push(("Created By", info.created_by.clone()));
                    }
                    if !info.policy.is_empty() {
                        rows.push(("Policy", info.policy.clone()));
                    }
                    let allow: Vec<&str> = info.allow.keys().map(String::as_str).collect();
                    let deny: Vec<&str> = info.deny.keys().map(String::as_str).collect();
                    out.write(&table(&out, &rows, &allow, &deny))
                }
            }
        }
        Some(IdentityCommand::Ls { pattern, conn, out }) => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let pattern = pattern.unwrap_or_else(|| "*".into());
            let mut names = client
                .identities(&pattern)
                .collect()
                .await
                .context("failed to list identities")?;
            names.sort();
            if out.json {
                return out.json_line(&names);
            }
            if names.is_empty() {
                return Ok(());
            }
            let mut text = out.underline("Identity");
            text.push('\n');
            for name in names {
                text.push_str(&name);
                text.push('\n');
            }
            out.write(&text)
        }
    }
}

fn role(admin: bool) -> String {
    if admin { "Admin" } else { "User" }.to_owned()
}

fn table(out: &Out, rows: &[(&str, String)], allow: &[&str], deny: &[&str]) -> String {
    let mut text = String::new();
    for (label, value) in rows {
        text.push_str(&format!("{} {value}\n", out.faint(&format!("{label:<11}"))));
    }
    for (label, patterns) in [("Allow", allow), ("Deny", deny)] {
        for (i, pattern) in patterns.iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            text.push_str(&format!(
                "{} {pattern}\n",
                out.faint(&format!("{label:<11}"))
            ));
        }
    }
    text
}

/// A bare value on a pipe (no newline), `Label: value` on a terminal, `{"key":value}` with
/// `--json`.
fn print_value(out: &Out, label: &str, key: &str, value: &str) -> Result<()> {
    if out.json {
        let mut object = serde_json::Map::new();
        object.insert(key.to_owned(), value.into());
        return out.json_line(&object);
    }
    if out.tty {
        out.line(&format!("{}: {value}", out.faint(label)))
    } else {
        out.write(value)
    }
}

/// The identity of an API key or of the first certificate of a PEM file.
pub(crate) fn identity_of(value: &str) -> Result<Identity> {
    if value.starts_with(kes_policy::API_KEY_PREFIX) {
        let key: ApiKey = value.parse().map_err(|e| anyhow!("{e}"))?;
        return Ok(key.identity());
    }
    let pem = std::fs::read(value).with_context(|| format!("failed to read '{value}'"))?;
    let certs = kes_policy::parse_certificates(&pem).map_err(|e| anyhow!("{e}"))?;
    let cert = certs
        .first()
        .ok_or_else(|| anyhow!("'{value}' contains no certificate"))?;
    Ok(cert.identity())
}

/// `identity KEY|FILE`: the identity of an API key or certificate, or the API key of an
/// Ed25519 private key.
fn inspect(out: &Out, value: &str) -> Result<()> {
    if value.starts_with(kes_policy::API_KEY_PREFIX) {
        let id = identity_of(value)?;
        return print_value(out, "Identity", "identity", id.as_str());
    }
    let pem = zeroize::Zeroizing::new(
        std::fs::read(value).with_context(|| format!("failed to read '{value}'"))?,
    );
    let text = String::from_utf8_lossy(&pem);
    let cert_at = text.find("-----BEGIN CERTIFICATE-----");
    let key_at = text.find(" PRIVATE KEY-----");
    match (cert_at, key_at) {
        (Some(c), k) if k.is_none_or(|k| c < k) => {
            let id = identity_of(value)?;
            print_value(out, "Identity", "identity", id.as_str())
        }
        (_, Some(_)) => {
            let key = kes_policy::parse_private_key(&pem, b"").map_err(|e| anyhow!("{e}"))?;
            let api_key =
                ApiKey::from_ed25519_pkcs8(key.expose_pkcs8_der()).map_err(|e| anyhow!("{e}"))?;
            print_value(out, "API Key", "api_key", &api_key.expose_secret())
        }
        _ => bail!("'{value}' is neither an API key nor a PEM certificate or private key"),
    }
}

/// The JSON form of a new identity.
#[derive(Serialize)]
struct NewIdentityJson<'a> {
    api_key: &'a str,
    identity: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_file: Option<String>,
}

/// `identity` without arguments: a fresh API key.
fn new_api_key(out: &Out) -> Result<()> {
    let key = ApiKey::generate().map_err(|e| anyhow!("{e}"))?;
    let secret = key.expose_secret();
    if out.json {
        return out.json_line(&NewIdentityJson {
            api_key: &secret,
            identity: key.identity().as_str(),
            private_key_file: None,
            certificate_file: None,
        });
    }
    if !out.tty {
        return out.write(&secret);
    }
    out.write(&human_new(out, &secret, key.identity().as_str(), None))
}

fn human_new(out: &Out, api_key: &str, identity: &str, files: Option<(&Path, &Path)>) -> String {
    let mut text = format!(
        "\n{}\n\n   {api_key}\n\n{}\n\n{}\n\n   {identity}\n\n\
         The identity is not a secret. It can be shared. Any peer\n\
         needs this identity in order to verify your API key.\n",
        out.underline("Your API key:"),
        out.red("This is the only time it is shown. Keep it secret and secure!"),
        out.underline("Your Identity:"),
    );
    if let Some((key, cert)) = files {
        text.push_str(&format!(
            "\nThe generated TLS private key is stored at: {}\n\
             The generated TLS certificate is stored at: {}\n",
            key.display(),
            cert.display()
        ));
    }
    text.push_str(&format!(
        "\nThe identity can be computed again via:\n\n    kes-cli identity of {api_key}\n"
    ));
    if let Some((_, cert)) = files {
        text.push_str(&format!("    kes-cli identity of {}\n", cert.display()));
    }
    text
}

/// `identity new`.
fn identity_new(args: IdentityNewArgs) -> Result<()> {
    let out = Out::new(&args.out);
    let mut options = NewIdentityOptions {
        certificate: CertificateOptions {
            subject: args.subject.clone(),
            dns_names: args.dns.clone(),
            ip_addresses: args.ips.clone(),
            ..CertificateOptions::default()
        },
        ..NewIdentityOptions::default()
    };
    if let Some(expiry) = &args.expiry {
        options.certificate.validity = parse_duration(expiry)?;
    }
    let files = match (&args.key, &args.cert) {
        (Some(k), Some(c)) => Some((k.clone(), c.clone())),
        _ => None,
    };
    if let Some((key, cert)) = &files {
        if !args.force {
            for path in [key, cert] {
                if path.exists() {
                    bail!(
                        "file '{}' already exists. Use --force to overwrite it",
                        path.display()
                    );
                }
            }
        }
    }
    let id = kes_policy::new_identity(&options).map_err(|e| anyhow!("{e}"))?;
    let api_key = id
        .api_key
        .as_ref()
        .ok_or_else(|| anyhow!("generated key is not an Ed25519 key"))?;
    if let Some((key_path, cert_path)) = &files {
        let password = if args.encrypt {
            Some(read_new_password()?)
        } else {
            None
        };
        let encryption = password
            .as_ref()
            .map(|p| (p.as_bytes(), KeyEncryption::LegacyPemAes256Cbc));
        kes_policy::write_private_key_file(
            key_path,
            &id.credentials.private_key,
            encryption,
            args.force,
        )
        .map_err(|e| anyhow!("{e}"))?;
        kes_policy::write_certificate_file(cert_path, &id.credentials.certificate, args.force)
            .map_err(|e| anyhow!("{e}"))?;
    }
    let secret = api_key.expose_secret();
    if out.json {
        return out.json_line(&NewIdentityJson {
            api_key: &secret,
            identity: id.identity.as_str(),
            private_key_file: files.as_ref().map(|(k, _)| k.display().to_string()),
            certificate_file: files.as_ref().map(|(_, c)| c.display().to_string()),
        });
    }
    let paths = files.as_ref().map(|(k, c)| (k.as_path(), c.as_path()));
    out.write(&human_new(&out, &secret, id.identity.as_str(), paths))
}

fn read_new_password() -> Result<zeroize::Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        bail!("--encrypt needs a terminal to ask for the password");
    }
    let first = crate::output::read_password("Enter password for private key: ")?;
    let second = crate::output::read_password("Confirm password for private key: ")?;
    if first.is_empty() {
        bail!("empty password");
    }
    if *first != *second {
        bail!("passwords don't match");
    }
    Ok(first)
}
