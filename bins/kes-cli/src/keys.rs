//! `ls`, `key …` and `policy …`.

use anyhow::{Context as _, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_client::KeyAlgorithm;
use serde::Serialize;

use crate::cli::{KeyCommand, LsArgs, PolicyCommand};
use crate::conn::{Env, client};
use crate::output::{Out, format_date};

/// `ls`.
pub(crate) async fn ls(args: LsArgs, env: Env<'_>) -> Result<()> {
    let out = Out::new(&args.out);
    let client = client(
        &args.conn,
        args.server.as_deref(),
        args.api_key.as_deref(),
        env,
    )?;
    let prefix = args.prefix.unwrap_or_default();
    let (iter, header) = if args.identity {
        (client.identities(&prefix), "Identity")
    } else if args.policy {
        (client.policies(&prefix), "Policy")
    } else {
        (client.keys(&prefix), "Key")
    };
    let mut names = iter.collect().await?;
    names.sort();
    print_names(&out, &names, header)
}

/// Names as a JSON array (`--json`) or a table with a header.
fn print_names(out: &Out, names: &[String], header: &str) -> Result<()> {
    if out.json {
        return out.json_line(names);
    }
    if names.is_empty() {
        return Ok(());
    }
    let mut text = out.underline(header);
    text.push('\n');
    for name in names {
        text.push_str(name);
        text.push('\n');
    }
    out.write(&text)
}

fn decode_b64(value: &str, what: &str, command: &str) -> Result<Vec<u8>> {
    B64.decode(value.trim())
        .map_err(|e| anyhow!("invalid {what}: {e}. See 'kes-cli key {command} --help'"))
}

/// Prints a secret-bearing result: on a terminal as `\n<label>: <b64>\n` lines, otherwise
/// (or with `--json`) as one compact JSON object without a trailing newline, as `kes` does.
fn print_fields(out: &Out, fields: &[(&str, &str)]) -> Result<()> {
    if out.tty && !out.json {
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
        let mut text = String::from("\n");
        for (k, v) in fields {
            text.push_str(&format!("{:<width$} {v}\n", format!("{k}:")));
        }
        return out.write(&text);
    }
    // Field order as `kes` prints it (plaintext before ciphertext).
    let mut json = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&serde_json::to_string(k)?);
        json.push(':');
        json.push_str(&serde_json::to_string(v)?);
    }
    json.push('}');
    out.write(&json)
}

