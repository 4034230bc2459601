//! Encrypted objects: what MinIO does on PUT, GET and key rotation, on the local store.
//!
//! PUT: `GenerateKey` → DEK; object key (OEK) and IV; KEK = HMAC(DEK, IV ‖ domain ‖
//! `DAREv2-HMAC-SHA256` ‖ path.Join(bucket, object)); the OEK sealed under the KEK; the data
//! as DARE 2.0 under the OEK (multipart: under HMAC(OEK, LE32(part)) with MinIO's
//! deterministic part nonces); the ETag sealed under HMAC(OEK, `SSE-etag`).
//!
//! GET: the same chain backwards. Before any byte is returned the stored layout is checked
//! (part files and sizes), the DEK is decrypted, the OEK unsealed and the sealed ETags
//! opened; the data is then authenticated package by package, so tampered bytes are never
//! returned.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use kes_crypto::sse::bucket_config::{BucketSseConfig, SseAlgorithm};
use kes_crypto::sse::dare::{self, CipherSuite, DareEncryptReader, RangePlan};
use kes_crypto::sse::metadata::{self, MetadataMap, SealPolicy};
use kes_crypto::sse::object_key::IV_LEN;
use kes_crypto::sse::{
    Context, ExternalKey, ObjectKey, SealAlgorithm, SealedObjectKey, SseType, etag,
    multipart_part_nonce,
};
use md5::{Digest as _, Md5};
use zeroize::Zeroizing;

use crate::kms::{Kms, KmsError};
use crate::pipe::{Input, Reading, WriteBehind};
use crate::progress::Progress;
use crate::store::{META_FORMAT, ObjectMeta, PartMeta, Store, now_rfc3339, random_hex};

/// The metadata entry MinIO keeps the (possibly sealed) ETag under.
pub(crate) const META_ETAG: &str = "etag";
/// The content type entry.
pub(crate) const META_CONTENT_TYPE: &str = "content-type";
/// Size of the read buffer of put and get.
const IO_BUF: usize = 1 << 20;

/// The encryption an object is (to be) written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SseChoice {
    /// Plain data (no `--sse-*` flag and no bucket default, as in MinIO).
    None,
    /// SSE-S3: the KMS default key.
    S3,
    /// SSE-KMS: a named key and the client context.
    Kms {
        /// The key name (ARN prefix stripped).
        key: String,
        /// The client context (stored when non-empty).
        context: Context,
    },
}

impl SseChoice {
    /// The choice a bucket default asks for.
    pub(crate) fn from_bucket(config: &BucketSseConfig) -> Self {
        match config.algorithm() {
            SseAlgorithm::Aes256 => Self::S3,
            SseAlgorithm::AwsKms => Self::Kms {
                key: config.key_id().to_owned(),
                context: Context::new(),
            },
        }
    }

    /// `SSE-S3 (key 'k')`-style label.
    pub(crate) fn label(&self, kms: Option<&dyn Kms>) -> String {
        match self {
            Self::None => "not encrypted".to_owned(),
            Self::S3 => match kms.and_then(|k| k.default_key()) {
                Some(k) => format!("SSE-S3 (KMS default key '{k}')"),
                None => "SSE-S3".to_owned(),
            },
            Self::Kms { key, .. } => format!("SSE-KMS (key '{key}')"),
        }
    }
}

/// How a put splits its input into parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PartPlan {
    /// One single-part object.
    Single,
    /// A multipart object with parts of this many bytes (the last may be shorter).
    Fixed(u64),
    /// A multipart object with these part sizes; input beyond their sum continues in
    /// parts of the last size.
    List(Vec<u64>),
}

impl PartPlan {
    fn is_multipart(&self) -> bool {
        !matches!(self, Self::Single)
    }

    /// The plaintext limit of part `index` (0-based).
    fn limit(&self, index: usize) -> u64 {
        match self {
            Self::Single => u64::MAX,
            Self::Fixed(n) => *n,
            Self::List(sizes) => sizes
                .get(index)
                .or(sizes.last())
                .copied()
                .unwrap_or(u64::MAX),
        }
    }
}

