//! PEM files: certificates, CA pools and private keys (spec §1.1, §11; vectors
//! `tls_pem_files.json`).
//!
//! The framing follows RFC 7468, plus the RFC 1421 header lines (`Proc-Type`, `DEK-Info`) of
//! legacy encrypted keys. Text outside blocks is ignored (RFC 7468 explanatory text), but a
//! block must be well-formed: a `BEGIN` line, optional headers, base64 lines and the matching
//! `END` line. Reading rules, as upstream KES:
//!
//! * a **certificate file** holds only `CERTIFICATE` blocks, at least one;
//! * a **CA pool** is a certificate file, or a directory whose every regular file is one;
//! * a **private-key file** holds `CERTIFICATE` and `… PRIVATE KEY` blocks only; the first
//!   private key is used, decrypted with the password if it is encrypted.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::{Certificate, Error, PrivateKey};

type Headers = Vec<(String, String)>;

/// One decoded PEM block.
pub(crate) struct Block {
    pub(crate) label: String,
    pub(crate) headers: Headers,
    pub(crate) data: Zeroizing<Vec<u8>>,
}

impl Block {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidPem(msg.into())
}

/// Splits `input` into PEM blocks. Errors on malformed blocks and on input without any block.
pub(crate) fn decode_all(input: &[u8]) -> Result<Vec<Block>, Error> {
    let mut blocks = Vec::new();
    // The block being read: label, headers, base64 text, whether the body has started.
    let mut current: Option<(String, Headers, Zeroizing<Vec<u8>>, bool)> = None;
    for raw in input.split(|&b| b == b'\n') {
        let line = trim_end(raw);
        match current.as_mut() {
            None => {
                if let Some(rest) = line.strip_prefix(b"-----BEGIN ") {
                    let label = rest
                        .strip_suffix(b"-----")
                        .filter(|l| is_label(l))
                        .ok_or_else(|| invalid("malformed BEGIN line"))?;
                    let label = String::from_utf8_lossy(label).into_owned();
                    current = Some((label, Vec::new(), Zeroizing::new(Vec::new()), false));
                } else if line.starts_with(b"-----") {
                    return Err(invalid("END line without BEGIN line"));
                }
            }
            Some((label, headers, b64, in_body)) => {
                if let Some(rest) = line.strip_prefix(b"-----END ") {
                    if rest.strip_suffix(b"-----") != Some(label.as_bytes()) {
                        return Err(invalid(format!("missing END line of '{label}' block")));
                    }
                    let data = STANDARD
                        .decode(b64.as_slice())
                        .map(Zeroizing::new)
                        .map_err(|_| invalid(format!("invalid base64 in '{label}' block")))?;
                    blocks.push(Block {
                        label: std::mem::take(label),
                        headers: std::mem::take(headers),
                        data,
                    });
                    current = None;
                } else if line.starts_with(b"-----") {
                    return Err(invalid(format!("missing END line of '{label}' block")));
                } else if !*in_body && line.contains(&b':') {
                    let text = std::str::from_utf8(line)
                        .map_err(|_| invalid("header line is not UTF-8"))?;
                    let (k, v) = text
                        .split_once(':')
                        .ok_or_else(|| invalid("malformed header line"))?;
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                } else {
                    for &b in line {
                        match b {
                            b' ' | b'\t' => {}
                            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => {
                                b64.push(b);
                            }
                            _ => return Err(invalid(format!("invalid base64 in '{label}' block"))),
                        }
                    }
                    if !line.is_empty() {
                        *in_body = true;
                    }
                }
            }
        }
    }
    if let Some((label, ..)) = current {
        return Err(invalid(format!("missing END line of '{label}' block")));
    }
    if blocks.is_empty() {
        return Err(invalid("no PEM block found"));
    }
    Ok(blocks)
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while let Some((last, rest)) = line.split_last() {
        if matches!(last, b'\r' | b' ' | b'\t') {
            line = rest;
        } else {
            break;
        }
    }
    line
}

fn is_label(label: &[u8]) -> bool {
    !label.is_empty()
        && label.iter().all(|&b| b.is_ascii_graphic() || b == b' ')
        && !label.starts_with(b"-")
        && !label.ends_with(b"-")
}

/// Encodes one PEM block with 64-character lines and a trailing newline.
pub(crate) fn encode(label: &str, headers: &[(&str, &str)], der: &[u8]) -> String {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    }
    if !headers.is_empty() {
        out.push('\n');
    }
    for chunk in b64.as_bytes().chunks(64) {
        out.extend(chunk.iter().map(|&b| char::from(b)));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Parses a certificate file: only `CERTIFICATE` blocks, at least one, each a valid DER
/// certificate.
///
/// ```
/// let pem = include_str!("../tests/data/certs/root.cert");
/// let certs = kes_policy::parse_certificates(pem.as_bytes())?;
/// assert_eq!(certs.len(), 1);
/// assert!(kes_policy::parse_certificates(b"not pem").is_err());
/// # Ok::<(), kes_policy::Error>(())
/// ```
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<Certificate>, Error> {
    let blocks = decode_all(pem).map_err(|e| match e {
        Error::InvalidPem(m) if m == "no PEM block found" => Error::NoCertificate,
        e => e,
    })?;
    blocks
        .iter()
        .map(|b| {
            if b.label != "CERTIFICATE" {
                return Err(Error::UnexpectedPemBlock {
                    found: b.label.clone(),
                    expected: "CERTIFICATE",
                });
            }
            if !b.headers.is_empty() {
                return Err(invalid("unexpected headers in CERTIFICATE block"));
            }
            Certificate::from_der(&b.data)
        })
        .collect()
}

/// Reads a certificate file (see [`parse_certificates`]).
pub fn read_certificates(path: impl AsRef<Path>) -> Result<Vec<Certificate>, Error> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_certificates(&bytes)
}

