//! `sse-envelope-derived.json`: the whole chain end to end with MinIO's
//! static key — KMS DEK, object key, KEK, sealed key, metadata, object
//! data, ETags — for SSE-S3, SSE-KMS, SSE-C, a multipart upload and a
//! bucket-metadata blob, forwards (byte-exact) and backwards (decrypt).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use kes_crypto::sse::dare::{self, CipherSuite};
use kes_crypto::sse::headers;
use kes_crypto::sse::metadata::{self, SealPolicy};
use kes_crypto::sse::{
    Context, Dek, ExternalKey, ObjectKey, SealedObjectKey, SseType, StaticKey, derive_kek,
    go_path_join, multipart_part_nonce,
};
use ring::{digest, hmac};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    bytes(v).try_into().unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn static_key(v: &Value) -> StaticKey {
    StaticKey::parse(
        s(&v["kms"]["env"])
            .strip_prefix("MINIO_KMS_SECRET_KEY=")
            .unwrap(),
    )
    .unwrap()
}

fn hmac32(key: &[u8], msg: &[u8]) -> [u8; 32] {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .try_into()
        .unwrap()
}

/// Checks the KMS step: context bytes, sealing key and DEK ciphertext.
fn check_dek(kms: &StaticKey, ctx: &Context, steps: &Value, aad: &Value) -> Dek {
    assert_eq!(ctx.to_json_string(), s(aad));
    let random: [u8; 28] = arr(&steps["kms_random28_hex"]);
    let (iv, nonce) = random.split_at(16);
    let (iv, nonce): ([u8; 16], [u8; 12]) = (iv.try_into().unwrap(), nonce.try_into().unwrap());
    if let Some(sk) = steps.get("kms_sealing_key_hex") {
        assert_eq!(hex::encode(hmac32(kms.secret_key().as_bytes(), &iv)), s(sk));
    }
    let plaintext = ExternalKey::from_bytes(arr(&steps["dek_plaintext_hex"]));
    let dek = kms
        .generate_key_with("", ctx, plaintext, &iv, &nonce)
        .unwrap();
    assert_eq!(dek.key_id(), kms.name());
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(dek.ciphertext()),
        s(&steps["dek_ciphertext_b64"])
    );
    dek
}

/// Checks object key, KEK and the sealed key; returns both.
fn check_object_key(
    ek: &ExternalKey,
    steps: &Value,
    domain: SseType,
    bucket: &str,
    object: &str,
) -> (ObjectKey, SealedObjectKey) {
    let oek = ObjectKey::generate_with(ek, &arr(&steps["oek_random32_hex"]));
    assert_eq!(
        hex::encode(oek.expose_secret()),
        s(&steps["object_key_hex"])
    );
    let iv: [u8; 32] = arr(&steps["iv_hex"]);
    let kek = derive_kek(ek, &iv, domain, bucket, object);
    assert_eq!(hex::encode(kek.expose_secret()), s(&steps["kek_hex"]));
    let nonce = arr(&steps["seal_dare_nonce12_hex"]);
    let sealed = oek
        .seal_with(
            ek,
            &iv,
            domain,
            bucket,
            object,
            CipherSuite::Aes256Gcm,
            nonce,
        )
        .unwrap();
    if let Some(want) = steps.get("sealed_object_key_hex") {
        assert_eq!(hex::encode(sealed.sealed_bytes()), s(want));
    }
    (oek, sealed)
}

fn etag_key(oek: &ObjectKey) -> [u8; 32] {
    hmac32(oek.expose_secret(), b"SSE-etag")
}