/// Options of a put.
#[derive(Clone, Debug)]
pub(crate) struct PutOptions {
    /// The encryption (already resolved against the bucket default).
    pub(crate) sse: SseChoice,
    /// Single- or multipart.
    pub(crate) parts: PartPlan,
    /// Seal the MD5 of the data as ETag (S3's ETag) instead of 16 random bytes (MinIO's
    /// `--no-compat` behaviour, and what it does for SSE-KMS).
    pub(crate) md5: bool,
    /// How the object key is sealed (MinIO's `DAREv2-HMAC-SHA256`, or kes-rs v2).
    pub(crate) seal: SealAlgorithm,
    /// The content type to record.
    pub(crate) content_type: String,
}

/// The keys of a freshly written object, for the walkthrough's narration.
#[derive(Debug)]
pub(crate) struct NewKeys {
    /// The SSE type.
    pub(crate) sse: SseType,
    /// The KMS key that sealed the DEK.
    pub(crate) key_id: String,
    /// The KMS context sent with GenerateKey.
    pub(crate) kms_context: Context,
    /// The DEK (plaintext = external key).
    pub(crate) dek: kes_crypto::sse::Dek,
    /// The object key.
    pub(crate) oek: ObjectKey,
    /// The sealed object key with its IV.
    pub(crate) sealed: SealedObjectKey,
    /// The SSE metadata entries.
    pub(crate) entries: BTreeMap<String, String>,
}

/// What a put did.
#[derive(Debug)]
pub(crate) struct PutReport {
    /// The committed metadata.
    pub(crate) meta: ObjectMeta,
    /// The keys (encrypted objects).
    pub(crate) keys: Option<NewKeys>,
}

/// The KMS, or the error that no KMS is configured.
pub(crate) fn need_kms(kms: Option<&dyn Kms>) -> Result<&dyn Kms> {
    kms.ok_or_else(|| {
        anyhow!(
            "no KMS configured: use --kes URL (or KES_SERVER) with an API key, or \
             --kms-secret-key NAME:BASE64 (or MINIO_KMS_SECRET_KEY)"
        )
    })
}

/// Generates the DEK, object key and sealed object key of a new object and the metadata
/// entries MinIO writes for them.
pub(crate) fn seal_new(
    kms: &dyn Kms,
    sse: &SseChoice,
    bucket: &str,
    object: &str,
    seal: SealAlgorithm,
) -> Result<NewKeys> {
    let (domain, name, kms_context, client_context) = match sse {
        SseChoice::None => bail!("internal: seal_new without encryption"),
        SseChoice::S3 => (
            SseType::SseS3,
            "",
            Context::for_object(bucket, object),
            None,
        ),
        SseChoice::Kms { key, context } => (
            SseType::SseKms,
            key.as_str(),
            context.with_object_entry(bucket, object),
            Some(context),
        ),
    };
    let dek = kms
        .generate_key(name, &kms_context)
        .with_context(|| format!("GenerateKey for {bucket}/{object}"))?;
    let (oek, sealed) = ObjectKey::generate_sealed(dek.plaintext(), seal, domain, bucket, object)
        .map_err(|e| anyhow!("cannot seal the object key: {e}"))?;
    let entries = match client_context {
        None => metadata::create_sse_s3(dek.key_id(), dek.ciphertext(), &sealed),
        Some(ctx) => metadata::create_sse_kms(dek.key_id(), dek.ciphertext(), &sealed, ctx),
    }
    .map_err(|e| anyhow!("{e}"))?;
    Ok(NewKeys {
        sse: domain,
        key_id: dek.key_id().to_owned(),
        kms_context,
        dek,
        oek,
        sealed,
        entries,
    })
}

/// Counts, hashes and reports the plaintext a part reads.
struct Tap<'a, R: Read> {
    inner: R,
    md5: Option<Md5>,
    count: u64,
    progress: &'a Progress,
}

impl<R: Read> Read for Tap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = buf.get(..n).unwrap_or_default();
        if let Some(h) = self.md5.as_mut() {
            h.update(data);
        }
        self.count += n as u64;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