/// Reads a CA pool from a certificate file, or from a directory in which every file
/// (subdirectories are skipped, symbolic links followed) must be a certificate file. The
/// certificates of a directory are returned in file-name order.
pub fn read_cert_pool(path: impl AsRef<Path>) -> Result<Vec<Certificate>, Error> {
    let path = path.as_ref();
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        return read_certificates(path);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        let file = entry.path();
        let meta = fs::metadata(&file).map_err(|e| Error::io(&file, e))?;
        if meta.is_file() {
            files.push(file);
        }
    }
    files.sort();
    let mut pool = Vec::new();
    for file in files {
        pool.extend(read_certificates(&file)?);
    }
    if pool.is_empty() {
        return Err(Error::NoCertificate);
    }
    Ok(pool)
}

/// Parses a private-key file: `CERTIFICATE` and `… PRIVATE KEY` blocks only; the first
/// private key is used. An empty `password` means "no password": a plaintext key ignores
/// the password, an encrypted key without one fails with [`Error::PasswordRequired`], and a
/// wrong password yields [`Error::IncorrectPassword`].
///
/// Accepted keys: `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1), `RSA PRIVATE KEY`
/// (PKCS#1), each optionally encrypted the legacy RFC 1423 way (`Proc-Type: 4,ENCRYPTED`,
/// DES, 3DES or AES-CBC), and `ENCRYPTED PRIVATE KEY` (PKCS#8 PBES2 with PBKDF2 or scrypt and
/// AES-CBC). Ed25519, ECDSA P-256/P-384 and RSA keys are supported.
///
/// ```
/// let pem = include_str!("../tests/data/certs/root.key");
/// let key = kes_policy::parse_private_key(pem.as_bytes(), b"")?;
/// assert_eq!(key.algorithm(), kes_policy::KeyAlgorithm::Ed25519);
/// # Ok::<(), kes_policy::Error>(())
/// ```
pub fn parse_private_key(pem: &[u8], password: &[u8]) -> Result<PrivateKey, Error> {
    let blocks = decode_all(pem).map_err(|e| match e {
        Error::InvalidPem(m) if m == "no PEM block found" => Error::NoPrivateKey,
        e => e,
    })?;
    let mut key = None;
    for block in &blocks {
        if block.label == "CERTIFICATE" {
            continue;
        }
        if !block.label.ends_with("PRIVATE KEY") {
            return Err(Error::UnexpectedPemBlock {
                found: block.label.clone(),
                expected: "CERTIFICATE or PRIVATE KEY",
            });
        }
        if key.is_none() {
            key = Some(block);
        }
    }
    let block = key.ok_or(Error::NoPrivateKey)?;
    crate::private_key::from_pem_block(block, password)
}

/// The first certificate or private key of a PEM text, as `kes identity <FILE>` inspects it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemItem {
    /// The first block is a `CERTIFICATE`.
    Certificate(Certificate),
    /// The first block is a private key (decrypted with the password if needed).
    PrivateKey(PrivateKey),
}

/// Returns the first block of `pem` that is a certificate or a private key. Other blocks
/// before it are skipped.
///
/// ```
/// use kes_policy::{ApiKey, PemItem, first_pem_item};
/// let pem = include_str!("../tests/data/certs/root.key");
/// let PemItem::PrivateKey(key) = first_pem_item(pem.as_bytes(), b"")? else { panic!() };
/// let api_key = ApiKey::from_ed25519_pkcs8(key.expose_pkcs8_der())?;
/// assert_eq!(api_key.identity().as_str(), "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22");
/// # Ok::<(), kes_policy::Error>(())
/// ```
pub fn first_pem_item(pem: &[u8], password: &[u8]) -> Result<PemItem, Error> {
    for block in decode_all(pem)? {
        if block.label == "CERTIFICATE" {
            return Certificate::from_der(&block.data).map(PemItem::Certificate);
        }
        if block.label.ends_with("PRIVATE KEY") {
            return crate::private_key::from_pem_block(&block, password).map(PemItem::PrivateKey);
        }
    }
    Err(Error::NoCertificate)
}

/// Reads a private-key file (see [`parse_private_key`]).
pub fn read_private_key(path: impl AsRef<Path>, password: &[u8]) -> Result<PrivateKey, Error> {
    let path = path.as_ref();
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| Error::io(path, e))?);
    parse_private_key(&bytes, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        let text = encode("TEST", &[("A", "b,c")], b"hello world");
        let blocks = decode_all(text.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "TEST");
        assert_eq!(blocks[0].header("A"), Some("b,c"));
        assert_eq!(blocks[0].data.as_slice(), b"hello world");

        let crlf = text.replace('\n', "\r\n");
        assert_eq!(
            decode_all(crlf.as_bytes()).unwrap()[0].data.as_slice(),
            b"hello world"
        );

        let with_text = format!("explanatory text\n{text}\nmore text\n{text}");
        assert_eq!(decode_all(with_text.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "   \n",
            "-----BEGIN X-----\nAAAA\n",
            "-----BEGIN X-----\nAAAA\n-----END Y-----\n",
            "-----BEGIN X-----\nAA!A\n-----END X-----\n",
            "-----BEGIN X-----\nAAA\n-----END X-----\n",
            "-----BEGIN X----\nAAAA\n-----END X-----\n",
            "-----END X-----\n",
            "-----BEGIN -----\n-----END -----\n",
            "-----BEGIN X-----\nAAAA\n-----END X---- \n",
            "-----BEGIN X-----\nAAAA\nK: v\n-----END X-----\n",
        ] {
            assert!(decode_all(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
