//! `walkthrough`: MinIO's SSE-KMS process with a KES key, stage by stage, on a fresh bucket
//! — key, bucket default, PUT (DEK → KEK → sealed object key → DARE), GET, rotation,
//! secure erasure by deleting the key, and restore by importing the same key bytes. Every
//! stage is checked; a stage that does not behave as described fails the command.

use std::fmt::Write as _;
use std::io::Cursor;

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kes_crypto::sse::bucket_config::BucketSseConfig;
use kes_crypto::sse::{SealAlgorithm, derive_kek, go_path_join};

use crate::app::{App, out};
use crate::kms::Kms;
use crate::object::{self, PartPlan, PutOptions, SseChoice};
use crate::pipe::{Input, Reading};
use crate::progress::Progress;
use crate::store::Store;

/// A fingerprint of stored bytes (MD5: to show they did not change, not a security check).
fn fingerprint(data: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    hex::encode(Md5::digest(data))
}

const MESSAGE: &[u8] = b"Hello from the sse-demo walkthrough: this text is stored encrypted with \
a key that only the KMS can unlock.\n";

fn secret(show: bool, bytes: &[u8]) -> String {
    if show {
        hex::encode(bytes)
    } else {
        format!("({} bytes, hidden; --show-keys prints it)", bytes.len())
    }
}

fn read_all(store: &Store, kms: &dyn Kms, bucket: &str, object: &str) -> Result<Vec<u8>> {
    let meta = store.read_meta(bucket, object)?;
    let mut opened = object::open(store, Some(kms), &meta, None, Reading::Inline)?;
    let mut data = Vec::new();
    object::copy_out(&mut opened.reader, &mut data, &Progress::hidden(), object)?;
    Ok(data)
}

/// Runs the walkthrough.
pub(crate) fn run(app: &mut App<'_>, keep: bool, show_keys: bool) -> Result<()> {
    let temp;
    let store = if app.store_explicit {
        app.store.clone()
    } else {
        temp = tempfile::Builder::new()
            .prefix("sse-demo-walkthrough-")
            .tempdir()
            .context("cannot create a temporary store")?;
        Store::new(temp.path(), app.store.sync())
    };
    let kms = app.need_kms()?;
    let suffix = object::random_suffix()?;
    let bucket = format!("walkthrough-{suffix}");
    let object_name = "hello.txt";
    let path = go_path_join(&bucket, object_name);
    let mut s = String::new();

    let _ = writeln!(
        s,
        "sse-demo walkthrough: MinIO server-side encryption with a KMS key, stage by stage"
    );
    let _ = writeln!(s, "KMS:   {}", kms.describe());
    let _ = writeln!(s, "Store: {}", store.root().display());
    out(&s)?;
    s.clear();

    // 1. The key.
    let _ = writeln!(s, "\n1. A key for the bucket");
    let (key, key_bytes) = if kms.manages_keys() {
        let name = format!("sse-demo-walkthrough-{suffix}");
        let bytes = object::random_key()?;
        kms.import_key(&name, &bytes)?;
        let _ = writeln!(
            s,
            "   imported a fresh random 256-bit key as '{name}' (AES256), as `kes-cli key import` does;"
        );
        let _ = writeln!(
            s,
            "   imported rather than created so that stage 7 can restore exactly the same key"
        );
        (name, Some(bytes))
    } else {
        let name = kms
            .default_key()
            .ok_or_else(|| anyhow!("the KMS has no key to use"))?;
        let _ = writeln!(
            s,
            "   the KMS is {}: its one key '{name}' is used; it cannot be deleted, so stages 6 and 7 are skipped",
            kms.describe()
        );
        (name, None)
    };
    out(&s)?;
    s.clear();

    let result = stages(
        &store,
        kms,
        &bucket,
        object_name,
        &path,
        &key,
        key_bytes.as_deref(),
        show_keys,
    );

    // Cleanup runs whatever happened.
    let mut c = String::new();
    if keep {
        let _ = writeln!(
            c,
            "\nKept bucket '{bucket}' in {} and key '{key}'.",
            store.root().display()
        );
    } else {
        let _ = store.remove_bucket(&bucket, true);
        if key_bytes.is_some() {
            let _ = kms.delete_key(&key);
        }
        let _ = writeln!(
            c,
            "\nCleaned up: removed bucket '{bucket}'{}.",
            if key_bytes.is_some() {
                format!(" and key '{key}'")
            } else {
                String::new()
            }
        );
    }
    out(&c)?;
    result?;
    out("\nAll stages behaved as described.\n")
}

