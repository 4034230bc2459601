//! DARE vectors: `minio/sio` golden and invalid packages, derived multi-package
//! streams and size tables, and MinIO's range-read arithmetic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read as _;

use kes_crypto::sse::dare::{
    self, CipherSuite, DareDecryptReader, DareEncryptReader, DareEncryptWriter, DecryptOptions,
    RangePlan, Version,
};
use serde_json::Value;
use zeroize::Zeroizing;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn hex12(v: &Value) -> [u8; 12] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

fn suite(id: u64) -> CipherSuite {
    CipherSuite::from_id(u8::try_from(id).unwrap()).unwrap()
}

#[test]
fn v10_golden_packages_decrypt() {
    let v = load("dare-packages.json");
    let key = hex32(&v["key_hex"]);
    let golden = v["v10"]["golden"].as_array().unwrap();
    assert_eq!(golden.len(), 128);
    for (i, g) in golden.iter().enumerate() {
        let seq = u32::try_from(u(&g["seq"])).unwrap();
        assert_eq!(seq as usize, i);
        let package = bytes(&g["package_hex"]);
        let len = usize::try_from(u(&g["plaintext_len"])).unwrap();
        assert_eq!(package[1], u8::try_from(u(&g["cipher"])).unwrap());
        for opts in [
            DecryptOptions::new().sequence_number(seq),
            DecryptOptions::new()
                .versions(Version::V10, Version::V10)
                .sequence_number(seq),
        ] {
            let pt = dare::decrypt_to_vec_with(&key, &package, &opts).unwrap();
            assert_eq!(pt, vec![0u8; len], "v1.0 golden {i}");
        }
        // The 2.0-only decryptor refuses DARE 1.0; the wrong seq fails.
        assert!(dare::open_package_with(&key, &package, &DecryptOptions::v2_only()).is_err());
        let wrong = DecryptOptions::new().sequence_number(seq.wrapping_add(1));
        assert!(dare::decrypt_to_vec_with(&key, &package, &wrong).is_err());
    }
}

#[test]
fn v20_golden_packages_decrypt_and_reseal() {
    let v = load("dare-packages.json");
    let key = hex32(&v["key_hex"]);
    let nonce = hex12(&v["v20"]["rand12_hex"]);
    let golden = v["v20"]["golden"].as_array().unwrap();
    assert_eq!(golden.len(), 128);
    for (i, g) in golden.iter().enumerate() {
        let seq = u32::try_from(u(&g["seq"])).unwrap();
        let package = bytes(&g["package_hex"]);
        let len = usize::try_from(u(&g["plaintext_len"])).unwrap();
        let opts = DecryptOptions::v2_only().sequence_number(seq);
        let pt = dare::open_package_with(&key, &package, &opts).unwrap();
        assert_eq!(&pt[..], &vec![0u8; len][..], "v2.0 golden {i}");
        let auto = DecryptOptions::new().sequence_number(seq);
        assert_eq!(
            dare::decrypt_to_vec_with(&key, &package, &auto)
                .unwrap()
                .len(),
            len
        );
        let resealed = dare::seal_package_with_sequence(
            &key,
            suite(u(&g["cipher"])),
            nonce,
            seq,
            &vec![0u8; len],
        )
        .unwrap();
        assert_eq!(
            hex::encode(resealed),
            g["package_hex"].as_str().unwrap(),
            "reseal {i}"
        );
        if seq != 0 {
            assert!(dare::open_package(&key, &package).is_err());
        }
    }
}

#[test]
fn invalid_packages_fail() {
    let v = load("dare-packages.json");
    let key = hex32(&v["key_hex"]);
    for (version, pinned) in [("v10", Version::V10), ("v20", Version::V20)] {
        let invalid = v[version]["invalid"].as_array().unwrap();
        assert_eq!(invalid.len(), 18);
        for (i, case) in invalid.iter().enumerate() {
            let seq = u32::try_from(u(&case["expected_seq"])).unwrap();
            let package = bytes(&case["package_hex"]);
            let reason = case["reason"].as_str().unwrap();
            for opts in [
                DecryptOptions::new().sequence_number(seq),
                DecryptOptions::new()
                    .versions(pinned, pinned)
                    .sequence_number(seq),
            ] {
                let err = dare::decrypt_to_vec_with(&key, &package, &opts).unwrap_err();
                assert!(
                    matches!(err, kes_crypto::Error::NotAuthentic),
                    "{version} invalid {i} ({reason}): {err:?}"
                );
                let mut out = Vec::new();
                let e = DareDecryptReader::with_options(&package[..], &key, &opts)
                    .read_to_end(&mut out)
                    .unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            }
        }
    }
}

fn stream_plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((7 * i + 3) % 256) as u8).collect()
}

