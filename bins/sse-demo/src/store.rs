//! The local object store under `--store DIR`, laid out like a (much simplified) MinIO
//! drive:
//!
//! ```text
//! DIR/<bucket>/.encryption.xml                bucket default encryption (MinIO's XML)
//! DIR/<bucket>/<encoded object>/meta.json     sizes, parts and the object metadata map
//!                                             (MinIO's internal entry names)
//! DIR/<bucket>/<encoded object>/<data dir>/part.N   DARE 2.0 streams, one per part
//! ```
//!
//! Object names are percent-encoded into one directory name (`/` → `%2F`, a leading `.` →
//! `%2E`, anything outside `[A-Za-z0-9._-]` → `%XX`), so names never clash with the
//! store's own dot-files. Writes are crash-safe: data goes into a fresh data directory and
//! becomes visible only when `meta.json` is replaced by a rename (temp file + `fsync` +
//! `rename` + directory `fsync`), the way MinIO switches `xl.meta`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use kes_crypto::sse::bucket_config::BucketSseConfig;
use serde::{Deserialize, Serialize};

/// The `format` value of `meta.json`.
pub(crate) const META_FORMAT: &str = "sse-demo/1";
const META_FILE: &str = "meta.json";
const BUCKET_SSE_FILE: &str = ".encryption.xml";
/// Longest object name S3 accepts, in bytes.
const MAX_OBJECT_NAME: usize = 1024;
/// Longest file-name component most file systems accept.
const MAX_COMPONENT: usize = 255;

/// One part of an object: a DARE stream (or plain bytes) in `part.<number>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartMeta {
    /// The part number (1-based; multipart keys and nonces are derived from it).
    pub(crate) number: u32,
    /// Stored (encrypted) size in bytes.
    pub(crate) size: u64,
    /// Plaintext size in bytes.
    pub(crate) actual_size: u64,
    /// The part's ETag as stored (sealed with the object key, hex) for encrypted objects.
    pub(crate) etag: String,
}

/// `meta.json`: everything about an object except its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjectMeta {
    /// [`META_FORMAT`].
    pub(crate) format: String,
    /// The bucket (informational; the KEK binds the path).
    pub(crate) bucket: String,
    /// The object name (informational; the KEK binds the path).
    pub(crate) object: String,
    /// Plaintext size.
    pub(crate) size: u64,
    /// Last modification (RFC 3339, UTC).
    pub(crate) mod_time: String,
    /// The directory holding the part files.
    pub(crate) data_dir: String,
    /// The multipart upload id (multipart objects only; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) upload_id: Option<String>,
    /// The parts in order.
    pub(crate) parts: Vec<PartMeta>,
    /// The object metadata as MinIO keeps it: user entries (`content-type`, `etag`) and
    /// the internal SSE entries (`X-Minio-Internal-Server-Side-Encryption-…`).
    pub(crate) metadata: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// Stored sizes of the parts, in order.
    pub(crate) fn part_sizes(&self) -> Vec<u64> {
        self.parts.iter().map(|p| p.size).collect()
    }

    /// Total stored size.
    pub(crate) fn stored_size(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| p.size)
            .fold(0, u64::saturating_add)
    }
}

/// The store.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
    sync: bool,
}

/// Checks an S3 bucket name (MinIO's strict rules, simplified): 3–63 characters of
/// `a-z 0-9 . -`, starting and ending with a letter or digit, no `..`.
pub(crate) fn check_bucket_name(name: &str) -> Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        bail!(
            "invalid bucket name '{name}': use 3-63 characters a-z, 0-9, '.' and '-', \
             starting and ending with a letter or digit"
        )
    }
}

