//! End to end against a real `kes-server --dev` on loopback, with keys managed through the
//! real `kes-cli`: SSE-S3 and SSE-KMS round trips, ranges at package borders, multipart,
//! bucket defaults, rotation, locking by deleting the key and restoring it by import,
//! tampering, the walkthrough, and the seed-003 migration from MINIO_KMS_SECRET_KEY.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Kes, STATIC_KEY, fails, ok, pattern, run_with_stdin};
use serde_json::Value;

const KEY_A: [u8; 32] = [0x11; 32];
const KEY_B: [u8; 32] = [0x22; 32];

fn import(kes: &Kes, name: &str, key: &[u8; 32]) {
    kes.cli_ok(&["key", "import", name, &B64.encode(key)]);
}

fn stat(kes: &Kes, store: &Path, target: &str) -> Value {
    let out = ok(kes
        .sse_demo(store, "default-key")
        .args(["stat", target, "--json"]));
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn sse_s3_and_sse_kms_round_trips_of_every_size() {
    let kes = Kes::start();
    kes.cli_ok(&["key", "create", "default-key"]);
    kes.cli_ok(&["key", "create", "bucket-key"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let demo = || kes.sse_demo(&store, "default-key");
    ok(demo().args(["mb", "sizes"]));
    for len in [0usize, 1, 65535, 65536, 65537, 100 << 20] {
        let data = pattern(len, 7);
        let file = dir.path().join(format!("in-{len}"));
        fs::write(&file, &data).unwrap();
        for (flag, key) in [("--sse-s3", None), ("--sse-kms", Some("bucket-key"))] {
            let object = format!("sizes/{len}{flag}");
            let mut put = demo();
            put.arg("put").arg(&file).arg(&object).arg(flag);
            if let Some(k) = key {
                put.arg(k);
            }
            let summary = String::from_utf8(ok(&mut put)).unwrap();
            assert!(summary.contains("MiB/s"), "{summary}");
            let st = stat(&kes, &store, &object);
            assert_eq!(st["size"], len as u64);
            let expect_type = if key.is_some() { "SSE-KMS" } else { "SSE-S3" };
            assert_eq!(st["encryption"]["type"], expect_type);
            assert_eq!(
                st["encryption"]["key_id"],
                key.unwrap_or("default-key"),
                "{st}"
            );
            let out = dir.path().join("out");
            ok(demo().arg("get").arg(&object).arg(&out));
            assert!(fs::read(&out).unwrap() == data, "{object} differs");
            // stdout too, for the small ones.
            if len <= 65537 {
                assert!(ok(demo().args(["get", &object, "-q"])) == data);
            }
        }
        fs::remove_file(&file).unwrap();
    }
}

#[test]
fn ranges_multipart_defaults_rotation_locking_and_tampering() {
    let kes = Kes::start();
    kes.cli_ok(&["key", "create", "default-key"]);
    import(&kes, "key-a", &KEY_A);
    import(&kes, "key-b", &KEY_B);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let demo = || kes.sse_demo(&store, "default-key");

    // Bucket default vs explicit key.
    ok(demo().args(["mb", "alpha"]));
    ok(demo().args(["mb", "beta"]));
    let missing = fails(demo().args(["encrypt", "set", "sse-kms", "no-such-key", "alpha"]));
    assert!(missing.contains("key does not exist"), "{missing}");
    ok(demo().args(["encrypt", "set", "sse-kms", "key-a", "alpha"]));
    ok(demo().args(["encrypt", "set", "sse-kms", "key-b", "beta"]));
    let info = String::from_utf8(ok(demo().args(["encrypt", "info", "alpha"]))).unwrap();
    assert!(
        info.contains("'sse-kms'") && info.contains("key-a"),
        "{info}"
    );

    let len = 3 * 65536 + 100;
    let data = pattern(len, 3);
    let file = dir.path().join("data");
    fs::write(&file, &data).unwrap();
    ok(demo().arg("put").arg(&file).arg("alpha/default"));
    ok(demo()
        .arg("put")
        .arg(&file)
        .arg("alpha/explicit-s3")
        .arg("--sse-s3"));
    ok(demo()
        .arg("put")
        .arg(&file)
        .arg("alpha/explicit-kms")
        .args([
            "--sse-kms",
            "arn:aws:kms:key-b",
            "--context",
            r#"{"project":"demo"}"#,
        ]));
    ok(demo()
        .arg("put")
        .arg(&file)
        .arg("alpha/multi")
        .args(["--part-size", "100000"]));
    ok(demo().arg("put").arg(&file).arg("beta/other"));
    let s = stat(&kes, &store, "alpha/default");
    assert_eq!(
        (&s["encryption"]["type"], &s["encryption"]["key_id"]),
        (&Value::from("SSE-KMS"), &Value::from("key-a"))
    );
    let s = stat(&kes, &store, "alpha/explicit-s3");
    assert_eq!(s["encryption"]["type"], "SSE-S3");
    assert_eq!(s["encryption"]["key_id"], "default-key");
    let s = stat(&kes, &store, "alpha/explicit-kms");
    assert_eq!(s["encryption"]["key_id"], "key-b");
    assert_eq!(s["encryption"]["context"], r#"{"project":"demo"}"#);
    let s = stat(&kes, &store, "alpha/multi");
    assert_eq!(s["parts"], 2);
    assert_eq!(s["encryption"]["multipart"], true);
    assert!(s["etag"].as_str().unwrap().ends_with("-2"), "{s}");

    // Ranges at package (and part) borders.
    for object in ["alpha/default", "alpha/multi"] {
        for (a, b) in [
            (0usize, 0usize),
            (65535, 65535),
            (65535, 65536),
            (65536, 65536),
            (131071, 131072),
            (99999, 100000),
            (196607, 196608),
            (0, len - 1),
            (len - 1, len - 1),
            (65000, 140000),
        ] {
            let got = ok(demo().args(["get", object, "-q", "--range", &format!("{a}-{b}")]));
            assert!(got == data[a..=b], "{object} range {a}-{b}");
        }
        let tail = ok(demo().args(["get", object, "-q", "--range", "-10"]));
        assert!(tail == data[len - 10..]);
        let err = fails(demo().args(["get", object, "--range", &format!("{len}-")]));
        assert!(err.contains("not satisfiable"), "{err}");
    }

    // Rotation: new DEK/IV (and key), the data files do not change, the objects read.
    let part_of = |object: &str| -> Vec<u8> {
        let meta_path = store.join("alpha").join(object).join("meta.json");
        let meta: Value = serde_json::from_slice(&fs::read(meta_path).unwrap()).unwrap();
        let data_dir = meta["data_dir"].as_str().unwrap().to_owned();
        fs::read(
            store
                .join("alpha")
                .join(object)
                .join(data_dir)
                .join("part.1"),
        )
        .unwrap()
    };
    let before = part_of("default");
    let iv_before = stat(&kes, &store, "alpha/default")["metadata"]
        ["X-Minio-Internal-Server-Side-Encryption-Iv"]
        .clone();
    let out = String::from_utf8(ok(demo().args(["rotate", "alpha", "--to", "key-b"]))).unwrap();
    assert!(out.contains("4 object(s) rotated"), "{out}");
    assert_eq!(part_of("default"), before);
    let s = stat(&kes, &store, "alpha/default");
    assert_eq!(s["encryption"]["key_id"], "key-b");
    assert_ne!(
        s["metadata"]["X-Minio-Internal-Server-Side-Encryption-Iv"],
        iv_before
    );
    assert_eq!(
        stat(&kes, &store, "alpha/explicit-s3")["encryption"]["key_id"],
        "default-key"
    );
    for object in [
        "alpha/default",
        "alpha/explicit-s3",
        "alpha/explicit-kms",
        "alpha/multi",
    ] {
        assert!(ok(demo().args(["get", object, "-q"])) == data, "{object}");
    }
    // Back to key-a for the locking test.
    ok(demo().args(["rotate", "alpha", "--to", "key-a", "-q"]));
    ok(demo().args(["rotate", "beta", "-q"]));

    // Locking by deleting the key; other buckets stay readable; restore by import.
    kes.cli_ok(&["key", "rm", "key-a"]);
    let err = fails(demo().args(["get", "alpha/default", "-q"]));
    assert!(err.contains("key does not exist"), "{err}");
    let err = fails(demo().args(["get", "alpha/multi", "-q"]));
    assert!(err.contains("key does not exist"), "{err}");
    assert!(ok(demo().args(["get", "beta/other", "-q"])) == data);
    assert!(ok(demo().args(["get", "alpha/explicit-s3", "-q"])) == data);
    import(&kes, "key-a", &KEY_A);
    assert!(ok(demo().args(["get", "alpha/default", "-q"])) == data);
    assert!(ok(demo().args(["get", "alpha/multi", "-q"])) == data);
    // A different key under the same name does not unlock anything.
    kes.cli_ok(&["key", "rm", "key-a"]);
    import(&kes, "key-a", &[0x33; 32]);
    let err = fails(demo().args(["get", "alpha/default", "-q"]));
    assert!(err.contains("not authentic"), "{err}");
    kes.cli_ok(&["key", "rm", "key-a"]);
    import(&kes, "key-a", &KEY_A);

    // Tampering: one byte of data or metadata makes get fail; the output file never appears.
    let out = dir.path().join("tampered-out");
    for object in ["default", "multi"] {
        let obj_dir = store.join("alpha").join(object);
        let meta_path = obj_dir.join("meta.json");
        let original_meta = fs::read(&meta_path).unwrap();
        let meta: Value = serde_json::from_slice(&original_meta).unwrap();
        let part = obj_dir
            .join(meta["data_dir"].as_str().unwrap())
            .join("part.1");
        let original_part = fs::read(&part).unwrap();
        for pos in [
            0usize,
            3,
            4,
            16,
            40_000,
            65567,
            65568 + 20,
            original_part.len() - 1,
        ] {
            let mut bad = original_part.clone();
            bad[pos] ^= 0x01;
            fs::write(&part, &bad).unwrap();
            let err = fails(demo().args(["get", &format!("alpha/{object}")]).arg(&out));
            assert!(err.contains("tampered"), "{object} byte {pos}: {err}");
            assert!(!out.exists());
        }
        fs::write(&part, &original_part).unwrap();
        let meta_text = String::from_utf8(original_meta.clone()).unwrap();
        // One character of each security-relevant entry.
        for (needle, skip) in [
            ("\"X-Minio-Internal-Server-Side-Encryption-Iv\": \"", 2),
            (
                "\"X-Minio-Internal-Server-Side-Encryption-Kms-Sealed-Key\": \"",
                2,
            ),
            (
                "\"X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key\": \"",
                2,
            ),
            (
                "\"X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id\": \"",
                2,
            ),
            ("\"etag\": \"", 2),
            ("\"size\": ", 0),
            ("\"actual_size\": ", 0),
            ("\"number\": ", 0),
            ("\"object\": \"", 2),
        ] {
            let at =
                meta_text.find(needle).unwrap_or_else(|| panic!("{needle}")) + needle.len() + skip;
            let mut bad = meta_text.clone().into_bytes();
            bad[at] = if bad[at] == b'1' { b'2' } else { b'1' };
            fs::write(&meta_path, &bad).unwrap();
            let out_err = fails(demo().args(["get", &format!("alpha/{object}")]).arg(&out));
            assert!(!out.exists(), "{object} {needle}");
            assert!(!out_err.is_empty());
        }
        fs::write(&meta_path, &original_meta).unwrap();
        assert!(ok(demo().args(["get", &format!("alpha/{object}"), "-q"])) == data);
    }
    // Dropping the last part of a multipart object (and fixing the size) is detected.
    let meta_path = store.join("alpha").join("multi").join("meta.json");
    let original = fs::read(&meta_path).unwrap();
    let mut meta: Value = serde_json::from_slice(&original).unwrap();
    let last = meta["parts"].as_array_mut().unwrap().pop().unwrap();
    let size = meta["size"].as_u64().unwrap() - last["actual_size"].as_u64().unwrap();
    meta["size"] = size.into();
    fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let err = fails(demo().args(["get", "alpha/multi", "-q"]));
    assert!(err.contains("tampered"), "{err}");
    fs::write(&meta_path, &original).unwrap();
}

#[test]
fn walkthrough_runs_every_stage_against_kes() {
    let kes = Kes::start();
    let dir = tempfile::tempdir().unwrap();
    let out = String::from_utf8(ok(kes
        .sse_demo(&dir.path().join("store"), "default-key")
        .args(["walkthrough", "--show-keys"])))
    .unwrap();
    for stage in [
        "1. A key for the bucket",
        "3. PUT",
        "KEK = HMAC-SHA256(DEK, IV",
        "5. Key rotation",
        "6. Secure erasure",
        "key does not exist",
        "7. Restore",
        "All stages behaved as described.",
    ] {
        assert!(out.contains(stage), "missing {stage:?} in:\n{out}");
    }
    // The walkthrough cleans up its key.
    let keys = kes.cli_ok(&["key", "ls"]);
    assert!(!keys.contains("sse-demo-walkthrough"), "{keys}");
    // Stopping the server leaves none of its dev-mode files behind.
    let dev_dir = kes.ca.parent().unwrap().to_owned();
    assert!(dev_dir.join("admin.key").exists());
    drop(kes);
    assert!(!dev_dir.exists(), "{} was left behind", dev_dir.display());
}

#[test]
fn seed_003_migration_from_the_static_key_to_kes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (name, b64) = STATIC_KEY.split_once(':').unwrap();
    let config = br#"{"version":1,"credentials":{"accessKey":"alice","secretKey":"alice-secret-123","status":"on"}}"#;
    let path = "config/iam/users/alice/identity.json";

    // 1. MinIO with MINIO_KMS_SECRET_KEY: encrypt config data and an SSE-S3 object.
    let with_static = || {
        let mut c = common::sse_demo(&store);
        c.env("MINIO_KMS_SECRET_KEY", STATIC_KEY);
        c
    };
    let blob = run_with_stdin(
        with_static().args(["config", "encrypt", "--context", path]),
        config,
    );
    assert!(
        blob.status.success(),
        "{}",
        String::from_utf8_lossy(&blob.stderr)
    );
    let blob = blob.stdout;
    assert_eq!(blob[0], 1);
    ok(with_static().args(["mb", "legacy"]));
    let data = pattern(70_000, 9);
    fs::write(dir.path().join("obj"), &data).unwrap();
    ok(with_static()
        .arg("put")
        .arg(dir.path().join("obj"))
        .args(["legacy/obj", "--sse-s3"]));

    // 2. Import the same key into KES with kes-cli.
    let kes = Kes::start();
    kes.cli_ok(&["key", "import", name, b64]);

    // 3. Read both through the server.
    let plain = run_with_stdin(
        kes.sse_demo(&store, name)
            .args(["config", "decrypt", "--context", path]),
        &blob,
    );
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    assert_eq!(plain.stdout, config);
    assert!(ok(kes.sse_demo(&store, name).args(["get", "legacy/obj", "-q"])) == data);
    // And back: KES-written config data opens with the static key.
    let blob2 = run_with_stdin(
        kes.sse_demo(&store, name)
            .args(["config", "encrypt", "--context", path]),
        config,
    );
    assert!(blob2.status.success());
    let back = run_with_stdin(
        with_static().args(["config", "decrypt", "--context", path]),
        &blob2.stdout,
    );
    assert_eq!(back.stdout, config);
    // A wrong context fails cleanly.
    let wrong = run_with_stdin(
        kes.sse_demo(&store, name)
            .args(["config", "decrypt", "--context", "config/other.json"]),
        &blob,
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not authentic"));
}
