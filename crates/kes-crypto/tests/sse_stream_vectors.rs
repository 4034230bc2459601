//! sio-go stream vectors (secure-io/sio-go v0.3.1 `test_vectors.json`) and
//! MinIO's encrypted config blobs (`config-encryption-vectors.json`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use kes_crypto::sse::stream::{
    Algorithm, ConfigBlobHeader, Stream, open_config_blob, seal_config_blob,
};
use serde_json::Value;

fn load() -> Value {
    let path = format!(
        "{}/tests/data/sse/config-encryption-vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn sio_go_vectors() {
    let v = load();
    let vectors = v["sio_go_vectors"].as_array().unwrap();
    // This folder carries a subset of the 28 upstream vectors.
    assert_eq!(vectors.len(), 14);
    for (i, t) in vectors.iter().enumerate() {
        let alg = Algorithm::from_name(t["Algorithm"].as_str().unwrap()).unwrap();
        let buf = usize::try_from(t["BufSize"].as_u64().unwrap()).unwrap();
        let key = hexv(&t["Key"]);
        let nonce = hexv(&t["Nonce"]);
        let ad = hexv(&t["AssociatedData"]);
        let pt = hexv(&t["Plaintext"]);
        let ct = hexv(&t["Ciphertext"]);
        let stream = Stream::with_buf_size(alg, &key, buf).unwrap();

        assert_eq!(
            stream.encrypt_to_vec(&nonce, &ad, &pt).unwrap(),
            ct,
            "vector {i}"
        );
        assert_eq!(
            stream.decrypt_to_vec(&nonce, &ad, &ct).unwrap(),
            pt,
            "vector {i}"
        );
        assert_eq!(
            stream.overhead(pt.len() as u64).unwrap(),
            (ct.len() - pt.len()) as u64
        );

        let mut w = stream.encrypt_writer(Vec::new(), &nonce, &ad).unwrap();
        for b in &pt {
            w.write_all(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(w.finish().unwrap(), ct, "writer {i}");
        let mut out = Vec::new();
        stream
            .decrypt_reader(&ct[..], &nonce, &ad)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, pt, "reader {i}");

        // Any flipped bit, a dropped byte or an extra byte fails.
        for pos in 0..ct.len() {
            let mut bad = ct.clone();
            bad[pos] ^= 0x01;
            assert!(stream.decrypt_to_vec(&nonce, &ad, &bad).is_err());
        }
        assert!(
            stream
                .decrypt_to_vec(&nonce, &ad, &ct[..ct.len() - 1])
                .is_err()
        );
        let mut longer = ct.clone();
        longer.push(0);
        assert!(stream.decrypt_to_vec(&nonce, &ad, &longer).is_err());
        let mut other_ad = ad.clone();
        other_ad.push(1);
        assert!(stream.decrypt_to_vec(&nonce, &other_ad, &ct).is_err());
    }
}

fn blob_plaintext(case: &Value) -> Vec<u8> {
    match case.get("plaintext") {
        Some(p) => p.as_str().unwrap().as_bytes().to_vec(),
        None => {
            assert_eq!(case["plaintext_rule"], "byte i = (13*i+5) mod 256");
            let n = usize::try_from(case["plaintext_len"].as_u64().unwrap()).unwrap();
            (0..n).map(|i| ((13 * i + 5) % 256) as u8).collect()
        }
    }
}

#[test]
fn minio_config_blobs() {
    let v = load();
    let blobs = v["derived_minio_config_blobs"].as_array().unwrap();
    assert_eq!(blobs.len(), 2);
    for case in blobs {
        let dek = hexv(&case["dek_hex"]);
        let plaintext = blob_plaintext(case);
        assert_eq!(
            plaintext.len() as u64,
            case["plaintext_len"].as_u64().unwrap()
        );
        if let Some(sha) = case.get("plaintext_sha256") {
            assert_eq!(
                hex::encode(ring::digest::digest(&ring::digest::SHA256, &plaintext)),
                sha.as_str().unwrap()
            );
        }
        let header = ConfigBlobHeader {
            key_id: "my-minio-key".to_owned(),
            version: None,
            kms_key: b64(case["kmskey_b64"].as_str().unwrap()),
            algorithm: Algorithm::from_name(case["algorithm"].as_str().unwrap()).unwrap(),
            nonce: hexv(&case["stream_nonce8_hex"]),
        };
        let encoded = header.encode().unwrap();
        assert_eq!(
            hex::encode(&encoded[..5]),
            case["header_hex"].as_str().unwrap()
        );
        assert_eq!(
            &encoded[5..],
            case["metadata_json"].as_str().unwrap().as_bytes()
        );

        let blob = seal_config_blob(&dek, &header, &plaintext).unwrap();
        assert_eq!(blob.len() as u64, case["blob_len"].as_u64().unwrap());
        assert_eq!(
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &blob)),
            case["blob_sha256"].as_str().unwrap()
        );
        if let Some(b) = case.get("blob_b64") {
            assert_eq!(blob, b64(b.as_str().unwrap()));
        }

        let (parsed, stream) = ConfigBlobHeader::parse(&blob).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(stream.len() as u64, case["stream_len"].as_u64().unwrap());
        assert_eq!(&open_config_blob(&dek, &blob).unwrap()[..], &plaintext[..]);

        // A wrong DEK, a flipped stream byte and a truncated blob fail.
        let mut wrong = dek.clone();
        wrong[0] ^= 1;
        assert!(open_config_blob(&wrong, &blob).is_err());
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 0x80;
        assert!(open_config_blob(&dek, &bad).is_err());
        assert!(open_config_blob(&dek, &blob[..blob.len() - 1]).is_err());
        assert!(ConfigBlobHeader::parse(&blob[..10]).is_err());
    }
}