/// Checks an object name the way MinIO does for the parts that matter here: non-empty, at
/// most 1024 bytes, no NUL, not starting with `/`, no empty, `.` or `..` segments (they
/// would make two names share one `path.Join` and so one KEK).
pub(crate) fn check_object_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(anyhow!("invalid object name '{name}': {why}"));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_OBJECT_NAME {
        return bad("longer than 1024 bytes");
    }
    if name.contains('\0') {
        return bad("contains NUL");
    }
    if name.starts_with('/') {
        return bad("starts with '/'");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("has an empty, '.' or '..' segment");
    }
    if encode_object_name(name).len() > MAX_COMPONENT {
        return bad("too long for this store once encoded (255 bytes)");
    }
    Ok(())
}

/// Percent-encodes an object name into one directory name.
pub(crate) fn encode_object_name(name: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Inverse of [`encode_object_name`]; `None` for names it never produces.
pub(crate) fn decode_object_name(encoded: &str) -> Option<String> {
    if encoded.starts_with('.') {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The current time as RFC 3339 (UTC).
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Random lowercase hex of `N` bytes.
pub(crate) fn random_hex<const N: usize>() -> Result<String> {
    let bytes = kes_crypto::rng::array::<N>().map_err(|e| anyhow!("{e}"))?;
    Ok(hex::encode(bytes))
}

/// Writes `bytes` to `path` crash-safely: a temp file in the same directory, `fsync`,
/// `rename`, then `fsync` of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("'{}' has no parent directory", path.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", random_hex::<8>()?));
    let result = (|| -> Result<()> {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("cannot create '{}'", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write '{}'", tmp.display()))?;
        if sync {
            f.sync_all()
                .with_context(|| format!("cannot sync '{}'", tmp.display()))?;
        }
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename into '{}'", path.display()))?;
        if sync {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `fsync` of a directory (makes a rename durable); a no-op where directories cannot be
/// opened.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync directory '{}'", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl Store {
    /// The store rooted at `root` (created by the first `mb`). `sync` = `fsync` data and
    /// metadata before making them visible.
    pub(crate) fn new(root: impl Into<PathBuf>, sync: bool) -> Self {
        Self {
            root: root.into(),
            sync,
        }
    }

    /// The root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Whether writes are synced.
    pub(crate) fn sync(&self) -> bool {
        self.sync
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// The directory of one object.
    pub(crate) fn object_dir(&self, bucket: &str, object: &str) -> PathBuf {
        self.bucket_dir(bucket).join(encode_object_name(object))
    }

    /// The `meta.json` of one object.
    pub(crate) fn meta_path(&self, bucket: &str, object: &str) -> PathBuf {
        self.object_dir(bucket, object).join(META_FILE)
    }

    /// The file of part `number` of an object.
    pub(crate) fn part_path(&self, meta: &ObjectMeta, number: u32) -> PathBuf {
        self.object_dir(&meta.bucket, &meta.object)
            .join(&meta.data_dir)
            .join(format!("part.{number}"))
    }

    /// Fails unless the bucket exists.
    pub(crate) fn check_bucket(&self, bucket: &str) -> Result<()> {
        check_bucket_name(bucket)?;
        if self.bucket_dir(bucket).is_dir() {
            Ok(())
        } else {
            bail!(
                "bucket '{bucket}' does not exist in store '{}' (create it with 'sse-demo mb {bucket}')",
                self.root.display()
            )
        }
    }

    /// `mb`.
    pub(crate) fn make_bucket(&self, bucket: &str) -> Result<()> {
        check_bucket_name(bucket)?;
        let dir = self.bucket_dir(bucket);
        if dir.is_dir() {
            bail!("bucket '{bucket}' already exists");
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
        if self.sync {
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// `rb`: removes a bucket; with `force` also its objects.
    pub(crate) fn remove_bucket(&self, bucket: &str, force: bool) -> Result<()> {
        self.check_bucket(bucket)?;
        if !force && !self.list_objects(bucket, "")?.is_empty() {
            bail!("bucket '{bucket}' is not empty (use --force to remove its objects too)");
        }
        let dir = self.bucket_dir(bucket);
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove '{}'", dir.display()))
    }

    /// The bucket names, sorted.
    pub(crate) fn buckets(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read '{}'", self.root.display()));
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| check_bucket_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The bucket's default encryption, if set.
    pub(crate) fn bucket_sse(&self, bucket: &str) -> Result<Option<BucketSseConfig>> {
        self.check_bucket(bucket)?;
        let path = self.bucket_dir(bucket).join(BUCKET_SSE_FILE);
        let xml = match fs::read_to_string(&path) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read '{}'", path.display())),
        };
        BucketSseConfig::parse(&xml)
            .map(Some)
            .map_err(|e| anyhow!("'{}': {e}", path.display()))
    }

    /// Sets (`Some`) or clears (`None`) the bucket's default encryption.
    pub(crate) fn set_bucket_sse(
        &self,
        bucket: &str,
        config: Option<&BucketSseConfig>,
    ) -> Result<()> {
        self.check_bucket(bucket)?;
        let path = self.bucket_dir(bucket).join(BUCKET_SSE_FILE);
        match config {
            Some(c) => write_atomic(&path, c.to_xml().as_bytes(), self.sync),
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove '{}'", path.display()))
                }
                _ => Ok(()),
            },
        }
    }

    /// Reads an object's `meta.json`.
    pub(crate) fn read_meta(&self, bucket: &str, object: &str) -> Result<ObjectMeta> {
        self.check_bucket(bucket)?;
        check_object_name(object)?;
        let path = self.meta_path(bucket, object);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("object '{bucket}/{object}' does not exist")
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read '{}'", path.display())),
        };
        let meta: ObjectMeta = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow!("'{}' is not valid object metadata: {e}", path.display()))?;
        if meta.format != META_FORMAT {
            bail!(
                "'{}': unknown metadata format '{}' (expected '{META_FORMAT}')",
                path.display(),
                meta.format
            );
        }
        if meta.bucket != bucket || meta.object != object {
            bail!(
                "object '{bucket}/{object}' is tampered: its metadata names '{}/{}'",
                meta.bucket,
                meta.object
            );
        }
        if meta.data_dir.is_empty() || !meta.data_dir.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("object '{bucket}/{object}' is tampered: invalid data directory");
        }
        Ok(meta)
    }

    /// Lists the objects of a bucket whose names start with `prefix`, sorted by name.
    /// Directories without a readable `meta.json` (an interrupted first write) are skipped.
    pub(crate) fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.check_bucket(bucket)?;
        let dir = self.bucket_dir(bucket);
        let mut out = Vec::new();
        for entry in
            fs::read_dir(&dir).with_context(|| format!("cannot read '{}'", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read '{}'", dir.display()))?;
            let Some(name) = entry.file_name().to_str().and_then(decode_object_name) else {
                continue;
            };
            if !name.starts_with(prefix) || !entry.path().join(META_FILE).is_file() {
                continue;
            }
            out.push(self.read_meta(bucket, &name)?);
        }
        out.sort_by(|a, b| a.object.cmp(&b.object));
        Ok(out)
    }

    /// Creates the object directory and a fresh, empty data directory for a new version.
    pub(crate) fn new_data_dir(&self, bucket: &str, object: &str) -> Result<String> {
        self.check_bucket(bucket)?;
        check_object_name(object)?;
        let data_dir = random_hex::<16>()?;
        let path = self.object_dir(bucket, object).join(&data_dir);
        fs::create_dir_all(&path).with_context(|| format!("cannot create '{}'", path.display()))?;
        Ok(data_dir)
    }

    /// Removes a data directory that was never committed (a failed put).
    pub(crate) fn discard_data_dir(&self, bucket: &str, object: &str, data_dir: &str) {
        let obj = self.object_dir(bucket, object);
        let _ = fs::remove_dir_all(obj.join(data_dir));
        if !obj.join(META_FILE).exists() {
            let _ = fs::remove_dir(&obj);
        }
    }

    /// Makes a new version visible: replaces `meta.json` atomically, then removes the data
    /// directory of the version it replaced.
    pub(crate) fn commit(&self, meta: &ObjectMeta) -> Result<()> {
        let old = self.read_meta(&meta.bucket, &meta.object).ok();
        if self.sync {
            sync_dir(
                &self
                    .object_dir(&meta.bucket, &meta.object)
                    .join(&meta.data_dir),
            )?;
        }
        self.write_meta(meta)?;
        if let Some(old) = old.filter(|o| o.data_dir != meta.data_dir) {
            let _ = fs::remove_dir_all(
                self.object_dir(&meta.bucket, &meta.object)
                    .join(old.data_dir),
            );
        }
        Ok(())
    }

    /// Replaces `meta.json` atomically (rotate: new sealed keys, same data).
    pub(crate) fn write_meta(&self, meta: &ObjectMeta) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(meta)?;
        json.push(b'\n');
        write_atomic(
            &self.meta_path(&meta.bucket, &meta.object),
            &json,
            self.sync,
        )
    }

    /// `rm`: removes an object (metadata first, so a crash leaves no half object visible).
    pub(crate) fn remove_object(&self, bucket: &str, object: &str) -> Result<()> {
        self.read_meta(bucket, object)?;
        let meta = self.meta_path(bucket, object);
        fs::remove_file(&meta).with_context(|| format!("cannot remove '{}'", meta.display()))?;
        let dir = self.object_dir(bucket, object);
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove '{}'", dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_round_trip_and_never_start_with_a_dot() {
        for name in [
            "a",
            "photos/2024/cat.jpg",
            ".hidden",
            "..x",
            "ä/ö ü%",
            "dir/",
        ] {
            let enc = encode_object_name(name);
            assert!(!enc.starts_with('.'), "{enc}");
            assert!(!enc.contains('/'), "{enc}");
            assert_eq!(decode_object_name(&enc).as_deref(), Some(name));
        }
        assert_eq!(encode_object_name("a/b.c"), "a%2Fb.c");
        assert_eq!(decode_object_name(".encryption.xml"), None);
        assert_eq!(decode_object_name("%zz"), None);
        assert_eq!(decode_object_name("%4"), None);
    }

    #[test]
    fn name_rules() {
        assert!(check_bucket_name("my-bucket").is_ok());
        for bad in ["ab", "My", "-ab", "ab-", "a..b", &"a".repeat(64)] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        assert!(check_object_name("a/b/c").is_ok());
        assert!(check_object_name("dir/").is_ok());
        for bad in ["", "/a", "a//b", "a/./b", "a/../b", "..", "a\0b"] {
            assert!(check_object_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_object_name(&"x".repeat(300)).is_err());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", true).unwrap();
        write_atomic(&p, b"two", false).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn buckets_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), false);
        assert!(store.buckets().unwrap().is_empty());
        store.make_bucket("b1").unwrap_err();
        store.make_bucket("bkt").unwrap();
        assert!(store.make_bucket("bkt").is_err());
        assert_eq!(store.buckets().unwrap(), ["bkt"]);
        assert_eq!(store.bucket_sse("bkt").unwrap(), None);
        store
            .set_bucket_sse("bkt", Some(&BucketSseConfig::aes256()))
            .unwrap();
        assert_eq!(
            store.bucket_sse("bkt").unwrap(),
            Some(BucketSseConfig::aes256())
        );
        store.set_bucket_sse("bkt", None).unwrap();
        assert_eq!(store.bucket_sse("bkt").unwrap(), None);
        assert!(store.list_objects("bkt", "").unwrap().is_empty());
        assert!(store.read_meta("nope", "x").is_err());
        store.remove_bucket("bkt", false).unwrap();
        assert!(store.buckets().unwrap().is_empty());
    }
}