/// Encrypts `source` into a new object version and commits it.
pub(crate) fn put(
    store: &Store,
    kms: Option<&dyn Kms>,
    source: &mut Input,
    bucket: &str,
    object: &str,
    opts: &PutOptions,
    progress: &Progress,
) -> Result<PutReport> {
    store.check_bucket(bucket)?;
    let keys = match opts.sse {
        SseChoice::None => None,
        ref sse => Some(seal_new(need_kms(kms)?, sse, bucket, object, opts.seal)?),
    };
    let data_dir = store.new_data_dir(bucket, object)?;
    let result = write_parts(
        store,
        keys.as_ref(),
        source,
        bucket,
        object,
        &data_dir,
        opts,
        progress,
    );
    let meta = match result {
        Ok(meta) => meta,
        Err(e) => {
            store.discard_data_dir(bucket, object, &data_dir);
            return Err(e);
        }
    };
    if let Err(e) = store.commit(&meta) {
        store.discard_data_dir(bucket, object, &data_dir);
        return Err(e);
    }
    Ok(PutReport { meta, keys })
}

#[allow(clippy::too_many_arguments)]
fn write_parts(
    store: &Store,
    keys: Option<&NewKeys>,
    source: &mut Input,
    bucket: &str,
    object: &str,
    data_dir: &str,
    opts: &PutOptions,
    progress: &Progress,
) -> Result<ObjectMeta> {
    let multipart = opts.parts.is_multipart();
    let upload_id = if multipart { Some(uuid_v4()?) } else { None };
    let suite = CipherSuite::platform_default();
    let dir = store.object_dir(bucket, object).join(data_dir);
    let want_md5 = opts.md5 || keys.is_none();

    // (number, plaintext size, MD5) of every part written.
    let mut parts: Vec<(u32, u64, Option<[u8; 16]>)> = Vec::new();
    loop {
        // Part 1 always exists (an empty object is one empty part); later parts only
        // when input is left.
        if !parts.is_empty() && !source.has_more().context("cannot read the input")? {
            break;
        }
        let number = u32::try_from(parts.len() + 1).context("too many parts")?;
        let limit = opts.parts.limit(parts.len());
        let path = dir.join(format!("part.{number}"));
        let file = fs::File::create(&path)
            .with_context(|| format!("cannot create '{}'", path.display()))?;
        let mut out = WriteBehind::new(file).context("cannot start the writer thread")?;
        let mut tap = Tap {
            inner: Read::by_ref(source).take(limit),
            md5: want_md5.then(Md5::new),
            count: 0,
            progress,
        };
        let pumped = match keys {
            None => out.pump(&mut tap, |_| {}),
            Some(k) => {
                let mut enc = match &upload_id {
                    Some(id) => DareEncryptReader::with_nonce(
                        &mut tap,
                        k.oek.derive_part_key(number).expose_secret(),
                        suite,
                        multipart_part_nonce(id, number),
                    ),
                    None => DareEncryptReader::new(&mut tap, k.oek.expose_secret(), suite),
                }
                .map_err(|e| anyhow!("{e}"))?;
                out.pump(&mut enc, |_| {})
            }
        };
        pumped.with_context(|| format!("cannot write part {number}"))?;
        let file = out
            .finish()
            .with_context(|| format!("cannot write part {number}"))?;
        if store.sync() {
            file.sync_all().context("cannot sync part")?;
        }
        let (count, md5) = (tap.count, tap.md5.map(|h| h.finalize().into()));
        parts.push((number, count, md5));
        if count < limit {
            break;
        }
    }

    let mut metadata = BTreeMap::new();
    metadata.insert(META_CONTENT_TYPE.to_owned(), opts.content_type.clone());
    let mut part_metas = Vec::with_capacity(parts.len());
    let mut raw_etags = Vec::with_capacity(parts.len());
    let mut total = 0u64;
    for (number, plain_size, md5) in parts {
        let raw: [u8; 16] = match md5 {
            Some(m) => m,
            None => kes_crypto::rng::array::<16>().map_err(|e| anyhow!("{e}"))?,
        };
        raw_etags.push(raw);
        let stored_etag = match keys {
            Some(k) => hex::encode(
                etag::seal_etag(k.oek.expose_secret(), &raw, suite).map_err(|e| anyhow!("{e}"))?,
            ),
            None => hex::encode(raw),
        };
        let size = match keys {
            Some(_) => dare::encrypted_size(plain_size).map_err(|e| anyhow!("{e}"))?,
            None => plain_size,
        };
        total = total.checked_add(plain_size).context("object too large")?;
        part_metas.push(PartMeta {
            number,
            size,
            actual_size: plain_size,
            etag: stored_etag,
        });
    }
    let object_etag = if multipart {
        multipart_etag(&raw_etags)
    } else {
        part_metas
            .first()
            .map(|p| p.etag.clone())
            .unwrap_or_default()
    };
    metadata.insert(META_ETAG.to_owned(), object_etag);
    if let Some(k) = keys {
        metadata.extend(k.entries.clone());
        if multipart {
            let (name, value) = metadata::multipart_entry();
            metadata.insert(name, value);
        }
    }
    Ok(ObjectMeta {
        format: META_FORMAT.to_owned(),
        bucket: bucket.to_owned(),
        object: object.to_owned(),
        size: total,
        mod_time: now_rfc3339(),
        data_dir: data_dir.to_owned(),
        upload_id,
        parts: part_metas,
        metadata,
    })
}

