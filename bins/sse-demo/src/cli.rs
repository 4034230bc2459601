//! The command line (clap derive). The commands mirror MinIO's `mc` where one exists.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "sse-demo",
    version,
    about = "MinIO-style server-side encryption end to end: SSE-S3 and SSE-KMS objects in \
             MinIO's formats, with keys from a KES server or MinIO's static key",
    long_about = "MinIO-style server-side encryption end to end. Objects are kept in a local \
                  store (--store) in MinIO's formats: DARE 2.0 data, MinIO's internal \
                  metadata entries (sealed object key, IV, KMS key id, sealed DEK), multipart \
                  objects with per-part keys. Keys come from a KES server (--kes), MinIO's \
                  static key (--kms-secret-key) or, read-only, the pre-2021 master key \
                  (--kms-master-key).",
    after_help = ENV_HELP
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

const ENV_HELP: &str = "\
Environment:
    SSE_DEMO_STORE                  the store directory (default ./sse-store)
    MINIO_KES_SERVER, KES_SERVER, MINIO_KMS_KES_ENDPOINT
                                    KES server endpoints (comma-separated)
    MINIO_KES_API_KEY, KES_API_KEY, MINIO_KMS_KES_API_KEY
                                    API key for the KES server
    MINIO_KES_CERT_FILE, KES_CLIENT_CERT, MINIO_KES_CLIENT_CERT
    MINIO_KES_KEY_FILE, KES_CLIENT_KEY, MINIO_KES_CLIENT_KEY
                                    client certificate and key instead of an API key
    MINIO_KMS_KES_KEY_NAME          the KES key SSE-S3 and config encryption use
    MINIO_KMS_SECRET_KEY            static key NAME:BASE64 (or MINIO_KMS_SECRET_KEY_FILE)
    MINIO_KMS_MASTER_KEY            pre-2021 master key NAME:HEX (read-only)
Flags win over variables; the first variable set in each list wins. A KES server and a
static key cannot be combined.";