#[test]
fn single_part() {
    let v = load("sse-envelope-derived.json");
    let kms = static_key(&v);
    let examples = v["single_part"].as_array().unwrap();
    assert_eq!(examples.len(), 5);
    for ex in examples {
        let kind = s(&ex["kind"]);
        let (bucket, object) = (s(&ex["bucket"]), s(&ex["object"]));
        assert_eq!(go_path_join(bucket, object), s(&ex["path_join"]));
        let steps = &ex["steps"];
        let request = map_of(&ex["request_headers"]);
        let domain = headers::requested(&request).unwrap();
        assert_eq!(domain.as_str(), kind);

        // ---- PUT: forwards, byte-exact ----
        let (ek, dek, client_ctx) = match domain {
            SseType::SseS3 => {
                headers::parse_sse_s3(&request).unwrap();
                assert_eq!(s(&steps["kms_key_name"]), kms.name());
                let ctx = Context::for_object(bucket, object);
                let dek = check_dek(&kms, &ctx, steps, &steps["kms_generate_aad"]);
                (dek.plaintext().clone(), Some(dek), Context::new())
            }
            SseType::SseKms => {
                let req = headers::parse_sse_kms(&request).unwrap();
                assert_eq!(req.key_id, s(&steps["kms_key_name"]));
                let ctx = req.context.with_object_entry(bucket, object);
                let dek = check_dek(&kms, &ctx, steps, &steps["kms_generate_aad"]);
                (dek.plaintext().clone(), Some(dek), req.context)
            }
            SseType::SseC => {
                let ek = headers::parse_sse_c(&request).unwrap();
                assert_eq!(hex::encode(ek.expose_secret()), s(&steps["client_key_hex"]));
                (ek, None, Context::new())
            }
        };
        let (oek, sealed) = check_object_key(&ek, steps, domain, bucket, object);
        let md = match (&dek, domain) {
            (Some(d), SseType::SseS3) => {
                metadata::create_sse_s3(d.key_id(), d.ciphertext(), &sealed)
            }
            (Some(d), SseType::SseKms) => {
                metadata::create_sse_kms(d.key_id(), d.ciphertext(), &sealed, &client_ctx)
            }
            _ => metadata::create_sse_c(&sealed),
        }
        .unwrap();
        assert_eq!(
            md,
            map_of(&ex["stored_internal_metadata"]),
            "{kind} {object}"
        );

        let plaintext: Vec<u8> = match ex.get("plaintext") {
            Some(p) => s(p).as_bytes().to_vec(),
            None => {
                assert_eq!(s(&ex["plaintext_rule"]), "byte i = (11*i+1) mod 256");
                (0..150_000usize)
                    .map(|i| ((11 * i + 1) % 256) as u8)
                    .collect()
            }
        };
        assert_eq!(
            plaintext.len() as u64,
            ex["plaintext_len"].as_u64().unwrap()
        );
        let data_nonce = arr(&steps["data_dare_nonce12_hex"]);
        let ciphertext = dare::encrypt_to_vec_with_nonce(
            oek.expose_secret(),
            CipherSuite::Aes256Gcm,
            data_nonce,
            &plaintext,
        )
        .unwrap();
        assert_eq!(
            ciphertext.len() as u64,
            ex["ciphertext_len"].as_u64().unwrap()
        );
        match ex.get("ciphertext_hex") {
            Some(h) => assert_eq!(hex::encode(&ciphertext), s(h)),
            None => assert_eq!(
                hex::encode(digest::digest(&digest::SHA256, &ciphertext)),
                s(&ex["ciphertext_sha256"])
            ),
        }

        // ETag: the 16-byte source sealed under HMAC(OEK, "SSE-etag").
        let etag_key = etag_key(&oek);
        assert_eq!(hex::encode(etag_key), s(&steps["etag_key_hex"]));
        let stored_etag = dare::seal_package(
            &etag_key,
            CipherSuite::Aes256Gcm,
            arr(&steps["etag_dare_nonce12_hex"]),
            &bytes(&steps["etag_source_hex"]),
        )
        .unwrap();
        assert_eq!(hex::encode(&stored_etag), s(&steps["stored_etag_hex"]));

        // Response headers.
        let resp = map_of(&ex["response_headers"]);
        match domain {
            SseType::SseS3 => {
                assert_eq!(resp[headers::SSE], headers::AES256);
                // SSE-S3 returns the real MD5.
                assert_eq!(
                    resp["ETag"],
                    format!("\"{}\"", s(&steps["etag_source_hex"]))
                );
            }
            SseType::SseKms => {
                let d = dek.as_ref().unwrap();
                assert_eq!(resp[headers::SSE], headers::AWS_KMS);
                assert_eq!(
                    resp[headers::SSE_KMS_KEY_ID],
                    headers::kms_key_id_response_value(d.key_id())
                );
                assert_eq!(
                    resp.get(headers::SSE_CONTEXT),
                    md.get(metadata::META_CONTEXT)
                );
            }
            SseType::SseC => {
                assert_eq!(
                    resp[headers::SSE_C_ALGORITHM],
                    request[headers::SSE_C_ALGORITHM]
                );
                assert_eq!(
                    resp[headers::SSE_C_KEY_MD5],
                    request[headers::SSE_C_KEY_MD5]
                );
            }
        }
        if domain != SseType::SseS3 {
            // SSE-KMS and SSE-C return the last 32 hex chars (the DARE tag).
            let h = hex::encode(&stored_etag);
            assert_eq!(resp["ETag"], format!("\"{}\"", &h[h.len() - 32..]));
        }

        // ---- GET: backwards from the stored metadata only ----
        let md = map_of(&ex["stored_internal_metadata"]);
        assert_eq!(metadata::encryption_type(&md), Some(domain));
        let ek = match domain {
            SseType::SseS3 => {
                let p = metadata::parse_sse_s3(&md, SealPolicy::Minio).unwrap();
                kms.decrypt(&p.key_id, &p.dek_ciphertext, &p.kms_context(bucket, object))
                    .unwrap()
            }
            SseType::SseKms => {
                let p = metadata::parse_sse_kms(&md, SealPolicy::Minio).unwrap();
                assert_eq!(p.context, client_ctx);
                kms.decrypt(&p.key_id, &p.dek_ciphertext, &p.kms_context(bucket, object))
                    .unwrap()
            }
            SseType::SseC => headers::parse_sse_c(&request).unwrap(),
        };
        let sealed = match domain {
            SseType::SseS3 => {
                metadata::parse_sse_s3(&md, SealPolicy::Minio)
                    .unwrap()
                    .sealed_key
            }
            SseType::SseKms => {
                metadata::parse_sse_kms(&md, SealPolicy::Minio)
                    .unwrap()
                    .sealed_key
            }
            SseType::SseC => metadata::parse_sse_c(&md, SealPolicy::Minio).unwrap(),
        };
        let oek2 = ObjectKey::unseal(&sealed, &ek, domain, bucket, object).unwrap();
        assert_eq!(oek2, oek);
        assert_eq!(
            dare::decrypt_to_vec(oek2.expose_secret(), &ciphertext).unwrap(),
            plaintext
        );
        // A neighbouring object's path does not unseal it.
        assert!(ObjectKey::unseal(&sealed, &ek, domain, bucket, &format!("{object}.bak")).is_err());
    }
}

