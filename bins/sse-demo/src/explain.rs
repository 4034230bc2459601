//! `explain`: narrates the key chain of one object — from the stored metadata, through the
//! KMS, the KEK and the sealed object key, down to the DARE packages — and, with
//! `--show-keys`, prints the intermediate secrets (a teaching and debugging aid).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::sse::dare::{self, CipherSuite, HEADER_SIZE, MAX_PACKAGE_SIZE};
use kes_crypto::sse::object_key::{derive_kek_v2, derive_legacy_unseal_key};
use kes_crypto::sse::{SealAlgorithm, derive_kek, go_path_join};
use serde_json::{Value, json};

use crate::kms::Kms;
use crate::object::{self, ByteRange, SseInfo, Unsealed};
use crate::store::{ObjectMeta, Store};

/// The DARE parameters of one stored part, read from its first package header.
#[derive(Debug, Clone)]
struct PartInfo {
    number: u32,
    size: u64,
    encrypted_size: u64,
    packages: u64,
    header: Option<(u8, CipherSuite, [u8; 12])>,
}

fn cipher_name(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::Aes256Gcm => "AES-256-GCM",
        CipherSuite::ChaCha20Poly1305 => "ChaCha20-Poly1305",
    }
}

/// Reads the first package header of a part file (version, cipher, stream nonce with the
/// final flag cleared).
fn read_header(path: &Path) -> Option<(u8, CipherSuite, [u8; 12])> {
    let mut f = fs::File::open(path).ok()?;
    let mut h = [0u8; HEADER_SIZE];
    f.read_exact(&mut h).ok()?;
    let suite = CipherSuite::from_id(h[1])?;
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(h.get(4..16)?);
    nonce[0] &= 0x7f;
    Some((h[0], suite, nonce))
}

fn part_infos(store: Option<&Store>, meta: &ObjectMeta) -> Vec<PartInfo> {
    meta.parts
        .iter()
        .map(|p| PartInfo {
            number: p.number,
            size: p.actual_size,
            encrypted_size: p.size,
            packages: p.size.div_ceil(MAX_PACKAGE_SIZE as u64),
            header: store.and_then(|s| read_header(&s.part_path(meta, p.number))),
        })
        .collect()
}

/// Where the explained metadata comes from.
pub(crate) enum Source<'a> {
    /// An object in the store.
    Store(&'a Store, ObjectMeta),
    /// A metadata file (a flat MinIO metadata map, or an sse-demo `meta.json`).
    File {
        /// The metadata map.
        metadata: BTreeMap<String, String>,
        /// The full `meta.json`, when the file was one.
        meta: Option<ObjectMeta>,
        /// The bucket the metadata belongs to.
        bucket: String,
        /// The object name.
        object: String,
    },
}

/// Reads `--metadata FILE`: a JSON object of MinIO metadata (string values; others are
/// ignored), or an sse-demo `meta.json`.
pub(crate) fn load_metadata_file(
    path: &Path,
    bucket: &str,
    object: &str,
) -> Result<Source<'static>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read '{}'", path.display()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("'{}' is not JSON: {e}", path.display()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| anyhow!("'{}' is not a JSON object", path.display()))?;
    let meta: Option<ObjectMeta> = if obj.contains_key("format") && obj.contains_key("metadata") {
        Some(
            serde_json::from_value(value.clone())
                .map_err(|e| anyhow!("'{}': {e}", path.display()))?,
        )
    } else {
        None
    };
    let map_value = match &meta {
        Some(_) => obj.get("metadata").cloned().unwrap_or(Value::Null),
        None => value.clone(),
    };
    let metadata = map_value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Source::File {
        metadata,
        meta,
        bucket: bucket.to_owned(),
        object: object.to_owned(),
    })
}