/// Flags every command accepts.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct GlobalArgs {
    /// The object store directory.
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) store: Option<PathBuf>,

    /// Use the KES server(s) at URL (HOST:PORT or https://HOST:PORT, comma-separated).
    #[arg(long = "kes", value_name = "URL", global = true)]
    pub(crate) kes: Option<String>,

    /// API key for the KES server (kes:v1:...).
    #[arg(short = 'a', long = "api-key", value_name = "KEY", global = true)]
    pub(crate) api_key: Option<String>,

    /// Client certificate file for the KES server (with --client-key).
    #[arg(long = "client-cert", value_name = "FILE", global = true)]
    pub(crate) client_cert: Option<PathBuf>,

    /// Client private-key file for the KES server (with --client-cert).
    #[arg(long = "client-key", value_name = "FILE", global = true)]
    pub(crate) client_key: Option<PathBuf>,

    /// CA certificate file to verify the KES server with (besides the system roots).
    #[arg(long = "kes-ca", value_name = "FILE", global = true)]
    pub(crate) kes_ca: Option<PathBuf>,

    /// Skip verification of the KES server's certificate (insecure; dev servers).
    #[arg(short = 'k', long = "insecure", global = true)]
    pub(crate) insecure: bool,

    /// The KES key for SSE-S3 and config encryption (MINIO_KMS_KES_KEY_NAME).
    #[arg(long = "kes-key-name", value_name = "NAME", global = true)]
    pub(crate) kes_key_name: Option<String>,

    /// MinIO's static key NAME:BASE64 (MINIO_KMS_SECRET_KEY).
    #[arg(long = "kms-secret-key", value_name = "NAME:BASE64", global = true)]
    pub(crate) kms_secret_key: Option<String>,

    /// The pre-2021 master key NAME:HEX, read-only, for old objects (MINIO_KMS_MASTER_KEY).
    #[arg(long = "kms-master-key", value_name = "NAME:HEX", global = true)]
    pub(crate) kms_master_key: Option<String>,

    /// No progress bar and no summary lines.
    #[arg(short = 'q', long, global = true)]
    pub(crate) quiet: bool,

    /// Do not fsync data and metadata before making them visible (faster, not crash-safe
    /// against power loss).
    #[arg(long = "no-sync", global = true)]
    pub(crate) no_sync: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make a bucket.
    Mb {
        /// Bucket name.
        bucket: String,
    },
    /// Remove a bucket.
    Rb {
        /// Bucket name.
        bucket: String,
        /// Remove its objects too.
        #[arg(long)]
        force: bool,
    },
    /// Bucket default encryption (like `mc encrypt`).
    #[command(subcommand)]
    Encrypt(EncryptCommand),
    /// Upload a file as an object (SSE-S3, SSE-KMS, or the bucket default).
    Put(PutArgs),
    /// Download an object (or a byte range of it).
    Get(GetArgs),
    /// Show an object's size, encryption and metadata (like `mc stat`).
    Stat {
        /// BUCKET/OBJECT.
        target: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List buckets, or the objects of BUCKET (optionally under a prefix).
    Ls {
        /// BUCKET or BUCKET/PREFIX; none lists the buckets.
        target: Option<String>,
        /// JSON output (one object per line).
        #[arg(long)]
        json: bool,
    },
    /// Remove objects.
    Rm {
        /// BUCKET/OBJECT ...
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Re-seal every object key of a bucket under a new DEK (and key) without rewriting data.
    Rotate {
        /// Bucket name.
        bucket: String,
        /// Move SSE-KMS objects to this key (SSE-S3 objects always use the KMS default key).
        #[arg(long, value_name = "KEY")]
        to: Option<String>,
        /// Only objects whose names start with PREFIX.
        #[arg(long, value_name = "PREFIX", default_value = "")]
        prefix: String,
    },
    /// Narrate the key chain of an object: KMS key, DEK, KEK, sealed object key, DARE.
    ///
    /// DANGER: with --show-keys this prints the DEK, KEK and object key. Anyone who sees
    /// them can decrypt the object without the KMS. Use it only on test data.
    Explain(ExplainArgs),
    /// Run the whole SSE process step by step on a fresh bucket and narrate each stage.
    Walkthrough {
        /// Keep the bucket (and the KES key) afterwards.
        #[arg(long)]
        keep: bool,
        /// DANGER: print the DEK, KEK and object key in clear.
        #[arg(long = "show-keys")]
        show_keys: bool,
    },
    /// MinIO's IAM/config encryption: stdin to stdout.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `encrypt ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum EncryptCommand {
    /// Set the bucket default: `set sse-s3 BUCKET` or `set sse-kms KEY BUCKET`.
    Set {
        /// sse-s3 or sse-kms.
        algorithm: Algo,
        /// KEY BUCKET (sse-kms) or BUCKET (sse-s3).
        #[arg(num_args = 1..=2, required = true, value_name = "[KEY] BUCKET")]
        args: Vec<String>,
    },
    /// Show the bucket default.
    Info {
        /// Bucket name.
        bucket: String,
    },
    /// Remove the bucket default.
    Clear {
        /// Bucket name.
        bucket: String,
    },
}

/// The bucket-default algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Algo {
    /// SSE-S3 (`AES256`): the KMS default key.
    #[value(name = "sse-s3")]
    SseS3,
    /// SSE-KMS (`aws:kms`) with a named key.
    #[value(name = "sse-kms")]
    SseKms,
}

/// How the object key is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum SealChoice {
    /// MinIO's DAREv2-HMAC-SHA256 (readable by MinIO).
    #[default]
    Minio,
    /// kes-rs v2 (AES-256-GCM-SIV key wrap; NOT readable by MinIO).
    #[value(name = "kes-rs-v2")]
    KesRsV2,
}

/// `put`.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The file to upload (`-`: stdin).
    pub(crate) file: PathBuf,
    /// BUCKET/OBJECT (an object name ending in `/` gets the file name appended).
    pub(crate) target: String,
    /// SSE-S3 with the KMS default key.
    #[arg(long = "sse-s3", conflicts_with = "sse_kms")]
    pub(crate) sse_s3: bool,
    /// SSE-KMS with KEY (an `arn:aws:kms:` prefix is stripped).
    #[arg(long = "sse-kms", value_name = "KEY")]
    pub(crate) sse_kms: Option<String>,
    /// SSE-KMS context: a JSON object of strings (stored with the object).
    #[arg(long, value_name = "JSON", requires = "sse_kms")]
    pub(crate) context: Option<String>,
    /// Upload as a multipart object with parts of SIZE (e.g. 5MiB, 64KiB, 1048576).
    #[arg(long = "part-size", value_name = "SIZE")]
    pub(crate) part_size: Option<String>,
    /// Upload as a multipart object with exactly these part sizes (comma-separated;
    /// input past their sum continues in parts of the last size).
    #[arg(
        long = "part-sizes",
        value_name = "LIST",
        conflicts_with = "part_size",
        hide = true
    )]
    pub(crate) part_sizes: Option<String>,
    /// Seal the MD5 of the data as the ETag (S3's ETag; slower) instead of 16 random bytes.
    #[arg(long)]
    pub(crate) md5: bool,
    /// How to seal the object key.
    #[arg(long, value_enum, default_value_t = SealChoice::Minio)]
    pub(crate) seal: SealChoice,
    /// The content type to record.
    #[arg(long = "content-type", default_value = "application/octet-stream")]
    pub(crate) content_type: String,
}

