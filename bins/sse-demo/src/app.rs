//! The commands: argument handling, output and summaries around [`crate::object`],
//! [`crate::store`], [`crate::explain`] and [`crate::config_blob`].

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use kes_crypto::sse::bucket_config::{BucketSseConfig, SseAlgorithm};
use kes_crypto::sse::metadata::ARN_PREFIX;
use kes_crypto::sse::{Context, SealAlgorithm, SseType};
use serde_json::json;

use crate::cli::{
    Algo, Cli, Command, ConfigCommand, EncryptCommand, ExplainArgs, GetArgs, GlobalArgs, PutArgs,
    SealChoice, parse_size, split_target,
};
use crate::kms::Kms;
use crate::object::{self, PartPlan, PutOptions, SseChoice, need_kms};
use crate::pipe::{Input, Reading, WriteBehind};
use crate::progress::{Progress, human_bytes, human_duration, human_rate};
use crate::setup::{self, Env};
use crate::store::{self, ObjectMeta, Store};
use crate::{config_blob, explain, walkthrough};

/// Writes to stdout; a closed pipe is not an error.
pub(crate) fn out(text: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

/// Writes a line to stderr (summaries when stdout carries data).
pub(crate) fn err_line(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Everything a command needs: the store, and the KMS built on first use.
pub(crate) struct App<'e> {
    pub(crate) global: GlobalArgs,
    pub(crate) store: Store,
    /// Whether `--store` or `SSE_DEMO_STORE` named the store (the walkthrough otherwise
    /// uses a temporary one).
    pub(crate) store_explicit: bool,
    env: Env<'e>,
    kms: Option<Option<Box<dyn Kms>>>,
}

impl<'e> App<'e> {
    /// From the parsed global flags and an environment.
    pub(crate) fn new(global: GlobalArgs, env: Env<'e>) -> Self {
        let explicit = global.store.clone().or_else(|| {
            env("SSE_DEMO_STORE")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        });
        let store_explicit = explicit.is_some();
        let root = explicit.unwrap_or_else(|| PathBuf::from("sse-store"));
        let store = Store::new(root, !global.no_sync);
        Self {
            global,
            store,
            store_explicit,
            env,
            kms: None,
        }
    }

    /// The configured KMS, if any (built on first use).
    pub(crate) fn kms(&mut self) -> Result<Option<&dyn Kms>> {
        if self.kms.is_none() {
            self.kms = Some(setup::build_kms(&self.global, self.env)?);
        }
        Ok(self.kms.as_ref().and_then(|k| k.as_deref()))
    }

    /// The configured KMS, or an error saying how to configure one.
    pub(crate) fn need_kms(&mut self) -> Result<&dyn Kms> {
        need_kms(self.kms()?)
    }

    fn quiet(&self) -> bool {
        self.global.quiet
    }

    fn kms_summary(&mut self) -> String {
        match self.kms() {
            Ok(Some(k)) => {
                let (calls, spent) = k.stats();
                if calls == 0 {
                    String::new()
                } else {
                    format!("; KMS {calls} call(s), {}", human_duration(spent))
                }
            }
            _ => String::new(),
        }
    }
}

/// Runs the parsed command line.
pub(crate) fn run(cli: Cli, env: Env<'_>) -> Result<()> {
    let mut app = App::new(cli.global, env);
    match cli.command {
        Command::Mb { bucket } => {
            app.store.make_bucket(&bucket)?;
            out(&format!("Bucket created successfully `{bucket}`.\n"))
        }
        Command::Rb { bucket, force } => {
            app.store.remove_bucket(&bucket, force)?;
            out(&format!("Removed `{bucket}` successfully.\n"))
        }
        Command::Encrypt(cmd) => encrypt_cmd(&mut app, cmd),
        Command::Put(args) => put_cmd(&mut app, &args),
        Command::Get(args) => get_cmd(&mut app, &args),
        Command::Stat { target, json } => stat_cmd(&mut app, &target, json),
        Command::Ls { target, json } => ls_cmd(&mut app, target.as_deref(), json),
        Command::Rm { targets } => {
            for t in targets {
                let (b, o) = split_target(&t).map_err(|e| anyhow!(e))?;
                app.store.remove_object(b, o)?;
                out(&format!("Removed `{b}/{o}`.\n"))?;
            }
            Ok(())
        }
        Command::Rotate { bucket, to, prefix } => {
            rotate_cmd(&mut app, &bucket, to.as_deref(), &prefix)
        }
        Command::Explain(args) => explain_cmd(&mut app, &args),
        Command::Walkthrough { keep, show_keys } => walkthrough::run(&mut app, keep, show_keys),
        Command::Config(cmd) => config_cmd(&mut app, cmd),
    }
}

fn encrypt_cmd(app: &mut App<'_>, cmd: EncryptCommand) -> Result<()> {
    match cmd {
        EncryptCommand::Set { algorithm, args } => {
            let (config, bucket) = match (algorithm, args.as_slice()) {
                (Algo::SseS3, [bucket]) => (BucketSseConfig::aes256(), bucket),
                (Algo::SseS3, _) => bail!("usage: encrypt set sse-s3 BUCKET (SSE-S3 takes no key)"),
                (Algo::SseKms, [key, bucket]) => (
                    BucketSseConfig::aws_kms(key).map_err(|e| anyhow!("{e}"))?,
                    bucket,
                ),
                (Algo::SseKms, _) => bail!("usage: encrypt set sse-kms KEY BUCKET"),
            };
            app.store.check_bucket(bucket)?;
            if config.algorithm() == SseAlgorithm::AwsKms {
                // MinIO probes the key before accepting the configuration.
                let probe: Context = [("MinIO admin API", "ServerInfoHandler")]
                    .into_iter()
                    .collect();
                app.need_kms()?
                    .generate_key(config.key_id(), &probe)
                    .map_err(|e| anyhow!("cannot use KMS key '{}': {e}", config.key_id()))?;
            }
            app.store.set_bucket_sse(bucket, Some(&config))?;
            out(&format!(
                "Auto encryption configuration has been set successfully for {bucket}\n"
            ))
        }
        EncryptCommand::Info { bucket } => match app.store.bucket_sse(&bucket)? {
            None => out("Auto encryption is not enabled\n"),
            Some(c) if c.algorithm() == SseAlgorithm::Aes256 => {
                out("Auto encryption 'sse-s3' is enabled\n")
            }
            Some(c) => out(&format!(
                "Auto encryption 'sse-kms' is enabled with KMS key '{}'\n",
                c.key_id()
            )),
        },
        EncryptCommand::Clear { bucket } => {
            app.store.set_bucket_sse(&bucket, None)?;
            out("Auto encryption configuration has been cleared successfully.\n")
        }
    }
}

/// The encryption of a put: explicit flags win over the bucket default (as in MinIO).
pub(crate) fn resolve_sse(
    store: &Store,
    bucket: &str,
    sse_s3: bool,
    sse_kms: Option<&str>,
    context: Option<&str>,
) -> Result<SseChoice> {
    if sse_s3 {
        return Ok(SseChoice::S3);
    }
    if let Some(key) = sse_kms {
        let key = key.strip_prefix(ARN_PREFIX).unwrap_or(key);
        if key.starts_with(' ') || key.ends_with(' ') {
            bail!("invalid SSE-KMS key id '{key}': no leading or trailing spaces");
        }
        let context = match context {
            Some(json) => Context::from_json(json.as_bytes())
                .map_err(|_| anyhow!("--context must be a JSON object of strings"))?,
            None => Context::new(),
        };
        return Ok(SseChoice::Kms {
            key: key.to_owned(),
            context,
        });
    }
    Ok(store
        .bucket_sse(bucket)?
        .map_or(SseChoice::None, |c| SseChoice::from_bucket(&c)))
}

fn put_cmd(app: &mut App<'_>, args: &PutArgs) -> Result<()> {
    let (bucket, object) = split_target(&args.target).map_err(|e| anyhow!(e))?;
    let from_stdin = args.file.as_os_str() == "-";
    let object = if object.ends_with('/') {
        let name = args
            .file
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| !from_stdin)
            .ok_or_else(|| anyhow!("'{}' needs an object name", args.target))?;
        format!("{object}{name}")
    } else {
        object.to_owned()
    };
    store::check_object_name(&object)?;
    app.store.check_bucket(bucket)?;
    let sse = resolve_sse(
        &app.store,
        bucket,
        args.sse_s3,
        args.sse_kms.as_deref(),
        args.context.as_deref(),
    )?;
    let parts = match (&args.part_size, &args.part_sizes) {
        (Some(s), _) => PartPlan::Fixed(parse_size(s).map_err(|e| anyhow!(e))?),
        (None, Some(list)) => PartPlan::List(
            list.split(',')
                .map(|s| parse_size(s).map_err(|e| anyhow!(e)))
                .collect::<Result<_>>()?,
        ),
        (None, None) => PartPlan::Single,
    };
    let opts = PutOptions {
        sse,
        parts,
        md5: args.md5,
        seal: match args.seal {
            SealChoice::Minio => SealAlgorithm::DareV2HmacSha256,
            SealChoice::KesRsV2 => SealAlgorithm::KeywrapV2,
        },
        content_type: args.content_type.clone(),
    };
    let (mut source, total) = if from_stdin {
        // A pipe delivers what the writer wrote so far: a thread collects it into full
        // buffers while the calling thread encrypts.
        let source = Input::read_ahead(io::stdin()).context("cannot start the reader thread")?;
        (source, None)
    } else {
        let f = fs::File::open(&args.file)
            .with_context(|| format!("cannot open '{}'", args.file.display()))?;
        let file_meta = f
            .metadata()
            .with_context(|| format!("cannot read '{}'", args.file.display()))?;
        if file_meta.is_dir() {
            bail!("'{}' is a directory, not a file", args.file.display());
        }
        let len = Some(file_meta.len());
        (Input::direct(f), len)
    };
    let label = format!("put {bucket}/{object}");
    let progress = Progress::new(&label, total, app.quiet());
    let start = Instant::now();
    let store = app.store.clone();
    let kms = if opts.sse == SseChoice::None {
        None
    } else {
        Some(app.need_kms()?)
    };
    let report = object::put(&store, kms, &mut source, bucket, &object, &opts, &progress)?;
    progress.finish();
    let elapsed = start.elapsed();
    if !app.quiet() {
        let sse_label = opts.sse.label(app.kms().ok().flatten());
        let kms_note = app.kms_summary();
        out(&format!(
            "put {} -> {bucket}/{object}: {} in {} ({}), {sse_label}, {} part(s){kms_note}\n",
            args.file.display(),
            human_bytes(report.meta.size),
            human_duration(elapsed),
            human_rate(report.meta.size, elapsed),
            report.meta.parts.len(),
        ))?;
    }
    Ok(())
}