/// S3's multipart ETag: `hex(MD5(part ETag ‖ …))-N` over the raw part ETags.
fn multipart_etag(parts: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    format!("{}-{}", hex::encode(h.finalize()), parts.len())
}

/// A random version-4 UUID (the form MinIO's upload ids take).
fn uuid_v4() -> Result<String> {
    let mut b = kes_crypto::rng::array::<16>().map_err(|e| anyhow!("{e}"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The parsed SSE metadata of an object.
#[derive(Clone, Debug)]
pub(crate) struct SseInfo {
    /// SSE-S3 or SSE-KMS.
    pub(crate) sse: SseType,
    /// The KMS key name.
    pub(crate) key_id: String,
    /// The DEK ciphertext.
    pub(crate) dek_ciphertext: Vec<u8>,
    /// The sealed object key and IV.
    pub(crate) sealed: SealedObjectKey,
    /// The stored client context (SSE-KMS; empty otherwise).
    pub(crate) client_context: Context,
    /// The context sent to the KMS to decrypt the DEK.
    pub(crate) kms_context: Context,
    /// Whether the multipart flag is set.
    pub(crate) multipart: bool,
}

/// Reads the SSE entries of a metadata map with MinIO's rules (`None`: not encrypted).
pub(crate) fn sse_info<M: MetadataMap + ?Sized>(
    md: &M,
    bucket: &str,
    object: &str,
) -> Result<Option<SseInfo>> {
    let policy = SealPolicy::WithKeywrapV2;
    let multipart = metadata::is_multipart(md);
    match metadata::encryption_type(md) {
        None if metadata::is_encrypted(md) => {
            bail!("object '{bucket}/{object}' is tampered: SSE entries without a sealed key")
        }
        None => Ok(None),
        Some(SseType::SseC) => bail!(
            "object '{bucket}/{object}' is SSE-C encrypted: it needs the client's key, which \
             sse-demo does not take"
        ),
        Some(SseType::SseS3) => {
            let m = metadata::parse_sse_s3(md, policy)
                .map_err(|e| anyhow!("object '{bucket}/{object}': {e}"))?;
            if m.key_id.is_empty() {
                bail!(
                    "object '{bucket}/{object}' uses the legacy SSE-S3 form without a KMS key \
                     id (Vault-era MinIO); sse-demo cannot read it"
                );
            }
            Ok(Some(SseInfo {
                sse: SseType::SseS3,
                kms_context: m.kms_context(bucket, object),
                key_id: m.key_id,
                dek_ciphertext: m.dek_ciphertext,
                sealed: m.sealed_key,
                client_context: Context::new(),
                multipart,
            }))
        }
        Some(SseType::SseKms) => {
            let m = metadata::parse_sse_kms(md, policy)
                .map_err(|e| anyhow!("object '{bucket}/{object}': {e}"))?;
            Ok(Some(SseInfo {
                sse: SseType::SseKms,
                kms_context: m.kms_context(bucket, object),
                key_id: m.key_id,
                dek_ciphertext: m.dek_ciphertext,
                sealed: m.sealed_key,
                client_context: m.context,
                multipart,
            }))
        }
    }
}

/// An object key recovered through the whole chain.
pub(crate) struct Unsealed {
    /// The DEK plaintext.
    pub(crate) ek: ExternalKey,
    /// The object key.
    pub(crate) oek: ObjectKey,
}

/// KMS Decrypt of the DEK, then unsealing of the object key.
pub(crate) fn unseal(
    kms: &dyn Kms,
    info: &SseInfo,
    bucket: &str,
    object: &str,
) -> Result<Unsealed> {
    let ek = kms
        .decrypt(&info.key_id, &info.dek_ciphertext, &info.kms_context)
        .map_err(|e| match e {
            KmsError::KeyNotFound(_) => anyhow!(
                "cannot read '{bucket}/{object}': {e} (the object stays locked until a key with \
                 the same bytes is imported under that name)"
            ),
            other => anyhow!("cannot read '{bucket}/{object}': {other}"),
        })?;
    let oek = ObjectKey::unseal(&info.sealed, &ek, info.sse, bucket, object).map_err(|_| {
        anyhow!(
            "cannot read '{bucket}/{object}': the sealed object key does not unseal (tampered \
             IV, sealed key, bucket or object name)"
        )
    })?;
    Ok(Unsealed { ek, oek })
}

/// Checks that the part files exist with the recorded sizes and that the sizes agree with
/// each other (MinIO: "object tampered").
pub(crate) fn check_layout(store: &Store, meta: &ObjectMeta, encrypted: bool) -> Result<()> {
    let name = format!("{}/{}", meta.bucket, meta.object);
    let tampered = |why: String| anyhow!("object '{name}' is tampered: {why}");
    if meta.parts.is_empty() {
        return Err(tampered("no parts".into()));
    }
    let single = encrypted && !meta.metadata.contains_key(metadata::META_MULTIPART);
    let mut total = 0u64;
    for (i, part) in meta.parts.iter().enumerate() {
        if single && (i > 0 || part.number != 1) {
            return Err(tampered("a single-part object with several parts".into()));
        }
        if i > 0
            && meta
                .parts
                .get(i - 1)
                .is_some_and(|p| p.number >= part.number)
        {
            return Err(tampered("part numbers out of order".into()));
        }
        let plain = if encrypted {
            dare::decrypted_size(part.size)
                .map_err(|_| tampered(format!("part {} has an invalid DARE size", part.number)))?
        } else {
            part.size
        };
        if plain != part.actual_size {
            return Err(tampered(format!("part {} sizes disagree", part.number)));
        }
        let path = store.part_path(meta, part.number);
        let on_disk = fs::metadata(&path)
            .map_err(|_| tampered(format!("part file '{}' is missing", path.display())))?
            .len();
        if on_disk != part.size {
            return Err(tampered(format!(
                "part {} has {on_disk} bytes, the metadata says {}",
                part.number, part.size
            )));
        }
        total = total
            .checked_add(plain)
            .ok_or_else(|| tampered("size overflow".into()))?;
    }
    if total != meta.size {
        return Err(tampered(format!(
            "the parts hold {total} bytes, the metadata says {}",
            meta.size
        )));
    }
    Ok(())
}

/// Opens the sealed ETags with the object key: a single-part object's ETag, or every part
/// ETag plus the multipart ETag derived from them. Returns the client-visible ETag.
pub(crate) fn verify_etag(meta: &ObjectMeta, oek: &ObjectKey) -> Result<String> {
    let name = format!("{}/{}", meta.bucket, meta.object);
    let tampered = || anyhow!("object '{name}' is tampered: its sealed ETag does not open");
    let stored = meta.metadata.get(META_ETAG).ok_or_else(tampered)?;
    let open = |sealed_hex: &str| -> Result<Vec<u8>> {
        let raw = hex::decode(sealed_hex).map_err(|_| tampered())?;
        etag::unseal_etag(oek.expose_secret(), &raw).map_err(|_| tampered())
    };
    if meta.metadata.contains_key(metadata::META_MULTIPART) {
        let mut raws = Vec::with_capacity(meta.parts.len());
        for p in &meta.parts {
            let raw: [u8; 16] = open(&p.etag)?.try_into().map_err(|_| tampered())?;
            raws.push(raw);
        }
        if multipart_etag(&raws) != *stored {
            return Err(anyhow!(
                "object '{name}' is tampered: the parts do not match the multipart ETag"
            ));
        }
        Ok(stored.clone())
    } else {
        let first = meta.parts.first().map(|p| p.etag.as_str());
        if first != Some(stored.as_str()) {
            return Err(tampered());
        }
        Ok(hex::encode(open(stored)?))
    }
}

/// Reads the stored bytes of a plan: for each span, a part file from an offset.
struct SpanReader {
    spans: Vec<(PathBuf, u64, u64)>,
    next: usize,
    current: Option<io::Take<fs::File>>,
}

impl SpanReader {
    fn new(store: &Store, meta: &ObjectMeta, spans: &[(u32, u64, u64)]) -> Self {
        Self {
            spans: spans
                .iter()
                .map(|&(number, offset, len)| (store.part_path(meta, number), offset, len))
                .collect(),
            next: 0,
            current: None,
        }
    }
}

impl Read for SpanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(r) = self.current.as_mut() {
                let n = r.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                if r.limit() > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "part file is shorter than its metadata",
                    ));
                }
                self.current = None;
            }
            let Some((path, offset, len)) = self.spans.get(self.next) else {
                return Ok(0);
            };
            self.next += 1;
            let mut f = fs::File::open(path)?;
            f.seek(SeekFrom::Start(*offset))?;
            self.current = Some(f.take(*len));
        }
    }
}