#[allow(clippy::too_many_arguments)]
fn stages(
    store: &Store,
    kms: &dyn Kms,
    bucket: &str,
    object_name: &str,
    path: &str,
    key: &str,
    key_bytes: Option<&[u8; 32]>,
    show_keys: bool,
) -> Result<()> {
    let mut s = String::new();

    // 2. Bucket and default encryption.
    store.make_bucket(bucket)?;
    let config = BucketSseConfig::aws_kms(key).map_err(|e| anyhow!("{e}"))?;
    let probe = [("MinIO admin API", "ServerInfoHandler")]
        .into_iter()
        .collect();
    kms.generate_key(key, &probe)?;
    store.set_bucket_sse(bucket, Some(&config))?;
    let _ = writeln!(s, "\n2. A bucket that encrypts by default");
    let _ = writeln!(s, "   mb {bucket}");
    let _ = writeln!(
        s,
        "   encrypt set sse-kms {key} {bucket}: MinIO first probes the key with"
    );
    let _ = writeln!(
        s,
        "   GenerateKey('{key}', {{\"MinIO admin API\":\"ServerInfoHandler\"}}), then stores"
    );
    let _ = writeln!(s, "   {}", config.to_xml());
    out(&s)?;
    s.clear();

    // 3. Put.
    let sse = store
        .bucket_sse(bucket)?
        .map_or(SseChoice::None, |c| SseChoice::from_bucket(&c));
    let opts = PutOptions {
        sse,
        parts: PartPlan::Single,
        md5: true,
        seal: SealAlgorithm::DareV2HmacSha256,
        content_type: "text/plain".to_owned(),
    };
    let report = object::put(
        store,
        Some(kms),
        &mut Input::direct(Cursor::new(MESSAGE)),
        bucket,
        object_name,
        &opts,
        &Progress::hidden(),
    )?;
    let keys = report
        .keys
        .as_ref()
        .ok_or_else(|| anyhow!("the bucket default did not encrypt the object"))?;
    let meta = &report.meta;
    let sealed = &keys.sealed;
    let kek = derive_kek(
        keys.dek.plaintext(),
        sealed.iv(),
        keys.sse,
        bucket,
        object_name,
    );
    let part_file = store.part_path(meta, 1);
    let stored = std::fs::read(&part_file).context("cannot read the stored data")?;
    let _ = writeln!(
        s,
        "\n3. PUT {bucket}/{object_name} ({} bytes, no SSE flag: the bucket default makes it {})",
        MESSAGE.len(),
        keys.sse
    );
    let _ = writeln!(
        s,
        "   a) GenerateKey('{}', context) with the context (the KMS's associated data)",
        keys.key_id
    );
    let _ = writeln!(s, "        {}", keys.kms_context.to_json_string());
    let _ = writeln!(
        s,
        "      returns a 32-byte data key (DEK) twice: in plaintext and sealed by the KMS key"
    );
    let _ = writeln!(
        s,
        "        DEK plaintext   {}",
        secret(show_keys, keys.dek.plaintext().expose_secret())
    );
    let _ = writeln!(
        s,
        "        DEK ciphertext  {} bytes, stored: {}",
        keys.dek.ciphertext().len(),
        B64.encode(keys.dek.ciphertext())
    );
    let _ = writeln!(
        s,
        "   b) a random object key: HMAC-SHA256(DEK, \"object-encryption-key generation\" ‖ 32 random bytes)"
    );
    let _ = writeln!(
        s,
        "        object key      {}",
        secret(show_keys, keys.oek.expose_secret())
    );
    let _ = writeln!(
        s,
        "   c) a random 32-byte IV and the key-encryption key, derived and never stored:"
    );
    let _ = writeln!(
        s,
        "        KEK = HMAC-SHA256(DEK, IV ‖ \"{}\" ‖ \"DAREv2-HMAC-SHA256\" ‖ \"{path}\")",
        keys.sse
    );
    let _ = writeln!(s, "        IV              {}", hex::encode(sealed.iv()));
    let _ = writeln!(
        s,
        "        KEK             {}",
        secret(show_keys, kek.expose_secret())
    );
    let _ = writeln!(
        s,
        "   d) the object key sealed under the KEK: one final DARE 2.0 package (16 + 32 + 16 bytes)"
    );
    let _ = writeln!(
        s,
        "        sealed key      {}",
        B64.encode(sealed.sealed_bytes())
    );
    let _ = writeln!(
        s,
        "   e) the data as DARE 2.0 under the object key: {} bytes -> {} bytes ({} package(s) of <= 64 KiB + 32)",
        meta.size,
        meta.stored_size(),
        meta.stored_size().div_ceil(65568)
    );
    let _ = writeln!(s, "        stored in       {}", part_file.display());
    let _ = writeln!(
        s,
        "   f) the ETag (MD5 of the data) sealed under HMAC-SHA256(object key, \"SSE-etag\")"
    );
    let _ = writeln!(s, "   g) MinIO's metadata, stored next to the data:");
    for (k, v) in &meta.metadata {
        let _ = writeln!(s, "        {k}: {v}");
    }
    let _ = writeln!(
        s,
        "   The plaintext DEK, object key and KEK are now forgotten; only the KMS can unlock the chain."
    );
    out(&s)?;
    s.clear();

    // 4. Get.
    let back = read_all(store, kms, bucket, object_name)?;
    if back != MESSAGE {
        bail!("stage 4: the object read back differs from what was written");
    }
    let _ = writeln!(s, "\n4. GET {bucket}/{object_name}");
    let _ = writeln!(
        s,
        "   Decrypt('{}', DEK ciphertext, same context) -> DEK -> KEK -> unseal the object key",
        keys.key_id
    );
    let _ = writeln!(
        s,
        "   -> DARE opens and authenticates every package -> {} bytes, identical: ok",
        back.len()
    );
    out(&s)?;
    s.clear();

    // 5. Rotate.
    let fingerprint_before = fingerprint(&stored);
    let rotated = object::rotate(store, kms, meta, None)?
        .ok_or_else(|| anyhow!("stage 5: nothing was rotated"))?;
    let after = store.read_meta(bucket, object_name)?;
    let info_after = object::sse_info(&after.metadata, bucket, object_name)?
        .ok_or_else(|| anyhow!("stage 5: the object lost its encryption"))?;
    let fingerprint_after = fingerprint(&std::fs::read(store.part_path(&after, 1))?);
    if fingerprint_after != fingerprint_before || info_after.sealed.iv() == sealed.iv() {
        bail!("stage 5: rotation rewrote the data or kept the IV");
    }
    if read_all(store, kms, bucket, object_name)? != MESSAGE {
        bail!("stage 5: the object does not read back after rotation");
    }
    let _ = writeln!(s, "\n5. Key rotation (rotate {bucket})");
    let _ = writeln!(
        s,
        "   the object key is unsealed, then sealed again under a new DEK from '{}' and a new IV;",
        rotated.new_key
    );
    let _ = writeln!(s, "   the data is not rewritten");
    let _ = writeln!(
        s,
        "        new IV          {}",
        hex::encode(info_after.sealed.iv())
    );
    let _ = writeln!(
        s,
        "        new sealed key  {}",
        B64.encode(info_after.sealed.sealed_bytes())
    );
    let _ = writeln!(
        s,
        "        data fingerprint (MD5 of the stored bytes) before {fingerprint_before}, after {fingerprint_after}"
    );
    let _ = writeln!(s, "   GET after rotation: ok");
    out(&s)?;
    s.clear();

    let Some(key_bytes) = key_bytes else {
        let _ = writeln!(
            s,
            "\n6./7. Secure erasure and restore need a KES server (--kes): skipped."
        );
        return out(&s);
    };

    // 6. Lock / erase.
    kms.delete_key(key)?;
    let err = match read_all(store, kms, bucket, object_name) {
        Ok(_) => bail!("stage 6: the object is still readable after deleting its key"),
        Err(e) => format!("{e:#}"),
    };
    if !err.contains("key does not exist") {
        bail!("stage 6: unexpected error: {err}");
    }
    let _ = writeln!(
        s,
        "\n6. Secure erasure: delete the key on the KMS (kes-cli key rm {key})"
    );
    let _ = writeln!(
        s,
        "   every DEK it sealed is now undecryptable, so every object of the bucket is locked:"
    );
    let _ = writeln!(s, "   GET fails: {err}");
    let _ = writeln!(
        s,
        "   (without a copy of the key bytes this is crypto-erasure: the data is gone for good)"
    );
    out(&s)?;
    s.clear();

    // 7. Restore.
    kms.import_key(key, key_bytes)?;
    if read_all(store, kms, bucket, object_name)? != MESSAGE {
        bail!("stage 7: the object does not read back after the key was restored");
    }
    let _ = writeln!(
        s,
        "\n7. Restore: import the same 32 key bytes under the same name (kes-cli key import {key} <base64>)"
    );
    let _ = writeln!(s, "   GET works again: ok");
    out(&s)
}