fn get_cmd(app: &mut App<'_>, args: &GetArgs) -> Result<()> {
    let (bucket, object) = split_target(&args.target).map_err(|e| anyhow!(e))?;
    let store = app.store.clone();
    let meta = store.read_meta(bucket, object)?;
    let range = args
        .range
        .as_deref()
        .map(|r| object::parse_range(r, meta.size))
        .transpose()?;
    let quiet = app.quiet();
    let kms = if object::sse_info(&meta.metadata, bucket, object)?.is_some() {
        Some(app.need_kms()?)
    } else {
        None
    };
    let to_stdout = args.out.as_ref().is_none_or(|p| p.as_os_str() == "-");
    let path = args.out.clone().unwrap_or_default();
    // A device or pipe (e.g. /dev/null) is written in place, a file through a temp file.
    let special = !to_stdout && fs::metadata(&path).is_ok_and(|m| !m.is_file());
    let reading = if to_stdout || special {
        Reading::Ahead
    } else {
        Reading::Inline
    };
    let mut opened = object::open(&store, kms, &meta, range, reading)?;
    let progress = Progress::new(
        &format!("get {bucket}/{object}"),
        Some(opened.length),
        quiet,
    );
    let start = Instant::now();
    let name = format!("{bucket}/{object}");
    let written = if to_stdout {
        let mut stdout = WriteBehind::new(io::stdout()).context("cannot start the writer")?;
        let n = object::pump_out(&mut opened.reader, &mut stdout, &progress, &name)?;
        stdout.finish().context("cannot write to stdout")?;
        n
    } else if special {
        // Never rename over a device or pipe.
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open '{}'", path.display()))?;
        let mut w = WriteBehind::new(f).context("cannot start the writer")?;
        let n = object::pump_out(&mut opened.reader, &mut w, &progress, &name)?;
        w.finish().context("cannot write the output")?;
        n
    } else {
        write_output_file(&path, &mut opened.reader, &progress, &name, store.sync())?
    };
    progress.finish();
    let elapsed = start.elapsed();
    if written != opened.length {
        bail!(
            "object '{name}': expected {} bytes, got {written}",
            opened.length
        );
    }
    if !quiet {
        let what = match &opened.info {
            Some(i) => format!("{} (key '{}')", i.sse, i.key_id),
            None => "not encrypted".to_owned(),
        };
        let kms_note = app.kms_summary();
        let dest = match &args.out {
            Some(p) if !to_stdout => p.display().to_string(),
            _ => "stdout".to_owned(),
        };
        let line = format!(
            "get {name} -> {dest}: {} in {} ({}), {what}, etag {}{kms_note}",
            human_bytes(written),
            human_duration(elapsed),
            human_rate(written, elapsed),
            opened.etag,
        );
        if to_stdout {
            err_line(&line);
        } else {
            out(&format!("{line}\n"))?;
        }
    }
    Ok(())
}