/// A plaintext byte range: `offset` and `length`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteRange {
    /// First byte.
    pub(crate) offset: u64,
    /// Number of bytes.
    pub(crate) length: u64,
}

/// Parses `START-END` (inclusive), `START-` or `-SUFFIX` against an object of `size`
/// bytes, as HTTP ranges do.
pub(crate) fn parse_range(spec: &str, size: u64) -> Result<ByteRange> {
    let bad = || anyhow!("invalid range '{spec}': use START-END (inclusive), START- or -SUFFIX");
    let unsatisfiable =
        || anyhow!("range '{spec}' is not satisfiable: the object has {size} bytes");
    let (a, b) = spec.trim().split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (offset, last) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => return Err(bad()),
        (true, false) => {
            let suffix = num(b)?;
            if suffix == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            (size.saturating_sub(suffix), size - 1)
        }
        (false, true) => {
            let start = num(a)?;
            if start >= size {
                return Err(unsatisfiable());
            }
            (start, size - 1)
        }
        (false, false) => {
            let (start, end) = (num(a)?, num(b)?);
            if start > end {
                return Err(bad());
            }
            if start >= size {
                return Err(unsatisfiable());
            }
            (start, end.min(size - 1))
        }
    };
    Ok(ByteRange {
        offset,
        length: last - offset + 1,
    })
}