#[test]
fn derived_streams() {
    let v = load("dare-streams-derived.json");
    let key = hex32(&v["key_hex"]);
    let nonce = hex12(&v["nonce12_hex"]);
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 16);
    for s in streams {
        let len = usize::try_from(u(&s["plaintext_len"])).unwrap();
        let cs = suite(u(&s["cipher"]));
        let pt = stream_plaintext(len);
        let ct = dare::encrypt_to_vec_with_nonce(&key, cs, nonce, &pt).unwrap();
        assert_eq!(ct.len() as u64, u(&s["ciphertext_len"]));
        assert_eq!(sha256_hex(&ct), s["ciphertext_sha256"].as_str().unwrap());
        if let Some(full) = s.get("ciphertext_hex") {
            assert_eq!(hex::encode(&ct), full.as_str().unwrap());
        }
        let headers: Vec<String> = ct
            .chunks(dare::MAX_PACKAGE_SIZE)
            .map(|p| hex::encode(&p[..16]))
            .collect();
        let expected: Vec<&str> = s["package_headers_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(headers, expected, "headers of {len}/{cs:?}");

        // The streaming encryptors write the same bytes.
        let mut w = DareEncryptWriter::with_nonce(Vec::new(), &key, cs, nonce).unwrap();
        for chunk in pt.chunks(4099) {
            std::io::Write::write_all(&mut w, chunk).unwrap();
        }
        assert_eq!(w.finish().unwrap(), ct);
        let mut r = Vec::new();
        DareEncryptReader::with_nonce(&pt[..], &key, cs, nonce)
            .unwrap()
            .read_to_end(&mut r)
            .unwrap();
        assert_eq!(r, ct);

        assert_eq!(dare::decrypt_to_vec(&key, &ct).unwrap(), pt);
        let mut out = Vec::new();
        DareDecryptReader::new(&ct[..], &key)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, pt);
    }
}

#[test]
fn size_tables() {
    let v = load("dare-streams-derived.json");
    let enc = v["encrypted_size"].as_array().unwrap();
    assert_eq!(enc.len(), 13);
    for row in enc {
        assert_eq!(
            dare::encrypted_size(u(&row["plaintext"])).unwrap(),
            u(&row["encrypted"])
        );
    }
    let dec = v["decrypted_size"].as_array().unwrap();
    assert_eq!(dec.len(), 14);
    for row in dec {
        let got = dare::decrypted_size(u(&row["encrypted"]));
        match row["decrypted"].as_u64() {
            Some(d) => assert_eq!(got.unwrap(), d),
            None => assert!(got.is_err(), "{row}"),
        }
    }
}

fn check_plan(case: &Value, sizes: &[u64]) -> RangePlan {
    let e = &case["expected"];
    let plan = RangePlan::new(sizes, u(&case["offset"]), u(&case["length"])).unwrap();
    assert_eq!(plan.encrypted_offset(), u(&e["encOff"]), "{case}");
    assert_eq!(plan.encrypted_length(), u(&e["encLength"]), "{case}");
    assert_eq!(plan.skip_length(), u(&e["skipLen"]), "{case}");
    assert_eq!(
        u64::from(plan.sequence_number()),
        u(&e["seqNumber"]),
        "{case}"
    );
    assert_eq!(plan.part_start() as u64, u(&e["partStart"]), "{case}");
    let spans: u64 = plan.spans().iter().map(|s| s.encrypted_length()).sum();
    assert_eq!(spans, plan.encrypted_length());
    plan
}

#[test]
fn range_issue50() {
    let v = load("decrypted-range-vectors.json");
    let case = &v["go_issue50"];
    let sizes: Vec<u64> = case["part_encrypted_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(u)
        .collect();
    let plan = check_plan(case, &sizes);
    assert_eq!(plan.part_end(), 1);
}

#[test]
fn range_derived_plans_and_decryption() {
    let v = load("decrypted-range-vectors.json");
    let cases = v["derived"].as_array().unwrap();
    assert_eq!(cases.len(), 21);
    for case in cases {
        let sizes: Vec<u64> = case["part_encrypted_sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(u)
            .collect();
        let decrypted: Vec<u64> = case["decrypted_sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(u)
            .collect();
        for (&e, &d) in sizes.iter().zip(&decrypted) {
            assert_eq!(dare::decrypted_size(e).unwrap(), d);
        }
        let plan = check_plan(case, &sizes);

        // Build the object for real (one key per part) and decrypt the range.
        let keys: Vec<[u8; 32]> = (0..sizes.len()).map(|i| [i as u8 + 1; 32]).collect();
        let mut plain = Vec::new();
        let mut object = Vec::new();
        for (i, &d) in decrypted.iter().enumerate() {
            let part: Vec<u8> = (0..d)
                .map(|j| (j as u8).wrapping_mul(31) ^ i as u8)
                .collect();
            let cs = if i % 2 == 0 {
                CipherSuite::Aes256Gcm
            } else {
                CipherSuite::ChaCha20Poly1305
            };
            object.extend(
                dare::encrypt_to_vec_with_nonce(&keys[i], cs, [i as u8; 12], &part).unwrap(),
            );
            plain.extend(part);
        }
        let start = usize::try_from(plan.encrypted_offset()).unwrap();
        let end = start + usize::try_from(plan.encrypted_length()).unwrap();
        let mut out = Vec::new();
        plan.decrypt(&object[start..end], |i| Ok(Zeroizing::new(keys[i])))
            .read_to_end(&mut out)
            .unwrap();
        let off = usize::try_from(plan.offset()).unwrap();
        let len = usize::try_from(plan.length()).unwrap();
        assert_eq!(out, &plain[off..off + len], "{case}");
    }
}
