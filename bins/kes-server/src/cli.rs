//! The command line: `kes-server --config FILE [--addr ADDR]` or `kes-server --dev [--addr ADDR]`
//! (spec §12.2, `kes server`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::Error;

/// The usage text (`--help`).
pub const USAGE: &str = "\
Usage:
    kes-server --config <FILE> [--addr <IP:PORT>]
    kes-server --dev [--addr <IP:PORT>]

Options:
    --config <FILE>     Path to the server configuration file (YAML)
    --addr <IP:PORT>    The address to listen on; overrides the file's 'address'
                        (an empty IP, as in ':7373', listens on all interfaces)
    --dev               Start a development server: in-memory keystore, a fresh admin
                        API key and a self-signed server certificate
    -h, --help          Print this help
    -v, --version       Print the version

Signals:
    SIGHUP              Reload the configuration file (TLS, policies, keystore, cache)
    SIGINT, SIGTERM     Stop gracefully

Examples:
    $ kes-server --dev
    $ kes-server --config config.yml --addr :7000
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run a server.
    Run(Options),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// How to run the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Where the configuration comes from.
    pub mode: Mode,
    /// `--addr`: wins over the file's `address` (and over the dev default).
    pub addr: Option<SocketAddr>,
    /// Deprecated flags that were given and are ignored (`--key`, `--cert`, `--auth`).
    pub ignored: Vec<String>,
}

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `--config FILE`.
    Config(PathBuf),
    /// `--dev`.
    Dev,
}

/// The dev-mode default address (KES's): all interfaces, port 7373.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7373);

/// Parses the arguments after the program name.
///
/// # Errors
/// [`Error::Usage`] naming the problem: unknown flags, missing values, extra arguments,
/// `--dev` together with `--config`, neither of them, or an address that is not
/// `[IP]:PORT`.
pub fn parse<I>(args: I) -> Result<Command, Error>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut config = None;
    let mut addr = None;
    let mut dev = false;
    let mut ignored = Vec::new();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, Error> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) => Ok(v),
                None => Err(Error::Usage(format!("flag needs an argument: {name}"))),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-v" | "--version" => return Ok(Command::Version),
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--addr" => addr = Some(parse_addr(&value("--addr")?)?),
            "--dev" if inline.is_none() => dev = true,
            "--key" | "--cert" | "--auth" => {
                value(&flag)?;
                ignored.push(flag);
            }
            f if f.starts_with('-') => {
                return Err(Error::Usage(format!("unknown flag: {f}")));
            }
            other => {
                return Err(Error::Usage(format!(
                    "too many arguments: '{other}' (see 'kes-server --help')"
                )));
            }
        }
    }
    let mode = match (config, dev) {
        (Some(_), true) => {
            return Err(Error::Usage(
                "'--config' and '--dev' cannot be used together".into(),
            ));
        }
        (Some(path), false) => Mode::Config(path),
        (None, true) => Mode::Dev,
        (None, false) => {
            return Err(Error::Usage(
                "no config file: use '--config <FILE>', or '--dev' for a development server".into(),
            ));
        }
    };
    Ok(Command::Run(Options {
        mode,
        addr,
        ignored,
    }))
}

/// Parses `IP:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces).
///
/// # Errors
/// [`Error::Usage`] for anything else (host names are not accepted, as in the config file).
pub fn parse_addr(text: &str) -> Result<SocketAddr, Error> {
    let text = text.trim();
    let invalid = || {
        Error::Usage(format!(
            "invalid address '{text}': expected IP:PORT, [IPv6]:PORT or :PORT"
        ))
    };
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|_| invalid())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    text.parse::<SocketAddr>().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().copied()).unwrap() {
            Command::Run(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn config_and_addr() {
        let o = run(&["--config", "c.yml", "--addr", "127.0.0.1:7000"]);
        assert_eq!(o.mode, Mode::Config("c.yml".into()));
        assert_eq!(o.addr, Some("127.0.0.1:7000".parse().unwrap()));
        let o = run(&["--config=c.yml", "--addr=:7001"]);
        assert_eq!(o.mode, Mode::Config("c.yml".into()));
        assert_eq!(o.addr, Some("0.0.0.0:7001".parse().unwrap()));
        let o = run(&["--addr", "[::1]:7002", "--dev"]);
        assert_eq!(o.mode, Mode::Dev);
        assert_eq!(o.addr, Some("[::1]:7002".parse().unwrap()));
    }

    #[test]
    fn deprecated_flags_are_ignored() {
        let o = run(&["--dev", "--key", "k.pem", "--cert=c.pem", "--auth", "off"]);
        assert_eq!(o.ignored, ["--key", "--cert", "--auth"]);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["--help"]).unwrap(), Command::Help);
        assert_eq!(parse(["-h", "--bogus"]).unwrap(), Command::Help);
        assert_eq!(parse(["-v"]).unwrap(), Command::Version);
    }

    #[test]
    fn errors() {
        for (args, want) in [
            (&[][..], "no config file"),
            (&["--dev", "--config", "x"][..], "cannot be used together"),
            (&["--config"][..], "flag needs an argument: --config"),
            (&["--dev", "extra"][..], "too many arguments: 'extra'"),
            (&["--dev", "--tls"][..], "unknown flag: --tls"),
            (
                &["--dev", "--addr", "localhost:7373"][..],
                "invalid address",
            ),
            (&["--dev", "--addr", ":99999"][..], "invalid address"),
            (&["--dev=yes"][..], "unknown flag: --dev"),
        ] {
            let err = parse(args.iter().copied()).unwrap_err().to_string();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