/// The range plan of an encrypted object (whole object for `None`).
pub(crate) fn plan(meta: &ObjectMeta, range: Option<ByteRange>) -> Result<RangePlan> {
    let sizes = meta.part_sizes();
    match range {
        None => RangePlan::whole(&sizes),
        Some(r) => RangePlan::new(&sizes, r.offset, r.length),
    }
    .map_err(|e| anyhow!("object '{}/{}': {e}", meta.bucket, meta.object))
}

/// What a get reads, ready to stream.
pub(crate) struct Opened<'a> {
    /// The plaintext reader.
    pub(crate) reader: Box<dyn Read + 'a>,
    /// Number of plaintext bytes it yields.
    pub(crate) length: u64,
    /// The client-visible ETag.
    pub(crate) etag: String,
    /// The SSE metadata (encrypted objects).
    pub(crate) info: Option<SseInfo>,
}

/// Opens an object (or a range of it) for reading: checks, KMS decrypt, unseal, ETag check,
/// then a reader that authenticates every package before returning its bytes.
pub(crate) fn open<'a>(
    store: &'a Store,
    kms: Option<&dyn Kms>,
    meta: &'a ObjectMeta,
    range: Option<ByteRange>,
    reading: Reading,
) -> Result<Opened<'a>> {
    let (bucket, object) = (meta.bucket.as_str(), meta.object.as_str());
    let info = sse_info(&meta.metadata, bucket, object)?;
    check_layout(store, meta, info.is_some())?;
    let Some(info) = info else {
        return open_plain(store, meta, range);
    };
    let unsealed = unseal(need_kms(kms)?, &info, bucket, object)?;
    let etag = verify_etag(meta, &unsealed.oek)?;
    let plan = plan(meta, range)?;
    let spans: Vec<(u32, u64, u64)> = plan
        .spans()
        .iter()
        .map(|s| {
            let number = meta.parts.get(s.part()).map_or(0, |p| p.number);
            (number, s.encrypted_offset(), s.encrypted_length())
        })
        .collect();
    let spans = SpanReader::new(store, meta, &spans);
    let source = match reading {
        Reading::Ahead => Input::read_ahead(spans).context("cannot start the reader thread")?,
        Reading::Inline => Input::direct(spans),
    };
    let oek = unsealed.oek;
    let multipart = info.multipart;
    let numbers: Vec<u32> = meta.parts.iter().map(|p| p.number).collect();
    let reader = plan.decrypt(source, move |i| {
        let mut key = Zeroizing::new([0u8; 32]);
        if multipart {
            let number = numbers
                .get(i)
                .copied()
                .ok_or(kes_crypto::Error::NotAuthentic)?;
            key.copy_from_slice(oek.derive_part_key(number).expose_secret());
        } else {
            key.copy_from_slice(oek.expose_secret());
        }
        Ok(key)
    });
    Ok(Opened {
        reader: Box::new(reader),
        length: plan.length(),
        etag,
        info: Some(info),
    })
}