/// Writes a get's output next to `path` and renames it into place only when every byte
/// authenticated.
fn write_output_file(
    path: &Path,
    reader: &mut dyn Read,
    progress: &Progress,
    name: &str,
    sync: bool,
) -> Result<u64> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".sse-demo-get-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in '{}'", dir.display()))?;
    let file = tmp
        .as_file()
        .try_clone()
        .context("cannot open the output")?;
    let mut w = WriteBehind::new(file).context("cannot start the writer")?;
    let n = object::pump_out(reader, &mut w, progress, name)?;
    w.finish().context("cannot write the output")?;
    if sync {
        tmp.as_file().sync_all().context("cannot sync the output")?;
    }
    tmp.persist(path)
        .map_err(|e| anyhow!("cannot write '{}': {}", path.display(), e.error))?;
    Ok(n)
}

fn stat_json(meta: &ObjectMeta, info: Option<&object::SseInfo>) -> serde_json::Value {
    let encryption = info.map(|i| {
        json!({
            "type": i.sse.as_str(),
            "key_id": i.key_id,
            "seal_algorithm": i.sealed.algorithm().as_str(),
            "context": (!i.client_context.is_empty()).then(|| i.client_context.to_json_string()),
            "multipart": i.multipart,
        })
    });
    json!({
        "bucket": meta.bucket,
        "object": meta.object,
        "size": meta.size,
        "encrypted_size": meta.stored_size(),
        "parts": meta.parts.len(),
        "last_modified": meta.mod_time,
        "etag": client_etag(meta, info),
        "content_type": meta.metadata.get(object::META_CONTENT_TYPE),
        "encryption": encryption,
        "metadata": meta.metadata,
    })
}