/// Runs `explain` and returns the text to print.
pub(crate) fn explain(
    source: &Source<'_>,
    kms: Option<&dyn Kms>,
    show_keys: bool,
    json_out: bool,
    range: Option<&str>,
) -> Result<String> {
    let (metadata, meta, bucket, object, store) = match source {
        Source::Store(store, meta) => (
            &meta.metadata,
            Some(meta),
            meta.bucket.as_str(),
            meta.object.as_str(),
            Some(*store),
        ),
        Source::File {
            metadata,
            meta,
            bucket,
            object,
        } => (
            metadata,
            meta.as_ref(),
            bucket.as_str(),
            object.as_str(),
            None,
        ),
    };
    let info = object::sse_info(metadata, bucket, object)?;
    let parts = meta.map(|m| part_infos(store, m)).unwrap_or_default();
    let range_plan = match (range, meta) {
        (Some(spec), Some(m)) => {
            let r = object::parse_range(spec, m.size)?;
            Some((r, plan_json(m, r)?))
        }
        (Some(_), None) => {
            bail!("--range needs the object's sizes: explain an object in the store")
        }
        (None, _) => None,
    };

    let Some(info) = info else {
        let mut j = json!({
            "bucket": bucket, "object": object, "sse": Value::Null,
            "size": meta.map(|m| m.size),
        });
        if let Some((_, plan)) = &range_plan {
            j["range"] = plan.clone();
        }
        return if json_out {
            Ok(format!("{}\n", serde_json::to_string_pretty(&j)?))
        } else {
            Ok(format!(
                "{bucket}/{object} is not encrypted: its data is stored as is.\n"
            ))
        };
    };

    let unsealed: Option<Result<Unsealed>> =
        kms.map(|kms| object::unseal(kms, &info, bucket, object));
    if show_keys {
        match &unsealed {
            None => bail!("--show-keys needs a KMS to decrypt the DEK (--kes or --kms-secret-key)"),
            Some(Err(e)) => bail!("{e:#}"),
            Some(Ok(_)) => {}
        }
    }
    let keys = match &unsealed {
        Some(Ok(u)) => Some(u),
        _ => None,
    };
    let etag = match (meta, keys) {
        (Some(m), Some(u)) if store.is_some() => Some(object::verify_etag(m, &u.oek)),
        _ => None,
    };

    let j = build_json(
        bucket,
        object,
        &info,
        meta,
        &parts,
        keys,
        show_keys,
        &range_plan,
        &unsealed,
        &etag,
    );
    if json_out {
        return Ok(format!("{}\n", serde_json::to_string_pretty(&j)?));
    }
    Ok(narrate(
        bucket,
        object,
        &info,
        meta,
        &parts,
        keys,
        show_keys,
        &range_plan,
        &unsealed,
        &etag,
    ))
}

fn plan_json(meta: &ObjectMeta, r: ByteRange) -> Result<Value> {
    let plan = object::plan(meta, Some(r))?;
    Ok(json!({
        "offset": r.offset,
        "length": r.length,
        "encOff": plan.encrypted_offset(),
        "encLength": plan.encrypted_length(),
        "skipLen": plan.skip_length(),
        "seqNumber": plan.sequence_number(),
        "partStart": plan.part_start(),
        "partEnd": plan.part_end(),
    }))
}

fn kek_hex(info: &SseInfo, u: &Unsealed, bucket: &str, object: &str) -> String {
    let kek = match info.sealed.algorithm() {
        SealAlgorithm::DareV2HmacSha256 => {
            derive_kek(&u.ek, info.sealed.iv(), info.sse, bucket, object)
        }
        SealAlgorithm::KeywrapV2 => {
            derive_kek_v2(&u.ek, info.sealed.iv(), info.sse, bucket, object)
        }
        _ => derive_legacy_unseal_key(&u.ek, info.sealed.iv()),
    };
    hex::encode(kek.expose_secret())
}

#[allow(clippy::too_many_arguments)]
fn build_json(
    bucket: &str,
    object: &str,
    info: &SseInfo,
    meta: Option<&ObjectMeta>,
    parts: &[PartInfo],
    keys: Option<&Unsealed>,
    show_keys: bool,
    range_plan: &Option<(ByteRange, Value)>,
    unsealed: &Option<Result<Unsealed>>,
    etag: &Option<Result<String>>,
) -> Value {
    let mut j = json!({
        "bucket": bucket,
        "object": object,
        "path": go_path_join(bucket, object),
        "sse": info.sse.as_str(),
        "seal_algorithm": info.sealed.algorithm().as_str(),
        "kms_key_id": info.key_id,
        "kms_context_json": info.kms_context.to_json_string(),
        "client_context_json": (!info.client_context.is_empty()).then(|| info.client_context.to_json_string()),
        "dek_ciphertext_b64": B64.encode(&info.dek_ciphertext),
        "dek_ciphertext_len": info.dek_ciphertext.len(),
        "iv_hex": hex::encode(info.sealed.iv()),
        "sealed_object_key_hex": hex::encode(info.sealed.sealed_bytes()),
        "kek_message": {
            "iv_hex": hex::encode(info.sealed.iv()),
            "domain": info.sse.as_str(),
            "algorithm": SealAlgorithm::DareV2HmacSha256.as_str(),
            "path": go_path_join(bucket, object),
        },
        "multipart": info.multipart,
    });
    if let Some(m) = meta {
        j["size"] = json!(m.size);
        j["encrypted_size"] = json!(m.stored_size());
        j["upload_id"] = json!(m.upload_id);
        j["parts"] = Value::Array(
            parts
                .iter()
                .map(|p| {
                    let mut pj = json!({
                        "number": p.number,
                        "size": p.size,
                        "encrypted_size": p.encrypted_size,
                        "packages": p.packages,
                    });
                    if let Some((version, suite, nonce)) = p.header {
                        pj["dare_version"] = json!(format!("{}.{}", version >> 4, version & 0xf));
                        pj["cipher"] = json!(cipher_name(suite));
                        pj["nonce_hex"] = json!(hex::encode(nonce));
                    }
                    if show_keys {
                        if let Some(u) = keys.filter(|_| info.multipart) {
                            pj["part_key_hex"] =
                                json!(hex::encode(u.oek.derive_part_key(p.number).expose_secret()));
                        }
                    }
                    pj
                })
                .collect(),
        );
    }
    j["unsealed"] = match unsealed {
        None => Value::Null,
        Some(Ok(_)) => json!(true),
        Some(Err(_)) => json!(false),
    };
    if let Some(Err(e)) = unsealed {
        j["unseal_error"] = json!(format!("{e:#}"));
    }
    match etag {
        Some(Ok(e)) => j["etag"] = json!(e),
        Some(Err(e)) => j["etag_error"] = json!(format!("{e:#}")),
        None => {}
    }
    if let Some((_, plan)) = range_plan {
        j["range"] = plan.clone();
    }
    if show_keys {
        if let Some(u) = keys {
            j["dek_hex"] = json!(hex::encode(u.ek.expose_secret()));
            j["kek_hex"] = json!(kek_hex(info, u, bucket, object));
            j["object_key_hex"] = json!(hex::encode(u.oek.expose_secret()));
            j["etag_key_hex"] = json!(hex::encode(*kes_crypto::sse::etag::etag_key(
                u.oek.expose_secret()
            )));
        }
    }
    j
}