#[test]
fn config_header_rules() {
    let header = ConfigBlobHeader {
        key_id: "k<&>".to_owned(),
        version: Some("v1".to_owned()),
        kms_key: vec![1, 2, 3],
        algorithm: Algorithm::ChaCha20Poly1305,
        nonce: vec![0; 8],
    };
    let enc = header.encode().unwrap();
    assert_eq!(
        &enc[5..],
        br#"{"keyid":"k\u003c\u0026\u003e","version":"v1","kmskey":"AQID","algorithm":"ChaCha20-Poly1305","nonce":"AAAAAAAAAAA="}"#
    );
    let (parsed, rest) = ConfigBlobHeader::parse(&enc).unwrap();
    assert_eq!(parsed, header);
    assert!(rest.is_empty());

    let mut bad_version = enc.clone();
    bad_version[0] = 2;
    assert!(ConfigBlobHeader::parse(&bad_version).is_err());
    let mut too_big = enc.clone();
    too_big[1..5].copy_from_slice(&((1u32 << 20) + 1).to_le_bytes());
    assert!(ConfigBlobHeader::parse(&too_big).is_err());
    let odd = br#"{"keyid":"k","kmskey":"AQID","algorithm":"AES-512","nonce":"AAAAAAAAAAA="}"#;
    let mut blob = vec![1];
    blob.extend_from_slice(&(odd.len() as u32).to_le_bytes());
    blob.extend_from_slice(odd);
    assert!(ConfigBlobHeader::parse(&blob).is_err());
    let short_nonce = br#"{"keyid":"k","kmskey":"AQID","algorithm":"AES-256-GCM","nonce":"AAAA"}"#;
    let mut blob = vec![1];
    blob.extend_from_slice(&(short_nonce.len() as u32).to_le_bytes());
    blob.extend_from_slice(short_nonce);
    assert!(ConfigBlobHeader::parse(&blob).is_err());
}

/// The whole MinIO IAM/config flow with the static-key KMS of
/// `docs/kms/IAM.md` (the key of `sse-envelope-derived.json`): GenerateKey
/// with the vector's randomness gives the stored `kmskey`, Decrypt gives the
/// DEK back, and the DEK opens the blob.
#[test]
fn minio_config_blobs_through_the_static_kms() {
    use kes_crypto::sse::{Context, ExternalKey, static_kms::StaticKey};

    let kms =
        StaticKey::parse("my-minio-key:OSMM+vkKUTCvQs9YL/CVMIMt43HFhkUpqJxTmGl6rYw=").unwrap();
    let v = load();
    for case in v["derived_minio_config_blobs"].as_array().unwrap() {
        let context =
            Context::from_json(case["kms_context_json"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(
            context.to_json(),
            case["kms_context_json"].as_str().unwrap().as_bytes()
        );
        let random = hexv(&case["kms_random28_hex"]);
        let dek: [u8; 32] = hexv(&case["dek_hex"]).try_into().unwrap();
        let generated = kms
            .generate_key_with(
                "",
                &context,
                ExternalKey::from_bytes(dek),
                random[..16].try_into().unwrap(),
                random[16..].try_into().unwrap(),
            )
            .unwrap();
        assert_eq!(
            generated.ciphertext(),
            b64(case["kmskey_b64"].as_str().unwrap())
        );

        let blob = seal_config_blob(
            &dek,
            &ConfigBlobHeader {
                key_id: kms.name().to_owned(),
                version: None,
                kms_key: generated.ciphertext().to_vec(),
                algorithm: Algorithm::from_name(case["algorithm"].as_str().unwrap()).unwrap(),
                nonce: hexv(&case["stream_nonce8_hex"]),
            },
            &blob_plaintext(case),
        )
        .unwrap();
        assert_eq!(
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &blob)),
            case["blob_sha256"].as_str().unwrap()
        );

        // Reading: parse the header, ask the KMS for the DEK, open the stream.
        let (header, _) = ConfigBlobHeader::parse(&blob).unwrap();
        let recovered = kms
            .decrypt(&header.key_id, &header.kms_key, &context)
            .unwrap();
        assert_eq!(recovered.expose_secret(), &dek);
        let plaintext = open_config_blob(recovered.expose_secret(), &blob).unwrap();
        assert_eq!(&plaintext[..], &blob_plaintext(case)[..]);
        // The fallback context MinIO tries second does not decrypt this DEK.
        let path = case["object_path"].as_str().unwrap();
        let fallback: Context = [(".minio.sys", path)].into_iter().collect();
        assert!(
            kms.decrypt(&header.key_id, &header.kms_key, &fallback)
                .is_err()
        );
    }
}