fn open_plain<'a>(
    store: &'a Store,
    meta: &'a ObjectMeta,
    range: Option<ByteRange>,
) -> Result<Opened<'a>> {
    let (offset, length) = match range {
        Some(r) => (r.offset, r.length),
        None => (0, meta.size),
    };
    let mut spans = Vec::new();
    let (mut start, end) = (0u64, offset.saturating_add(length));
    for p in &meta.parts {
        let (lo, hi) = (start, start + p.size);
        let from = offset.max(lo);
        let to = end.min(hi);
        if from < to {
            spans.push((p.number, from - lo, to - from));
        }
        start = hi;
    }
    Ok(Opened {
        reader: Box::new(SpanReader::new(store, meta, &spans)),
        length,
        etag: meta.metadata.get(META_ETAG).cloned().unwrap_or_default(),
        info: None,
    })
}

/// The error of a read from an object: authentication failures say "tampered".
fn read_error(e: io::Error, name: &str) -> anyhow::Error {
    if e.kind() == io::ErrorKind::InvalidData {
        anyhow!(
            "object '{name}' is tampered or was written with another key: its data does not \
             authenticate (nothing past the last authentic package was returned)"
        )
    } else {
        anyhow!(e).context(format!("cannot read object '{name}'"))
    }
}

/// Copies `reader` into `out`, counting progress; maps authentication failures to a clear
/// error.
pub(crate) fn copy_out(
    reader: &mut dyn Read,
    out: &mut dyn Write,
    progress: &Progress,
    name: &str,
) -> Result<u64> {
    let mut buf = vec![0u8; IO_BUF];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e, name)),
        };
        let data = buf.get(..n).unwrap_or_default();
        out.write_all(data).context("cannot write the output")?;
        progress.inc(n as u64);
        total += n as u64;
    }
    Ok(total)
}

/// [`copy_out`] into a write-behind writer, without an intermediate buffer.
pub(crate) fn pump_out<W: Write + Send + 'static>(
    reader: &mut dyn Read,
    out: &mut WriteBehind<W>,
    progress: &Progress,
    name: &str,
) -> Result<u64> {
    out.pump(reader, |n| progress.inc(n as u64))
        .map_err(|e| read_error(e, name))
}

/// What a rotation did to one object.
#[derive(Debug)]
pub(crate) struct Rotated {
    /// SSE type.
    pub(crate) sse: SseType,
    /// The key before.
    pub(crate) old_key: String,
    /// The key after.
    pub(crate) new_key: String,
}

