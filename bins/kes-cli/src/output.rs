//! Writing to the terminal or a pipe: colors, JSON, and the few formats several commands share.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::cli::{ColorWhen, OutArgs};

/// Where output goes and how it looks.
pub(crate) struct Out {
    /// Standard output is a terminal.
    pub(crate) tty: bool,
    /// `--json` was given.
    pub(crate) json: bool,
    /// Colors are on.
    pub(crate) color: bool,
    stdout: std::io::Stdout,
}

impl Out {
    /// From the output flags.
    pub(crate) fn new(args: &OutArgs) -> Self {
        let tty = std::io::stdout().is_terminal();
        let color = match args.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        Out {
            tty,
            json: args.json,
            color,
            stdout: std::io::stdout(),
        }
    }

    /// Writes text as it is.
    pub(crate) fn write(&self, text: &str) -> Result<()> {
        let mut lock = self.stdout.lock();
        lock.write_all(text.as_bytes())?;
        lock.flush()?;
        Ok(())
    }

    /// Writes one line.
    pub(crate) fn line(&self, text: &str) -> Result<()> {
        let mut lock = self.stdout.lock();
        lock.write_all(text.as_bytes())?;
        lock.write_all(b"\n")?;
        lock.flush()?;
        Ok(())
    }

    /// Writes a value as compact JSON followed by a newline (Go's `json.Encoder`).
    pub(crate) fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let bytes = kes_types::json::to_vec(value)?;
        let mut lock = self.stdout.lock();
        lock.write_all(&bytes)?;
        lock.flush()?;
        Ok(())
    }

    fn styled(&self, codes: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{codes}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Underlined text (headers).
    pub(crate) fn underline(&self, text: &str) -> String {
        self.styled("4", text)
    }

    /// Faint text (labels).
    pub(crate) fn faint(&self, text: &str) -> String {
        self.styled("2", text)
    }

    /// Bold green text.
    pub(crate) fn green(&self, text: &str) -> String {
        self.styled("1;32", text)
    }

    /// Bold cyan text.
    pub(crate) fn cyan(&self, text: &str) -> String {
        self.styled("1;36", text)
    }

    /// Red text.
    pub(crate) fn red(&self, text: &str) -> String {
        self.styled("31", text)
    }
}

/// Asks for a password on the terminal: the prompt goes to stderr, the input is not echoed.
pub(crate) fn read_password(prompt: &str) -> Result<zeroize::Zeroizing<String>> {
    let mut stderr = std::io::stderr();
    stderr.write_all(prompt.as_bytes())?;
    stderr.flush()?;
    let password =
        rpassword::read_password().map_err(|e| anyhow::anyhow!("failed to read password: {e}"))?;
    Ok(zeroize::Zeroizing::new(password))
}

/// Formats a duration as Go's `time.Duration.String` does (`1.5s`, `250ms`, `1h2m3s`).
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let trim = |value: f64, unit: &str| {
        let s = format!("{value:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}{unit}")
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return trim(nanos as f64 / 1e3, "µs");
    }
    if nanos < 1_000_000_000 {
        return trim(nanos as f64 / 1e6, "ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let frac = d.subsec_nanos();
    let sec = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{:09}", frac);
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => sec,
        (0, m) => format!("{m}m{sec}"),
        (h, m) => format!("{h}h{m}m{sec}"),
    }
}

/// Parses a Go-style duration (`5s`, `500ms`, `1h30m`, `1.5h`); `d` (days) is accepted too.
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let s = text.trim();
    if s.is_empty() {
        bail!("invalid duration '{text}'");
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let value: f64 = num
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid duration '{text}'"))?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => bail!("invalid duration '{text}': unknown unit '{unit}'"),
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| anyhow::anyhow!("invalid duration '{text}'"))
}

/// Formats a byte count as `1.2 MiB`.
pub(crate) fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}

/// `YYYY-MM-DD HH:MM:SS` of a timestamp (in its own offset, as `kes` prints it).
pub(crate) fn format_date(t: &kes_types::Timestamp) -> String {
    let t = t.get();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 << 20), "3.0 MiB");
    }
}