/// The ETag S3 would show without decrypting anything: the multipart ETag, the last 32
/// hex characters of a sealed one (as MinIO does for SSE-KMS), or the plain one.
fn client_etag(meta: &ObjectMeta, info: Option<&object::SseInfo>) -> String {
    let stored = meta
        .metadata
        .get(object::META_ETAG)
        .cloned()
        .unwrap_or_default();
    match info {
        Some(_) if !stored.contains('-') && stored.len() > 32 => stored
            .get(stored.len() - 32..)
            .unwrap_or_default()
            .to_owned(),
        _ => stored,
    }
}

fn stat_cmd(app: &mut App<'_>, target: &str, json_out: bool) -> Result<()> {
    let (bucket, object) = split_target(target).map_err(|e| anyhow!(e))?;
    let meta = app.store.read_meta(bucket, object)?;
    let info = object::sse_info(&meta.metadata, bucket, object)?;
    if json_out {
        return out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&stat_json(&meta, info.as_ref()))?
        ));
    }
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<11}: {v}\n"));
    line("Name", format!("{bucket}/{object}"));
    line("Date", meta.mod_time.clone());
    line(
        "Size",
        format!("{} ({} bytes)", human_bytes(meta.size), meta.size),
    );
    line(
        "Stored",
        format!(
            "{} bytes in {} part(s){}",
            meta.stored_size(),
            meta.parts.len(),
            if info.is_some() { " (DARE 2.0)" } else { "" }
        ),
    );
    line("ETag", client_etag(&meta, info.as_ref()));
    line(
        "Type",
        meta.metadata
            .get(object::META_CONTENT_TYPE)
            .cloned()
            .unwrap_or_default(),
    );
    match &info {
        None => line("Encryption", "not encrypted".to_owned()),
        Some(i) => {
            line("Encryption", i.sse.to_string());
            let key = if i.sse == SseType::SseKms {
                format!("{ARN_PREFIX}{}", i.key_id)
            } else {
                i.key_id.clone()
            };
            line("Key ID", key);
            if !i.client_context.is_empty() {
                line("Context", i.client_context.to_json_string());
            }
            line("Sealed", i.sealed.algorithm().to_string());
        }
    }
    s.push_str("Metadata   :\n");
    for (k, v) in &meta.metadata {
        s.push_str(&format!("  {k}: {v}\n"));
    }
    out(&s)
}