#[test]
fn multipart() {
    let v = load("sse-envelope-derived.json");
    let kms = static_key(&v);
    let mp = &v["multipart"];
    let (bucket, object, upload_id) = (s(&mp["bucket"]), s(&mp["object"]), s(&mp["upload_id"]));
    let steps = &mp["object_key_steps"];
    let dek = check_dek(
        &kms,
        &Context::for_object(bucket, object),
        steps,
        &steps["kms_generate_aad"],
    );
    let (oek, sealed) = check_object_key(dek.plaintext(), steps, SseType::SseS3, bucket, object);
    let mut md = metadata::create_sse_s3(dek.key_id(), dek.ciphertext(), &sealed).unwrap();
    md.extend([metadata::multipart_entry()]);
    assert_eq!(md, map_of(&mp["stored_internal_metadata"]));
    assert!(metadata::is_multipart(&md));

    let parts = mp["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    let mut part_keys = Vec::new();
    for part in parts {
        let n = u32::try_from(part["part_number"].as_u64().unwrap()).unwrap();
        let key = oek.derive_part_key(n);
        assert_eq!(hex::encode(key.expose_secret()), s(&part["part_key_hex"]));
        let nonce = multipart_part_nonce(upload_id, n);
        assert_eq!(hex::encode(nonce), s(&part["nonce12_hex"]));
        let len = usize::try_from(part["plaintext_len"].as_u64().unwrap()).unwrap();
        let plaintext: Vec<u8> = match part.get("plaintext") {
            Some(p) => s(p).as_bytes().to_vec(),
            None => {
                assert_eq!(s(&part["plaintext_rule"]), "byte i = (3*i+9) mod 256");
                (0..len).map(|i| ((3 * i + 9) % 256) as u8).collect()
            }
        };
        assert_eq!(plaintext.len(), len);
        let ct = dare::encrypt_to_vec_with_nonce(
            key.expose_secret(),
            CipherSuite::Aes256Gcm,
            nonce,
            &plaintext,
        )
        .unwrap();
        assert_eq!(ct.len() as u64, part["ciphertext_len"].as_u64().unwrap());
        let headers: Vec<String> = ct
            .chunks(dare::MAX_PACKAGE_SIZE)
            .map(|p| hex::encode(&p[..dare::HEADER_SIZE]))
            .collect();
        let want: Vec<&str> = part["package_headers_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(s)
            .collect();
        assert_eq!(headers, want);
        match part.get("ciphertext_hex") {
            Some(h) => assert_eq!(hex::encode(&ct), s(h)),
            None => assert_eq!(
                hex::encode(digest::digest(&digest::SHA256, &ct)),
                s(&part["ciphertext_sha256"])
            ),
        }
        // Part ETags are sealed with the object key's ETag key, not the part key.
        let etag = dare::seal_package(
            &etag_key(&oek),
            CipherSuite::Aes256Gcm,
            arr(&part["etag_dare_nonce12_hex"]),
            &bytes(&part["part_etag_md5_hex"]),
        )
        .unwrap();
        assert_eq!(
            hex::encode(etag),
            s(&part["stored_part_etag_hex_sealed_with_OEK"])
        );
        // Decrypt with the part key; another part's key fails.
        assert_eq!(
            dare::decrypt_to_vec(key.expose_secret(), &ct).unwrap(),
            plaintext
        );
        assert!(dare::decrypt_to_vec(oek.derive_part_key(n + 1).expose_secret(), &ct).is_err());
        part_keys.push(key);
    }
    assert_ne!(part_keys[0], part_keys[1]);
}

#[test]
fn bucket_targets_metadata() {
    let v = load("sse-envelope-derived.json");
    let kms = static_key(&v);
    let b = &v["bucket_targets_metadata"];
    let bucket = s(&b["bucket"]);
    let ctx: Context = b["kms_context"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), s(v).to_owned()))
        .collect();
    let steps = &b["steps"];
    let dek = check_dek(&kms, &ctx, steps, &b["kms_generate_aad"]);
    // The object name is "", so the KEK path is just the bucket.
    let (oek, sealed) = check_object_key(dek.plaintext(), steps, SseType::SseS3, bucket, "");
    let md = metadata::create_sse_s3(dek.key_id(), dek.ciphertext(), &sealed).unwrap();
    assert_eq!(serde_json::to_string(&md).unwrap(), s(&b["meta_json"]));
    let plaintext = s(&b["plaintext"]).as_bytes();
    let ct = dare::encrypt_to_vec_with_nonce(
        oek.expose_secret(),
        CipherSuite::Aes256Gcm,
        arr(&steps["data_dare_nonce12_hex"]),
        plaintext,
    )
    .unwrap();
    assert_eq!(hex::encode(&ct), s(&b["ciphertext_hex"]));
    // And back: decrypt the DEK with the same context, unseal, decrypt.
    let parsed = metadata::parse_sse_s3(&md, SealPolicy::Minio).unwrap();
    let ek = kms
        .decrypt(&parsed.key_id, &parsed.dek_ciphertext, &ctx)
        .unwrap();
    let oek2 = ObjectKey::unseal(&parsed.sealed_key, &ek, SseType::SseS3, bucket, "").unwrap();
    assert_eq!(
        dare::decrypt_to_vec(oek2.expose_secret(), &ct).unwrap(),
        plaintext
    );
}