/// Re-seals an object key under a new DEK (and key), with a new IV; the data is untouched.
/// SSE-S3 objects always move to the KMS default key; SSE-KMS objects to `to` (or their
/// own key).
pub(crate) fn rotate(
    store: &Store,
    kms: &dyn Kms,
    meta: &ObjectMeta,
    to: Option<&str>,
) -> Result<Option<Rotated>> {
    let (bucket, object) = (meta.bucket.as_str(), meta.object.as_str());
    let Some(info) = sse_info(&meta.metadata, bucket, object)? else {
        return Ok(None);
    };
    check_layout(store, meta, true)?;
    let unsealed = unseal(kms, &info, bucket, object)?;
    verify_etag(meta, &unsealed.oek)?;
    let (name, context) = match info.sse {
        SseType::SseKms => (
            to.unwrap_or(&info.key_id).to_owned(),
            info.client_context.with_object_entry(bucket, object),
        ),
        _ => (String::new(), Context::for_object(bucket, object)),
    };
    let dek = kms
        .generate_key(&name, &context)
        .with_context(|| format!("GenerateKey for {bucket}/{object}"))?;
    let iv: [u8; IV_LEN] = kes_crypto::rng::array().map_err(|e| anyhow!("{e}"))?;
    let sealed = match info.sealed.algorithm() {
        SealAlgorithm::KeywrapV2 => {
            unsealed
                .oek
                .seal_v2(dek.plaintext(), &iv, info.sse, bucket, object)
        }
        _ => unsealed
            .oek
            .seal(dek.plaintext(), &iv, info.sse, bucket, object),
    }
    .map_err(|e| anyhow!("{e}"))?;
    let entries = match info.sse {
        SseType::SseKms => metadata::create_sse_kms(
            dek.key_id(),
            dek.ciphertext(),
            &sealed,
            &info.client_context,
        ),
        _ => metadata::create_sse_s3(dek.key_id(), dek.ciphertext(), &sealed),
    }
    .map_err(|e| anyhow!("{e}"))?;
    let mut new = meta.clone();
    for key in metadata::INTERNAL_ENTRIES {
        if key != metadata::META_MULTIPART {
            new.metadata.remove(key);
        }
    }
    new.metadata.remove(metadata::META_CONTEXT);
    new.metadata.extend(entries);
    new.mod_time = now_rfc3339();
    store.write_meta(&new)?;
    Ok(Some(Rotated {
        sse: info.sse,
        old_key: info.key_id,
        new_key: dek.key_id().to_owned(),
    }))
}

/// Random 32-byte key material (the walkthrough's importable key).
pub(crate) fn random_key() -> Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    kes_crypto::rng::fill(key.as_mut_slice()).map_err(|e| anyhow!("{e}"))?;
    Ok(key)
}

/// A fresh random name suffix.
pub(crate) fn random_suffix() -> Result<String> {
    random_hex::<3>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |s: &str, size| parse_range(s, size).map(|r| (r.offset, r.length));
        assert_eq!(r("0-0", 10).unwrap(), (0, 1));
        assert_eq!(r("2-5", 10).unwrap(), (2, 4));
        assert_eq!(r("2-100", 10).unwrap(), (2, 8));
        assert_eq!(r("7-", 10).unwrap(), (7, 3));
        assert_eq!(r("-3", 10).unwrap(), (7, 3));
        assert_eq!(r("-30", 10).unwrap(), (0, 10));
        for bad in ["", "-", "5-2", "x-1", "10-", "10-11", "-0"] {
            assert!(r(bad, 10).is_err(), "{bad}");
        }
        assert!(r("0-0", 0).is_err());
    }

    #[test]
    fn part_plans() {
        assert_eq!(PartPlan::Single.limit(3), u64::MAX);
        assert_eq!(PartPlan::Fixed(5).limit(9), 5);
        let l = PartPlan::List(vec![3, 7]);
        assert_eq!((l.limit(0), l.limit(1), l.limit(2)), (3, 7, 7));
    }

    #[test]
    fn multipart_etag_and_uuid() {
        let e = multipart_etag(&[[0u8; 16], [1u8; 16]]);
        assert!(e.ends_with("-2") && e.len() == 34, "{e}");
        let u = uuid_v4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
    }
}