#[allow(clippy::too_many_arguments)]
fn narrate(
    bucket: &str,
    object: &str,
    info: &SseInfo,
    meta: Option<&ObjectMeta>,
    parts: &[PartInfo],
    keys: Option<&Unsealed>,
    show_keys: bool,
    range_plan: &Option<(ByteRange, Value)>,
    unsealed: &Option<Result<Unsealed>>,
    etag: &Option<Result<String>>,
) -> String {
    let mut s = String::new();
    let path = go_path_join(bucket, object);
    let secret = |v: String| {
        if show_keys {
            v
        } else {
            "(hidden; --show-keys prints it)".to_owned()
        }
    };
    let _ = writeln!(s, "{bucket}/{object}: {}", info.sse);
    if let Some(m) = meta {
        let _ = writeln!(
            s,
            "  {} bytes of data, stored as {} bytes in {} part(s)",
            m.size,
            m.stored_size(),
            m.parts.len()
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "1. The KMS key and the DEK");
    let _ = writeln!(s, "   KMS key id           {}", info.key_id);
    let _ = writeln!(
        s,
        "   KMS context (AAD)    {}",
        info.kms_context.to_json_string()
    );
    if info.sse == kes_crypto::sse::SseType::SseKms {
        let stored = if info.client_context.is_empty() {
            "none stored".to_owned()
        } else {
            format!(
                "stored client context {}",
                info.client_context.to_json_string()
            )
        };
        let _ = writeln!(
            s,
            "                        ({stored}; the entry {{\"{bucket}\":\"{path}\"}} is added unless the client set that key)"
        );
    }
    let _ = writeln!(
        s,
        "   sealed DEK           {} bytes: {}",
        info.dek_ciphertext.len(),
        B64.encode(&info.dek_ciphertext)
    );
    let _ = writeln!(
        s,
        "   KMS Decrypt(key id, sealed DEK, AAD) gives the DEK, the external key of the chain:"
    );
    match unsealed {
        None => {
            let _ = writeln!(
                s,
                "   DEK                  (no KMS configured: not decrypted)"
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(s, "   DEK                  NOT AVAILABLE: {e:#}");
        }
        Some(Ok(u)) => {
            let _ = writeln!(
                s,
                "   DEK                  {}",
                secret(hex::encode(u.ek.expose_secret()))
            );
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "2. The key-encryption key (KEK), derived per object and never stored"
    );
    match info.sealed.algorithm() {
        SealAlgorithm::KeywrapV2 => {
            let _ = writeln!(
                s,
                "   KEK = HMAC-SHA256(DEK, \"kes-rs/sealed-object-key/v2\" ‖ 0x00 ‖ IV ‖ \"{}\" ‖ 0x00 ‖ \"{path}\")",
                info.sse
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "   KEK = HMAC-SHA256(DEK, IV ‖ \"{}\" ‖ \"DAREv2-HMAC-SHA256\" ‖ \"{path}\")",
                info.sse
            );
        }
    }
    let _ = writeln!(
        s,
        "   IV                   {}",
        hex::encode(info.sealed.iv())
    );
    let _ = writeln!(s, "   path.Join            {path}");
    if let Some(u) = keys {
        let _ = writeln!(
            s,
            "   KEK                  {}",
            secret(kek_hex(info, u, bucket, object))
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "3. The sealed object key ({})", info.sealed.algorithm());
    let sealed = info.sealed.sealed_bytes();
    match info.sealed.algorithm() {
        SealAlgorithm::KeywrapV2 => {
            let _ = writeln!(
                s,
                "   the object key wrapped with AES-256-GCM-SIV under the KEK ({} bytes)",
                sealed.len()
            );
        }
        _ => {
            let suite = sealed.get(1).and_then(|b| CipherSuite::from_id(*b));
            let _ = writeln!(
                s,
                "   one final DARE 2.0 package under the KEK: 16-byte header, the 32-byte key, 16-byte tag ({} bytes)",
                sealed.len()
            );
            let _ = writeln!(
                s,
                "   header               {} (version 2.0, {}, final flag set)",
                hex::encode(sealed.get(..HEADER_SIZE).unwrap_or_default()),
                suite.map_or("unknown cipher", cipher_name)
            );
        }
    }
    let _ = writeln!(s, "   stored as            {}", B64.encode(sealed));
    match (unsealed, keys) {
        (_, Some(u)) => {
            let _ = writeln!(
                s,
                "   unsealed: object key {}",
                secret(hex::encode(u.oek.expose_secret()))
            );
        }
        (Some(Err(_)), None) => {
            let _ = writeln!(s, "   not unsealed (see step 1)");
        }
        _ => {}
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "4. The object data");
    if info.multipart {
        let _ = writeln!(
            s,
            "   multipart: part n is its own DARE 2.0 stream under HMAC-SHA256(object key, LE32(n)),"
        );
        let _ = writeln!(
            s,
            "   nonce SHA-256(upload id ‖ decimal n)[..12], sequence numbers from 0 in every part"
        );
    } else {
        let _ = writeln!(
            s,
            "   one DARE 2.0 stream under the object key, random 12-byte nonce"
        );
    }
    let _ = writeln!(
        s,
        "   packages of 64 KiB of data + 32 bytes (header and tag); the last one is marked final"
    );
    for p in parts {
        let header = match p.header {
            Some((v, suite, nonce)) => format!(
                ", DARE {}.{} {}, nonce {}",
                v >> 4,
                v & 0xf,
                cipher_name(suite),
                hex::encode(nonce)
            ),
            None if p.encrypted_size == 0 => ", empty (no package)".to_owned(),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "   part {:<3} {} bytes -> {} bytes, {} package(s){header}",
            p.number, p.size, p.encrypted_size, p.packages
        );
        if show_keys && info.multipart {
            if let Some(u) = keys {
                let _ = writeln!(
                    s,
                    "            part key {}",
                    hex::encode(u.oek.derive_part_key(p.number).expose_secret())
                );
            }
        }
    }
    if meta.is_none() {
        let _ = writeln!(s, "   (metadata only: no data to inspect)");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "5. The ETag");
    let _ = writeln!(
        s,
        "   sealed with DARE 2.0 under HMAC-SHA256(object key, \"SSE-etag\")"
    );
    match etag {
        Some(Ok(e)) => {
            let _ = writeln!(s, "   opens: {e}");
        }
        Some(Err(e)) => {
            let _ = writeln!(s, "   DOES NOT OPEN: {e:#}");
        }
        None => {}
    }
    if let Some((r, plan)) = range_plan {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Range {}-{} ({} bytes): read {} stored bytes from offset {} (part index {}), start at sequence number {}, skip {} bytes",
            r.offset,
            r.offset + r.length - 1,
            r.length,
            plan["encLength"],
            plan["encOff"],
            plan["partStart"],
            plan["seqNumber"],
            plan["skipLen"]
        );
    }
    let size_note = meta
        .map(|m| dare::encrypted_size(m.size).map(|e| e == m.stored_size()))
        .and_then(Result::ok);
    if size_note == Some(false) && !info.multipart {
        let _ = writeln!(s, "\nWARNING: the stored size does not match the data size");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_file_forms() {
        let dir = tempfile::tempdir().unwrap();
        let flat = dir.path().join("flat.json");
        fs::write(&flat, r#"{"a":"1","n":2,"content-type":"text/plain"}"#).unwrap();
        match load_metadata_file(&flat, "b", "o").unwrap() {
            Source::File { metadata, meta, .. } => {
                assert!(meta.is_none());
                assert_eq!(metadata.len(), 2);
            }
            Source::Store(..) => panic!("wrong source"),
        }
        let bad = dir.path().join("bad.json");
        fs::write(&bad, "[1]").unwrap();
        assert!(load_metadata_file(&bad, "b", "o").is_err());
    }
}
