//! The command line (clap derive): every client command of `kes` (spec §12), plus
//! `completion` and `man`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "kes-cli",
    about = "Command line client for KES (Key Encryption Service) servers",
    long_about = "Command line client for KES (Key Encryption Service) servers: MinIO KES and \
                  kes-rs. It has the client commands, flags, environment variables and output of \
                  MinIO's `kes` CLI, plus --json wherever a command prints data.",
    after_help = ENV_HELP,
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    /// Print version information.
    #[arg(short = 'v', long = "version")]
    pub(crate) version: bool,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

const ENV_HELP: &str = "\
Environment:
    MINIO_KES_SERVER, KES_SERVER, MINIO_KMS_KES_ENDPOINT
        Server endpoints (comma-separated; default 127.0.0.1:7373).
    MINIO_KES_API_KEY, KES_API_KEY, MINIO_KMS_KES_API_KEY
        API key (kes:v1:...).
    MINIO_KES_KEY_FILE, KES_CLIENT_KEY, MINIO_KES_CLIENT_KEY
        Client private key file (instead of an API key).
    MINIO_KES_CERT_FILE, KES_CLIENT_CERT, MINIO_KES_CLIENT_CERT
        Client certificate file (with the private key file).
    SSL_CERT_FILE, SSL_CERT_DIR
        Trusted CA certificates instead of the system's.
The first variable set in each list wins.";

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List keys, identities or policies.
    Ls(LsArgs),
    /// Manage cryptographic keys.
    #[command(subcommand, subcommand_required = true, arg_required_else_help = true)]
    Key(KeyCommand),
    /// Manage KES policies.
    #[command(subcommand, subcommand_required = true, arg_required_else_help = true)]
    Policy(PolicyCommand),
    /// Manage KES identities (no arguments: create a new API key).
    Identity(IdentityArgs),
    /// Print audit or error log events.
    Log(LogArgs),
    /// Print server status.
    Status(StatusArgs),
    /// Print server metrics (a live view on a terminal).
    Metric(MetricArgs),
    /// Migrate keys from one keystore to another.
    Migrate(MigrateArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Print the man page (roff).
    Man,
}

/// `--color auto|never|always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ColorWhen {
    /// Color only on a terminal (and when NO_COLOR is unset).
    #[default]
    Auto,
    /// Never color.
    Never,
    /// Always color.
    Always,
}

/// Flags of every command that talks to a server.
#[derive(Debug, Args, Clone)]
pub(crate) struct ConnArgs {
    /// Skip server certificate verification (insecure).
    #[arg(short = 'k', long = "insecure")]
    pub(crate) insecure: bool,
    /// Operate within the specified enclave (accepted and ignored, as by current KES).
    #[arg(short = 'e', long = "enclave", value_name = "NAME", hide = true)]
    pub(crate) enclave: Option<String>,
}

/// Output flags.
#[derive(Debug, Args, Clone)]
pub(crate) struct OutArgs {
    /// Print output in JSON format.
    #[arg(long)]
    pub(crate) json: bool,
    /// When to use colored output.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub(crate) color: ColorWhen,
}

/// `ls`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").args(["identity", "policy"])))]
pub(crate) struct LsArgs {
    /// API key to authenticate to the KES server (default: $MINIO_KES_API_KEY).
    #[arg(short = 'a', long = "api-key", value_name = "KEY")]
    pub(crate) api_key: Option<String>,
    /// The server to use instead of $MINIO_KES_SERVER.
    #[arg(
        short = 's',
        long = "server",
        value_name = "HOST[:PORT]",
        help = "Use the server HOST[:PORT] instead of $MINIO_KES_SERVER"
    )]
    pub(crate) server: Option<String>,
    /// List identities.
    #[arg(short = 'i', long = "identity")]
    pub(crate) identity: bool,
    /// List policy names.
    #[arg(short = 'p', long = "policy")]
    pub(crate) policy: bool,
    /// Only names that start with PREFIX.
    pub(crate) prefix: Option<String>,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    #[command(flatten)]
    pub(crate) out: OutArgs,
}