/// `key …`.
pub(crate) async fn key(cmd: KeyCommand, env: Env<'_>) -> Result<()> {
    match cmd {
        KeyCommand::Create { names, conn } => {
            let client = client(&conn, None, None, env)?;
            for name in names {
                client
                    .create_key(&name)
                    .await
                    .with_context(|| format!("failed to create key \"{name}\""))?;
            }
            Ok(())
        }
        KeyCommand::Import { name, key, conn } => {
            let material = zeroize::Zeroizing::new(decode_b64(&key, "key", "import")?);
            let client = client(&conn, None, None, env)?;
            client
                .import_key(&name, &material, KeyAlgorithm::Aes256)
                .await
                .with_context(|| format!("failed to import \"{name}\""))
        }
        KeyCommand::Info { name, conn, out } => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let info = client
                .describe_key(&name)
                .await
                .context("failed to describe keys")?;
            if out.json {
                return out.json_line(&info);
            }
            let algorithm = info.algorithm.map(|a| a.to_string()).unwrap_or_default();
            out.write(&format!(
                "{:<11} {}\n{:<11} {}\n{:<11} {}\n{:<11} {}\n",
                "Name",
                info.name,
                "Algorithm",
                algorithm,
                "Date",
                format_date(&info.created_at),
                "Owner",
                info.created_by
            ))
        }
        KeyCommand::Ls { pattern, conn, out } => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let pattern = pattern.unwrap_or_else(|| "*".into());
            let mut names = client
                .keys(&pattern)
                .collect()
                .await
                .context("failed to list keys")?;
            names.sort();
            print_names(&out, &names, "Key")
        }
        KeyCommand::Rm { names, conn } => {
            let client = client(&conn, None, None, env)?;
            for name in names {
                client
                    .delete_key(&name)
                    .await
                    .with_context(|| format!("failed to remove key \"{name}\""))?;
            }
            Ok(())
        }
        KeyCommand::Encrypt {
            name,
            message,
            conn,
            out,
        } => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let ciphertext = client
                .encrypt(&name, message.as_bytes(), &[])
                .await
                .context("failed to encrypt message")?;
            print_fields(&out, &[("ciphertext", &B64.encode(ciphertext))])
        }
        KeyCommand::Decrypt {
            name,
            ciphertext,
            context,
            conn,
            out,
        } => {
            let out = Out::new(&out);
            let ciphertext = decode_b64(&ciphertext, "ciphertext", "decrypt")?;
            let context = match context {
                Some(c) => decode_b64(&c, "context", "decrypt")?,
                None => Vec::new(),
            };
            let client = client(&conn, None, None, env)?;
            let plaintext = client
                .decrypt(&name, &ciphertext, &context)
                .await
                .context("failed to decrypt ciphertext")?;
            let encoded = zeroize::Zeroizing::new(B64.encode(plaintext.expose_secret()));
            print_fields(&out, &[("plaintext", &encoded)])
        }
        KeyCommand::Dek {
            name,
            context,
            conn,
            out,
        } => {
            let out = Out::new(&out);
            let context = match context {
                Some(c) => decode_b64(&c, "context", "dek")?,
                None => Vec::new(),
            };
            let client = client(&conn, None, None, env)?;
            let dek = client
                .generate_key(&name, &context)
                .await
                .context("failed to derive key")?;
            let plaintext = zeroize::Zeroizing::new(B64.encode(dek.plaintext.expose_secret()));
            print_fields(
                &out,
                &[
                    ("plaintext", &plaintext),
                    ("ciphertext", &B64.encode(&dek.ciphertext)),
                ],
            )
        }
        KeyCommand::Hmac {
            name,
            message,
            conn,
            out,
        } => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let mac = client
                .hmac(&name, message.as_bytes())
                .await
                .context("failed to compute HMAC")?;
            print_fields(&out, &[("hmac", &B64.encode(mac.expose_secret()))])
        }
    }
}

/// The body of `policy show --json`: the rules and their origin.
#[derive(Serialize)]
struct PolicyRules<'a> {
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    allow: &'a kes_client::kes_types::dto::Rules,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    deny: &'a kes_client::kes_types::dto::Rules,
    created_at: kes_client::Timestamp,
    #[serde(skip_serializing_if = "str::is_empty")]
    created_by: &'a str,
}

/// `policy …`.
pub(crate) async fn policy(cmd: PolicyCommand, env: Env<'_>) -> Result<()> {
    match cmd {
        PolicyCommand::Info { name, conn, out } => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let info = client
                .describe_policy(&name)
                .await
                .context("failed to describe policy")?;
            if out.json {
                return out.json_line(&info);
            }
            out.write(&format!(
                "{:<11} {}\n{:<11} {}\n{:<11} {}\n",
                "Name",
                info.name,
                "Date",
                format_date(&info.created_at),
                "Created by",
                info.created_by
            ))
        }
        PolicyCommand::Ls { pattern, conn, out } => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let pattern = pattern.unwrap_or_else(|| "*".into());
            let mut names = client
                .policies(&pattern)
                .collect()
                .await
                .context("failed to list policies")?;
            names.sort();
            print_names(&out, &names, "Policy")
        }
        PolicyCommand::Show { name, conn, out } => {
            let out = Out::new(&out);
            let client = client(&conn, None, None, env)?;
            let policy = client
                .get_policy(&name)
                .await
                .context("failed to show policy")?;
            if out.json || !out.tty {
                return out.json_line(&PolicyRules {
                    allow: &policy.allow,
                    deny: &policy.deny,
                    created_at: policy.created_at,
                    created_by: &policy.created_by,
                });
            }
            let mut text = String::new();
            for (label, rules) in [("Allow:", &policy.allow), ("Deny:", &policy.deny)] {
                if rules.is_empty() {
                    continue;
                }
                text.push_str(&out.underline(label));
                text.push('\n');
                for pattern in rules.keys() {
                    let shown = if label == "Deny:" {
                        out.red(pattern)
                    } else {
                        out.green(pattern)
                    };
                    text.push_str(&format!("  · {shown}\n"));
                }
            }
            out.write(&text)
        }
    }
}