fn ls_cmd(app: &mut App<'_>, target: Option<&str>, json_out: bool) -> Result<()> {
    let Some(target) = target else {
        let mut s = String::new();
        for b in app.store.buckets()? {
            let sse = app.store.bucket_sse(&b)?;
            let default = match &sse {
                None => String::new(),
                Some(c) if c.algorithm() == SseAlgorithm::Aes256 => "sse-s3".to_owned(),
                Some(c) => format!("sse-kms:{}", c.key_id()),
            };
            if json_out {
                s.push_str(&format!(
                    "{}\n",
                    json!({"bucket": b, "encryption": default})
                ));
            } else {
                s.push_str(&format!(
                    "{b}/{}\n",
                    if default.is_empty() {
                        String::new()
                    } else {
                        format!("  [{default}]")
                    }
                ));
            }
        }
        return out(&s);
    };
    let (bucket, prefix) = target.split_once('/').unwrap_or((target, ""));
    let mut s = String::new();
    for meta in app.store.list_objects(bucket, prefix)? {
        let info = object::sse_info(&meta.metadata, bucket, &meta.object)
            .ok()
            .flatten();
        if json_out {
            s.push_str(&format!(
                "{}\n",
                serde_json::to_string(&stat_json(&meta, info.as_ref()))?
            ));
            continue;
        }
        let enc = match &info {
            Some(i) => format!("{} {}", i.sse, i.key_id),
            None => "-".to_owned(),
        };
        s.push_str(&format!(
            "[{}] {:>10}  {:<24} {}\n",
            meta.mod_time,
            human_bytes(meta.size),
            enc,
            meta.object
        ));
    }
    out(&s)
}

fn rotate_cmd(app: &mut App<'_>, bucket: &str, to: Option<&str>, prefix: &str) -> Result<()> {
    let store = app.store.clone();
    let objects = store.list_objects(bucket, prefix)?;
    let quiet = app.quiet();
    let kms = app.need_kms()?;
    let (mut done, mut failed) = (0usize, 0usize);
    let mut report = String::new();
    for meta in &objects {
        let name = format!("{bucket}/{}", meta.object);
        match object::rotate(&store, kms, meta, to) {
            Ok(Some(r)) => {
                done += 1;
                report.push_str(&format!(
                    "Rotated `{name}`: {} key '{}' -> '{}', new DEK and IV, data untouched\n",
                    r.sse, r.old_key, r.new_key
                ));
            }
            Ok(None) => report.push_str(&format!("Skipped `{name}`: not encrypted\n")),
            Err(e) => {
                failed += 1;
                report.push_str(&format!("FAILED `{name}`: {e:#}\n"));
            }
        }
    }
    if !quiet || failed > 0 {
        out(&report)?;
    }
    if to.is_some()
        && objects.iter().any(|m| {
            m.metadata
                .contains_key(kes_crypto::sse::metadata::META_SEALED_KEY_S3)
        })
        && !quiet
    {
        out(
            "Note: SSE-S3 objects always use the KMS default key; --to applies to SSE-KMS objects.\n",
        )?;
    }
    if failed > 0 {
        bail!(
            "{failed} of {} object(s) could not be rotated",
            done + failed
        );
    }
    if !quiet {
        let note = app.kms_summary();
        out(&format!("{done} object(s) rotated{note}\n"))?;
    }
    Ok(())
}

fn explain_cmd(app: &mut App<'_>, args: &ExplainArgs) -> Result<()> {
    let store = app.store.clone();
    let source = match (&args.target, &args.metadata) {
        (Some(t), _) => {
            let (b, o) = split_target(t).map_err(|e| anyhow!(e))?;
            explain::Source::Store(&store, store.read_meta(b, o)?)
        }
        (None, Some(file)) => {
            let (Some(b), Some(o)) = (&args.bucket, &args.object) else {
                bail!("--metadata needs --bucket and --object");
            };
            explain::load_metadata_file(file, b, o)?
        }
        (None, None) => bail!("explain BUCKET/OBJECT, or --metadata FILE --bucket B --object O"),
    };
    let kms = app.kms()?;
    let text = explain::explain(
        &source,
        kms,
        args.show_keys,
        args.json,
        args.range.as_deref(),
    )?;
    out(&text)
}

fn config_cmd(app: &mut App<'_>, cmd: ConfigCommand) -> Result<()> {
    let mut input = zeroize::Zeroizing::new(Vec::new());
    io::stdin()
        .lock()
        .read_to_end(&mut input)
        .context("cannot read stdin")?;
    let kms = app.need_kms()?;
    let output = match cmd {
        ConfigCommand::Encrypt { context } => {
            let ctx = config_blob::contexts(context.as_deref())?;
            let first = ctx.first().cloned().unwrap_or_default();
            zeroize::Zeroizing::new(config_blob::encrypt(kms, &first, &input)?)
        }
        ConfigCommand::Decrypt { context } => {
            let ctx = config_blob::contexts(context.as_deref())?;
            config_blob::decrypt(kms, &ctx, &input)?
        }
    };
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(&output)
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}