/// `key …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create new keys.
    Create {
        /// Key names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Import a key (32 bytes, base64).
    Import {
        /// Key name.
        name: String,
        /// The key material, standard base64.
        #[arg(value_name = "KEY")]
        key: String,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Show information about a key.
    Info {
        /// Key name.
        name: String,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// List keys.
    Ls {
        /// Pattern (a prefix, optionally ending in `*`); default `*`.
        pattern: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Delete keys.
    Rm {
        /// Key names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Encrypt a message.
    Encrypt {
        /// Key name.
        name: String,
        /// The message (text).
        message: String,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Decrypt a ciphertext.
    Decrypt {
        /// Key name.
        name: String,
        /// The ciphertext, standard base64.
        ciphertext: String,
        /// The context (associated data), standard base64.
        context: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Generate a data encryption key.
    Dek {
        /// Key name.
        name: String,
        /// The context (associated data), standard base64.
        context: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Compute an HMAC-SHA256 of a message with the key's HMAC key.
    Hmac {
        /// Key name.
        name: String,
        /// The message (text).
        message: String,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
}

/// `policy …`.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Show information about a policy.
    Info {
        /// Policy name.
        name: String,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// List policies.
    Ls {
        /// Pattern (a prefix, optionally ending in `*`); default `*`.
        pattern: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Show a policy's allow and deny rules.
    Show {
        /// Policy name.
        name: String,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
}

/// `identity [KEY|FILE]` or `identity new|of|info|ls`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct IdentityArgs {
    #[command(subcommand)]
    pub(crate) command: Option<IdentityCommand>,
    /// An API key (prints its identity) or a PEM file (a certificate: its identity; an
    /// Ed25519 private key: the equivalent API key).
    #[arg(value_name = "KEY|FILE")]
    pub(crate) value: Option<String>,
    #[command(flatten)]
    pub(crate) out: OutArgs,
}

/// `identity` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum IdentityCommand {
    /// Create a new API key and optionally a certificate for it.
    New(IdentityNewArgs),
    /// Compute the identity of an API key or a certificate file.
    Of {
        /// API key (kes:v1:...) or PEM certificate file.
        #[arg(value_name = "KEY|CERT")]
        value: String,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Show information about an identity (default: your own).
    Info {
        /// The identity (hex).
        identity: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// List identities.
    Ls {
        /// Pattern (a prefix, optionally ending in `*`); default `*`.
        pattern: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        out: OutArgs,
    },
}

/// `identity new`.
#[derive(Debug, Args)]
pub(crate) struct IdentityNewArgs {
    /// Write the private key to FILE (requires --cert).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Write a certificate to FILE (requires --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// Add an IP address SAN to the certificate (repeatable).
    #[arg(long = "ip", value_name = "IP", requires = "key")]
    pub(crate) ips: Vec<std::net::IpAddr>,
    /// Add a DNS name SAN to the certificate (repeatable).
    #[arg(long = "dns", value_name = "NAME", requires = "key")]
    pub(crate) dns: Vec<String>,
    /// Certificate validity, e.g. 720h, 30d12h, 90m (default 720h).
    #[arg(long, value_name = "DURATION", requires = "key")]
    pub(crate) expiry: Option<String>,
    /// Encrypt the private key with a password (asked on the terminal; RFC 1423 AES-256-CBC).
    #[arg(long, requires = "key")]
    pub(crate) encrypt: bool,
    /// Overwrite existing files.
    #[arg(short = 'f', long, requires = "key")]
    pub(crate) force: bool,
    /// The certificate's subject common name (default: the identity).
    pub(crate) subject: Option<String>,
    #[command(flatten)]
    pub(crate) out: OutArgs,
}

/// `log`.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Print audit events (the default).
    #[arg(long, conflicts_with = "error")]
    pub(crate) audit: bool,
    /// Print error events.
    #[arg(long)]
    pub(crate) error: bool,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    #[command(flatten)]
    pub(crate) out: OutArgs,
}

/// `status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print a short summary.
    #[arg(short = 's', long)]
    pub(crate) short: bool,
    /// List the server's APIs.
    #[arg(long)]
    pub(crate) api: bool,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    #[command(flatten)]
    pub(crate) out: OutArgs,
}

/// `metric`.
#[derive(Debug, Args)]
pub(crate) struct MetricArgs {
    /// Refresh interval of the live view, e.g. 5s, 500ms, 1m.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub(crate) rate: String,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    #[command(flatten)]
    pub(crate) out: OutArgs,
}

/// `migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The source server configuration file (its keystore is read).
    #[arg(long, value_name = "SRC.yml")]
    pub(crate) from: PathBuf,
    /// The destination server configuration file (its keystore is written).
    #[arg(long, value_name = "DST.yml")]
    pub(crate) to: PathBuf,
    /// Overwrite keys that exist in the destination.
    #[arg(short = 'f', long, conflicts_with = "merge")]
    pub(crate) force: bool,
    /// Skip keys that exist in the destination.
    #[arg(long)]
    pub(crate) merge: bool,
    /// Only keys matching this shell glob (default `*`).
    pub(crate) pattern: Option<String>,
    #[command(flatten)]
    pub(crate) out: OutArgs,
}

/// `completion`.
#[derive(Debug, Args)]
pub(crate) struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}