/// `get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// BUCKET/OBJECT.
    pub(crate) target: String,
    /// Output file (default or `-`: stdout).
    pub(crate) out: Option<PathBuf>,
    /// A byte range: START-END (inclusive), START- or -SUFFIX.
    #[arg(long, value_name = "START-END", allow_hyphen_values = true)]
    pub(crate) range: Option<String>,
}

/// `explain`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// BUCKET/OBJECT in the store.
    #[arg(required_unless_present = "metadata", conflicts_with = "metadata")]
    pub(crate) target: Option<String>,
    /// Explain metadata from a file instead (e.g. taken from a real MinIO server): a JSON
    /// object of metadata entries, or an sse-demo meta.json.
    #[arg(long, value_name = "FILE.json", requires_all = ["bucket", "object"])]
    pub(crate) metadata: Option<PathBuf>,
    /// The bucket the --metadata belongs to.
    #[arg(long, value_name = "B")]
    pub(crate) bucket: Option<String>,
    /// The object the --metadata belongs to.
    #[arg(long, value_name = "O")]
    pub(crate) object: Option<String>,
    /// Also show how a byte range is read (START-END, START- or -SUFFIX).
    #[arg(long, value_name = "START-END", allow_hyphen_values = true)]
    pub(crate) range: Option<String>,
    /// DANGER: print the DEK, KEK and object key (dek_hex, kek_hex, object_key_hex) in
    /// clear. Anyone who sees them can read the object without the KMS.
    #[arg(long = "show-keys")]
    pub(crate) show_keys: bool,
    /// JSON output.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `config ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Encrypt stdin into MinIO's config format on stdout (KMS default key).
    Encrypt {
        /// The item's PATH (e.g. config/iam/users/alice/identity.json; context
        /// {".minio.sys":".minio.sys/PATH"}), or a JSON context object.
        #[arg(long, value_name = "TEXT")]
        context: Option<String>,
    },
    /// Decrypt MinIO's config format from stdin to stdout.
    Decrypt {
        /// As for encrypt; MinIO's fallback context {".minio.sys":"PATH"} is tried too.
        #[arg(long, value_name = "TEXT")]
        context: Option<String>,
    },
}

/// Parses `1048576`, `64KiB`, `5MiB`, `1GiB`, `5M`, `64k` (binary units).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size '{text}'"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size unit in '{text}' (use KiB, MiB or GiB)"
            ));
        }
    };
    let size = n
        .checked_mul(mult)
        .ok_or_else(|| format!("size '{text}' is too large"))?;
    if size == 0 {
        return Err(format!("size '{text}' must be at least 1 byte"));
    }
    Ok(size)
}

/// Splits `BUCKET/OBJECT`.
pub(crate) fn split_target(target: &str) -> Result<(&str, &str), String> {
    match target.split_once('/') {
        Some((b, o)) if !b.is_empty() && !o.is_empty() => Ok((b, o)),
        _ => Err(format!("'{target}' is not BUCKET/OBJECT")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("5MiB"), Ok(5 << 20));
        assert_eq!(parse_size("5m"), Ok(5 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("5XB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("b/o/p"), Ok(("b", "o/p")));
        assert!(split_target("b").is_err());
        assert!(split_target("b/").is_err());
        assert!(split_target("/o").is_err());
    }

    #[test]
    fn parses_mc_style_commands() {
        let cli = Cli::try_parse_from(["sse-demo", "encrypt", "set", "sse-kms", "k", "b"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Encrypt(EncryptCommand::Set { algorithm: Algo::SseKms, ref args }) if args == &["k", "b"]
        ));
        let cli = Cli::try_parse_from([
            "sse-demo",
            "put",
            "f",
            "b/o",
            "--sse-kms",
            "k",
            "--context",
            "{}",
            "--store",
            "s",
        ])
        .unwrap();
        assert_eq!(cli.global.store, Some(PathBuf::from("s")));
        assert!(
            Cli::try_parse_from(["sse-demo", "put", "f", "b/o", "--sse-s3", "--sse-kms", "k"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["sse-demo", "put", "f", "b/o", "--context", "{}"]).is_err());
        let cli = Cli::try_parse_from(["sse-demo", "get", "b/o", "--range", "-5"]).unwrap();
        assert!(
            matches!(cli.command, Command::Get(GetArgs { range: Some(ref r), .. }) if r == "-5")
        );
        assert!(Cli::try_parse_from(["sse-demo", "explain", "--metadata", "m.json"]).is_err());
    }
}
